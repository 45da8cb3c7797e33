"""The :class:`Scenario`: a baseline twin plus an ordered list of edits, evaluated as deltas.

Examples
--------
>>> from twin.sample import make_small_twin, point_lonlat
>>> tw = make_small_twin()
>>> s = Scenario(tw, "second-plant")
>>> p = point_lonlat(12_500, 2_500)
>>> _ = s.add_project("p3", p.x, p.y, "metallurgy", investment_kzt=2_000_000_000, jobs=300,
...                   hazard_class="III")
>>> ev = s.evaluate()
>>> ev.summary()["d_jobs"], int(ev.districts.loc["east", "d_investment_kzt"])
(300, 2000000000)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import persist
from .edits import (
    AddProject,
    Edit,
    MoveProject,
    RemoveProject,
    Rezone,
    SetRegulation,
    SetScoreWeights,
    check_count,
    edits_from_json,
    edits_to_json,
)
from .engine import State, apply, baseline_key, baseline_of, fresh_state
from .errors import ScenarioError
from .evaluation import Evaluation, evaluate_states

__all__ = ["Scenario", "compare", "list_scenarios", "open_scenario", "delete_scenario"]


class Scenario:
    """A what-if on a twin: the baseline plus edits, each validated as it is added.

    Parameters
    ----------
    tw : Twin
        The baseline; it is never changed.
    id : str
        1-64 ASCII letters, digits, ``_`` or ``-``; the key under which :meth:`save` stores
        it.
    edits : iterable of Edit, optional
        Replayed (and validated) in order; at most :data:`twin.limits.MAX_EDITS`.
    name : str, optional
        A human title (default: the id): one line, at most 200 characters.

    Notes
    -----
    Each edit method returns the scenario, so edits chain. State after every edit is kept,
    so adding one edit and evaluating again costs only what that edit touches.
    """

    def __init__(self, tw, id: str, edits=(), *, name: str | None = None,
                 version: int = 0) -> None:
        self.twin = tw
        self.id = persist.check_id(id)
        self.name = persist.check_name(name or id)
        self.version = int(version)  # the stored version this scenario is based on
        edits = list(edits)
        check_count(len(edits))  # before any replay: the cap bounds the work
        self._edits: list[Edit] = []
        self._base = baseline_of(tw)
        self._states: list[State] = [self._base.state]
        self._eval: tuple[tuple, Evaluation] | None = None
        for e in edits:
            self.apply(e)

    def __repr__(self) -> str:
        return (f"<Scenario {self.id!r} v{self.version} of twin {self.twin.name!r}: "
                f"{len(self._edits)} edit(s)>")

    # -- edits -----------------------------------------------------------------------------
    @property
    def edits(self) -> tuple[Edit, ...]:
        return tuple(self._edits)

    @property
    def changes(self) -> dict[str, str]:
        """Each project the edits touch: ``added``, ``moved`` or ``removed`` (against the
        baseline)."""
        return dict(self._state().origin)

    def describe(self) -> list[str]:
        """The edits in words, in order."""
        return [e.describe() for e in self._edits]

    def _state(self) -> State:
        if self._base.key != baseline_key(self.twin):
            raise ScenarioError(
                f"scenario {self.id!r}: the twin's layers or plan changed since the scenario "
                "was made: open it again (the edits are replayed on the new baseline)")
        return self._states[-1]

    def apply(self, edit: Edit) -> Scenario:
        """Apply one edit (validated against the twin; on error nothing changes)."""
        if not isinstance(edit, Edit):
            raise ScenarioError(f"not an edit: {edit!r}; use the scenario's edit methods")
        check_count(len(self._edits) + 1)
        new = apply(self._base, self._state(), edit)
        self._edits.append(edit)
        self._states.append(new)
        return self

    def undo(self) -> Scenario:
        """Drop the last edit."""
        if not self._edits:
            raise ScenarioError(f"scenario {self.id!r} has no edit to undo")
        self._edits.pop()
        self._states.pop()
        return self

    def add_project(self, id: str, lon: float, lat: float, sector: str, *,
                    investment_kzt: int = 0, jobs: int = 0, hazard_class: str = "",
                    name: str = "", area_ha: float = 0.0) -> Scenario:
        """Add a project at (lon, lat), EPSG:4326."""
        return self.apply(AddProject(id, lon, lat, sector, investment_kzt, jobs, hazard_class,
                                     name, area_ha))

    def move_project(self, project_id: str, lon: float, lat: float) -> Scenario:
        """Move a project (of the baseline or added by this scenario) to (lon, lat)."""
        return self.apply(MoveProject(project_id, lon, lat))

    def remove_project(self, project_id: str) -> Scenario:
        return self.apply(RemoveProject(project_id))

    def rezone(self, area=None, zone_type: str | None = None, *, parcels=None,
               note: str = "") -> Scenario:
        """Rezone an area (shapely geometry in lon/lat, or a GeoSeries with a CRS) or a list
        of parcel ids to ``zone_type``."""
        if zone_type is None:
            raise ScenarioError("rezone: say which zone type, e.g. rezone(area, 'industrial')")
        if (area is None) == (parcels is None):
            raise ScenarioError("rezone: give either an area or parcel ids, not both")
        if parcels is not None:
            ids = tuple(v.item() if isinstance(v, np.generic) else v for v in parcels)
            return self.apply(Rezone(zone_type, parcel_ids=ids, note=note))
        if isinstance(area, (gpd.GeoSeries, gpd.GeoDataFrame)):
            if area.crs is None:
                raise ScenarioError("rezone: the area GeoSeries has no CRS: set one")
            area = shapely.union_all(np.asarray(area.to_crs(4326).geometry.values
                                                if isinstance(area, gpd.GeoDataFrame)
                                                else area.to_crs(4326).values))
        if not isinstance(area, shapely.Geometry):
            raise ScenarioError(f"rezone: area must be a shapely geometry in lon/lat or a "
                                f"GeoSeries, got {type(area).__name__}")
        return self.apply(Rezone(zone_type, shapely.to_wkb(area, hex=True), note=note))

    def set_regulation(self, zone_type: str, field: str, value) -> Scenario:
        """Set one regulation field of a zone type (e.g. ``("industrial", "max_far", 1.2)``)."""
        return self.apply(SetRegulation(zone_type, field, value))

    def set_score_weights(self, weights=None, dimension_weights=None) -> Scenario:
        """Weights of the region score's indicators and/or dimensions."""
        return self.apply(SetScoreWeights(dict(weights or {}), dict(dimension_weights or {})))

    # -- results ---------------------------------------------------------------------------
    def evaluate(self, *, fresh: bool = False) -> Evaluation:
        """The consequences as deltas against the baseline (:class:`Evaluation`).

        ``fresh=True`` recomputes everything from the layers with no cache (slow; the
        reference the incremental result is checked against).
        """
        if fresh:
            b = self._base
            return evaluate_states(b, fresh_state(b, []), fresh_state(b, self._edits),
                                   self._edits)
        st = self._state()
        # Keyed by the edits themselves (frozen values): after undo() and another edit the
        # edit count repeats, but the edits do not.
        key = (self._base.key, tuple(self._edits))
        if self._eval is None or self._eval[0] != key:
            self._eval = (key, evaluate_states(self._base, self._states[0], st, self._edits))
        return self._eval[1]

    def findings(self) -> gpd.GeoDataFrame:
        """Every compliance finding of the scenario, each at its site (lon/lat); the deltas
        against the baseline are in :meth:`evaluate`."""
        return self.evaluate().findings

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The scenario's own layers in lon/lat: ``project_sites`` (with ``change``),
        ``zones`` and ``sanitary_zones`` of the sites it adds or moves."""
        from ..crs import to_storage
        from ..plan.buffers import sanitary_zones

        st = self._state()
        sites = st.sites.copy()
        # a dict lookup, not Series.map: with no change at all that gives a float column
        sites["change"] = [st.origin.get(i, "") for i in sites["id"]]
        # Provenance stays the row's: a baseline (or moved) site keeps its own source and
        # synthetic flag; a site the scenario adds is the scenario's.
        # a twin without project sites has none to cite: every site is the scenario's
        base = (self.twin["project_sites"] if "project_sites" in self.twin
                else pd.DataFrame({"id": [], "source": []}))
        cited = dict(zip(base["id"].astype(str), base["source"].astype(str), strict=True))
        sites["source"] = [
            "scenario edit (added)" if ch == "added"
            else (f"scenario edit (moved); {cited.get(i, 'baseline')}" if ch == "moved"
                  else cited.get(i, "baseline"))
            for i, ch in zip(sites["id"], sites["change"], strict=True)]
        sites["synthetic"] = sites["synthetic"].astype(bool)
        changed = sites[sites["change"] != ""]
        # a sanitary zone is as synthetic as the site it surrounds
        szz = sanitary_zones(changed, st.regs, crs=self._base.crs)
        zones = st.zones.copy()
        return {"project_sites": to_storage(sites), "zones": to_storage(zones),
                "sanitary_zones": to_storage(szz).assign(id=lambda d: d["site_id"])}

    def to_twin(self):
        """The scenario's own layers (:meth:`layers`) as a small :class:`~twin.Twin`, for
        tiles and exports. Its version is ``<baseline version>+<id>.v<version>``.

        The zones come back from the plan's metric CRS, and that reprojection can leave a
        zone that was valid in lon/lat self-intersecting by a hair; such geometries are
        repaired (``make_valid``) here, as for any derived layer.
        """
        from ..model import Twin
        from ..schema import LayerSchema

        lay = self.layers()
        poly, pt = ("Polygon", "MultiPolygon"), ("Point",)
        schemas = {n: LayerSchema(n, pt if n == "project_sites" else poly,
                                  description=f"scenario {self.id!r}: {n}")
                   for n in lay}
        return Twin(lay, name=f"{self.twin.name}:{self.id}",
                    version=f"{self.twin.version}+{self.id}.v{self.version}",
                    schemas=schemas, analysis_crs=self.twin.analysis_crs, repair=True)

    def map(self, **kwargs):
        """A pydeck view of what changed (needs the ``viz`` extra)."""
        from layers.scenario_deck import scenario_deck  # lazy: twin stays free of drawing

        return scenario_deck(self, **kwargs)

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "version": self.version,
                "edits": [e.to_dict() for e in self._edits]}

    def save(self) -> int:
        """Store the scenario in the twin (and its file), transactionally; returns the new
        version. Raises ``ScenarioConflict`` if another session saved it meanwhile."""
        self.version = persist.write_row(self.twin, self.id, self.name,
                                         edits_to_json(self._edits), self.version)
        return self.version


def open_scenario(tw, scenario_id: str, *, create: bool = True) -> Scenario:
    """The stored scenario ``scenario_id`` (its edits replayed), or a new empty one."""
    try:
        r = persist.read_row(tw, scenario_id)
    except KeyError:
        if not create:
            raise
        return Scenario(tw, scenario_id)
    return Scenario(tw, scenario_id, edits_from_json(r["edits"]), name=r["name"],
                    version=r["version"])


def list_scenarios(tw) -> pd.DataFrame:
    """The stored scenarios: id, name, version, number of edits, last update."""
    rows = persist.read_rows(tw)
    n = [len(edits_from_json(e)) for e in rows["edits"]] if len(rows) else []
    out = rows[["id", "name", "version", "baseline", "updated_utc"]].copy()
    out.insert(3, "n_edits", n)
    return out.reset_index(drop=True)


def delete_scenario(tw, scenario_id: str, expected_version: int | None = None) -> None:
    persist.delete_row(tw, scenario_id, expected_version)


def compare(scenarios) -> pd.DataFrame:
    """One tidy table: a row per scenario, a column per headline measure.

    Examples
    --------
    >>> # compare([s1, s2, s3])[["d_jobs", "d_szz_population", "d_region_score"]]
    """
    scenarios = list(scenarios)
    if not scenarios:
        raise ScenarioError("compare: give at least one scenario")
    twins = {id(s.twin) for s in scenarios}
    if len(twins) > 1:
        raise ScenarioError("compare: the scenarios have different baseline twins; compare "
                            "scenarios of one twin")
    ids = [s.id for s in scenarios]
    if len(set(ids)) != len(ids):
        raise ScenarioError(f"compare: scenario ids repeat ({ids}): give each its own id")
    rows = [{"scenario": s.id, "name": s.name, **s.evaluate().summary().to_dict()}
            for s in scenarios]
    return pd.DataFrame(rows).set_index("scenario")
