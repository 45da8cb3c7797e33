"""Which requests speak for a client: trusted proxies and the forwarded headers they set.

A reverse proxy tells the app what the client asked for (scheme, host, path prefix, the
client's address) in ``X-Forwarded-Proto/-Host/-Prefix/-For`` or in RFC 7239's
``Forwarded``. Any client can send those headers as well, and a link built from them ends
up in caches (a poisoned TileJSON sends every map client's tile requests to another host).
So they count only on a request whose peer address is in ``TWIN_TRUSTED_PROXIES`` (empty by
default), the way uvicorn's ``--forwarded-allow-ips`` works, and only the header family
named by ``TWIN_FORWARDED_HEADERS``: a proxy passes on unchanged whatever headers it does
not set itself, so reading both families would let a client speak through it.

Within a family, the value a comma-separated chain ends with is the one the nearest proxy
(the trusted peer) set; earlier ones came from further away, possibly from the client.

Why not uvicorn's ``ProxyHeadersMiddleware``: it reads only ``X-Forwarded-For/-Proto``
(no host, prefix or ``Forwarded``), and it overwrites the peer address that the trust
decision needs. ``twin serve`` therefore turns uvicorn's own handling off, and
:func:`resolve` does the whole job once, rewriting ``scope["client"]`` and
``scope["scheme"]`` in place as uvicorn would (so its access log names the real client).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["TrustedProxies", "Forwarded", "SCOPE_KEY", "parse_proxies", "parse_forwarded",
           "valid_host", "valid_prefix", "resolve"]

#: Where :func:`resolve` leaves what a trusted proxy said (see :class:`Forwarded`).
SCOPE_KEY = "twin.forwarded"

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# host[:port], with an IPv6 literal in brackets; nothing that could end the authority early
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
                   r"(?::[0-9]{1,5})?")
_SEGMENT = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%-]+")


def parse_proxies(entries: list[str]) -> tuple[_Network, ...]:
    """IP addresses and CIDR ranges as networks; a bad entry is a ValueError naming it.

    Examples
    --------
    >>> [str(n) for n in parse_proxies(["127.0.0.1", "10.0.0.0/8", "::1"])]
    ['127.0.0.1/32', '10.0.0.0/8', '::1/128']
    """
    nets = []
    for entry in entries:
        if entry == "*":
            raise ValueError(
                "TWIN_TRUSTED_PROXIES '*' would trust every client's forwarded headers: name "
                "your proxies' addresses (e.g. 127.0.0.1 or 10.0.0.0/8); if every peer "
                "really is a proxy, say so with 0.0.0.0/0,::/0")
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"TWIN_TRUSTED_PROXIES entry {entry!r} is not an IP address or CIDR range: "
                "give addresses or ranges, comma-separated, e.g. 127.0.0.1,::1,10.0.0.0/8 "
                "(host names are not resolved)") from None
    return tuple(nets)


class TrustedProxies:
    """The peers whose forwarded headers count.

    Examples
    --------
    >>> p = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    >>> "10.1.2.3" in p, "::ffff:127.0.0.1" in p, "192.0.2.1" in p, "testclient" in p
    (True, True, False, False)
    """

    def __init__(self, entries: list[str]):
        self.networks = parse_proxies(entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, host: object) -> bool:
        if not self.networks or not isinstance(host, str):
            return False
        try:
            addr = ipaddress.ip_address(host.strip("[]"))
        except ValueError:  # a unix socket, an obfuscated node ("_hidden"), "unknown"
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(addr in net for net in self.networks)


@dataclass(frozen=True)
class Forwarded:
    """What a trusted proxy said about the client's request (None where it said nothing)."""

    host: str | None = None
    prefix: str = ""


def _values(headers, name: bytes) -> list[str]:
    # Several lines of one header are one comma-separated list (RFC 9110, 5.3).
    joined = ",".join(v.decode("latin-1") for k, v in headers if k == name)
    return [p.strip() for p in joined.split(",") if p.strip()]


def _last(headers, name: bytes) -> str | None:
    values = _values(headers, name)
    return values[-1] if values else None


_PAIR = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 ``Forwarded``: one dict per element (hop), oldest first; keys lower-case.

    A malformed element makes the whole header unusable (an empty list): guessing at a
    header that another hop mangled could pick a client's value.

    Examples
    --------
    >>> parse_forwarded('for=192.0.2.60;proto=https;host="a.example", for="[2001:db8::1]:4711"')
    [{'for': '192.0.2.60', 'proto': 'https', 'host': 'a.example'}, {'for': '[2001:db8::1]:4711'}]
    """
    elements, element, pos = [], {}, 0
    while pos < len(value):
        m = _PAIR.match(value, pos)
        if m is None:
            return []
        key, raw = m.group(1).lower(), m.group(2)
        if key in element:  # RFC 7239, 4: a parameter occurs once per element
            return []
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        element[key] = raw
        pos = m.end()
        if pos < len(value) and value[pos] not in ";,":
            return []
        if pos >= len(value) or value[pos] == ",":
            elements.append(element)
            element = {}
            pos += 1
            while pos < len(value) and value[pos] in " \t,":
                pos += 1
        else:
            pos += 1
    if element:  # a trailing ";"
        elements.append(element)
    return elements


def valid_host(value: str | None) -> str | None:
    """``value`` if it is a plain ``host[:port]``, else None (nothing can follow it in a URL).

    >>> valid_host("maps.example.org:8443"), valid_host("evil.example/x"), valid_host("[::1]")
    ('maps.example.org:8443', None, '[::1]')
    """
    return value if value and _HOST.fullmatch(value) else None


def valid_prefix(value: str | None) -> str:
    """A path prefix as ``/a/b`` (no trailing slash), or "" for none or a malformed one.

    Leading slashes collapse to one, so a prefix can never read as a host ("//evil").

    >>> valid_prefix("/twin/"), valid_prefix("twin"), valid_prefix("//a"), valid_prefix("/?x")
    ('/twin', '/twin', '/a', '')
    """
    parts = (value or "").strip("/").split("/")
    if parts == [""] or not all(_SEGMENT.fullmatch(p) and p not in (".", "..") for p in parts):
        return ""
    return "/" + "/".join(parts)


def _node(value: str) -> tuple[str, int]:
    # An address as a forwarded header names it: "a.b.c.d", "a.b.c.d:port", "[v6]:port", "v6".
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    return host, int(port) if port.isdigit() else 0


def _client(chain: list[str], trusted: TrustedProxies) -> tuple[str, int] | None:
    # The nearest address that is not one of our proxies is the client (uvicorn's rule).
    for value in reversed(chain):
        host, port = _node(value)
        if host not in trusted:
            return host, port
    return _node(chain[0]) if chain else None


def resolve(scope, trusted: TrustedProxies, family: str = "x-forwarded") -> None:
    """Apply a trusted peer's forwarded headers to ``scope``, in place; ignore anyone else's.

    ``family`` is ``TWIN_FORWARDED_HEADERS``: "x-forwarded" or "forwarded" (RFC 7239).

    Sets ``scope["scheme"]`` and ``scope["client"]`` from what the proxy said and leaves
    the public host and prefix in ``scope[SCOPE_KEY]`` for :func:`api.urls.base_url`.
    """
    if scope["type"] != "http" or not trusted:
        return
    peer = scope.get("client")
    if not peer or peer[0] not in trusted:
        return
    headers = scope["headers"]
    if family == "forwarded":
        hops = parse_forwarded(",".join(v.decode("latin-1") for k, v in headers
                                        if k == b"forwarded"))
        nearest = hops[-1] if hops else {}
        proto, host = nearest.get("proto"), nearest.get("host")
        chain = [h["for"] for h in hops if "for" in h]
    else:
        proto, host = _last(headers, b"x-forwarded-proto"), _last(headers, b"x-forwarded-host")
        chain = _values(headers, b"x-forwarded-for")
    proto = (proto or "").lower()
    if proto in ("http", "https"):
        scope["scheme"] = proto
    client = _client(chain, trusted)
    if client is not None and client[0]:
        scope["client"] = client
    scope[SCOPE_KEY] = Forwarded(valid_host(host),
                                 valid_prefix(_last(headers, b"x-forwarded-prefix")))
