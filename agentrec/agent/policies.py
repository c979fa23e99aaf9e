"""The three policies compared on the same users: backbone, heuristic, agent.

* ``backbone``: the plain model's top-k.
* ``heuristic``: no LLM. Attributes come from the user's history (top genres,
  top decade, the last item), then the same tools and fusion as the agent.
* ``agent``: the LLM loop (``agentrec.agent.loop``).

Comparing them separates what the LLM adds from what tool exploration and fusion add.
``finalise`` is the one place a final list is made, and it is where grounding is
enforced: only catalog items the user has not seen, no repeats, exactly k when
the catalog allows (filled from the backbone, and counted).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt
from pydantic.dataclasses import dataclass as pydantic_dataclass

from agentrec.agent.builtin_tools import ListSize, retrieve, similar
from agentrec.agent.context import ToolContext
from agentrec.agent.fusion import (
    LLM_FUSIONS,
    FusionModels,
    FusionName,
    fuse_lgbm,
    fuse_llm,
    fuse_llm_logits,
    fuse_rrf,
)
from agentrec.agent.interests import DEFAULT_INTERESTS, check_interest_count
from agentrec.agent.llm_scoring import DEFAULT_SHUFFLES
from agentrec.agent.pool import IntArray
from agentrec.agent.registry import ToolRegistry
from agentrec.agent.trace import AgentRun, AgentStep, RankedItem
from agentrec.core.errors import ConfigError
from agentrec.llm.records import AssistantTurn, ChatModel
from agentrec.recsys.base import top_k_allowed

# The policies ``agent-eval`` runs unless told otherwise: ``random`` is the floor the agent's
# choices are measured against. ``oracle`` reads the held-out item, so it is never a default.
POLICIES: tuple[str, ...] = ("backbone", "heuristic", "random", "agent")
ALL_POLICIES: tuple[str, ...] = ("backbone", "heuristic", "random", "agent", "oracle")
ANSWER_AWARE_POLICIES: frozenset[str] = frozenset({"oracle"})
# The heuristic's calls, and the seed list every pool starts from, go through a registry like any model's call.
HEURISTIC_TOOLS = ToolRegistry.of([retrieve, similar])


@pydantic_dataclass(frozen=True)
class RunSettings:
    """How a run is made. ``seed_pool`` items of the backbone's list start every pool (0: none).

    The bounds are checked at construction: a ``ValidationError`` names the field.
    """

    k: PositiveInt = 10
    max_steps: PositiveInt = 7
    fusion: FusionName = "lgbm"
    seed_pool: Annotated[int, Field(ge=0, le=100)] = 50  # the tools' own bound on a list (ListSize)
    list_size: ListSize = 20
    step_tokens: PositiveInt = 120
    max_skipped_steps: NonNegativeInt = 1
    stop_on_repeat: bool = True
    seed: int = 0
    llm_shuffles: PositiveInt = DEFAULT_SHUFFLES  # shuffled candidate orders the LLM scorer averages over
    interests: int = DEFAULT_INTERESTS  # at most this many interests for retrieve_by_interest (1 to 8)

    def __post_init__(self) -> None:
        check_interest_count(self.interests)


def backbone_items(context: ToolContext, k: int) -> IntArray:
    """The backbone's top-k among items the user may get."""
    return top_k_allowed(context.scores("backbone"), context.pool.allowed, k)


def seed_pool(context: ToolContext, settings: RunSettings) -> None:
    """Start the pool with the backbone's own list, so tools add to what the model already knows."""
    if settings.seed_pool > 0:
        seeded = HEURISTIC_TOOLS.call("retrieve", {"k": settings.seed_pool}, context)
        if seeded.retry_hint is not None:
            raise ConfigError(f"seed_pool {settings.seed_pool}: {seeded.retry_hint}")


def heuristic_pool(context: ToolContext, settings: RunSettings) -> list[AgentStep]:
    """The heuristic's tool calls: top two values of each attribute, then items like the last one."""
    seed_pool(context, settings)
    steps: list[AgentStep] = []
    attributes = context.workspace.attributes
    calls: list[tuple[str, dict[str, object]]] = []
    for name in attributes.names:
        per_attribute = 2 if name == attributes.names[0] else 1
        for value in attributes.top_values(name, context.history.items, per_attribute):
            calls.append(("retrieve", {"attribute": name, "value": value, "k": settings.list_size}))
    if len(context.history.items) and (context.workspace.models.similar or context.workspace.models.text):
        last = context.record(int(context.history.items[-1])).item_id
        calls.append(("similar", {"item": last, "k": settings.list_size}))
    for index, (name, arguments) in enumerate(calls, start=1):
        context.step = index
        steps.append(HEURISTIC_TOOLS.run_step(index, name, arguments, context))
    return steps


def fused_items(
    context: ToolContext,
    settings: RunSettings,
    model: ChatModel | None,
    trained: FusionModels | None,
) -> tuple[IntArray, list[AssistantTurn]]:
    """The pool fused by the chosen method (no filling yet)."""
    if settings.fusion == "rrf":
        return fuse_rrf(context, settings.k), []
    if settings.fusion == "llm":
        if model is None:
            raise ConfigError("--fusion llm needs an LLM")
        return fuse_llm(context, settings.k, model)
    ranker = trained.lgbm if trained is not None else None
    if ranker is None:
        raise ConfigError(f"--fusion {settings.fusion} needs a trained fusion model")
    if settings.fusion == "llm-logits":
        rescorer = trained.llm_logits if trained is not None else None
        if model is None or rescorer is None:
            raise ConfigError("--fusion llm-logits needs an LLM and its trained rescorer")
        return fuse_llm_logits(context, settings.k, ranker, rescorer, model, settings.llm_shuffles)
    return fuse_lgbm(context, settings.k, ranker), []


def finalise(
    context: ToolContext,
    settings: RunSettings,
    policy: str,
    model: ChatModel | None = None,
    trained: FusionModels | None = None,
    steps: Sequence[AgentStep] = (),
    turns: Sequence[AssistantTurn] = (),
    reasks: int = 0,
    skipped: int = 0,
    started: float | None = None,
) -> AgentRun:
    """Fuse, ground, fill to k from the backbone, and record the run.

    An LLM fusion uses ``model``, or else the LLM the run's context was handed.
    """
    model = model if model is not None else context.llm
    fused, fusion_turns = (
        (np.empty(0, dtype=np.int64), []) if policy == "backbone" else fused_items(context, settings, model, trained)
    )
    turns = [*turns, *context.llm_turns, *fusion_turns]
    grounded = _grounded(context, fused)
    fallback = policy != "backbone" and grounded.size == 0
    final = list(dict.fromkeys([*grounded.tolist(), *_fill(context, settings.k + len(grounded)).tolist()]))
    final = final[: settings.k]
    filled = 0 if policy == "backbone" else len(final) - min(len(grounded), settings.k)
    workspace = context.workspace
    target = context.target()
    return AgentRun(
        dataset=workspace.store.name,
        user_id=context.user_id,
        policy=policy,
        model=getattr(model, "model_id", "") if policy == "agent" or settings.fusion in LLM_FUSIONS else "",
        fusion="" if policy == "backbone" else settings.fusion,
        items=tuple(_ranked_item(context, item, policy) for item in final),
        steps=tuple(steps),
        target=None if target is None else workspace.records[target].item_id,
        llm_calls=len(turns),
        tokens=sum(turn.usage.total_tokens for turn in turns),
        seconds=0.0 if started is None else time.perf_counter() - started,
        reasks=reasks,
        skipped_steps=skipped,
        fallback=fallback,
        filled=filled,
    )


def _fill(context: ToolContext, n: int) -> IntArray:
    """The backbone's list under the pool's constraints, then (if short) under what is eligible at all."""
    within = backbone_items(context, n)
    if len(within) >= n:
        return within
    return np.concatenate([within, top_k_allowed(context.scores("backbone"), context.eligible(), n)])


def _grounded(context: ToolContext, items: IntArray) -> IntArray:
    """Only catalog indices the user may get, each once, in order."""
    n = context.workspace.n_items
    eligible = context.eligible()
    kept = [int(i) for i in items if 0 <= int(i) < n and eligible[int(i)]]
    return np.array(list(dict.fromkeys(kept)), dtype=np.int64)


def _ranked_item(context: ToolContext, item: int, policy: str) -> RankedItem:
    record = context.record(item)
    if policy == "backbone":
        return RankedItem(item_id=record.item_id, title=record.label, source="backbone", source_rank=0, lists=1)
    provenance = context.pool.provenance(item)
    return RankedItem(
        item_id=record.item_id, title=record.label, source=provenance.source,
        source_rank=provenance.rank, lists=provenance.lists,
    )  # fmt: skip


def run_backbone(context: ToolContext, settings: RunSettings) -> AgentRun:
    return finalise(context, settings, policy="backbone", started=time.perf_counter())


def run_heuristic(
    context: ToolContext, settings: RunSettings, trained: FusionModels | None, model: ChatModel | None = None
) -> AgentRun:
    """The heuristic's pool, fused; ``model`` is used only by ``--fusion llm`` and ``llm-logits``."""
    started = time.perf_counter()
    steps = heuristic_pool(context, settings)
    return finalise(context, settings, policy="heuristic", model=model, trained=trained, steps=steps, started=started)
