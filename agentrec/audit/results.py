"""The records of the ``audit`` JSON (keys as DESIGN.md's CLI contract names them)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from agentrec.audit.placement import StsPlacement
from agentrec.core.json_records import JsonFloat, JsonRecord, JsonTree
from agentrec.eval.intervals import PairedDifference
from agentrec.llm.pacing import ProviderUsage

Interval = tuple[JsonFloat, JsonFloat]


class SideSummary(JsonRecord):
    """One side (before: clean, after: with the STS) over all pairs; rank N+1 is "not recommended"."""

    rank_distribution: dict[str, int]
    top1_rate: JsonFloat
    not_recommended_rate: JsonFloat
    mean_rank: JsonFloat
    mean_logprob: JsonFloat | None
    ci: dict[str, Interval]


class Advantage(JsonRecord):
    """Shares of pairs where the STS improved, kept or worsened the target's rank, with CIs."""

    improved: JsonFloat
    unchanged: JsonFloat
    worsened: JsonFloat
    ci: dict[str, Interval]


class PairSummary(JsonRecord):
    """The paper's numbers for a set of paired runs; ``paired``: after minus before per metric."""

    before: SideSummary
    after: SideSummary
    advantage: Advantage
    paired: dict[str, PairedDifference]


class DefenceResult(PairSummary):
    """The paired numbers under a defence; ``details`` (what the defence adds) sit beside them in the JSON."""

    details: JsonTree = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _flatten_details(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        details: dict[str, Any] = data.pop("details")
        return data | details


class AuditTiming(JsonRecord):
    """The paired evaluation's wall time and calls (``backend_calls``: computed, not cached)."""

    eval_seconds: JsonFloat
    pairs: int
    llm_calls: int
    backend_calls: int
    calls_per_s: JsonFloat | None
    computed_calls_per_s: JsonFloat | None
    seconds_per_pair: JsonFloat


class PairRecord(JsonRecord):
    """One paired run: the product order, and the target's rank and log-probability without and with the STS."""

    order: list[int]
    rank_before: int
    rank_after: int
    logprob_before: JsonFloat | None
    logprob_after: JsonFloat | None


class AuditReport(PairSummary):
    """The ``audit`` result: what was audited, the paired numbers, each defence, and every pair."""

    catalog: str
    target: str
    optimizer: str
    sts: str
    evals: int
    defences: dict[str, DefenceResult] = Field(default_factory=dict)
    llm: str
    request: str
    prefill: str
    placement: StsPlacement
    seed: int
    products: int
    optimization: JsonTree | None
    pairs: list[PairRecord]
    timing: AuditTiming | None = None
    # What the run asked of a remote provider (calls, failures, most in flight, rate, cost); absent without one.
    usage: ProviderUsage | None = None

    omitted_when_none = ("usage",)
