"""The records of the agent-eval JSON (keys as DESIGN.md's CLI contract names them)."""

from __future__ import annotations

from pydantic import Field

from agentrec.core.json_records import JsonFloat, JsonRecord
from agentrec.eval.intervals import PairedDifference
from agentrec.llm.pacing import ProviderUsage


class PolicyUsage(JsonRecord):
    """LLM use of one policy over all its users."""

    llm_calls: int
    tokens: int
    seconds: JsonFloat
    cost_usd: JsonFloat = 0.0


class PolicyRates(JsonRecord):
    """Shares of steps re-asked or skipped, and of users that fell back to or were filled from the backbone."""

    reask: JsonFloat
    skipped_step: JsonFloat
    fallback: JsonFloat
    filled: JsonFloat


class PolicyReport(JsonRecord):
    """One policy: mean metrics with bootstrap CIs, usage, rates, and (not for the backbone) paired CIs."""

    metrics: dict[str, JsonFloat]
    ci: dict[str, tuple[JsonFloat, JsonFloat]]
    usage: PolicyUsage
    rates: PolicyRates
    ungrounded_items: int
    median_tool_ms: JsonFloat | None
    ci_vs_backbone: dict[str, PairedDifference] | None = None
    # True for a policy that reads the held-out item (``oracle``): an upper bound, not a recommender.
    uses_answer: bool = False

    # The backbone is not compared with itself: its entry has no ``ci_vs_backbone`` key at all.
    omitted_when_none = ("ci_vs_backbone",)


class SlicePolicy(JsonRecord):
    """One policy on one slice of users: mean metrics and (not for the backbone) the paired difference."""

    metrics: dict[str, JsonFloat]
    ci_vs_backbone: dict[str, PairedDifference] | None = None

    omitted_when_none = ("ci_vs_backbone",)


class UserSlice(JsonRecord):
    """Users whose history length falls in one band (cold start first), and each policy on them."""

    users: int
    policies: dict[str, SlicePolicy]


class UserRow(JsonRecord):
    """One user's run under one policy."""

    user: str
    policy: str
    items: list[str]
    target: str | None
    hit: bool
    trace_id: str
    llm_calls: int
    tokens: int
    seconds: JsonFloat
    tool_calls: int
    fallback: bool


class AgentEvalReport(JsonRecord):
    """The agent-eval result: settings, one report per policy, every user's row, wall time per phase."""

    dataset: str
    k: int
    users_evaluated: int
    # Users a policy could not finish because its LLM was not reached, by policy; they count in no
    # metric (every policy is compared on the users all of them finished) and the next run retries them.
    failed_units: dict[str, list[str]] = Field(default_factory=dict)
    failures: dict[str, str] = Field(default_factory=dict)
    seed: int
    llm: str | None
    backbone: str
    fusion: str
    max_steps: int
    policies: dict[str, PolicyReport]
    per_user: list[UserRow]
    wall_seconds: dict[str, JsonFloat] = Field(default_factory=dict)
    # What this run asked of a remote provider (calls, failures, in flight, rate, cost); absent without one.
    usage: ProviderUsage | None = None
    # What the LLM's choices add: agent minus random (the floor over the same tools), per metric.
    llm_value: dict[str, PairedDifference] | None = None
    # agent minus heuristic: the LLM against the rules it replaces.
    llm_vs_heuristic: dict[str, PairedDifference] | None = None
    # What perfect intent could gain with these tools: oracle minus backbone (reads the answer).
    headroom: dict[str, PairedDifference] | None = None
    # By the user's history length: "<=20", "21-50", ">50".
    slices: dict[str, UserSlice] = Field(default_factory=dict)

    omitted_when_none = ("llm_value", "llm_vs_heuristic", "headroom", "usage")
