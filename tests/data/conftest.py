"""Writers of small dataset folders in each publisher's layout, for reader tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

ML1M_RATINGS = (
    "1::10::5::978300760\n1::20::3::978300770\n2::10::4::978300800\n2::30::2::978300700\n"
)
ML1M_MOVIES = (
    "10::Heat (1995)::Action|Crime|Thriller\n"
    "20::Matrix, The (1999)::Action|Sci-Fi|Thriller\n"
    "30::Amélie (2001)::Comedy|Romance\n"
)
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n"


def write(folder: Path, files: dict[str, str | bytes], encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding=encoding)
    return folder


@pytest.fixture
def make_folder(tmp_path: Path) -> Callable[..., Path]:
    """Write ``files`` into a fresh folder and return it."""
    counter = iter(range(1000))

    def make(files: dict[str, str | bytes], encoding: str = "utf-8") -> Path:
        return write(tmp_path / f"dataset{next(counter)}", files, encoding)

    return make


@pytest.fixture
def ml1m_folder(make_folder: Callable[..., Path]) -> Path:
    """A tiny ML-1M folder; ``movies.dat`` is latin-1 as GroupLens ships it."""
    return make_folder(
        {"ratings.dat": ML1M_RATINGS, "movies.dat": ML1M_MOVIES, "users.dat": ML1M_USERS},
        encoding="latin-1",
    )
