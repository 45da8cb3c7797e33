"""A bound on how long a connection may take to send a request head, around uvicorn.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``), but not one that sends
nothing, or only part of a request head: its keep-alive timer is reset by every byte
received, and ASGI middleware only runs once a head is complete. So a few clients trickling
bytes could hold every connection open for ever (issue 11). uvicorn has no setting for
this (its issue #157, "--timeout-request-start", is open), so this module adds one.

It leans on nothing private: uvicorn's public ``Config(http=...)`` takes an
``asyncio.Protocol`` class. :class:`HeadTimeout` is one that *wraps* uvicorn's own protocol
by composition: it passes uvicorn's constructor arguments through unchanged, forwards every
``asyncio.Protocol`` call, and reads no attribute of it. It finds where request heads begin
and end with its own parser (httptools' public ``HttpRequestParser``, the parser uvicorn
itself uses), fed the same bytes.
"""

from __future__ import annotations

import asyncio
import functools

__all__ = ["HeadTimeout", "http_protocol"]

_TIMEOUT_DETAIL = (b'{"type":"about:blank","title":"Request timeout","status":408,"detail":'
                   b'"the request head was not complete in time: send it whole, at once"}')
_TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n"
                b"content-type: application/problem+json\r\ncontent-length: %d\r\n\r\n"
                % len(_TIMEOUT_DETAIL)) + _TIMEOUT_DETAIL


@functools.cache
def _uvicorn_protocol(name: str) -> type[asyncio.Protocol]:
    # The table uvicorn's own ``--http`` option reads, and its import helper.
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    return import_from_string(HTTP_PROTOCOLS[name])


class HeadTimeout(asyncio.Protocol):
    """uvicorn's HTTP protocol, with ``header_timeout`` seconds to send each request head.

    The clock runs from the connection's opening, and from the first byte of each later
    request, until that request's head is complete. A connection over the limit gets
    ``408 Request Timeout`` (when it had begun a request) and is closed. Bodies, responses
    and idle keep-alive connections are uvicorn's business, untouched.

    ``inner`` is a name of uvicorn's ``--http`` option, or a protocol class.
    """

    def __init__(self, *, header_timeout: float,
                 inner: str | type[asyncio.Protocol] = "auto", **uvicorn_args):
        import httptools

        cls = _uvicorn_protocol(inner) if isinstance(inner, str) else inner
        self._inner = cls(**uvicorn_args)
        self._limit = header_timeout
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._errors = (httptools.HttpParserError, httptools.HttpParserUpgrade)
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        self._begun = False  # a request has begun and its head is not complete

    # -- asyncio.Protocol, forwarded ------------------------------------------------------
    def connection_made(self, transport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._parser is not None:
            try:
                self._parser.feed_data(data)
            except self._errors:
                # An upgrade or a malformed request: uvicorn answers it (101 or 400), and
                # the bytes after it are no longer HTTP/1.1 heads to time.
                self._parser = None
                self._disarm()
            else:
                # Armed here rather than in on_message_begin: a head that arrives whole in
                # one read (almost every request) then costs no timer at all.
                if self._begun and self._timer is None:
                    self._arm()
        self._inner.data_received(data)

    def eof_received(self):
        return self._inner.eof_received()

    def connection_lost(self, exc) -> None:
        self._disarm()
        self._parser = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # -- httptools callbacks --------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._begun = True

    def on_headers_complete(self) -> None:
        self._begun = False
        self._disarm()

    # -- the timer ------------------------------------------------------------------------
    def _arm(self) -> None:
        if self._limit:
            self._timer = asyncio.get_running_loop().call_later(self._limit, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        t = self._transport
        if t is None or t.is_closing():
            return
        if self._begun:
            t.write(_TIMEOUT_408)
        t.close()


def http_protocol(header_timeout: float | None):
    """The ``http=`` argument for ``uvicorn.run``/``uvicorn.Config``: uvicorn's protocol
    with :class:`HeadTimeout` around it, or None (uvicorn's default) when there is no limit
    or httptools is not installed. A ``functools.partial`` of a module-level class, so that
    uvicorn can pickle it to the processes of ``--workers N``."""
    if not header_timeout:
        return None
    try:
        import httptools  # noqa: F401
    except ImportError:  # pragma: no cover - uvicorn without the [standard] extra
        return None
    return functools.partial(HeadTimeout, header_timeout=header_timeout)
