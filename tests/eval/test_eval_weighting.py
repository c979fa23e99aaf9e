"""Inverse-propensity weighting of offline metrics (``agentrec eval --weighting ips``)."""

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
from agentrec.eval.weighting import popularity_propensity, self_normalised, user_weights


def test_propensity_follows_popularity_and_gives_unseen_items_the_least_seen() -> None:
    propensity = popularity_propensity(np.array([100.0, 25.0, 0.0, 1.0]))
    assert propensity.tolist() == [1.0, 0.5, 0.1, 0.1]


def test_the_weighted_mean_is_the_self_normalised_estimate() -> None:
    weights = user_weights([np.array([0]), np.array([1]), np.array([1, 3])], np.array([1.0, 0.5, 0.1, 0.1]))
    assert weights.tolist() == [1.0, 2.0, 6.0]
    values = np.array([1.0, 0.0, 0.5])
    scaled = self_normalised({"hit@10": values}, weights)["hit@10"]
    assert scaled.mean() == pytest.approx((1.0 * 1 + 0.0 * 2 + 0.5 * 6) / 9)


def skewed_folder(root: Path, seed: int = 3) -> Path:
    """Users whose held-out item is a rare one half the time: popularity wins less once that is undone."""
    rng = np.random.default_rng(seed)
    lines = ["user_id,item_id,rating,timestamp"]
    popular, rare = list(range(5)), list(range(5, 40))
    for user in range(80):
        history = [*rng.choice(popular, 3, replace=False), *rng.choice(rare, 3, replace=False)]
        last = rng.choice(popular) if user % 2 else rng.choice(rare)
        for t, item in enumerate([*history, last]):
            lines.append(f"u{user},i{item},5,{1000 + t}")
    root.mkdir(parents=True, exist_ok=True)
    (root / "interactions.csv").write_text("\n".join(dict.fromkeys(lines)) + "\n")
    return root


def test_ips_lowers_what_popularity_earns_from_popular_test_items(tmp_path: Path) -> None:
    store = open_dataset(str(skewed_folder(tmp_path / "skewed")))
    _, naive = evaluate_models(store, ["mostpop"], protocol="loo", k=5)
    _, weighted = evaluate_models(store, ["mostpop"], protocol="loo", k=5, weighting="ips")
    assert weighted[0].metrics["hit@5"] < naive[0].metrics["hit@5"]
    assert weighted[0].metrics["coverage@5"] == naive[0].metrics["coverage@5"]  # beyond accuracy: not weighted
    low, high = weighted[0].ci["hit@5"]
    assert low <= weighted[0].metrics["hit@5"] <= high


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentrec.cli", *args], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )


def test_the_cli_says_which_weighting_ran_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    folder = str(skewed_folder(tmp_path / "cli"))
    out = tmp_path / "eval.json"
    result = run_cli("eval", folder, "--models", "mostpop", "--k", "5", "--weighting", "ips", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["weighting"] == "ips"
    refused = run_cli("eval", folder, "--models", "mostpop", "--weighting", "snips")
    assert (
        refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    )
