"""The agent-eval JSON record: the keys scripts read (DESIGN.md, "JSON outputs"), and NaN written as null."""

from __future__ import annotations

import json

from agentrec.agent.eval_report import (
    AgentEvalReport,
    PolicyRates,
    PolicyReport,
    PolicyUsage,
    SlicePolicy,
    UserRow,
    UserSlice,
)
from agentrec.eval.intervals import PairedDifference

NAN = float("nan")
# Every key agent-eval wrote before its result became a record (DESIGN.md's keys among them).
TOP_KEYS = {
    "dataset", "k", "users_evaluated", "seed", "llm", "backbone", "fusion", "max_steps", "policies", "per_user",
    "wall_seconds", "slices", "failed_units", "failures",
}  # fmt: skip
POLICY_KEYS = {"metrics", "ci", "usage", "rates", "ungrounded_items", "median_tool_ms", "uses_answer"}
ROW_KEYS = {
    "user", "policy", "items", "target", "hit", "trace_id", "llm_calls", "tokens", "seconds", "tool_calls", "fallback",
}  # fmt: skip


def report_with_nans() -> AgentEvalReport:
    backbone = PolicyReport(
        metrics={"ndcg@10": 0.2, "recall@10": NAN}, ci={"ndcg@10": (0.1, NAN)},
        usage=PolicyUsage(llm_calls=0, tokens=0, seconds=0.5), ungrounded_items=0, median_tool_ms=None,
        rates=PolicyRates(reask=0.0, skipped_step=0.0, fallback=0.0, filled=NAN),
    )  # fmt: skip
    versus = {"ndcg@10": PairedDifference(diff=0.1, low=-0.05, high=NAN, p_value=0.3)}
    row = UserRow(
        user="1", policy="agent", items=["a", "b"], target=None, hit=False, trace_id="t", llm_calls=2, tokens=30,
        seconds=NAN, tool_calls=1, fallback=False,
    )  # fmt: skip
    return AgentEvalReport(
        dataset="d", k=10, users_evaluated=1, seed=0, llm=None, backbone="ease", fusion="lgbm", max_steps=7,
        policies={"backbone": backbone, "agent": backbone.model_copy(update={"ci_vs_backbone": versus})},
        per_user=[row], wall_seconds={"open": 1.0, "total": NAN},
    )  # fmt: skip


def test_the_json_has_the_contract_keys() -> None:
    data = report_with_nans().json_data()
    assert set(data) == TOP_KEYS
    assert set(data["policies"]["backbone"]) == POLICY_KEYS  # the backbone has no comparison with itself
    assert set(data["policies"]["agent"]) == POLICY_KEYS | {"ci_vs_backbone"}
    assert set(data["policies"]["agent"]["ci_vs_backbone"]["ndcg@10"]) == {"diff", "low", "high", "p_value"}
    assert set(data["policies"]["agent"]["usage"]) == {"llm_calls", "tokens", "seconds", "cost_usd"}
    assert set(data["policies"]["agent"]["rates"]) == {"reask", "skipped_step", "fallback", "filled"}
    assert set(data["per_user"][0]) == ROW_KEYS


def test_nan_is_written_as_null() -> None:
    data = report_with_nans().json_data()
    agent = data["policies"]["agent"]
    assert agent["metrics"]["recall@10"] is None and agent["ci"]["ndcg@10"] == [0.1, None]
    assert agent["rates"]["filled"] is None and agent["ci_vs_backbone"]["ndcg@10"]["high"] is None
    assert data["per_user"][0]["seconds"] is None and data["wall_seconds"]["total"] is None
    json.dumps(data, allow_nan=False)


def test_llm_value_headroom_and_slices_have_the_design_keys() -> None:
    versus = PairedDifference(diff=0.01, low=-0.02, high=0.03, p_value=0.4)
    part = UserSlice(
        users=3,
        policies={
            "backbone": SlicePolicy(metrics={"ndcg@10": 0.1}),
            "agent": SlicePolicy(metrics={"ndcg@10": NAN}, ci_vs_backbone={"ndcg@10": versus}),
        },
    )
    report = report_with_nans().model_copy(
        update={"llm_value": {"ndcg@10": versus}, "headroom": {"ndcg@10": versus}, "slices": {"<=20": part}}
    )
    data = json.loads(json.dumps(report.json_data(), allow_nan=False))
    assert set(data["llm_value"]["ndcg@10"]) >= {"diff", "low", "high"}
    assert "llm_vs_heuristic" not in data  # absent, not null, when a policy did not run
    assert data["slices"]["<=20"]["users"] == 3
    assert data["slices"]["<=20"]["policies"]["agent"]["metrics"]["ndcg@10"] is None
    assert "ci_vs_backbone" not in data["slices"]["<=20"]["policies"]["backbone"]
