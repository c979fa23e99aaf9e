"""Find a dataset by name or path; download known MovieLens datasets from GroupLens when missing."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from agentrec.core.errors import DataError
from agentrec.core.paths import data_home

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class KnownDataset:
    """A MovieLens release GroupLens publishes as ``<archive>.zip`` holding folder ``<folder>``."""

    name: str
    archive: str
    folder: str
    expected: tuple[str, ...]


KNOWN_DATASETS = {
    d.name: d
    for d in (
        KnownDataset("ml-100k", "ml-100k", "ml-100k", ("u.data", "u.item", "u.user")),
        KnownDataset("ml-1m", "ml-1m", "ml-1m", ("ratings.dat", "movies.dat", "users.dat")),
        KnownDataset("ml-10m", "ml-10m", "ml-10M100K", ("ratings.dat", "movies.dat")),
        KnownDataset(
            "ml-latest-small", "ml-latest-small", "ml-latest-small", ("ratings.csv", "movies.csv")
        ),
        KnownDataset("ml-latest", "ml-latest", "ml-latest", ("ratings.csv", "movies.csv")),
        KnownDataset("ml-20m", "ml-20m", "ml-20m", ("ratings.csv", "movies.csv")),
        KnownDataset("ml-25m", "ml-25m", "ml-25m", ("ratings.csv", "movies.csv")),
        KnownDataset("ml-32m", "ml-32m", "ml-32m", ("ratings.csv", "movies.csv")),
    )
}


def resolve_dataset(spec: str, download: bool = True) -> Path:
    """The folder of dataset ``spec``: an existing path, a folder in the data home, or a known download."""
    as_path = Path(spec).expanduser()
    if as_path.is_dir():
        return as_path.resolve()
    if as_path.exists():
        raise DataError(f"{as_path}: is a file; give the folder that holds the dataset files")
    home = data_home()
    known = KNOWN_DATASETS.get(spec)
    if known is None:
        if (home / spec).is_dir():
            return (home / spec).resolve()
        if os.sep in spec or spec.startswith("."):
            raise DataError(f"{as_path}: no such folder")
        names = ", ".join(KNOWN_DATASETS)
        raise DataError(
            f"unknown dataset {spec!r}: give a folder path, a folder name under {home}, or one of {names}"
        )
    folder = home / known.folder
    if all((folder / f).is_file() for f in known.expected):
        return folder.resolve()
    if not download:
        raise DataError(_missing_message(known, folder, "downloads are disabled"))
    return download_known(known, home)


def _missing_message(known: KnownDataset, folder: Path, why: str) -> str:
    return (
        f"{known.name} not found: expected {', '.join(known.expected)} in {folder} ({why}); "
        f"put the files there or set AGENTREC_DATA_HOME to a folder that holds {known.folder}/"
    )


def download_known(known: KnownDataset, home: Path) -> Path:
    """Download ``known`` from GroupLens with a progress bar and unpack it into ``home``."""
    base = os.environ.get("AGENTREC_MOVIELENS_URL", GROUPLENS_URL).rstrip("/")
    url = f"{base}/{known.archive}.zip"
    target = home / known.folder
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=home, prefix=".download-") as scratch:
            archive = Path(scratch) / f"{known.archive}.zip"
            _fetch(url, archive)
            _unpack(archive, Path(scratch) / "unpacked", known, target)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(
            _missing_message(known, target, f"download from {url} failed: {reason}")
        ) from None
    return target.resolve()


def _fetch(url: str, destination: Path) -> None:
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    with urllib.request.urlopen(url, timeout=30) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, transient=True) as progress, destination.open("wb") as out:
            task = progress.add_task(f"downloading {url.rsplit('/', 1)[-1]}", total=total)
            while chunk := response.read(1 << 16):
                out.write(chunk)
                progress.advance(task, len(chunk))


def _unpack(archive: Path, scratch: Path, known: KnownDataset, target: Path) -> None:
    """Unpack, check the expected files are there, then move the folder into place."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise DataError(
                        f"{archive.name}: refusing unsafe path {member!r} in the archive"
                    )
            bundle.extractall(scratch)
    except zipfile.BadZipFile:
        raise DataError(f"{archive.name}: the download is not a valid zip archive") from None
    candidates = [scratch / known.folder, *(p for p in scratch.iterdir() if p.is_dir()), scratch]
    unpacked = next((c for c in candidates if all((c / f).is_file() for f in known.expected)), None)
    if unpacked is None:
        raise DataError(f"{archive.name}: archive lacks {', '.join(known.expected)}")
    if target.exists():
        shutil.rmtree(target)
    shutil.move(str(unpacked), target)
