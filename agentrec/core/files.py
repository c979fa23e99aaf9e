"""Files and folders that appear whole or not at all.

A reader of the state home (another command, a worker, a resumed run) must never
see half a file, and a write that fails must not destroy the last good version.
So everything is written beside its target under a name no one reads, then put
in place with one rename: ``os.replace`` is atomic on the same file system.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_into_place(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` for the block to write; it replaces ``path`` when the block ends.

    The temporary path does not exist yet (so a library that refuses or misreads an
    existing file can create it). If the block raises, or leaves nothing at the
    temporary path (a writer that failed and cleaned up), ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # pid and a random part: two processes (or two threads) writing one target never share a temporary.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        if temporary.exists():
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` so a reader sees the old file or the new one, never half."""
    with replaced_into_place(path) as temporary:
        if isinstance(data, str):
            temporary.write_text(data, encoding="utf-8")
        else:
            temporary.write_bytes(data)


@contextmanager
def folder_replaced_into_place(path: Path) -> Iterator[Path]:
    """An empty staging folder beside ``path`` for the block to fill; it replaces the folder ``path`` at the end.

    ``os.replace`` cannot replace a non-empty folder, so an old ``path`` is first moved
    aside (one rename), the staging folder renamed in, and the old one deleted. If the
    block raises, ``path`` is left as it was and the staging folder is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield staging
        if path.exists():
            retired = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.replace(path, retired / path.name)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
