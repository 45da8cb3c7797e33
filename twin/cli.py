"""The ``twin`` command line: build, inspect and serve twins.

This is the one module in ``twin/`` that wires the packages together, so it imports
``layers`` and ``api`` inside the commands that need them, never at module import. Each
verb is a small ``_cmd_*`` function registered in :func:`_parser`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from .errors import TwinError

__all__ = ["main"]

_TWIN_HELP = "twin file or postgresql:// URL (default: the default twin)"


def _default_path(args) -> Path | str:
    """The location --twin names (a file path, or a ``postgresql://`` URL kept as given:
    a Path would fold its ``//``), or the default twin's file."""
    from .default import default_twin_path
    from .store import is_database_url

    if not getattr(args, "twin", None):
        return default_twin_path()
    return args.twin if is_database_url(args.twin) else Path(args.twin)


def _open(args):
    """Open the twin named by --twin, or the default twin (building it if missing)."""
    from .default import load_default
    from .model import Twin

    if getattr(args, "twin", None):
        return Twin.open(args.twin)
    return load_default(progress=True)


def _cmd_build(args) -> int:
    from .default import build_default, default_twin_path

    out = Path(args.out) if args.out else default_twin_path(parcels=args.parcels)
    tw = build_default(out=out, parcels=args.parcels, progress=not args.quiet,
                       force=args.force)
    print(f"built {tw!r} -> {out}")
    return 0


def _cmd_info(args) -> int:
    tw = _open(args)
    info = tw.info()
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    print(f"{info['title']}: {info['name']} v{info['version']}  ({info['path']})")
    print(f"CRS {info['crs']}; analysis CRS {_crs_name(tw.analysis_crs)}")
    if info["region_area_km2"] is not None:
        print(f"region area: {info['region_area_km2']:,.0f} km²")
    for name, layer in info["layers"].items():
        n_syn = layer.get("synthetic")
        made_up = ("" if not n_syn else "  (all synthetic)" if n_syn == layer["count"]
                   else f"  ({n_syn:,} synthetic)")
        print(f"  {name:<18} {layer['count']:>9,}  {layer['geometry_type']}{made_up}")
    if any(layer.get("synthetic") for layer in info["layers"].values()):
        print("synthetic rows are made up (flagged in each layer's 'synthetic' column); "
              "see the provenance in the twin's metadata")
    return 0


def _crs_name(crs) -> str:
    """A CRS in one line: its EPSG code, or its projection and centre (not a page of WKT)."""
    epsg = crs.to_epsg()
    if epsg:
        return f"EPSG:{epsg}"
    op = crs.coordinate_operation
    if op is None:
        return crs.name
    centre = {p.name: p.value for p in op.params}
    lat = centre.get("Latitude of natural origin")
    lon = centre.get("Longitude of natural origin")
    at = f" centred on {lat:g}°N {lon:g}°E" if lat is not None and lon is not None else ""
    return f"{op.method_name}{at}"


def _cmd_serve(args) -> int:
    # Only what binding the socket needs is imported here (pydantic for the settings,
    # uvicorn): the full app, with pandas and geopandas, is built while /health already
    # answers (api/boot.py).
    try:
        import uvicorn
        from pydantic import ValidationError

        from api.settings import Settings, settings_problem
    except ImportError as e:  # pragma: no cover - depends on the install
        raise _no_api(e) from e
    from .store import is_database_url, open_store

    path = _default_path(args)
    try:
        settings = Settings(twin_path=path)
    except ValidationError as e:
        raise TwinError(f"cannot serve: {settings_problem(e)}") from None
    st = open_store(path) if is_database_url(path) or args.workers > 1 else None
    if st is not None and args.workers > 1 and not st.shared:
        # Each worker would hold its own copy of the twin in memory: a scenario saved or
        # an observation ingested on one would not reach the others' answers and streams.
        raise TwinError(
            f"--workers {args.workers} needs a twin that several processes share: "
            f"{st.describe()} is one file for one process. Copy it to PostgreSQL/PostGIS "
            "(`twin push FILE postgresql://user@host/db`) and serve that URL, or serve "
            "this file with one worker")
    if st is not None and not st.exists():
        raise TwinError(f"{st.describe()} holds no twin: copy one there first with "
                        f"`twin push FILE {st.location}`")
    if st is None and not Path(path).is_file():
        from .default import build_default

        print(f"no twin at {path}; building the default twin first", file=sys.stderr)
        build_default(out=path, progress=True)
    # The workers (or the app) open their own connections; this process serves nothing
    # and would hold an idle database connection for as long as it runs.
    health = None
    if st is not None:
        if args.workers == 1:  # /health answers from the metadata while the app is built
            from api.boot import meta_health

            with contextlib.suppress(TwinError):
                # the name Twin.open gives a twin whose metadata names none
                health = meta_health(st.read_meta(), Path(str(path)).stem)
        st.close()
    # proxy_headers=False: the app trusts forwarded headers only from TWIN_TRUSTED_PROXIES
    # (api/proxy.py). uvicorn's own handling would trust its FORWARDED_ALLOW_IPS instead
    # and rewrite the peer address before the app could check it.
    from api.head_timeout import http_protocol
    from api.score_hub import SHUTDOWN_GRACE_S

    # http: uvicorn's own protocol, wrapped to bound how long a request head may take
    # (api/head_timeout.py); cached tiles are answered in front of the app, in plain ASGI
    # (api/fastpath.py). The grace: open score streams end when uvicorn cancels them
    # (api/score_hub.py).
    proto = http_protocol(settings.header_timeout)
    common = {"host": args.host, "port": args.port, "log_level": "info",
              "proxy_headers": False, "access_log": settings.access_log,
              "timeout_graceful_shutdown": SHUTDOWN_GRACE_S,
              **({"http": proto} if proto else {})}
    if args.workers > 1:
        # uvicorn starts each worker from an import string; the worker reads the twin's
        # location from the environment as any TWIN_* setting.
        os.environ["TWIN_TWIN_PATH"] = str(path)
        uvicorn.run("api.app:create_app", factory=True, workers=args.workers, **common)
        return 0
    from api.boot import BootApp, file_health

    def build():
        try:
            from api.app import create_app
        except ImportError as e:  # pragma: no cover - depends on the install
            raise _no_api(e) from e
        return create_app(settings)

    def stop(error: BaseException) -> None:
        server.should_exit = True

    boot = BootApp(build, health if st is not None else file_health(path), stop)
    server = uvicorn.Server(uvicorn.Config(boot, **common))
    server.run()
    if boot.error is not None:
        raise boot.error
    if not server.started:
        raise TwinError(f"cannot serve on {args.host}:{args.port}: see the log above")
    return 0


def _no_api(e: ImportError) -> TwinError:
    return TwinError(f"serving needs the 'api' extra ({e.name} is missing): pip install "
                     "'aqmola-twin[api]'")


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return n


def _cmd_push(args) -> int:
    from .model import Twin
    from .store import open_store, user_work

    src, dest = open_store(args.src), open_store(args.dest)
    if src.same_as(dest):
        raise TwinError(f"{src.describe()} is both SRC and DEST: name another DEST")
    lost = [] if args.force else user_work(dest)
    if lost:
        raise TwinError(f"{dest.describe()} holds {', '.join(lost)}, which pushing would "
                        "replace: push elsewhere, or add --force to replace it")
    tw = Twin.open(src)
    tw.save(dest)  # whole, in one transaction (PostGIS) or one rename (GeoPackage)
    print(f"pushed {tw!r} ({src.location}) -> {dest.location}")
    return 0


def _cmd_map(args) -> int:
    try:
        from layers.deck import COLOR_BY, twin_deck, write_html
    except ImportError as e:  # pragma: no cover - depends on the install
        raise TwinError(
            f"maps need the 'viz' extra ({e.name} is missing): pip install 'aqmola-twin[viz]'"
        ) from e
    if args.color_by is not None and args.color_by not in COLOR_BY:
        raise TwinError(f"--color-by {args.color_by!r} is not known: use one of "
                        f"{', '.join(COLOR_BY)}")
    tw = _open(args)
    deck = twin_deck(tw, color_by=args.color_by, extruded=not args.flat,
                     parcels_url=args.parcels_url, lang=args.labels)
    out = write_html(deck, args.out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, opens offline)")
    return 0


def _cmd_add_raster(args) -> int:
    from .raster import add_raster

    tw = _open(args)
    info = add_raster(tw, args.name, args.file, title=args.title, units=args.units,
                      source=args.source, synthetic=args.synthetic, colormap=args.colormap,
                      vmin=args.vmin, vmax=args.vmax, replace=args.replace)
    w, s, e, n = info.bounds
    print(f"added raster {info.name!r}: {info.width}x{info.height}, {info.count} band(s), "
          f"{info.dtype}, lon {w:.4f}..{e:.4f}, lat {s:.4f}..{n:.4f} -> {info.path}")
    print(f"tiles: /raster/{info.name}/{{z}}/{{x}}/{{y}}.png ({info.colormap}, "
          f"{info.vmin:g}..{info.vmax:g})")
    return 0


def _cmd_plan_export(args) -> int:
    tw = _open(args)
    plan = _plan(tw, args.plan)
    out = plan.export(args.out, version=args.version)
    print(f"wrote plan {plan.id!r} v{args.version or plan.version} -> {out}")
    return 0


def _cmd_plan_report(args) -> int:
    tw = _open(args)
    plan = _plan(tw, args.plan)
    out = plan.report(args.out, version=args.version)
    print(f"wrote report of plan {plan.id!r} v{args.version or plan.version} -> {out}")
    return 0


def _plan(tw, plan_id: str):
    """The twin's main plan (shared, cached on the twin), or another plan by id."""
    if plan_id == "main":
        return tw.plan
    from .plan import Plan

    return Plan(tw, plan_id)


def _score_json(value):
    # numpy scalars and NaN are not JSON; the CLI speaks plain JSON.
    if isinstance(value, dict):
        return {k: _score_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_score_json(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _cmd_score(args) -> int:
    tw = _open(args)
    sc = tw.score
    if args.normalisation or args.aggregation:
        sc.configure(normalisation=args.normalisation, aggregation=args.aggregation)
    ranking = sc.ranking()
    mc = 1000 if args.mc is None else args.mc
    unc = sc.uncertainty(n=mc, seed=args.seed).ranks if mc else None
    synthetic = bool(sc.observations["synthetic"].any())
    ref = sc.panel.reference_month
    if args.json:
        units = []
        flags = sc.panel.imputed
        for uid, row in ranking.iterrows():
            u = {"unit_id": uid, "name": row["name"], "rank": row["rank"],
                 "score": row["score"],
                 "dimensions": {d: row[d] for d in sc.registry.dimension_ids},
                 "imputed": {k: v for k, v in flags.loc[uid].items() if v}}
            if unc is not None:
                u.update({k: unc.loc[uid, k] for k in ("median_rank", "rank_p05", "rank_p95")})
            units.append(u)
        out = {"twin": tw.name, "config": {"normalisation": sc.config.normalisation,
                                           "aggregation": sc.config.aggregation},
               "reference_month": ref.to_dict(), "region_score": sc.region_score,
               "left_out": list(sc.left_out), "synthetic_data": synthetic,
               "monte_carlo": {"n": mc, "seed": args.seed},
               "units": units}
        print(json.dumps(_score_json(out), indent=2, ensure_ascii=False))
        return 0
    registry_w = {i.weight for i in sc.registry.indicators}
    weights = ("custom" if sc.config.weights or sc.config.dimension_weights
               else "registry (equal)" if len(registry_w) == 1 else "registry (unequal)")
    print(f"Region score of {tw.title}: {sc.config.normalisation} normalisation, "
          f"{sc.config.aggregation} aggregation, weights: {weights}")
    print(f"scored at {', '.join(sorted(set(ref.dropna())))}; region score "
          f"{sc.region_score:.1f}/100")
    if sc.left_out:
        print(f"left out of the composite (no observations): {', '.join(sc.left_out)}")
    if synthetic:
        obs = sc.observations
        print(f"NOTE: {int(obs['synthetic'].sum()):,} of {len(obs):,} observations are "
              "SYNTHETIC (made up; each row says so in its 'synthetic' column)")
    dims = list(sc.registry.dimension_ids)
    head = f"{'rank':>4} {'unit':<22} {'score':>5}" + "".join(f" {d[:7]:>7}" for d in dims)
    print(head + ("  median [5-95%] rank" if unc is not None else ""))
    for uid, row in ranking.iterrows():
        line = f"{row['rank']:>4} {row['name']:<22} {row['score']:5.1f}" + "".join(
            f" {row[d]:7.1f}" for d in dims)
        if unc is not None:
            r = unc.loc[uid]
            line += f"  {r['median_rank']:>3} [{r['rank_p05']}-{r['rank_p95']}]"
        print(line + (f"  ({row['n_imputed']} imputed)" if row["n_imputed"] else ""))
    return 0


def _cmd_score_forecast(args) -> int:
    given = [o for o, v in (("--normalisation", args.normalisation),
                            ("--aggregation", args.aggregation), ("--mc", args.mc))
             if v is not None]
    if given:
        raise TwinError(f"{', '.join(given)} apply to the ranking, not to forecasts: drop "
                        "them from 'twin score ... forecast'")
    tw = _open(args)
    sc = tw.score
    fc = sc.forecast(horizon=args.horizon, level=args.level, units=args.unit or None,
                     indicators=args.indicator or None, seed=args.seed)
    bt = sc.backtest(units=args.unit or None, indicators=args.indicator or None) \
        if args.backtest else None
    warn = fc.early_warning
    if args.json:
        out = {"horizon": fc.horizon, "level": fc.level, "seed": fc.seed,
               "early_warning": warn.to_dict(orient="records"),
               "kpi": fc.kpi.to_dict(orient="records"),
               "forecasts": fc.table.to_dict(orient="records")}
        if bt is not None:
            out["backtest"] = {"origins": list(bt.origins), "horizon": bt.horizon,
                               "summary": bt.summary.reset_index().to_dict(orient="records")}
        print(json.dumps(_score_json(out), indent=2, ensure_ascii=False))
        return 0
    print(f"early warning: {len(warn)} of {len(fc.kpi)} unit-indicator KPIs are forecast "
          f"to miss their target by {fc.kpi['at'].max() if len(fc.kpi) else '-'} "
          f"({fc.level:.0%} intervals)")
    for r in warn.itertuples(index=False):
        print(f"  {r.unit_id:<12} {r.indicator:<22} forecast {r.kpi:10.2f} "
              f"[{r.kpi_lower:.2f}, {r.kpi_upper:.2f}]  target {r.target:10.2f}  "
              f"P(miss) {r.p_miss:.0%}")
    if bt is not None:
        print(f"\nbacktest: MAPE %, origins {', '.join(bt.origins)}, {bt.horizon} months ahead")
        print(bt.summary.round(2).to_string())
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="twin", description="aqmola-twin: build, inspect and serve digital twins of any "
        "region, from its own data (twin new) or the default Akmola twin (twin build)."
    )
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build the default Akmola twin")
    b.add_argument("--parcels", type=int, default=50_000,
                   help="number of synthetic parcels (default 50,000)")
    b.add_argument("--out", help="where to write the twin file (default: the cache folder)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--force", action="store_true",
                   help="replace --out even if it holds scenarios, plan changes, observations "
                   "or rasters of a user (or is not a twin file)")
    b.set_defaults(func=_cmd_build)

    i = sub.add_parser("info", help="summarise a twin")
    i.add_argument("--twin", help=_TWIN_HELP)
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_cmd_info)

    s = sub.add_parser("serve", help="serve a twin over HTTP")
    s.add_argument("--host", default=os.environ.get("TWIN_HOST", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(os.environ.get("TWIN_PORT", "8000")))
    s.add_argument("--twin", help="twin file or postgresql:// URL (default: the default "
                   "twin, built if missing)")
    s.add_argument("--workers", type=_positive, default=1,
                   help="worker processes (more than 1 needs a PostGIS twin; default 1)")
    s.set_defaults(func=_cmd_serve)

    pu = sub.add_parser("push", help="copy a whole twin (layers, tables, rasters) between a "
                        "GeoPackage file and PostgreSQL/PostGIS, either way")
    pu.add_argument("src", help="twin file or postgresql://user@host:port/db[?schema=NAME]")
    pu.add_argument("dest", help="twin file or postgresql:// URL to write (replaced whole)")
    pu.add_argument("--force", action="store_true",
                    help="replace DEST even if it holds scenarios, plan changes, observations "
                    "or rasters of a user")
    pu.set_defaults(func=_cmd_push)

    m = sub.add_parser("map", help="write a self-contained 3D map (HTML, works offline)")
    m.add_argument("--out", required=True, help="HTML file to write")
    m.add_argument("--twin", help=_TWIN_HELP)
    m.add_argument("--color-by",
                   help="district colour and height: score, population, investment_kzt, jobs, "
                   "projects (default: score where the twin has one, else population)")
    m.add_argument("--flat", action="store_true", help="a 2D map instead of 3D")
    m.add_argument("--labels", default="kk", choices=["kk", "ru", "en"],
                   help="label language: kk (Kazakh, else Russian), ru or en (default kk)")
    m.add_argument("--parcels-url",
                   help="XYZ template of parcel vector tiles from a running 'twin serve', "
                   "e.g. http://127.0.0.1:8000/tiles/parcels/{z}/{x}/{y}.mvt (default: no "
                   "parcels; they are never inlined)")
    m.set_defaults(func=_cmd_map)

    a = sub.add_parser("add-raster", help="add a GeoTIFF to a twin as a served raster layer")
    a.add_argument("name", help="raster name: lower-case letters, digits, underscores")
    a.add_argument("file", help="a GeoTIFF with a CRS (VRT and other formats are refused)")
    a.add_argument("--twin", help=_TWIN_HELP)
    a.add_argument("--title", help="a title for catalogues (default: the name)")
    a.add_argument("--units", default="", help="units of the values, e.g. 'm' or 'NDVI'")
    a.add_argument("--source", help="where the data came from (default: the file name)")
    a.add_argument("--synthetic", action="store_true", help="mark the data as made up")
    a.add_argument("--colormap", default="viridis",
                   help="tile colormap (rio-tiler name; default viridis)")
    a.add_argument("--vmin", type=float, help="value drawn at the colormap's start "
                   "(default: 2nd percentile)")
    a.add_argument("--vmax", type=float, help="value drawn at the colormap's end "
                   "(default: 98th percentile)")
    a.add_argument("--replace", action="store_true", help="replace a raster of that name")
    a.set_defaults(func=_cmd_add_raster)

    pl = sub.add_parser("plan", help="the digital general plan: export it or report on it")
    plsub = pl.add_subparsers(dest="plan_command", required=True)
    for verb, func, out_help in [
        ("export", _cmd_plan_export, "GeoPackage to write (zones, buffers, findings, tables)"),
        ("report", _cmd_plan_report, "folder to write report.md, map.png and CSVs into"),
    ]:
        v = plsub.add_parser(verb, help=out_help)
        v.add_argument("--out", required=True, help=out_help)
        v.add_argument("--twin", help=_TWIN_HELP)
        v.add_argument("--plan", default="main", help="plan id (default main)")
        v.add_argument("--version", type=int, help="plan version (default: the latest)")
        v.set_defaults(func=func)

    sc = sub.add_parser("score", help="the region score: ranking with rank intervals")
    sc.add_argument("--twin", help=_TWIN_HELP)
    sc.add_argument("--json", action="store_true", help="print JSON")
    sc.add_argument("--normalisation", choices=["minmax", "zscore", "target"])
    sc.add_argument("--aggregation", choices=["arithmetic", "geometric"])
    sc.add_argument("--mc", type=int,
                    help="Monte Carlo draws for rank intervals (0: none; default 1000)")
    sc.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sc.set_defaults(func=_cmd_score)
    scsub = sc.add_subparsers(dest="score_command")
    f = scsub.add_parser("forecast", help="forecasts, early-warning list, backtest")
    # SUPPRESS: an option given before 'forecast' (twin score --twin X forecast) is kept,
    # instead of being reset by the nested parser's default.
    f.add_argument("--twin", default=argparse.SUPPRESS,
                   help=_TWIN_HELP)
    f.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="print JSON")
    f.add_argument("--horizon", type=int, default=12, help="months ahead, 1-12 (default 12)")
    f.add_argument("--level", type=float, default=0.9,
                   help="prediction interval coverage (default 0.9)")
    f.add_argument("--unit", action="append", help="only this unit id (repeatable)")
    f.add_argument("--indicator", action="append", help="only this indicator (repeatable)")
    f.add_argument("--backtest", action="store_true",
                   help="also run the rolling-origin backtest against seasonal-naive (slow)")
    f.add_argument("--seed", type=int, default=argparse.SUPPRESS,
                   help="random seed (default 0)")
    f.set_defaults(func=_cmd_score_forecast)
    # the verbs that bring a region's own data in: new, import, score ingest
    from . import cli_data, cli_tiles

    cli_data.add_commands(sub, scsub)
    cli_tiles.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "parcels", 1) is not None and getattr(args, "parcels", 1) < 1:
        print("twin: error: --parcels must be a positive number", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except TwinError as e:
        print(f"twin: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except BrokenPipeError:
        # `twin info | head` closed our stdout early; that is the reader's choice, not an
        # error. Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
