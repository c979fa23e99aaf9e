"""Protocol defaults and small-input edges of the offline evaluation (issue 16, 11 and 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrec.core.errors import ConfigError, DataError, InvalidParameter
from agentrec.data.protocols import resolve_protocol
from agentrec.data.store import open_dataset
from agentrec.eval.offline import evaluate_models
from agentrec.eval.plots import plot_model_comparison


def write_adjacency(folder: Path) -> Path:
    """A tiny dataset in the ml-1m-implicit layout: it ships its own train/valid/test split."""
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text("0 0 1 2 3\n1 1 2 4 5\n2 0 3 5 6\n3 2 4 6 7\n")
    (folder / "valid.txt").write_text("0 4\n1 6\n2 7\n3 1\n")
    (folder / "test.txt").write_text("0 5 6\n1 7\n2 1\n3 0 3\n")
    return folder


def test_a_dataset_with_its_own_split_is_evaluated_on_it_by_default(tmp_path: Path) -> None:
    store = open_dataset(str(write_adjacency(tmp_path / "tiny-implicit")))
    assert resolve_protocol(store, "auto") == "given"
    split, _ = evaluate_models(store, ["mostpop"], k=3)
    assert split.name == "given"
    assert len(split.test) == 6  # the published test lines, not a leave-one-out cut
    assert resolve_protocol(store, "loo") == "loo"  # an explicit protocol still wins


def test_a_dataset_without_a_split_defaults_to_leave_one_out(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "interactions.csv").write_text("user_id,item_id,timestamp\nu1,a,1\nu1,b,2\nu1,c,3\nu2,a,1\nu2,c,2\n")
    store = open_dataset(str(folder))
    assert resolve_protocol(store, "auto") == "loo"
    split, _ = evaluate_models(store, ["mostpop"], k=2)
    assert split.name == "loo"


def test_three_interactions_are_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "three"
    folder.mkdir()
    (folder / "interactions.csv").write_text("user_id,item_id,timestamp\nu1,a,1\nu2,b,2\nu3,c,3\n")
    with pytest.raises(DataError, match="no user has a held-out item"):
        evaluate_models(open_dataset(str(folder)), ["mostpop"], protocol="loo", k=5)


def test_a_cutoff_beyond_the_catalog_names_the_parameter_and_the_catalog_size(tmp_path: Path) -> None:
    store = open_dataset(str(write_adjacency(tmp_path / "tiny-implicit")))
    with pytest.raises(InvalidParameter, match=r"^k must be at most the catalog's 8 items") as caught:
        evaluate_models(store, ["mostpop"], k=1_000_000_000)
    assert caught.value.parameter == "k"


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_a_chart_is_written_in_its_suffix_format(suffix: str, magic: bytes, tmp_path: Path) -> None:
    path = plot_model_comparison({"a": {"m": 0.5}}, {}, ["m"], tmp_path / f"chart{suffix}")
    assert path.read_bytes().startswith(magic)


def test_a_chart_suffix_no_format_matches_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\.png, \.svg or \.pdf"):
        plot_model_comparison({"a": {"m": 0.5}}, {}, ["m"], tmp_path / "chart.txt")
    assert not (tmp_path / "chart.txt").exists()
