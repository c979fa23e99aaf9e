"""Atomic writes: a reader sees the old file or the new one, and a failed write leaves the old one."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrec.core.files import folder_replaced_into_place, replaced_into_place, write_atomically


def test_write_atomically_creates_the_folder_and_writes_text_or_bytes(tmp_path: Path) -> None:
    text, data = tmp_path / "a" / "b" / "note.json", tmp_path / "blob.bin"
    write_atomically(text, '{"é": 1}')
    write_atomically(data, b"\x00\x01")
    assert text.read_text(encoding="utf-8") == '{"é": 1}'
    assert data.read_bytes() == b"\x00\x01"


def test_write_atomically_replaces_and_leaves_nothing_beside(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    write_atomically(path, "old")
    write_atomically(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]


def test_the_target_is_untouched_until_the_block_ends(tmp_path: Path) -> None:
    path = tmp_path / "index.faiss"
    path.write_text("old")
    with replaced_into_place(path) as temporary:
        assert not temporary.exists() and temporary.parent == tmp_path
        temporary.write_text("new")
        assert path.read_text() == "old"
    assert path.read_text() == "new"
    assert not temporary.exists()


def test_a_failed_write_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    path.write_text("old")
    with pytest.raises(RuntimeError), replaced_into_place(path) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["store.duckdb"]


def test_a_block_that_writes_nothing_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    with replaced_into_place(path):
        pass
    assert not path.exists()


def test_two_temporaries_for_one_target_differ(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    with replaced_into_place(path) as first, replaced_into_place(path) as second:
        assert first != second


def test_a_folder_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "models" / "ease"
    with folder_replaced_into_place(target) as staging:
        (staging / "state.npz").write_text("v1")
        (staging / "extra").write_text("only in v1")
    with folder_replaced_into_place(target) as staging:
        (staging / "state.npz").write_text("v2")
    assert sorted(p.name for p in target.iterdir()) == ["state.npz"]
    assert (target / "state.npz").read_text() == "v2"
    assert [p.name for p in target.parent.iterdir()] == ["ease"]


def test_a_failed_folder_write_keeps_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "ease"
    with folder_replaced_into_place(target) as staging:
        (staging / "state.npz").write_text("v1")
    with pytest.raises(RuntimeError), folder_replaced_into_place(target) as staging:
        (staging / "state.npz").write_text("half")
        raise RuntimeError("interrupted")
    assert (target / "state.npz").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["ease"]
