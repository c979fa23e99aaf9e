"""The agent's tool-call overhead: everything a step costs except the LLM (issue target: median < 2 ms).

Run:  AGENTREC_DATA_HOME=/work/shared/data python bench/agent_tools.py --backbone sasrec
      AGENTREC_DATA_HOME=/work/shared/data python bench/agent_tools.py --backbone ease
      (with AGENTREC_THREADS=1 to run every library on one thread, the plan agent-eval's workers ask for)

Each run adds its results, keyed by backbone (and AGENTREC_THREADS when set), to
``bench/out/agent_tools.json`` and rewrites ``bench/out/agent_tools.md`` (the
README tables) from every run in the JSON.

For a seeded sample of ml-100k test users, one agent-like sequence of
``registry.call(name, arguments, context)`` runs per user, each call timed from the
outside (argument validation included). The first call of a user computes the
backbone's full score vector (a SASRec forward pass), so it is reported apart from
the later calls, which reuse it. The fusion step (``finalise`` with lgbm and rrf)
and ``ToolContext`` creation are timed too.

Peer, in the same process: the same attribute-filtered retrieval done by asking
DuckDB for the attribute's items (``catalog.filter_mask``) and then the model
(``model.recommend(mask=...)``), against the agent's precomputed masks and cached
scores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agentrec.agent.context import ToolContext
from agentrec.agent.evaluation import sample_users
from agentrec.agent.policies import RunSettings, finalise
from agentrec.agent.service import AgentService, open_agent
from agentrec.data.attribute_filter import AttributeFilter
from agentrec.recsys.threads import pin_threads

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
FIRST_CALL = "retrieve, unconditioned (first call: full backbone scores)"
SEARCH_TEXTS = ("space adventure with aliens", "romantic comedy in new york", "gangster crime drama", "animated film")


Arguments = dict[str, Any] | Callable[[], dict[str, Any]]


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with torch at ``threads`` threads (None: leave the plan alone), then restore."""
    torch = sys.modules.get("torch")
    if threads is None or torch is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def torch_count() -> int | str:
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else "no torch"


class Timings:
    """Milliseconds per label, in insertion order."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self.hints: dict[str, list[str]] = {}

    def add(self, label: str, milliseconds: float) -> None:
        self.samples.setdefault(label, []).append(milliseconds)

    def summary(self) -> dict[str, dict[str, float]]:
        return {label: _stats(values) for label, values in self.samples.items()}


def _stats(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {
        "n": len(values),
        "median_ms": round(float(np.median(array)), 4),
        "p90_ms": round(float(np.percentile(array, 90)), 4),
        "mean_ms": round(float(array.mean()), 4),
        "max_ms": round(float(array.max()), 4),
    }


def _timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, (time.perf_counter() - started) * 1000.0


def tool_calls(service: AgentService, context: ToolContext, timings: Timings, record: bool = True) -> None:
    """One agent-like sequence of tool calls for ``context.user``, each timed around ``registry.call``."""
    registry = service.registry
    workspace = service.workspace
    attributes = workspace.attributes
    history = context.history.items
    genre = attributes.top_values("genre", history, 1)[0]
    decade = attributes.top_values("decade", history, 1)[0]
    last = context.record(int(history[-1]))
    text = SEARCH_TEXTS[context.user % len(SEARCH_TEXTS)]
    calls: list[tuple[str, str, Arguments]] = [
        (FIRST_CALL, "retrieve", {"k": 20}),
        ("retrieve, unconditioned (later call)", "retrieve", {"k": 10}),
        ("retrieve by genre", "retrieve", {"attribute": "genre", "value": genre, "k": 20}),
        ("retrieve by decade", "retrieve", {"attribute": "decade", "value": decade, "k": 20}),
        ("search (MiniLM query embedding + faiss)", "search", {"text": text, "k": 20}),
        ("search, torch (and its MKL) at 1 thread for the call", "search", {"text": text, "k": 19}),
        ("similar, item by id", "similar", {"item": last.item_id, "k": 20}),
        ("similar, item by title (catalog lookup)", "similar", {"item": last.label, "k": 15}),
        ("rank by score", "rank", {"by": "score", "k": 20}),
        ("rank by popularity", "rank", {"by": "popularity", "k": 20}),
        ("rank by recency", "rank", {"by": "recency", "k": 20}),
        ("rank by similarity (first use: text scores)", "rank", {"by": "similarity", "k": 20}),
        ("item_info, 3 ids", "item_info", lambda: {"items": _pooled_ids(context, 3)}),
        ("item_info, 1 title (catalog lookup)", "item_info", {"items": [last.label]}),
        ("filter (genre + min rating)", "filter", {"genres": [genre], "min_rating": 2.5}),
        ("finish", "finish", {}),
    ]
    for step, (label, name, given) in enumerate(calls, start=1):
        context.step = step
        arguments = given() if callable(given) else given  # some need the pool as it is by then
        with torch_threads(1 if "1 thread" in label else None):
            outcome, milliseconds = _timed(lambda: registry.call(name, arguments, context))  # noqa: B023
        if outcome.retry_hint is not None:
            # A hint is a cheap early return: keep it out of the tool's timing, but say so.
            timings.hints.setdefault(label, []).append(outcome.retry_hint)
            continue
        if record:
            timings.add(label, milliseconds)


def _pooled_ids(context: ToolContext, n: int) -> list[str]:
    return [context.record(int(i)).item_id for i in context.pool.items()[:n]]


def fusion_calls(service: AgentService, context: ToolContext, timings: Timings) -> None:
    """``finalise`` (fuse, ground, fill, record) on the pool the tool calls gathered."""
    settings = service.settings
    _, lgbm_ms = _timed(lambda: finalise(context, settings, "agent", trained=service.trained))
    _, rrf_ms = _timed(lambda: finalise(context, replace(settings, fusion="rrf"), "agent"))
    timings.add("finalise, fusion lgbm", lgbm_ms)
    timings.add("finalise, fusion rrf", rrf_ms)


def peer_calls(service: AgentService, user: int, timings: Timings, agreement: list[bool]) -> None:
    """The same genre-filtered top-20: DuckDB mask + model.recommend vs precomputed mask + cached scores."""
    workspace = service.workspace
    catalog = workspace.store.catalog
    model = workspace.models.backbone
    context = ToolContext.for_user(workspace, user, service.settings.seed)
    genre = workspace.attributes.top_values("genre", context.history.items, 1)[0]
    context.scores("backbone")  # the agent computes these once per user, on its first call
    outcome, agent_ms = _timed(
        lambda: service.registry.call("retrieve", {"attribute": "genre", "value": genre, "k": 20}, context)
    )
    spec = AttributeFilter(genres_any=[genre])
    mask, sql_ms = _timed(lambda: catalog.filter_mask(spec))
    peer, recommend_ms = _timed(lambda: model.recommend(user, 20, mask=mask))
    _, lookup_ms = _timed(lambda: workspace.attributes.mask("genre", genre))
    timings.add("agent: retrieve by genre (precomputed mask, cached scores)", agent_ms)
    timings.add("peer: DuckDB filter_mask + model.recommend(mask)", sql_ms + recommend_ms)
    timings.add("peer part: DuckDB filter_mask (SQL)", sql_ms)
    timings.add("peer part: model.recommend(mask) (scores the user again)", recommend_ms)
    timings.add("agent part: precomputed mask lookup", lookup_ms)
    variants = [("torch at the plan's threads", None), ("torch at 1 thread", 1)]
    if user % 2:
        variants.reverse()  # alternate which runs first, so neither gets the warmer caches
    for label, threads in variants:
        with torch_threads(threads):
            _, score_ms = _timed(lambda: model.score([user]))
        timings.add(f"backbone full scores for one user, {label}", score_ms)
    ours = [item.item_id for item in outcome.result.items] if outcome.result is not None else []
    theirs = [context.record(item).item_id for item, _ in peer]
    agreement.append(set(ours) == set(theirs))


def warm_up(service: AgentService, users: list[int]) -> float:
    """Build every attribute mask and load lazy pieces (MiniLM, faiss index) before timing; returns ms."""
    attributes = service.workspace.attributes
    started = time.perf_counter()
    for name in attributes.names:
        for value in attributes.values(name):
            attributes.mask(name, value)
    masks_ms = (time.perf_counter() - started) * 1000.0
    scratch = Timings()
    for user in users[:3]:
        context = ToolContext.for_user(service.workspace, user, service.settings.seed)
        tool_calls(service, context, scratch, record=False)
        fusion_calls(service, context, scratch)
    return masks_ms


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Open the agent, warm it up, and time every step for the sampled users."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    plan = pin_threads()
    service, open_ms = _timed(lambda: open_agent(args.dataset, RunSettings(), backbone=args.backbone))
    pin_threads(plan)  # torch is imported by now; pin it too
    users = sample_users(service, args.users, args.seed)
    others = [u for u in service.workspace.evaluable_users().tolist() if u not in users]
    masks_ms = warm_up(service, others)
    timings, peer, agreement = Timings(), Timings(), []
    for user in users:
        context, context_ms = _timed(lambda: ToolContext.for_user(service.workspace, user, service.settings.seed))  # noqa: B023
        timings.add("ToolContext.for_user", context_ms)
        tool_calls(service, context, timings)
        fusion_calls(service, context, timings)
        peer_calls(service, user, peer, agreement)
    attributes = service.workspace.attributes
    return {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.node()}, {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores",
        "threads": plan.__dict__ | {"torch_now": torch_count()},
        "dataset": args.dataset,
        "backbone": service.workspace.models.backbone.name,
        "models": [model.name for model in service.workspace.models.all()],
        "users": len(users),
        "seed": args.seed,
        "open_agent_s": round(open_ms / 1000.0, 2),
        "attribute_masks_built": sum(len(attributes.values(name)) for name in attributes.names),
        "attribute_masks_build_ms": round(masks_ms, 2),
        "tools": timings.summary(),
        "hints": {label: len(hints) for label, hints in timings.hints.items()},
        "overall": overall(timings),
        "peer": peer_summary(peer, agreement),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def overall(timings: Timings) -> dict[str, float]:
    """Medians over every tool call, with and without each user's first call."""
    later = [ms for label, values in timings.samples.items() if _is_tool_call(label) for ms in values]
    first = timings.samples[FIRST_CALL]
    return {
        "tool_calls_later_median_ms": round(float(np.median(later)), 4),
        "tool_calls_later_p90_ms": round(float(np.percentile(later, 90)), 4),
        "tool_calls_all_median_ms": round(float(np.median([*later, *first])), 4),
        "first_call_median_ms": round(float(np.median(first)), 4),
        "target_median_ms": 2.0,
    }


def peer_summary(peer: Timings, agreement: list[bool]) -> dict[str, Any]:
    summary = peer.summary()

    def median(label: str) -> float:
        return summary[label]["median_ms"]

    return {
        "timings": summary,
        "ratio_peer_total_over_agent": round(
            median("peer: DuckDB filter_mask + model.recommend(mask)")
            / median("agent: retrieve by genre (precomputed mask, cached scores)"),
            1,
        ),
        "ratio_sql_mask_over_precomputed_mask": round(
            median("peer part: DuckDB filter_mask (SQL)") / median("agent part: precomputed mask lookup"), 1
        ),
        "same_items_share": round(float(np.mean(agreement)), 4),
    }


def _is_tool_call(label: str) -> bool:
    """A ``registry.call`` the agent makes, other than a user's first (not the context, finalise or a check)."""
    extra = label == FIRST_CALL or "1 thread" in label
    return not extra and not label.startswith(("finalise", "ToolContext"))


def markdown(results: dict[str, dict[str, Any]]) -> str:
    """The README tables: one column pair (median, p90) per run in the JSON."""
    names = sorted(results)
    labels = list(dict.fromkeys(label for run in results.values() for label in run["tools"]))
    shown = [name.replace(", AGENTREC_THREADS=", " threads=") for name in names]
    head = "| step | " + " | ".join(f"{n} median ms | {n} p90 ms" for n in shown) + " |"
    lines = [head, "|---|" + "---:|---:|" * len(names)]
    for label in labels:
        cells = []
        for name in names:
            stats = results[name]["tools"].get(label)
            cells += [f"{stats['median_ms']:.3f}", f"{stats['p90_ms']:.3f}"] if stats else ["-", "-"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    overall = [
        ("**all tool calls but the first, median**", "tool_calls_later_median_ms"),
        ("all tool calls but the first, p90", "tool_calls_later_p90_ms"),
        ("all tool calls including the first, median", "tool_calls_all_median_ms"),
    ]
    for title, key in overall:
        cells = []
        for name in names:
            cells += [f"{results[name]['overall'][key]:.3f}", ""]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines += ["", "Peer (same genre-filtered top-20 per user, same process):", ""]
    peer_labels = list(dict.fromkeys(label for run in results.values() for label in run["peer"]["timings"]))
    lines += [head, lines[1]]
    for label in peer_labels:
        cells = []
        for name in names:
            stats = results[name]["peer"]["timings"].get(label)
            cells += [f"{stats['median_ms']:.3f}", f"{stats['p90_ms']:.3f}"] if stats else ["-", "-"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for title, key in (
        ("ratio peer total / agent (medians)", "ratio_peer_total_over_agent"),
        ("ratio SQL mask / precomputed mask (medians)", "ratio_sql_mask_over_precomputed_mask"),
        ("same items in both lists (share of users)", "same_items_share"),
    ):
        cells = []
        for name in names:
            cells += [f"{results[name]['peer'][key]}", ""]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="sasrec", help="model behind retrieve (default: sasrec, the pack's)")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--users", type=int, default=100, help="seeded sample of test users")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = measure(args)
    OUT.mkdir(exist_ok=True)
    path = OUT / "agent_tools.json"
    everything: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    threads = os.environ.get("AGENTREC_THREADS")
    everything[result["backbone"] + (f", AGENTREC_THREADS={threads}" if threads else "")] = result
    path.write_text(json.dumps(everything, indent=2) + "\n")
    (OUT / "agent_tools.md").write_text(markdown(everything))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
