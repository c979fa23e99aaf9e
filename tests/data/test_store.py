"""The store is built once and reused until its source files change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentrec.data import layouts
from agentrec.data.store import open_dataset


def test_second_open_reuses_the_store_without_parsing(
    ml1m_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = open_dataset(str(ml1m_folder))
    assert not first.reused
    first.close()

    def refuse_to_parse(self: layouts.Layout) -> None:
        raise AssertionError("the raw files were parsed again")

    monkeypatch.setattr(layouts.Layout, "reader", property(refuse_to_parse))
    second = open_dataset(str(ml1m_folder))
    assert second.reused
    assert second.path == first.path
    assert second.con.execute("SELECT count(*) FROM interactions").fetchone() == (4,)


def test_changed_source_file_rebuilds(ml1m_folder: Path) -> None:
    open_dataset(str(ml1m_folder)).close()
    ratings = ml1m_folder / "ratings.dat"
    ratings.write_text(ratings.read_text() + "3::20::4::978300900\n")
    os.utime(ratings, ns=(1, 1))
    again = open_dataset(str(ml1m_folder))
    assert not again.reused
    assert again.con.execute("SELECT count(*) FROM interactions").fetchone() == (5,)


def test_the_dataset_key_names_the_data_and_changes_with_its_files(ml1m_folder: Path) -> None:
    first = open_dataset(str(ml1m_folder))
    key = first.key
    first.close()
    assert key == f"{ml1m_folder.name}-{first.fingerprint[:12]}"
    ratings = ml1m_folder / "ratings.dat"
    ratings.write_text(ratings.read_text() + "3::20::4::978300900\n")
    again = open_dataset(str(ml1m_folder))
    assert again.key.startswith(f"{ml1m_folder.name}-") and again.key != key


def test_a_build_leaves_only_the_store_beside_it(ml1m_folder: Path) -> None:
    store = open_dataset(str(ml1m_folder))
    store.close()
    assert [p.name for p in store.path.parent.iterdir() if p.name.startswith(f".{store.path.name}")] == []


def test_interactions_are_deduplicated_keeping_the_latest(make_folder) -> None:  # type: ignore[no-untyped-def]
    folder = make_folder(
        {"interactions.csv": "user_id,item_id,rating,timestamp\nu,a,1,5\nu,a,4,9\nu,b,3,7\n"}
    )
    data = open_dataset(str(folder)).interactions()
    assert len(data) == 2
    ratings = {data.items.id(i): r for i, r in zip(data.item, data.rating, strict=True)}
    assert ratings == {"a": 4.0, "b": 3.0}
