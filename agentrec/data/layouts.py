"""Recognise a dataset folder's layout from the files it holds."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import duckdb

from agentrec.core.errors import DataError

Reader = Callable[[duckdb.DuckDBPyConnection, Path], None]

INTERACTION_FILES = ("interactions.csv", "interactions.parquet")
ITEM_FILES = ("items.csv", "items.parquet", "items.jsonl")
USER_FILES = ("users.csv", "users.parquet", "users.jsonl")


@dataclass(frozen=True)
class Layout:
    """A folder layout: the files that identify it and the reader that loads it."""

    name: str
    signature: tuple[str, ...]
    optional: tuple[str, ...]
    reader_path: (
        str  # "module:function", imported only when a store is built (pyarrow is slow to load)
    )

    @property
    def reader(self) -> Reader:
        module, function = self.reader_path.split(":")
        return cast(Reader, getattr(importlib.import_module(module), function))

    def matches(self, folder: Path) -> bool:
        return all((folder / name).is_file() for name in self.signature)

    def source_files(self, folder: Path) -> list[Path]:
        """The files this layout reads, present ones only: what the store's fingerprint covers."""
        names = (*self.signature, *self.optional)
        return [folder / n for n in names if (folder / n).is_file()]


LAYOUTS = (
    Layout(
        "ml-100k",
        ("u.data", "u.item"),
        ("u.user", "u.genre"),
        "agentrec.data.readers.movielens:read_ml100k",
    ),
    Layout(
        "ml-1m",
        ("ratings.dat", "movies.dat"),
        ("users.dat",),
        "agentrec.data.readers.movielens:read_ml1m",
    ),
    Layout(
        "ml-latest",
        ("ratings.csv", "movies.csv"),
        ("links.csv", "tags.csv"),
        "agentrec.data.readers.movielens:read_ml_latest",
    ),
    Layout(
        "adjacency",
        ("train.txt", "test.txt"),
        ("valid.txt",),
        "agentrec.data.readers.adjacency:read_adjacency",
    ),
)

_EXPECTED = (
    "u.data + u.item (ml-100k), ratings.dat + movies.dat (ml-1m), ratings.csv + movies.csv "
    "(ml-latest), train.txt + test.txt (adjacency lists), or interactions.csv|parquet "
    "(+ items.csv|parquet|jsonl)"
)


def detect_layout(folder: Path) -> Layout:
    """The layout of ``folder``, or a ``DataError`` listing the files that were expected."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    for layout in LAYOUTS:
        if layout.matches(folder):
            return layout
    generic = [n for n in INTERACTION_FILES if (folder / n).is_file()]
    if generic:
        extras = tuple(n for n in (*ITEM_FILES, *USER_FILES) if (folder / n).is_file())
        return Layout(
            "generic", (generic[0],), extras, "agentrec.data.readers.generic:read_generic"
        )
    raise DataError(f"{folder}: no dataset files found; expected {_EXPECTED}")
