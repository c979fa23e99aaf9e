"""The published fidelity protocols (``simulate --fidelity``): 1:m discrimination and rating fidelity."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agentrec.sim.discrimination import Confusion
from agentrec.sim.rating_fidelity import jensen_shannon, rating_fidelity, star_histogram
from agentrec.sim.run import RunOptions, run_simulation
from agentrec.sim.scenario import FidelitySpec


def test_confusion_figures_read_as_agent4recs_table() -> None:
    counts = Confusion()
    counts.add([True, False, False, False], [True, False, False, False])  # the held-out item found, no false alarm
    counts.add([False, True, False, False], [True, False, False, False])  # missed, and one false alarm
    figures = counts.figures()
    assert figures["accuracy"] == 6 / 8 and figures["precision"] == 0.5 and figures["recall"] == 0.5
    assert figures["f1"] == 0.5 and figures["cases"] == 8
    assert Confusion().figures()["precision"] == 0.0  # nothing said: no division by zero


def test_rating_distribution_figures() -> None:
    assert star_histogram(np.array([1.0, 3.5, 4.0, 5.0])).tolist() == [0.25, 0.0, 0.0, 0.5, 0.25]
    same = np.array([0.1, 0.2, 0.3, 0.2, 0.2])
    assert jensen_shannon(same, same) == 0.0
    assert jensen_shannon(np.array([1.0, 0, 0, 0, 0]), np.array([0, 0, 0, 0, 1.0])) == pytest.approx(1.0)
    real = np.array([1.0, 2, 3, 4, 5, 4])
    report = rating_fidelity(real.copy(), real + 0.1, real, {"global_mean": np.full(6, real.mean())})
    assert report["rating_rmse"] == 0.0 and report["rating_mae"] == 0.0
    assert report["rating_rmse_expected"] == pytest.approx(0.1)
    distribution = report["rating_distribution"]
    assert isinstance(distribution, dict) and distribution["jsd"] == 0.0 and distribution["spearman"] == 1.0


@pytest.mark.parametrize("ratios", [[0], [], [1, 51]])
def test_a_ratio_below_one_or_none_is_refused(ratios: list[int]) -> None:
    with pytest.raises(ValueError, match="ratios"):
        FidelitySpec.model_validate({"ratios": ratios})


@pytest.mark.realdata
def test_simulate_with_the_protocols_reports_them_beside_the_baselines(
    ml100k: Path, tmp_path: Path, scenario_file: Callable[..., Path]
) -> None:
    scenario = scenario_file(tmp_path, "protocols", ml100k, users=30, rounds=1, pages=2)
    result = run_simulation(scenario, RunOptions(runs_root=tmp_path / "runs", fidelity_protocols=True))
    fidelity = result.summary.json_data()["fidelity"]
    assert set(fidelity["rating_baselines"]) == {"global_mean", "user_item_bias", "biased_mf", "biased_mf_stars"}
    assert fidelity["rating_baselines"]["biased_mf"] < fidelity["rating_baselines"]["global_mean"]
    assert 0.0 <= fidelity["rating_distribution"]["jsd"] <= 1.0
    versus = fidelity["rating_versus"]["expected_vs_biased_mf"]
    assert versus["low"] <= versus["diff"] <= versus["high"] and set(fidelity["rating_versus"]) == {
        "stars_vs_biased_mf",
        "expected_vs_biased_mf",
        "stars_vs_biased_mf_stars",
    }
    assert set(fidelity["discrimination"]) == {"1:1", "1:3", "1:9"}
    for figures in fidelity["discrimination"].values():
        assert {"accuracy", "precision", "recall", "f1"} <= set(figures) and 0.0 <= figures["f1"] <= 1.0
    macro = fidelity["macro"]
    for part in ("popularity", "genres"):
        assert 0.0 <= macro[part]["jsd"] <= 1.0 and abs(sum(macro[part]["simulated"]) - 1.0) < 1e-3
        assert (
            abs(sum(macro[part]["real"]) - 1.0) < 1e-3 and macro[part]["largest_gap"]["label"] in macro[part]["labels"]
        )
    assert macro["exit_page"]["agent4rec"] == 3.23 and macro["watches"] > 0
    assert (result.run_dir / "report" / "macro.png").is_file()
    # one held-out item per page against m never-watched ones: every page has 1 + m cases
    assert fidelity["discrimination"]["1:9"]["cases"] == 10 * fidelity["discrimination"]["1:1"]["cases"] / 2


@pytest.mark.realdata
def test_a_click_rate_sets_how_often_users_watch_and_leaves_which_they_choose(ml100k: Path, tmp_path: Path) -> None:
    rates = {}
    for name, line in (("eager", ""), ("low", "click_rate = 0.15"), ("high", "click_rate = 0.6")):
        path = tmp_path / f"{name}.toml"
        path.write_text(
            f'name = "{name}"\ndataset = "{ml100k}"\nseed = 2\npages = 2\n[users]\ncount = 120\n'
            f'choice_model = "statistical"\n{line}\n[fidelity]\ntemporal = false\n'
            '[[arms]]\nname = "ease"\nrecommender = "ease"\n'
        )
        summary = run_simulation(path, RunOptions(runs_root=tmp_path / "runs")).summary
        rates[name] = (summary.metrics.ctr, summary.fidelity.choice_agreement)
    assert rates["low"][0] < rates["high"][0] < rates["eager"][0]
    assert 0.08 < rates["low"][0] < 0.3 and 0.45 < rates["high"][0] < 0.8, rates
    # a shared shift of every item's log-odds changes no page's likeliest item
    assert rates["low"][1] == rates["high"][1] == rates["eager"][1]
