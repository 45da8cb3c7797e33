"""The API's one settings class, read from ``TWIN_*`` environment variables.

Only the CLI and ``api/`` read the environment (docs/design.md); tests build a
``Settings(...)`` directly and hand it to :func:`api.app.create_app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .proxy import parse_proxies

__all__ = ["Settings", "settings_problem"]


def _split(v):
    # Environment variables arrive as one string: "a,b , c" -> ["a", "b", "c"].
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()]
    return v


class Settings(BaseSettings):
    """How the API serves a twin.

    Examples
    --------
    >>> Settings(api_tokens="s3cret, other").api_tokens
    ['s3cret', 'other']
    """

    model_config = SettingsConfigDict(env_prefix="TWIN_", extra="ignore")

    #: The twin to serve: a GeoPackage path or a ``postgresql://`` URL (kept as a string:
    #: a Path would fold its ``//``); None serves ``twin.load_default()``.
    twin_path: Path | str | None = None
    #: Bearer tokens accepted on write endpoints (comma-separated in TWIN_API_TOKENS).
    api_tokens: Annotated[list[str], NoDecode] = []
    #: A file holding more tokens, one per line (blank lines and ``#`` comments skipped).
    api_token_file: Path | None = None
    #: Origins allowed by CORS ("*" for any); empty disables CORS headers.
    cors_origins: Annotated[list[str], NoDecode] = []
    #: Request bodies larger than this answer 413.
    max_body_bytes: int = 1_048_576
    #: Largest items page, and the page size when a client names none. GIS clients page at
    #: min(max(1000, default), maximum) of the OpenAPI ``limit`` (QGIS, GDAL >= 3.8), so
    #: only a default equal to the maximum lets them read a layer in the fewest requests.
    max_page_size: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    #: Longer CQL2 filters (the items ``filter`` parameter) answer 400. 16 KiB holds a
    #: polygon of several hundred vertices and stays under common proxies' URL limits.
    max_filter_bytes: Annotated[int, Field(ge=64)] = 16_384
    #: Upper bound on the bytes the vector-tile cache holds.
    tile_cache_bytes: int = 256 * 2**20
    #: Where /map reads parcels from instead of this server's tile endpoint: the URL of a
    #: PMTiles archive (`twin tiles export parcels`) on a CDN or static host, absolute or
    #: relative to the page. The host must answer Range requests (and CORS for another
    #: origin). A server setting, not a query parameter, so that nobody can hand out a
    #: link to the public map that draws someone else's parcels.
    map_parcels_pmtiles: str | None = None
    #: Public base URL (e.g. https://maps.example.org/twin) of every link. Where set,
    #: nothing from the request counts: not forwarded headers, not even Host.
    public_url: str | None = None
    #: Peers (IP addresses or CIDR ranges, comma-separated) whose forwarded headers count:
    #: your reverse proxies. Empty: every request's forwarded headers are ignored.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    #: The header family those proxies set: "x-forwarded" (X-Forwarded-Proto/-Host/-For)
    #: or "forwarded" (RFC 7239). The other family is ignored, since a proxy passes on what
    #: it does not set. X-Forwarded-Prefix is read with either.
    forwarded_headers: Literal["x-forwarded", "forwarded"] = "x-forwarded"
    #: Removed: it trusted every client's forwarded headers. Setting it is an error that
    #: says what to set instead (TWIN_TRUSTED_PROXIES or TWIN_PUBLIC_URL).
    trust_forwarded_headers: Annotated[Any, Field(exclude=True, repr=False)] = None
    #: Cache-Control max-age of documents holding links (TileJSON, OGC documents), in
    #: seconds; 0 sends no-cache.
    doc_max_age: Annotated[int, Field(ge=0)] = 60
    #: Cache-Control max-age of tiles, in seconds.
    tile_max_age: int = 300
    #: Answer cached XYZ tiles before FastAPI's routing (api/fastpath.py). Off only to
    #: measure what it saves (bench/tiles.py --no-fast-path).
    tile_fast_path: bool = True
    #: Move everything alive once the warm-up is done (the twin) out of the GC's reach
    #: (gc.freeze), so full collections do not stall requests. Off only to measure it.
    gc_freeze: bool = True
    #: What the server prepares after it starts, before /ready answers 200: "tiles" (each
    #: layer's vector-tile index, opened from its sidecar file or built once and saved
    #: there), "layers" (every layer read into memory, for items and analyses), both
    #: (comma-separated), or "none". /health answers from the start either way.
    warm: Annotated[list[Literal["tiles", "layers", "none"]], NoDecode] = ["tiles"]
    #: uvicorn's access log in `twin serve` (one line per request: off for benchmarks).
    access_log: bool = True
    #: Seconds a connection may take to send a complete request head (from its opening,
    #: and from the first byte of each later request) before `twin serve` answers 408 and
    #: closes it; 0 turns the limit off. Idle keep-alive connections close after 5 s.
    header_timeout: Annotated[float, Field(ge=0, le=3600)] = 10.0
    #: Fit the region's forecasts in the background at startup, so the first
    #: ``GET /score/forecast`` (and /dashboard's first visitor) finds them ready.
    forecast_on_start: bool = False

    _split_tokens = field_validator("api_tokens", "cors_origins", "trusted_proxies", "warm",
                                    mode="before")(_split)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        parse_proxies(v)  # a ValueError naming the bad entry
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if not v:
            return None
        u = urlsplit(v)
        if u.scheme not in ("http", "https") or not u.netloc or u.query or u.fragment:
            raise ValueError(f"TWIN_PUBLIC_URL {v!r} is not an absolute http(s) URL: give the "
                             "address clients use, e.g. https://maps.example.org/twin")
        return v

    @field_validator("map_parcels_pmtiles")
    @classmethod
    def _pmtiles_url(cls, v: str | None) -> str | None:
        if not v:
            return None
        u = urlsplit(v)
        if (u.scheme and u.scheme not in ("http", "https")) or (u.scheme and not u.netloc) \
                or any(c.isspace() for c in v) or not u.path.endswith(".pmtiles"):
            raise ValueError(f"TWIN_MAP_PARCELS_PMTILES {v!r} is not the URL of a .pmtiles "
                             "archive: give an http(s) URL or a path relative to the page, "
                             "e.g. https://cdn.example.org/parcels.pmtiles")
        return v

    @field_validator("trust_forwarded_headers", mode="before")
    @classmethod
    def _removed(cls, v: Any) -> None:
        if v is not None:
            raise ValueError(
                "TWIN_TRUST_FORWARDED_HEADERS was removed: it believed X-Forwarded-* headers "
                "from any client, so one request could point the links that caches keep at "
                "another host. Unset it; behind a reverse proxy set TWIN_TRUSTED_PROXIES to "
                "the proxy's address (e.g. 127.0.0.1) or TWIN_PUBLIC_URL to the public URL")
        return None

    def tokens(self) -> frozenset[str]:
        """Every accepted token: the configured ones plus the token file's lines."""
        found = set(self.api_tokens)
        if self.api_token_file is not None:
            try:
                text = self.api_token_file.read_text(encoding="utf-8")
            except OSError as e:
                raise ValueError(
                    f"cannot read the token file {str(self.api_token_file)!r} ({e}): fix "
                    "TWIN_API_TOKEN_FILE or unset it"
                ) from e
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    found.add(line)
        return frozenset(found)


def settings_problem(error: ValidationError) -> str:
    """The messages of a settings ValidationError on one line, each naming its variable,
    without pydantic's boilerplate (for the CLI, which reports it as a plain error)."""
    lines = []
    for e in error.errors():
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        where = ".".join(str(p) for p in e.get("loc", ()))
        lines.append(msg if msg.startswith("TWIN_") else f"TWIN_{where.upper()}: {msg}")
    return "; ".join(lines)
