"""The records of the ``simulate`` JSON (keys as DESIGN.md's CLI contract names them)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from agentrec.core.json_records import JsonFloat, JsonRecord
from agentrec.eval.intervals import PairedDifference
from agentrec.llm.pacing import ProviderUsage


class BehaviourMetrics(JsonRecord):
    """Means over sessions (see ``agentrec.sim.metrics``) and catalog metrics of the items shown."""

    sessions: JsonFloat
    ctr: JsonFloat
    avg_rating: JsonFloat
    exit_page: JsonFloat
    session_length: JsonFloat
    satisfaction: JsonFloat
    tokens: JsonFloat
    exit_rate: JsonFloat
    coverage: JsonFloat
    gini: JsonFloat
    novelty: JsonFloat
    genre_entropy: JsonFloat

    def value(self, metric: str) -> float:
        """The metric called ``metric`` (NaN when no session had one)."""
        return float(getattr(self, metric))


class RoundMetrics(BehaviourMetrics):
    """The metrics of one round (0-based) of one arm, and bootstrap intervals (over users) of some of them."""

    round: int
    cumulative_ctr: JsonFloat = float("nan")  # watches over impressions of this round and every one before
    ci: dict[str, tuple[JsonFloat, JsonFloat]] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _round_first(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The round leads, as the first column of rounds.csv.
        data: dict[str, Any] = handler(self)
        return {"round": data.pop("round"), **data}


class ArmDifference(PairedDifference):
    """An arm minus the first arm on one metric, paired over ``users`` users both have a value for."""

    users: int


class ArmComparison(JsonRecord):
    """An arm against the first arm (``baseline``), per session metric; written as ``vs_<baseline>``."""

    baseline: str
    differences: dict[str, ArmDifference]


class ArmReport(JsonRecord):
    """One arm: metrics over all sessions, bootstrap CIs over users, per round, detours, and the comparison."""

    metrics: BehaviourMetrics
    ci: dict[str, tuple[JsonFloat, JsonFloat]]
    rounds: list[RoundMetrics]
    actions: dict[str, JsonFloat]
    versus: ArmComparison | None = None

    @model_serializer(mode="wrap")
    def _versus_key(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        versus = data.pop("versus")
        if versus is not None:
            data[f"vs_{versus['baseline']}"] = versus["differences"]
        return data


class DiscriminationFigures(JsonRecord):
    """One Agent4Rec 1:m task, every item a binary case."""

    accuracy: JsonFloat
    precision: JsonFloat
    recall: JsonFloat
    f1: JsonFloat
    cases: JsonFloat


class RatingDistribution(JsonRecord):
    """Simulated against real stars: divergence of the histograms, rank correlation of the pairs."""

    jsd: JsonFloat
    spearman: JsonFloat
    simulated: list[JsonFloat]
    real: list[JsonFloat]


class DistributionGap(JsonRecord):
    """A simulated distribution against the real one over the same labels."""

    jsd: JsonFloat
    largest_gap: dict[str, str | JsonFloat]
    simulated: list[JsonFloat]
    real: list[JsonFloat]
    labels: list[str]


class MacroFigures(JsonRecord):
    """What simulated users watched, as a whole, against the same users' held-out interactions."""

    watches: JsonFloat
    real_interactions: JsonFloat
    popularity: DistributionGap
    genres: DistributionGap
    exit_page: dict[str, JsonFloat]
    click_rate: dict[str, JsonFloat]


class ProtocolFigures(JsonRecord):
    """The published protocols' figures (``simulate --fidelity``); absent unless measured."""

    omitted_when_none: ClassVar[tuple[str, ...]] = (
        "rating_mae", "rating_rmse_expected", "rating_baselines", "rating_versus", "rating_distribution",
        "discrimination", "macro",
    )  # fmt: skip

    rating_mae: JsonFloat | None = None
    rating_rmse_expected: JsonFloat | None = None
    rating_baselines: dict[str, JsonFloat] | None = None
    rating_versus: dict[str, dict[str, JsonFloat]] | None = None
    rating_distribution: RatingDistribution | None = None
    discrimination: dict[str, DiscriminationFigures] | None = None
    macro: MacroFigures | None = None


class FidelityVariant(ProtocolFigures):
    """Choice agreement on held-out items (random or last items), and rating error when rated."""

    omitted_when_none = ("rating_rmse", "ratings", *ProtocolFigures.omitted_when_none)

    choice_agreement: JsonFloat
    choice_agreement_sampled: JsonFloat
    pages: JsonFloat
    chance: JsonFloat
    rating_rmse: JsonFloat | None = None
    ratings: JsonFloat | None = None


class FidelityReport(ProtocolFigures):
    """How far simulated choices match held-out real behaviour (null when not measured)."""

    omitted_when_none = ("random", "choice_model", "temporal", "enabled", *ProtocolFigures.omitted_when_none)

    choice_agreement: JsonFloat | None = None
    rating_rmse: JsonFloat | None = None
    random: FidelityVariant | None = None
    choice_model: str | None = None
    temporal: FidelityVariant | None = None
    enabled: bool | None = None


class SimulationSummary(JsonRecord):
    """The ``simulate`` result: the run, overall metrics and detours, fidelity, and every arm."""

    run_id: str
    scenario: str
    dataset: str
    choice_model: str
    users: int
    rounds: int
    events: int
    sessions: int
    metrics: BehaviourMetrics
    actions: dict[str, JsonFloat]
    fidelity: FidelityReport
    arms: dict[str, ArmReport]
    # What the run asked of a remote provider from this process; absent without one.
    usage: ProviderUsage | None = None

    omitted_when_none = ("usage",)
