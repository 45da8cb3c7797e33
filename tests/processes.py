"""Servers the tests start as processes (``twin serve``, Debian's nginx) on loopback: a free
port, starting and always stopping one, and nginx's configuration for a private prefix.

Used by tests/test_api_proxy.py, tests/test_api_server.py and
tests/test_map_pmtiles_browser.py. The stopping sequence is bench/_proc.py's, shared with
the benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess

from bench._proc import stop

__all__ = ["NGINX", "free_port", "running", "stop", "nginx_conf"]

NGINX = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(cmd, **kw):
    """``cmd`` started with its output in a pipe; stopped (and its pipe closed) on exit."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **kw)
    try:
        yield proc
    finally:
        stop(proc)
        proc.stdout.close()


_NGINX_HEAD = """
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {access_log};
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
"""


def nginx_conf(d, server: str, access_log: str = "off") -> str:
    """A whole nginx.conf for one unprivileged, foreground nginx keeping every file in the
    folder ``d``, with ``server`` (a ``server { ... }`` block) as its only site."""
    return _NGINX_HEAD.format(d=d, access_log=access_log) + server + "}\n"
