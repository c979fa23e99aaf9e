"""Inverse-propensity weighting of offline metrics (``agentrec eval --weighting ips``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agentrec.core.errors import DataError
from agentrec.data.interactions import Vocabulary
from agentrec.data.store import open_dataset
from agentrec.eval.offline import evaluate_models
from agentrec.eval.weighting import popularity_propensity, read_propensities, self_normalised, user_weights


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


def test_exposure_propensities_are_read_scaled_and_floored(tmp_path: Path) -> None:
    items = Vocabulary(np.array(["a", "b", "c", "d"]))
    path = tmp_path / "exposure.csv"
    path.write_text("item_id,exposure\na,200\nb,50\n\nd,20\n")
    assert read_propensities(path, items).tolist() == [1.0, 0.25, 0.1, 0.1]  # c: left out, the least's value
    for bad, fragment in (("a,-1\n", "number >= 0"), ("z,3\n", "unknown item id 'z'"), ("a,0\n", "above 0")):
        path.write_text(bad)
        with pytest.raises(DataError, match=fragment):
            read_propensities(path, items)


def test_the_cli_weights_by_a_given_exposure_and_needs_ips_for_it(tmp_path: Path) -> None:
    folder = str(skewed_folder(tmp_path / "exposed"))
    exposure = tmp_path / "exposure.csv"
    # the logging system showed the rare items as often as the popular ones
    exposure.write_text("".join(f"i{item},10\n" for item in range(40)))
    out = tmp_path / "eval.json"
    args = ("eval", folder, "--models", "mostpop", "--k", "5", "--weighting", "ips")
    result = run_cli(*args, "--propensities", str(exposure), "--json", str(out))
    assert result.returncode == 0, result.stderr
    payload = json.loads(out.read_text())
    assert payload["propensities"] == str(exposure)
    popularity = tmp_path / "popularity.json"
    assert run_cli(*args, "--json", str(popularity)).returncode == 0
    naive = tmp_path / "naive.json"
    assert run_cli("eval", folder, "--models", "mostpop", "--k", "5", "--json", str(naive)).returncode == 0
    hit = lambda path: json.loads(path.read_text())["models"]["mostpop"]["metrics"]["hit@5"]  # noqa: E731
    assert hit(out) == pytest.approx(hit(naive))  # equal exposure: every user weighs the same
    assert hit(popularity) < hit(naive)
    refused = run_cli("eval", folder, "--models", "mostpop", "--propensities", str(exposure))
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1 and "--weighting ips" in lines[0]
