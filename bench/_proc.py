"""Stopping a server a benchmark (or a test) started: one copy of the terminate, wait, kill
sequence, so that no run leaves a process behind."""

from __future__ import annotations

import subprocess

__all__ = ["stop"]


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Ask ``proc`` to end (SIGTERM); kill it if it has not within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
