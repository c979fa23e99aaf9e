"""The simulate JSON record: the keys scripts read (DESIGN.md, "JSON outputs"), and NaN written as null."""

from __future__ import annotations

import json

from agentrec.sim.results import (
    ArmComparison,
    ArmDifference,
    ArmReport,
    BehaviourMetrics,
    FidelityReport,
    FidelityVariant,
    RoundMetrics,
    SimulationSummary,
)

NAN = float("nan")
# Every key simulate wrote before its result became a record (DESIGN.md's keys among them).
TOP_KEYS = {
    "run_id", "scenario", "dataset", "choice_model", "users", "rounds", "events", "sessions", "metrics", "actions",
    "fidelity", "arms",
}  # fmt: skip
METRIC_KEYS = {
    "sessions", "ctr", "avg_rating", "exit_page", "session_length", "satisfaction", "tokens", "exit_rate",
    "coverage", "gini", "novelty", "genre_entropy",
}  # fmt: skip
VARIANT = {"choice_agreement": 0.7, "choice_agreement_sampled": 0.5, "pages": 10.0, "chance": 0.2}


def metrics(**values: float) -> dict[str, float]:
    return dict.fromkeys(METRIC_KEYS, 1.0) | values


def summary_with_nans() -> SimulationSummary:
    rounds = [RoundMetrics(round=r, **metrics(avg_rating=NAN)) for r in range(2)]
    versus = ArmComparison(
        baseline="pop", differences={"ctr": ArmDifference(diff=0.1, low=NAN, high=0.2, p_value=0.5, users=3)}
    )
    arm = ArmReport(metrics=BehaviourMetrics(**metrics()), ci={"ctr": (0.1, NAN)}, rounds=rounds, actions={})
    random = FidelityVariant(**VARIANT, rating_rmse=NAN, ratings=0.0)
    fidelity = FidelityReport(
        choice_agreement=0.7, rating_rmse=NAN, choice_model="statistical", random=random,
        temporal=FidelityVariant(**VARIANT),
    )  # fmt: skip
    return SimulationSummary(
        run_id="r", scenario="s", dataset="d", choice_model="statistical", users=3, rounds=2, events=10, sessions=12,
        metrics=BehaviourMetrics(**metrics(satisfaction=NAN)), actions={"sessions": 12.0, "search_ctr": NAN},
        fidelity=fidelity, arms={"pop": arm, "ease": arm.model_copy(update={"versus": versus})},
    )  # fmt: skip


def test_the_json_has_the_contract_keys() -> None:
    data = summary_with_nans().json_data()
    assert set(data) == TOP_KEYS
    assert set(data["metrics"]) == METRIC_KEYS
    assert set(data["fidelity"]) == {"choice_agreement", "rating_rmse", "random", "choice_model", "temporal"}
    assert set(data["fidelity"]["random"]) == set(VARIANT) | {"rating_rmse", "ratings"}
    assert set(data["fidelity"]["temporal"]) == set(VARIANT)  # no ratings measured: no rating keys
    assert set(data["arms"]["pop"]) == {"metrics", "ci", "rounds", "actions"}  # the first arm has no comparison
    assert set(data["arms"]["ease"]) == {"metrics", "ci", "rounds", "actions", "vs_pop"}
    assert set(data["arms"]["ease"]["vs_pop"]["ctr"]) == {"diff", "low", "high", "p_value", "users"}
    first_round = data["arms"]["ease"]["rounds"][0]
    assert next(iter(first_round)) == "round"
    assert set(first_round) == METRIC_KEYS | {"round", "cumulative_ctr", "ci"}


def test_nan_is_written_as_null() -> None:
    data = summary_with_nans().json_data()
    assert data["metrics"]["satisfaction"] is None and data["actions"]["search_ctr"] is None
    assert data["fidelity"]["rating_rmse"] is None and data["fidelity"]["random"]["rating_rmse"] is None
    assert data["arms"]["ease"]["rounds"][1]["avg_rating"] is None
    assert data["arms"]["ease"]["ci"]["ctr"] == [0.1, None]
    assert data["arms"]["ease"]["vs_pop"]["ctr"]["low"] is None
    json.dumps(data, allow_nan=False)


def test_a_run_without_fidelity_says_so() -> None:
    disabled = FidelityReport.model_validate({"choice_agreement": None, "rating_rmse": None, "enabled": False})
    assert disabled.json_data() == {"choice_agreement": None, "rating_rmse": None, "enabled": False}
