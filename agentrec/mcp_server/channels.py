"""The two OS resources a transport needs, taken before anything loads: stdout for stdio, a port for HTTP.

On stdio, fd 1 is the protocol channel, so ``reserved_stdout`` moves it aside
and points fd 1 at stderr: a stray ``print``, a progress bar or a C library's
log then lands on stderr instead of corrupting the channel. For HTTP, the port
is bound at once, so a taken port fails before minutes of model fitting. This
module imports nothing heavy, so both checks come first.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from agentrec.core.errors import ConfigError

HOST = "127.0.0.1"


@contextmanager
def reserved_stdout() -> Iterator[BinaryIO]:
    """Keep fd 1 for MCP frames: yield a private handle on it, and send fd 1 itself to stderr meanwhile."""
    sys.stdout.flush()
    wire = os.dup(1)
    os.dup2(2, 1)
    try:
        with os.fdopen(wire, "wb", closefd=False) as channel:
            yield channel
    finally:
        sys.stdout.flush()
        os.dup2(wire, 1)
        os.close(wire)


def bind_loopback(port: int) -> socket.socket:
    """A socket bound to 127.0.0.1 only (port 0: any free port); ``ConfigError`` when taken or invalid.

    It is not listening yet: until the server starts, a client is refused rather than left waiting.
    """
    if not 0 <= port <= 65535:
        raise ConfigError(f"port must be a number from 0 to 65535, got {port}")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
    except OSError as error:
        listener.close()
        raise ConfigError(f"cannot listen on {HOST}:{port}: {error.strerror or error}") from None
    return listener
