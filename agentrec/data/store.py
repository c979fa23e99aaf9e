"""One DuckDB file per dataset, built once from the raw files and reused while they are unchanged.

The store lives in the state home (the data home may be read-only). It holds
``items``, ``users`` and ``interactions`` plus a ``meta`` table whose
fingerprint (layout, file names, sizes, modification times) decides reuse.
A build writes a temporary file and renames it into place, so an interrupted
build never leaves a half-written store behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import duckdb

from agentrec.core.errors import DataError
from agentrec.core.files import replaced_into_place
from agentrec.core.paths import state_dir
from agentrec.data.home import resolve_dataset
from agentrec.data.interactions import Interactions
from agentrec.data.layouts import Layout, detect_layout
from agentrec.data.store_build import finalise_tables

log = logging.getLogger(__name__)

# Bump when a reader or the table schema changes, so old stores are rebuilt.
STORE_FORMAT = 3


@dataclass
class DatasetStore:
    """An opened dataset: its DuckDB connection (read-only) and where it came from."""

    name: str
    folder: Path
    path: Path
    layout: str
    fingerprint: str
    con: duckdb.DuckDBPyConnection
    reused: bool
    build_seconds: float
    _interactions: Interactions | None = field(default=None, repr=False)

    @cached_property
    def catalog(self):  # type: ignore[no-untyped-def]  # imported lazily: rapidfuzz is only needed here
        from agentrec.data.catalog import Catalog

        return Catalog(self.con)

    @property
    def key(self) -> str:
        """The dataset as fitted models and caches are keyed: its name and a prefix of its fingerprint.

        The fingerprint part changes with the raw files, so nothing fitted on older data is reused.
        """
        return f"{self.name}-{self.fingerprint[:12]}"

    def interactions(self) -> Interactions:
        """All interactions as dense arrays (deduplicated per user and item, latest kept)."""
        if self._interactions is None:
            from agentrec.data.interactions_table import load_interactions

            self._interactions = load_interactions(self.con)
        return self._interactions

    def close(self) -> None:
        self.con.close()


def open_dataset(spec: str, download: bool = True) -> DatasetStore:
    """Open dataset ``spec`` (a known name, a folder under the data home, or a path)."""
    folder = resolve_dataset(spec, download=download)
    layout = detect_layout(folder)
    fingerprint = _fingerprint(folder, layout)
    path = state_dir("stores") / f"{_slug(folder)}.duckdb"
    started = time.perf_counter()
    reused = _is_current(path, fingerprint)
    if not reused:
        _build(folder, layout, fingerprint, path)
    con = duckdb.connect(str(path), read_only=True)
    name = spec if not Path(spec).expanduser().is_dir() else folder.name
    return DatasetStore(
        name, folder, path, layout.name, fingerprint, con, reused, time.perf_counter() - started
    )


def _slug(folder: Path) -> str:
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:10]
    return f"{folder.name}-{digest}"


def _fingerprint(folder: Path, layout: Layout) -> str:
    parts: list[object] = [STORE_FORMAT, layout.name]
    for source in layout.source_files(folder):
        stat = source.stat()
        parts.append((source.name, stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _is_current(path: Path, fingerprint: str) -> bool:
    if not path.is_file():
        return False
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
    except duckdb.Error:
        log.warning("store %s is unreadable; rebuilding it", path)
        return False
    return row is not None and row[0] == fingerprint


def _build(folder: Path, layout: Layout, fingerprint: str, path: Path) -> None:
    log.info("building store %s from %s (%s layout)", path, folder, layout.name)
    try:
        with replaced_into_place(path) as temporary, duckdb.connect(str(temporary)) as con:
            layout.reader(con, folder)
            finalise_tables(con, folder)
            meta = {"fingerprint": fingerprint, "layout": layout.name, "source": str(folder),
                    "built_at": str(int(time.time()))}  # fmt: skip
            con.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
            con.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
            con.execute("CHECKPOINT")
    except duckdb.Error as error:
        raise DataError(f"{folder}: could not be loaded ({str(error).splitlines()[0]})") from None
