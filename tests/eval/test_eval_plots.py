"""Plots: the files exist, are PNGs, and bad input is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrec.eval.plots import plot_learning_curve, plot_model_comparison

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width = imread(path).shape[:2]
    assert height > 100 and width > 100


def test_model_comparison_png(tmp_path: Path) -> None:
    results = {
        "mostpop": {"recall@10": 0.08, "ndcg@10": 0.04, "hit@10": 0.08},
        "ease": {"recall@10": 0.15, "ndcg@10": 0.08, "hit@10": 0.15},
    }
    cis = {"mostpop": {"recall@10": (0.06, 0.10), "ndcg@10": (0.03, 0.05)}}
    out = plot_model_comparison(results, cis, ["recall@10", "ndcg@10", "hit@10"],
                                tmp_path / "sub" / "cmp.png")
    assert out == tmp_path / "sub" / "cmp.png"
    assert_png(out)


def test_model_comparison_needs_models_and_metrics(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        plot_model_comparison({}, {}, ["ndcg@10"], tmp_path / "x.png")


def test_learning_curve_png(tmp_path: Path) -> None:
    curves = {
        "sasrec": [{"epoch": e, "seconds": 3.0 * e, "ndcg@10": 0.01 * e} for e in range(1, 6)],
        "bpr": [{"epoch": e, "seconds": 1.0 * e, "ndcg@10": 0.02} for e in range(1, 4)],
    }
    assert_png(plot_learning_curve(curves, tmp_path / "curve.png"))
    assert_png(plot_learning_curve(curves, tmp_path / "curve_s.png", x="seconds"))


def test_learning_curve_without_metric_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no metric"):
        plot_learning_curve({"m": [{"epoch": 1}]}, tmp_path / "c.png")
