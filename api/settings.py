"""The API's one settings class, read from ``TWIN_*`` environment variables.

Only the CLI and ``api/`` read the environment (docs/design.md); tests build a
``Settings(...)`` directly and hand it to :func:`api.app.create_app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings"]


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

    #: The twin file to serve; None serves ``twin.load_default()``.
    twin_path: Path | None = None
    #: Bearer tokens accepted on write endpoints (comma-separated in TWIN_API_TOKENS).
    api_tokens: Annotated[list[str], NoDecode] = []
    #: A file holding more tokens, one per line (blank lines and ``#`` comments skipped).
    api_token_file: Path | None = None
    #: Origins allowed by CORS ("*" for any); empty disables CORS headers.
    cors_origins: Annotated[list[str], NoDecode] = []
    #: Request bodies larger than this answer 413.
    max_body_bytes: int = 1_048_576
    #: Upper bound on the bytes the vector-tile cache holds.
    tile_cache_bytes: int = 256 * 2**20
    #: Public base URL (e.g. https://maps.example.org/twin) used in links instead of the
    #: one derived from the request and its X-Forwarded-* headers.
    public_url: str | None = None
    #: Honour X-Forwarded-Proto/Host/Prefix when building absolute links. Turn off when
    #: the server is reachable without a proxy that sets (or strips) them.
    trust_forwarded_headers: bool = True
    #: Cache-Control max-age of tiles, in seconds.
    tile_max_age: int = 300
    #: Answer cached XYZ tiles before FastAPI's routing (api/fastpath.py). Off only to
    #: measure what it saves (bench/tiles.py --no-fast-path).
    tile_fast_path: bool = True
    #: Move everything alive at startup (the twin) out of the GC's reach (gc.freeze), so
    #: full collections do not stall requests. Off only to measure it.
    gc_freeze: bool = True
    #: uvicorn's access log in `twin serve` (one line per request: off for benchmarks).
    access_log: bool = True

    _split_tokens = field_validator("api_tokens", "cors_origins", mode="before")(_split)

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
