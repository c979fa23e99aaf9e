"""Why an item is in a chat answer, from the candidate pool's provenance, in plain words.

Every list the rules or the model gathered is kept in the pool with its call
and ranks, so each listed item can name the lists that held it ("similar to
Alien (#2); a top Comedy pick for you (#5)"). ``/why N`` shows all of them, with
the step that made each list and who asked for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agentrec.agent.chat.records import Evidence, ListedItem
from agentrec.agent.context import ToolContext
from agentrec.agent.trace import AgentRun, AgentStep

SHOWN_REASONS = 2


def listed_items(context: ToolContext, run: AgentRun, steps: Sequence[AgentStep], rule_steps: int) -> list[ListedItem]:
    """The run's items, numbered, each with its plain-words reason and its evidence."""
    workspace = context.workspace
    by_step = {step.step: step for step in steps}
    index = {record.item_id: position for position, record in enumerate(workspace.records)}
    personal = len(context.history.items) > 0
    listed = []
    for position, ranked in enumerate(run.items, start=1):
        item = index[ranked.item_id]
        evidence = _evidence(context, item, by_step, rule_steps)
        record = workspace.records[item]
        rating = workspace.mean_ratings[item]
        listed.append(
            ListedItem(
                position=position,
                item_id=record.item_id,
                title=record.label,
                year=record.year,
                genres=list(record.genres),
                why=plain_reason(evidence, personal, workspace.pack.item_noun),
                evidence=evidence,
                mean_rating=None if np.isnan(rating) else round(float(rating), 2),
                interactions=int(workspace.popularity[item]),
            )
        )
    return listed


def _evidence(context: ToolContext, item: int, by_step: dict[int, AgentStep], rule_steps: int) -> list[Evidence]:
    found = []
    for gathered in context.pool.lists:
        if item not in gathered.items:
            continue
        step = by_step.get(gathered.step)
        found.append(
            Evidence(
                tool=gathered.tool,
                arguments={k: v for k, v in gathered.arguments.items() if v not in (None, "", [])},
                call=gathered.describe(),
                rank=gathered.items.index(item) + 1,
                step=gathered.step,
                origin="rule" if gathered.step <= rule_steps else "model",
                note=step.thought if step is not None else "",
            )
        )
    if not found:
        found.append(Evidence(tool="fill", call="the recommender's list", rank=0, step=0, origin="fill"))
    return sorted(found, key=lambda e: (e.rank, e.step))


def plain_reason(evidence: Sequence[Evidence], personal: bool, noun: str) -> str:
    """The best one or two lists an item came from, as a person would say it."""
    phrases = list(dict.fromkeys(_phrase(e, personal, noun) for e in evidence))
    shown = "; ".join(phrases[:SHOWN_REASONS])
    more = len(evidence) - SHOWN_REASONS
    return shown + (f" (and {more} more {'list' if more == 1 else 'lists'})" if more > 0 else "")


def _phrase(evidence: Evidence, personal: bool, noun: str) -> str:
    arguments, rank = evidence.arguments, f"#{evidence.rank}"
    if evidence.tool == "fill":
        return "filled in from the recommender" + (" for you" if personal else " (popular)")
    if evidence.tool == "retrieve":
        value = arguments.get("value")
        if value:
            return f"a top {value} pick for you ({rank})" if personal else f"popular {value} {noun} ({rank})"
        return f"the recommender's {rank} pick for you" if personal else f"among the most popular ({rank})"
    if evidence.tool == "similar":
        return f"similar to {arguments.get('item', 'an item')} ({rank})"
    if evidence.tool == "search":
        return f"matches \u201c{arguments.get('text', '')}\u201d ({rank})"
    if evidence.tool.startswith("rank"):
        return f"{evidence.tool} ({rank})"
    return f"{evidence.call} ({rank})"
