"""Recommenders that learn inside the loop (``thompson``, ``reloop``): they learn, and resume exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from agentrec.core.errors import ConfigError
from agentrec.data.store import open_dataset
from agentrec.sim.adaptive import ReloopArm, ThompsonArm, fit_logistic, make_adaptive_arm, rows_by_user
from agentrec.sim.arms import check_arm
from agentrec.sim.events import read_events
from agentrec.sim.items import load_items
from agentrec.sim.recommenders import ArmContext, Shown
from agentrec.sim.run import RunOptions, run_simulation
from agentrec.sim.scenario import ArmSpec, load_scenario
from agentrec.sim.world import holdout_split, split_label

SCENARIO = """
name = "{name}"
dataset = "{dataset}"
seed = 5
rounds = 3
pages = 2
page_size = 4

[users]
count = {users}
choice_model = "statistical"

[fidelity]
enabled = false

[[arms]]
name = "frozen"
recommender = "ease"

[[arms]]
name = "thompson"
recommender = "thompson"

[[arms]]
name = "reloop"
recommender = "reloop"
params = {{strength = 0.5}}
"""


def write(folder: Path, name: str, dataset: Path, users: int) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(SCENARIO.format(name=name, dataset=dataset, users=users))
    return path


def test_a_logistic_fit_recovers_its_parameters() -> None:
    rng = np.random.default_rng(0)
    feature = rng.normal(size=20_000)
    outcome = (rng.random(20_000) < 1 / (1 + np.exp(-(-1.0 + 2.0 * feature)))).astype(np.float64)
    intercept, slope = fit_logistic(feature, outcome)
    assert intercept == pytest.approx(-1.0, abs=0.08) and slope == pytest.approx(2.0, abs=0.12)


def test_rows_are_grouped_by_user_in_their_order() -> None:
    grouped = rows_by_user(np.array([3, 1, 3, 2, 1], dtype=np.int64))
    assert [(user, rows.tolist()) for user, rows in grouped] == [(1, [1, 4]), (2, [3]), (3, [0, 2])]
    assert rows_by_user(np.array([], dtype=np.int64)) == []


@pytest.mark.parametrize(
    ("recommender", "params", "fragment"),
    [
        ("thompson", {"exploration": -1}, "exploration"),
        ("thompson", {"vectors": "ease"}, "no item vectors"),
        ("reloop", {"base": "itemknn", "vectors": "bpr"}, None),
        ("reloop", {"memory": 0}, "memory"),
        ("reloop", {"bogus": 1}, "bogus"),
    ],
)
def test_parameters_are_checked_before_any_data_is_loaded(
    recommender: str, params: dict[str, object], fragment: str | None
) -> None:
    spec = ArmSpec(name="a", recommender=recommender, params=params)
    if fragment is None:
        check_arm(spec)
        return
    with pytest.raises(ConfigError, match=fragment):
        check_arm(spec)


@pytest.mark.realdata
def test_both_learn_from_what_was_shown_and_watched(ml100k: Path, tmp_path: Path) -> None:
    store = open_dataset(str(ml100k))
    scenario = load_scenario(write(tmp_path, "unit", ml100k, users=5))
    train = holdout_split(store.interactions(), scenario).train
    users = np.arange(5, dtype=np.int64)
    items = load_items(store, train)
    context = ArmContext(users, str(ml100k), store.key, split_label(scenario), train, items, 5, 8, tmp_path)
    nothing = train.subset(np.zeros(len(train), dtype=bool))
    thompson = make_adaptive_arm(ArmSpec(name="t", recommender="thompson", params={"exploration": 0.0}), context)
    assert isinstance(thompson, ThompsonArm)
    thompson.start_round(0, nothing)
    before = thompson.recommend(0, 8)
    # user 0 watched nothing of the first list and everything of an unrelated one: the list moves
    others = np.array([i for i in thompson.recommend(1, 40) if i not in before][:8], dtype=np.int64)
    shown = Shown(
        np.zeros(16, dtype=np.int64),
        np.concatenate([np.array(before), others]),
        np.array([False] * 8 + [True] * 8),
        np.zeros(16, dtype=np.int64),
    )
    thompson.observe(1, shown)
    thompson.start_round(1, nothing)
    after = thompson.recommend(0, 8)
    assert after != before
    mean, _ = thompson.posterior(0)
    assert float(thompson.items[others].mean(axis=0) @ mean) > float(thompson.items[before].mean(axis=0) @ mean)

    reloop = make_adaptive_arm(ArmSpec(name="r", recommender="reloop", params={"strength": 5.0}), context)
    assert isinstance(reloop, ReloopArm)
    reloop.start_round(0, nothing)
    base_list = reloop.recommend(0, 8)
    assert base_list == reloop.base.recommend(0, 8)  # no memory: exactly the base model
    never = np.zeros(8, dtype=np.int64)
    skipped = Shown(never, np.array(base_list), np.zeros(8, dtype=bool), never)
    reloop.observe(1, skipped)
    reloop.start_round(1, nothing)
    corrected = reloop.recommend(0, 8)
    assert (reloop.correction(0, np.array(base_list)) < 0).all()  # every skipped item was over-predicted
    assert len(set(corrected) - set(base_list)) > 0


@pytest.mark.realdata
def test_a_resumed_run_with_adaptive_arms_equals_an_uninterrupted_one_in_any_worker_count(
    ml100k: Path, tmp_path: Path
) -> None:
    scenario = write(tmp_path, "adaptive", ml100k, users=12)
    reference = run_simulation(scenario, RunOptions(runs_root=tmp_path / "runs"))
    events = read_events(reference.run_dir / "events.duckdb", reference.run_id)
    crashed = tmp_path / "crashed"
    shutil.copytree(reference.run_dir, crashed / reference.run_id)
    for leftover in (crashed / reference.run_id / "feedback").glob("*"):
        leftover.unlink()  # the learned state must come back from the log alone
    users = sorted({str(row[1]) for row in events})
    with duckdb.connect(str(crashed / reference.run_id / "events.duckdb")) as con:
        # round 1: four users never ran and one stopped mid-session; round 2 never started
        con.execute(
            "DELETE FROM events WHERE session = 2 OR (session = 1 AND (user_id IN (?, ?, ?, ?) OR "
            "(user_id = ? AND step >= 4)))",
            users[:5],
        )
    resumed = run_simulation(scenario, RunOptions(runs_root=crashed, resume=reference.run_id, workers=2))
    assert read_events(resumed.run_dir / "events.duckdb", resumed.run_id) == events
    assert resumed.summary.json_data() == reference.summary.json_data()
    rounds = reference.summary.arms["reloop"].rounds
    assert [entry.round for entry in rounds] == [0, 1, 2]
    for entry in rounds:
        assert set(entry.ci) == {"ctr", "cumulative_ctr", "coverage", "genre_entropy"}
        low, high = entry.ci["cumulative_ctr"]
        assert low <= entry.cumulative_ctr <= high
    for name in ("cumulative_ctr.png", "coverage_by_round.png", "rounds.csv"):
        assert (reference.run_dir / "report" / name).stat().st_size > 0
    assert "cumulative_ctr_low" in (reference.run_dir / "report" / "rounds.csv").read_text().splitlines()[0]
