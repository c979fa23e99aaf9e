"""The offline evaluation pipeline on a planted dataset, and the eval CLI's contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agentrec.data.store import open_dataset
from agentrec.eval.offline import evaluate_models


def planted_folder(root: Path, n_users: int = 60, block: int = 12) -> Path:
    """Two taste groups, each watching items of its own block in a fixed order over time.

    Every user's last items come from their own block, so a collaborative model must
    beat popularity; popularity is flat within blocks by construction.
    """
    rng = np.random.default_rng(7)
    lines = ["user_id,item_id,rating,timestamp"]
    for user in range(n_users):
        group = user % 2
        items = rng.permutation(block)[: block - 2] + group * block
        for t, item in enumerate(items):
            lines.append(f"u{user},i{item},5,{1000 + t}")
    root.mkdir(parents=True, exist_ok=True)
    (root / "interactions.csv").write_text("\n".join(lines) + "\n")
    return root


def test_collaborative_models_beat_popularity_on_planted_data(tmp_path: Path) -> None:
    store = open_dataset(str(planted_folder(tmp_path / "planted")))
    split, results = evaluate_models(store, ["mostpop", "itemknn", "ease"], protocol="loo", k=5)
    by_name = {r.name: r for r in results}
    assert len(split.test) == 60
    for name in ("itemknn", "ease"):
        assert by_name[name].metrics["hit@5"] > by_name["mostpop"].metrics["hit@5"]
        assert by_name[name].metrics["hit@5"] > 0.5
    for result in results:
        assert set(result.per_user) >= {
            "hit@5",
            "ndcg@5",
            "recall@5",
            "mrr@5",
            "precision@5",
            "map@5",
        }
        assert all(len(v) == 60 for v in result.per_user.values())
        low, high = result.ci["ndcg@5"]
        assert low <= result.metrics["ndcg@5"] <= high
        assert 0 < result.metrics["coverage@5"] <= 1 and result.metrics["coverage_count@5"] >= 5


def test_second_run_loads_fitted_models(tmp_path: Path) -> None:
    store = open_dataset(str(planted_folder(tmp_path / "again")))
    _, first = evaluate_models(store, ["ease"], protocol="loo", k=5)
    _, second = evaluate_models(store, ["ease"], protocol="loo", k=5)
    assert not first[0].loaded and second[0].loaded
    assert first[0].metrics == second[0].metrics


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentrec.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)  # fmt: skip


def test_eval_cli_json_and_plot(tmp_path: Path) -> None:
    folder = planted_folder(tmp_path / "cli")
    out, plot = tmp_path / "eval.json", tmp_path / "eval.png"
    result = run_cli(
        "eval",
        str(folder),
        "--models",
        "mostpop,ease",
        "--k",
        "5",
        "--json",
        str(out),
        "--plot",
        str(plot),
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(out.read_text())
    assert payload["protocol"] == "loo" and payload["k"] == 5 and payload["users_evaluated"] == 60
    assert set(payload["models"]) == {"mostpop", "ease"}
    assert {"metrics", "ci", "fit_seconds", "score_seconds"} <= set(payload["models"]["ease"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--models", "mostpop,deepfm"), "unknown model 'deepfm'"),
        (("--k", "100000"), "--k must be at most the catalog's"),  # --k 0 is typer's: tests/ui/test_cli_edges.py
    ],
)
def test_eval_cli_bad_input(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    result = run_cli("eval", str(planted_folder(tmp_path / "bad")), *args)
    assert result.returncode == 2
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
