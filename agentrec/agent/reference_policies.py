"""The floor and the ceiling an LLM's tool choices are measured against.

* ``random``: the agent's own tools and step budget, with each call drawn
  uniformly from the tools' argument schemas (choices, ranges, titles from the
  user's history), then the same fusion. An LLM that chooses no better than this
  adds nothing by its choices.
* ``oracle``: the calls a user who knew the held-out item would make (its
  attribute values, the item of the history nearest to it), then the same
  fusion. It reads the answer: an upper bound for analysis, never a default.

Both follow the loop's rules where they apply: the pool is seeded the same way,
an invalid call gets one more draw (the loop's one re-ask) and is then skipped,
and ``finish`` ends the run.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from agentrec.agent.context import ToolContext
from agentrec.agent.fusion import FusionModels
from agentrec.agent.loop import FINISH
from agentrec.agent.policies import HEURISTIC_TOOLS, RunSettings, finalise, seed_pool
from agentrec.agent.registry import ToolRegistry
from agentrec.agent.trace import AgentRun, AgentStep

ORACLE_NOTE = "oracle reads the held-out item: an upper bound for analysis, not a recommender"
# Bounds for a number the schema leaves open: small lists and ratings, what a person would ask for.
_OPEN_INTEGER = (1, 20)
_OPEN_NUMBER = (0.0, 5.0)
_MAX_LIST = 3


def draw_arguments(schema: dict[str, Any], rng: np.random.Generator, titles: list[str]) -> dict[str, Any]:
    """Arguments drawn uniformly from a tool's JSON schema; an optional one is left out half the time."""
    required = set(schema.get("required", []))
    definitions = schema.get("$defs", {})
    drawn: dict[str, Any] = {}
    for name, field_schema in schema.get("properties", {}).items():
        if name not in required and rng.random() < 0.5:
            continue
        drawn[name] = _draw_value(field_schema, definitions, rng, titles)
    return drawn


def _draw_value(
    schema: dict[str, Any], definitions: dict[str, Any], rng: np.random.Generator, titles: list[str]
) -> Any:
    if "$ref" in schema:
        return _draw_value(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions, rng, titles)
    if "anyOf" in schema:
        branches = [branch for branch in schema["anyOf"] if branch.get("type") != "null"]
        return _draw_value(branches[int(rng.integers(len(branches)))], definitions, rng, titles)
    if "enum" in schema:
        return schema["enum"][int(rng.integers(len(schema["enum"])))]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "integer":
        low = int(schema.get("minimum", _OPEN_INTEGER[0]))
        high = int(schema.get("maximum", max(low, _OPEN_INTEGER[1])))
        return int(rng.integers(low, high + 1))
    if kind == "number":
        bottom = float(schema.get("minimum", _OPEN_NUMBER[0]))
        return float(rng.uniform(bottom, float(schema.get("maximum", max(bottom, _OPEN_NUMBER[1])))))
    if kind == "boolean":
        return bool(rng.integers(2))
    if kind == "array":
        low = int(schema.get("minItems", 1))
        size = int(rng.integers(low, max(low, min(int(schema.get("maxItems", _MAX_LIST)), _MAX_LIST)) + 1))
        return [_draw_value(schema.get("items", {}), definitions, rng, titles) for _ in range(size)]
    # A free string in these tools names an item or describes one: a title from the user's history.
    return titles[int(rng.integers(len(titles)))] if titles else ""


def run_random(
    context: ToolContext, registry: ToolRegistry, settings: RunSettings, trained: FusionModels | None
) -> AgentRun:
    """Up to ``max_steps`` uniformly drawn calls of the agent's tools, then the agent's fusion."""
    started = time.perf_counter()
    seed_pool(context, settings)
    rng = np.random.default_rng([settings.seed, context.user, 7])  # its own stream: tools draw from context.rng
    titles = [context.record(int(item)).label for item in context.history.items]
    names = list(registry.tools)
    schemas = {spec.name: spec.parameters for spec in registry.specs()}
    steps: list[AgentStep] = []
    skipped = 0
    for index in range(1, settings.max_steps + 1):
        context.step = index
        name = names[int(rng.integers(len(names)))]
        outcome = registry.call(name, draw_arguments(schemas[name], rng, titles), context)
        if outcome.result is None:  # the loop's one re-ask
            outcome = registry.call(name, draw_arguments(schemas[name], rng, titles), context)
        skipped += outcome.result is None
        steps.append(outcome.step(index, "random draw"))
        if name == FINISH and outcome.result is not None:
            break
    return finalise(context, settings, "random", trained=trained, steps=steps, skipped=skipped, started=started)


def oracle_calls(context: ToolContext, settings: RunSettings) -> list[tuple[str, dict[str, object]]]:
    """The calls that aim at the held-out item: its attribute values, then the history item nearest to it."""
    target = context.target()
    if target is None:
        return []
    attributes = context.workspace.attributes
    calls: list[tuple[str, dict[str, object]]] = [
        ("retrieve", {"attribute": name, "value": value, "k": settings.list_size})
        for name in attributes.names
        for value in sorted(attributes.of_item(name, target))
    ]
    nearest = _nearest_in_history(context, target)
    if nearest is not None:
        calls.append(("similar", {"item": context.record(nearest).item_id, "k": settings.list_size}))
    return calls[: settings.max_steps]


def _nearest_in_history(context: ToolContext, target: int) -> int | None:
    workspace = context.workspace
    if not len(context.history.items) or (workspace.models.similar is None and workspace.models.text is None):
        return None
    in_history = np.zeros(workspace.n_items, dtype=bool)
    in_history[context.history.items] = True
    nearest = workspace.similar_items(target, 1, in_history)
    return int(nearest[0]) if nearest.size else None


def run_oracle(context: ToolContext, settings: RunSettings, trained: FusionModels | None) -> AgentRun:
    """The answer-aware calls (``oracle_calls``), then the agent's fusion."""
    started = time.perf_counter()
    seed_pool(context, settings)
    steps: list[AgentStep] = []
    for index, (name, arguments) in enumerate(oracle_calls(context, settings), start=1):
        context.step = index
        steps.append(HEURISTIC_TOOLS.run_step(index, name, arguments, context, thought=ORACLE_NOTE))
    skipped = sum(step.status == "skipped" for step in steps)
    return finalise(context, settings, "oracle", trained=trained, steps=steps, skipped=skipped, started=started)
