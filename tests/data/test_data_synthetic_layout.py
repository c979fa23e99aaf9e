"""bench/synthetic.py (issue 22): seeded ML-25M-shaped data that the ml-latest reader loads as MovieLens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from agentrec.data.store import open_dataset
from tests.conftest import load_bench_script

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "synthetic.py"


@pytest.fixture(scope="module")
def synthetic() -> ModuleType:
    return load_bench_script(SCRIPT)


def test_the_shape_follows_ml25m(synthetic: ModuleType) -> None:
    users, items, ratings = synthetic.shape_for(25)
    assert abs(users - 162_541) <= 1 and ratings == 25_000_000
    assert 60_000 < items < 63_000
    small_users, small_items, _ = synthetic.shape_for(1)
    assert 6_000 < small_users < 7_000 and 5_000 < small_items < 6_000  # ML-1M's size


def test_the_files_read_as_movielens_with_the_planted_shape(
    synthetic: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTREC_HOME", str(tmp_path / "home"))
    ratings, movies = synthetic.generate(0.05, seed=3)
    synthetic.write(ratings, movies, tmp_path / "synthetic")
    store = open_dataset(str(tmp_path / "synthetic"))
    assert store.layout == "ml-latest"
    data = store.interactions()
    users, items, wanted = synthetic.shape_for(0.05)
    assert len(data) >= 0.97 * wanted and data.n_users == users and data.n_items == items
    per_user = np.bincount(data.user)
    assert per_user.min() >= synthetic.MIN_RATINGS_PER_USER and per_user.max() > 2 * np.median(per_user)
    popularity = np.sort(np.bincount(data.item, minlength=data.n_items))[::-1]
    assert popularity[: items // 10].sum() > 0.15 * len(data) and popularity[0] > 3 * np.median(popularity)  # a head
    assert set(np.unique(data.rating)) <= set(np.arange(1, 11) / 2)
    titles = store.con.execute("SELECT title, year, genres FROM items").fetchall()
    assert any("," in title for title, _, _ in titles)  # quoted in the CSV, whole in the store
    assert all(year is not None and 1900 < year <= 2019 for _, year, _ in titles)
    assert all(1 <= len(genres) <= 3 for _, _, genres in titles)
    years = store.con.execute("SELECT min(ts), max(ts) FROM interactions").fetchone()
    assert years is not None and years[0] >= synthetic.EPOCH_1996 and years[1] < 1_577_836_800  # by 2020
    store.close()


def test_the_same_seed_gives_the_same_files(synthetic: ModuleType) -> None:
    first, _ = synthetic.generate(0.02, seed=5)
    again, _ = synthetic.generate(0.02, seed=5)
    other, _ = synthetic.generate(0.02, seed=6)
    assert first.equals(again)
    assert not first.equals(other)


@pytest.mark.parametrize("scale", ["0.5", "0", "-2"])
def test_a_scale_under_one_million_is_one_line(scale: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--scale", scale, "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "at least 1" in result.stderr
    assert not (tmp_path / "x").exists()
