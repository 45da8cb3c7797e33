"""Auth, limits and CORS: reads are public; writes need a Bearer token from the settings
(none configured: 403); bodies over the limit answer 413; CORS follows the settings."""

from __future__ import annotations

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import require_token
from api.settings import Settings


def _app(small_twin, **settings):
    settings.setdefault("gc_freeze", False)
    app = create_app(Settings(**settings), twin=small_twin)

    # A stand-in for the write endpoints other routers add (score observations, scenarios).
    @app.post("/_write", dependencies=[Depends(require_token)])
    async def write(payload: dict) -> dict:
        return {"ok": True, "keys": sorted(payload)}

    return app


def test_reads_are_public(small_twin):
    with TestClient(_app(small_twin, api_tokens="t0k")) as c:
        assert c.get("/collections").status_code == 200


def test_writes_are_off_without_tokens(small_twin):
    with TestClient(_app(small_twin)) as c:
        r = c.post("/_write", json={"a": 1}, headers={"Authorization": "Bearer anything"})
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert "TWIN_API_TOKENS" in r.json()["detail"]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong", "Basic t0k", "t0k",
                                    "Bearer t0k2", "Bearer t0"])
def test_writes_need_a_valid_bearer_token(small_twin, header):
    with TestClient(_app(small_twin, api_tokens="t0k, other")) as c:
        r = c.post("/_write", json={"a": 1},
                   headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_valid_token_writes(small_twin, tmp_path):
    f = tmp_path / "tokens"
    f.write_text("# planners\nfrom-file\n\n")
    with TestClient(_app(small_twin, api_tokens="t0k", api_token_file=f)) as c:
        for tok in ("t0k", "from-file"):
            r = c.post("/_write", json={"a": 1}, headers={"Authorization": f"Bearer {tok}"})
            assert r.status_code == 200 and r.json() == {"ok": True, "keys": ["a"]}


def test_tokens_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TWIN_API_TOKENS", "a, b,,c")
    monkeypatch.setenv("TWIN_CORS_ORIGINS", "https://x.org")
    monkeypatch.setenv("TWIN_MAX_BODY_BYTES", "123")
    s = Settings()
    assert s.api_tokens == ["a", "b", "c"] and s.cors_origins == ["https://x.org"]
    assert s.max_body_bytes == 123


def test_unreadable_token_file_is_a_clear_error(small_twin, tmp_path):
    with pytest.raises(ValueError, match="TWIN_API_TOKEN_FILE"):
        create_app(Settings(api_token_file=tmp_path / "missing"), twin=small_twin)


def test_body_over_the_limit_is_413(small_twin):
    app = _app(small_twin, api_tokens="t0k", max_body_bytes=100)
    auth = {"Authorization": "Bearer t0k"}
    with TestClient(app) as c:
        ok = c.post("/_write", json={"a": 1}, headers=auth)
        assert ok.status_code == 200
        big = c.post("/_write", json={"a": "x" * 500}, headers=auth)
        assert big.status_code == 413
        assert big.headers["content-type"] == "application/problem+json"

        def chunks():  # no Content-Length: the limit is counted as the body streams in
            for _ in range(10):
                yield b'{"a": "' + b"x" * 50 + b'"}'

        streamed = c.post("/_write", content=chunks(),
                          headers={**auth, "Content-Type": "application/json"})
        assert streamed.status_code == 413
        # Even unauthenticated or on a read route, a huge body is refused first.
        assert c.post("/collections", content=b"x" * 1000).status_code == 413


def test_cors_off_by_default(small_twin):
    with TestClient(_app(small_twin)) as c:
        r = c.get("/collections", headers={"Origin": "https://x.org"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_configured(small_twin):
    app = _app(small_twin, cors_origins="https://map.example.org")
    with TestClient(app) as c:
        r = c.get("/collections", headers={"Origin": "https://map.example.org"})
        assert r.headers["access-control-allow-origin"] == "https://map.example.org"
        r = c.get("/collections", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        pre = c.options("/_write", headers={
            "Origin": "https://map.example.org", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization"})
        assert pre.status_code == 200
        # A scenario PATCH/DELETE must send If-Match: the preflight has to allow it.
        pre = c.options("/scenarios/x", headers={
            "Origin": "https://map.example.org", "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type, if-match"})
        assert pre.status_code == 200, pre.text
        assert "if-match" in pre.headers["access-control-allow-headers"].lower()
        r = c.get("/collections", headers={"Origin": "https://map.example.org"})
        exposed = r.headers["access-control-expose-headers"].lower()
        assert "etag" in exposed and "location" in exposed
        # Cached tiles go through the fast path; CORS still applies to them.
        c.get("/tiles/districts/10/689/338.mvt")
        r = c.get("/tiles/districts/10/689/338.mvt", headers={"Origin": "https://map.example.org"})
        assert r.headers["access-control-allow-origin"] == "https://map.example.org"
