"""The audit JSON record: the keys scripts read (DESIGN.md, "JSON outputs"), and NaN written as null."""

from __future__ import annotations

import json

from agentrec.audit.paired_run import PairOutcome
from agentrec.audit.placement import StsPlacement
from agentrec.audit.results import AuditReport, AuditTiming, DefenceResult, PairRecord
from agentrec.audit.statistics import summarise_pairs

NAN = float("nan")
# Every key the audit wrote before its result became a record (DESIGN.md's keys among them).
TOP_KEYS = {
    "catalog", "target", "optimizer", "sts", "evals", "before", "after", "advantage", "paired", "defences", "llm",
    "request", "prefill", "placement", "seed", "products", "optimization", "pairs", "timing",
}  # fmt: skip
SIDE_KEYS = {"rank_distribution", "top1_rate", "not_recommended_rate", "mean_rank", "mean_logprob", "ci"}
ADVANTAGE_KEYS = {"improved", "unchanged", "worsened", "ci"}
DIFFERENCE_KEYS = {"diff", "low", "high", "p_value"}
TIMING_KEYS = {
    "eval_seconds", "pairs", "llm_calls", "backend_calls", "calls_per_s", "computed_calls_per_s", "seconds_per_pair",
}  # fmt: skip
PAIR_KEYS = {"order", "rank_before", "rank_after", "logprob_before", "logprob_after"}


def report_with_a_nan() -> AuditReport:
    outcomes = [PairOutcome((0, 1, 2), 4, 1, -5.0, -4.0, "", ""), PairOutcome((2, 1, 0), 2, 2, -6.0, -3.0, "", "")]
    summary = summarise_pairs(outcomes, n_products=3)
    details = {"calibration": {"threshold": 3.2}, "history_detection_rate": NAN, "sts_flagged": True}
    return AuditReport(
        catalog="catalogs/shop.jsonl", target="B", optimizer="given", sts="zz", evals=2, **dict(summary),
        defences={"perplexity": DefenceResult(**dict(summary), details=details)},
        llm="local", request="r?", prefill="1.", placement=StsPlacement(), seed=0, products=3, optimization=None,
        pairs=[PairRecord(order=[0, 1, 2], rank_before=4, rank_after=1, logprob_before=NAN, logprob_after=-4.0)],
        timing=AuditTiming(eval_seconds=0.0, pairs=2, llm_calls=0, backend_calls=0, calls_per_s=None,
                           computed_calls_per_s=None, seconds_per_pair=NAN),
    )  # fmt: skip


def test_the_json_has_the_contract_keys() -> None:
    data = report_with_a_nan().json_data()
    assert set(data) == TOP_KEYS
    for side in ("before", "after"):
        assert set(data[side]) == SIDE_KEYS
        assert set(data[side]["rank_distribution"]) == {"1", "2", "3", "4"}
    assert set(data["advantage"]) == ADVANTAGE_KEYS
    assert all(set(difference) == DIFFERENCE_KEYS for difference in data["paired"].values())
    assert set(data["placement"]) == {"field", "position"}
    assert set(data["timing"]) == TIMING_KEYS
    assert set(data["pairs"][0]) == PAIR_KEYS
    # A defence's own details sit beside its paired numbers, not under a key of their own.
    defence = data["defences"]["perplexity"]
    assert set(defence) == {"before", "after", "advantage", "paired", "calibration", "history_detection_rate",
                            "sts_flagged"}  # fmt: skip


def test_nan_is_written_as_null() -> None:
    data = report_with_a_nan().json_data()
    assert data["pairs"][0]["logprob_before"] is None
    assert data["timing"]["seconds_per_pair"] is None
    assert data["defences"]["perplexity"]["history_detection_rate"] is None
    json.dumps(data, allow_nan=False)


def test_the_agent_audit_writes_a_fusion_without_users_as_nulls() -> None:
    from agentrec.audit.agent_audit import AgentAuditReport, fusion_outcome

    empty = fusion_outcome("llm", [], k=10)
    report = AgentAuditReport(
        dataset="d", target_id="t", target_title="T", sts="s", policy="heuristic", k=10, users_scanned=5,
        candidate_users=0, outcomes=[empty], per_user=[],
    )  # fmt: skip
    data = report.json_data()
    assert set(data) == {"dataset", "target_id", "target_title", "sts", "policy", "k", "users_scanned",
                         "candidate_users", "outcomes", "per_user"}  # fmt: skip
    outcome = data["outcomes"][0]
    assert outcome["users"] == 0 and outcome["topk_rate_before"] is None and outcome["topk_diff_ci"] == [None, None]
    json.dumps(data, allow_nan=False)
