"""Small-input edges of the readers: negative timestamps, items missing from items.csv (issue 16, 13)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agentrec.core.errors import DataError
from agentrec.data.store import open_dataset


def make_folder(folder: Path, files: dict[str, str]) -> Path:
    """A dataset folder with its own name (test_malformed_inputs checks that no ``dataset0-*`` store is left)."""
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_a_negative_timestamp_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path / "negative-timestamp",
        {"interactions.csv": "user_id,item_id,timestamp\nu1,i1,100\nu1,i2,-5\nu2,i1,300\n"},
    )
    with pytest.raises(DataError, match=rf"{folder / 'interactions.csv'}:3: negative timestamp -5"):
        open_dataset(str(folder))


def test_items_missing_from_the_items_file_get_one_warning_with_the_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = make_folder(
        tmp_path / "unknown-items",
        {
            "interactions.csv": "user_id,item_id\nu1,i1\nu1,i9\nu2,i9\nu2,i8\n",
            "items.csv": "item_id,title\ni1,One\n",
        },
    )
    with caplog.at_level(logging.WARNING, logger="agentrec.data"):
        store = open_dataset(str(folder))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "3 interaction(s) name 2 item(s) missing from the items file" in warnings[0]
    assert store.interactions().n_items == 3  # kept, not dropped


def test_no_items_file_means_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = make_folder(tmp_path / "no-items-file", {"interactions.csv": "user_id,item_id\nu1,i1\nu2,i2\n"})
    with caplog.at_level(logging.WARNING, logger="agentrec.data"):
        open_dataset(str(folder))
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
