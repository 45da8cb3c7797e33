"""api/proxy.py: whose forwarded headers count, how a chain of them is read, the settings
that name the proxies, and the whole thing behind a real nginx from Debian on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from api.proxy import (
    SCOPE_KEY,
    Forwarded,
    TrustedProxies,
    parse_forwarded,
    resolve,
    valid_host,
    valid_prefix,
)
from api.settings import Settings, settings_problem
from tests.common import NO_PROXY_ENV, ogrinfo_counts
from tests.processes import NGINX, free_port, nginx_conf, running
from twin.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _scope(peer, headers: dict | list, scheme="http"):
    items = headers.items() if isinstance(headers, dict) else headers
    return {"type": "http", "scheme": scheme, "client": peer,
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in items]}


# -- whom to trust -------------------------------------------------------------------------

def test_trusted_addresses_and_ranges():
    p = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "fd00::/8", "192.168.1.10/24"])
    assert "127.0.0.1" in p and "10.255.0.1" in p and "fd12::1" in p
    assert "192.168.1.99" in p  # host bits in a range are read as its network
    assert "::ffff:10.1.1.1" in p  # IPv4 peer on a dual-stack socket
    for peer in ("127.0.0.2", "11.0.0.1", "::1", "testclient", "", None, "unix:/run/x"):
        assert peer not in p
    assert not TrustedProxies([]) and "127.0.0.1" not in TrustedProxies([])


@pytest.mark.parametrize("entry,word", [("localhost", "host names are not resolved"),
                                        ("10.0.0.0/33", "not an IP address"),
                                        ("*", "0.0.0.0/0,::/0")])
def test_a_bad_trusted_proxy_entry_is_named(entry, word):
    with pytest.raises(ValidationError) as e:
        Settings(trusted_proxies=f"127.0.0.1, {entry}")
    msg = settings_problem(e.value)
    assert msg.startswith("TWIN_TRUSTED_PROXIES") and repr(entry) in msg and word in msg


def test_trusted_proxies_from_the_environment(monkeypatch):
    monkeypatch.setenv("TWIN_TRUSTED_PROXIES", " 127.0.0.1 ,::1,,10.0.0.0/8 ")
    assert Settings().trusted_proxies == ["127.0.0.1", "::1", "10.0.0.0/8"]
    monkeypatch.delenv("TWIN_TRUSTED_PROXIES")
    assert Settings().trusted_proxies == []  # secure by default


@pytest.mark.parametrize("value", ["true", "false", "1"])
def test_the_removed_setting_is_an_error_that_says_what_to_set(monkeypatch, value):
    monkeypatch.setenv("TWIN_TRUST_FORWARDED_HEADERS", value)
    with pytest.raises(ValidationError) as e:
        Settings()
    msg = settings_problem(e.value)
    assert "TWIN_TRUST_FORWARDED_HEADERS was removed" in msg
    assert "TWIN_TRUSTED_PROXIES" in msg and "TWIN_PUBLIC_URL" in msg
    with pytest.raises(ValidationError):
        Settings(trust_forwarded_headers=True)


def test_twin_serve_refuses_the_removed_setting_before_building(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TWIN_TRUST_FORWARDED_HEADERS", "true")
    assert main(["serve", "--twin", str(tmp_path / "absent.gpkg")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("twin: error: cannot serve: TWIN_TRUST_FORWARDED_HEADERS was removed")
    assert not (tmp_path / "absent.gpkg").exists()


@pytest.mark.parametrize("url", ["maps.example.org", "ftp://maps.example.org",
                                 "https://maps.example.org/?a=1", "https:///twin"])
def test_public_url_must_be_an_absolute_http_url(url):
    with pytest.raises(ValidationError) as e:
        Settings(public_url=url)
    assert "TWIN_PUBLIC_URL" in settings_problem(e.value)


# -- reading what a trusted proxy says -----------------------------------------------------

def test_an_untrusted_peer_changes_nothing():
    scope = _scope(("203.0.113.9", 5000), {"X-Forwarded-Proto": "https",
                                           "X-Forwarded-For": "1.2.3.4",
                                           "X-Forwarded-Host": "evil.example"})
    before = dict(scope)
    resolve(scope, TrustedProxies(["127.0.0.1"]))
    assert scope == before and SCOPE_KEY not in scope


def test_a_trusted_peer_sets_scheme_client_host_and_prefix():
    scope = _scope(("127.0.0.1", 5000), {"X-Forwarded-Proto": "https",
                                         "X-Forwarded-For": "198.51.100.7",
                                         "X-Forwarded-Host": "maps.example.org",
                                         "X-Forwarded-Prefix": "/twin/"})
    resolve(scope, TrustedProxies(["127.0.0.1"]))
    assert scope["scheme"] == "https" and scope["client"] == ("198.51.100.7", 0)
    assert scope[SCOPE_KEY] == Forwarded("maps.example.org", "/twin")


def test_in_a_chain_the_nearest_proxys_value_counts():
    # A client sent its own values first; the trusted proxy appended the real ones.
    scope = _scope(("10.0.0.2", 1), [
        ("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Host", "maps.example.org"),
        ("X-Forwarded-Proto", "http, https"), ("X-Forwarded-Prefix", "/evil, /twin"),
        # the client's forged hop, the real client, then an inner proxy (also trusted)
        ("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.0.0.3")])
    resolve(scope, TrustedProxies(["10.0.0.0/8"]))
    assert scope["scheme"] == "https" and scope["client"] == ("198.51.100.7", 0)
    assert scope[SCOPE_KEY] == Forwarded("maps.example.org", "/twin")


def test_rfc_7239_forwarded_is_read_only_in_its_family():
    headers = {"Forwarded": 'for=6.6.6.6;host=evil.example, for="[2001:db8::7]:4711";'
                            'proto=https;host="maps.example.org:8443"',
               "X-Forwarded-Host": "other.example", "X-Forwarded-Proto": "http",
               "X-Forwarded-Prefix": "/twin"}
    scope = _scope(("::1", 1), headers)
    resolve(scope, TrustedProxies(["::1"]), "forwarded")
    assert scope["scheme"] == "https" and scope["client"] == ("2001:db8::7", 4711)
    assert scope[SCOPE_KEY] == Forwarded("maps.example.org:8443", "/twin")
    scope = _scope(("::1", 1), headers)
    resolve(scope, TrustedProxies(["::1"]))  # the x-forwarded family: Forwarded is ignored
    assert scope["scheme"] == "http" and scope[SCOPE_KEY].host == "other.example"


@pytest.mark.parametrize("value,expected", [
    ("for=192.0.2.60;proto=http;by=203.0.113.43",
     [{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}]),
    ('For="[2001:db8:cafe::17]:4711"', [{"for": "[2001:db8:cafe::17]:4711"}]),
    ("for=192.0.2.43, for=198.51.100.17", [{"for": "192.0.2.43"}, {"for": "198.51.100.17"}]),
    ('host="a,b;c"', [{"host": "a,b;c"}]),  # separators inside a quoted string
    ("for=unknown;", [{"for": "unknown"}]),
    ("for", []), ("for=a b", []), ("for=a;for=b", []), ("", []),  # malformed: all ignored
])
def test_parse_forwarded(value, expected):
    assert parse_forwarded(value) == expected


_token = st.text("abcdefghijklmnopqrstuvwxyz0123456789.-_", min_size=1, max_size=12)
_quoted = st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=12)


@given(st.lists(st.dictionaries(st.sampled_from(["for", "by", "host", "proto"]),
                                st.one_of(_token, _quoted), min_size=1), max_size=4))
def test_forwarded_round_trip(elements):
    def quote(v):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    text = ", ".join(";".join(f"{k}={quote(v)}" for k, v in e.items()) for e in elements)
    assert parse_forwarded(text) == elements


_header = st.sampled_from(["x-forwarded-host", "x-forwarded-proto", "x-forwarded-prefix",
                           "x-forwarded-for", "forwarded", "host"])


@given(st.lists(st.tuples(_header, st.text(st.characters(codec="latin-1"), max_size=40)),
                max_size=8), st.sampled_from(["x-forwarded", "forwarded"]))
def test_any_headers_from_a_stranger_change_nothing_and_a_proxys_stay_well_formed(
        headers, family):
    trusted = TrustedProxies(["10.0.0.0/8"])
    scope = _scope(("192.0.2.1", 1), headers)
    before = dict(scope)
    resolve(scope, trusted, family)
    assert scope == before
    scope = _scope(("10.0.0.1", 1), headers)
    resolve(scope, trusted, family)
    fwd = scope[SCOPE_KEY]
    assert fwd.host is None or valid_host(fwd.host) == fwd.host
    assert valid_prefix(fwd.prefix) == fwd.prefix
    assert scope["scheme"] in ("http", "https")


@pytest.mark.parametrize("host", ["evil.example/x", "a@b", "a b", "a:99999999", "", "[x]"])
def test_malformed_hosts_are_refused(host):
    assert valid_host(host) is None


@pytest.mark.parametrize("prefix,expected", [("/twin", "/twin"), ("/a/b/", "/a/b"),
                                             ("//evil.example", "/evil.example"),
                                             ("/a/../b", ""), ("/a b", ""), ("/a?x=1", ""),
                                             ("/", ""), (None, "")])
def test_prefixes(prefix, expected):
    assert valid_prefix(prefix) == expected


# -- behind a real nginx --------------------------------------------------------------------

_NO_PROXY_ENV = NO_PROXY_ENV
TOKEN = "nginx-test-token"


def _wait(url: str, proc: subprocess.Popen, what: str, log=None) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url, trust_env=False, timeout=2)
            return
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.stdout else ""
                extra = log.read_text() if log is not None and log.exists() else ""
                raise AssertionError(f"{what} did not start: {out}{extra}") from None
            time.sleep(0.2)


# What README's settings section tells a deployer to write. Host stays nginx's default (the
# upstream, 127.0.0.1:{up}), so a link built from it would show.
NGINX_SERVER = """
    server {{
        listen 127.0.0.1:{port};
        location /twin/ {{
            proxy_pass http://127.0.0.1:{up}/;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Prefix /twin;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
"""


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory):
    """``twin serve`` on one loopback port trusting 127.0.0.1, and nginx on another
    proxying ``/twin/`` to it. Yields (public base, upstream base, twin)."""
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx); .ci/run "
                    "installs it")
    from tests.test_vector_tiles import grid_twin

    d = tmp_path_factory.mktemp("nginx")
    tw = grid_twin(30, 20)
    path = tw.save(d / "twin.gpkg")
    up, port = free_port(), free_port()
    env = {**_NO_PROXY_ENV, "TWIN_TRUSTED_PROXIES": "127.0.0.1", "TWIN_API_TOKENS": TOKEN,
           "TWIN_GC_FREEZE": "false"}
    env.pop("TWIN_PUBLIC_URL", None)
    (d / "nginx.conf").write_text(nginx_conf(d, NGINX_SERVER.format(port=port, up=up)))
    serve = [sys.executable, "-m", "twin.cli", "serve", "--twin", str(path), "--host",
             "127.0.0.1", "--port", str(up)]
    with running(serve, cwd=ROOT, env=env) as ours, \
            running([NGINX, "-p", str(d), "-e", str(d / "error.log"), "-c",
                      str(d / "nginx.conf")]) as nginx:
        # /ready: /health answers while the app is still built (api/boot.py).
        _wait(f"http://127.0.0.1:{up}/ready", ours, "twin serve")
        _wait(f"http://127.0.0.1:{port}/twin/health", nginx, "nginx", d / "error.log")
        yield f"http://127.0.0.1:{port}/twin", f"http://127.0.0.1:{up}", tw


def _from(address: str) -> httpx.Client:
    # A client on another loopback address: 127.0.0.2 is no proxy of ours.
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address),
                        trust_env=False, timeout=30)


@pytest.mark.server
@pytest.mark.slow
def test_links_a_client_sees_through_nginx(behind_nginx):
    public, upstream, tw = behind_nginx
    # From 127.0.0.2: nginx's X-Forwarded-For names it. Were uvicorn's own proxy handling
    # on, it would put 127.0.0.2 in the peer's place and the app would trust nothing.
    with _from("127.0.0.2") as c:
        tj = c.get(f"{public}/tiles/parcels.json")
        assert tj.status_code == 200
        assert "X-Forwarded-Host" in tj.headers["vary"] and tj.headers["cache-control"]
        template = tj.json()["tiles"][0]
        assert template == f"{public}/tiles/parcels/{{z}}/{{x}}/{{y}}.mvt"
        from layers.tile_math import tiles_for_bounds

        x0, y0, x1, y1 = tiles_for_bounds(tuple(tw.layer("parcels").total_bounds), 12)
        tile = c.get(template.format(z=12, x=(x0 + x1) // 2, y=(y0 + y1) // 2))
        assert tile.status_code == 200 and tile.headers["content-type"].startswith(
            "application/vnd.mapbox-vector-tile")

        page = c.get(f"{public}/collections/parcels/items", params={"limit": 250}).json()
        nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
        assert nxt == f"{public}/collections/parcels/items?limit=250&offset=250"
        seen = len(page["features"])
        while nxt:  # follow next links to the end, as GDAL does
            page = c.get(nxt).json()
            seen += len(page["features"])
            nxt = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        assert seen == len(tw.layer("parcels"))

        auth = {"Authorization": f"Bearer {TOKEN}"}
        created = c.post(f"{public}/scenarios", headers=auth,
                         json={"id": "via-nginx", "name": "through the proxy", "edits": []})
        assert created.status_code == 201, created.text
        assert created.headers["location"] == f"{public}/scenarios/via-nginx"
        assert c.get(created.headers["location"]).json()["id"] == "via-nginx"

        # A client's own forwarded headers, through nginx: nginx overwrites X-Forwarded-*,
        # and passes Forwarded on, which the x-forwarded family ignores.
        evil = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Prefix": "/evil",
                "Forwarded": "host=evil.example;proto=https"}
        assert c.get(f"{public}/tiles/parcels.json", headers=evil).json()["tiles"] == [template]
        # The same headers straight to twin serve from a peer that is not a proxy.
        direct = c.get(f"{upstream}/tiles/parcels.json", headers={
            **evil, "X-Forwarded-Proto": "https"}).json()["tiles"][0]
        assert direct == f"{upstream}/tiles/parcels/{{z}}/{{x}}/{{y}}.mvt"


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.gdal
def test_ogrinfo_reads_the_twin_through_nginx(behind_nginx):
    public, _, tw = behind_nginx
    if shutil.which("ogrinfo") is None:
        pytest.skip("ogrinfo is not installed (Debian: apt-get install gdal-bin)")
    counts = ogrinfo_counts(public, timeout=120)
    assert counts == {n: len(tw.layer(n)) for n in tw.layer_names}
