"""Paired runs spread over worker processes (or Ray actors), each with its own LLM.

One llama.cpp thread per core is how the embedded model runs fastest here
(``llm/local.py``), so W workers answer about W pairs at a time. Both halves
of a pair stay in one worker: they share the prompt up to the target, which
that worker's llama.cpp keeps evaluated. Workers share the response cache
(a DuckDB file that each opens per operation), so a rerun is free whatever
the worker count. The defence has been applied before the catalogs reach a
worker: calibration and paraphrases are computed once, in the parent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agentrec.audit.catalog import Catalog, ProductOrder
from agentrec.audit.paired_run import PairOutcome, evaluate_pair
from agentrec.audit.prompt import RecommenderPrompt
from agentrec.audit.recommender import AuditedRecommender
from agentrec.core.worker_backends import start_workers
from agentrec.llm.cache import CacheMode
from agentrec.llm.worker_hooks import LLM_WORKERS

PairProgress = Callable[[int, int], None]  # (pairs done, pairs in all)


@dataclass(frozen=True)
class ChatSpec:
    """How a worker builds its own chat model: the CLI's --llm, --api-base and --cache."""

    llm: str = "local"
    api_base: str | None = None
    cache: CacheMode = "on"


@dataclass(frozen=True)
class PairJob:
    """Everything a worker needs, picklable: both catalogs as shown, the target and the prompt."""

    clean: Catalog
    planted: Catalog
    target: str
    prompt: RecommenderPrompt
    max_tokens: int
    chat: ChatSpec


@dataclass(frozen=True)
class CallCounts:
    """Calls made for one pair: asked for, and actually computed (not found in a cache)."""

    requested: int
    computed: int


_RECOMMENDER: AuditedRecommender | None = None
_JOB: PairJob | None = None


def run_pairs_in_workers(
    job: PairJob,
    orders: list[ProductOrder],
    workers: int,
    progress: PairProgress | None = None,
    backend: str = "local",
) -> tuple[list[PairOutcome], CallCounts]:
    """One paired run per order in ``workers`` processes (Ray actors for ``backend`` ray); outcomes in the
    order of ``orders``."""
    results: dict[int, PairOutcome] = {}
    requested = computed = 0
    with start_workers(backend, workers, _start, (job,), LLM_WORKERS) as group:
        for index, (outcome, counts) in group.results(_run_one, orders):
            results[index] = outcome
            requested += counts.requested
            computed += counts.computed
            if progress is not None:
                progress(len(results), len(orders))
    return [results[index] for index in range(len(orders))], CallCounts(requested, computed)


def _start(job: PairJob) -> None:
    global _RECOMMENDER, _JOB
    from agentrec.llm.factory import make_chat_model

    chat = make_chat_model(job.chat.llm, job.chat.api_base, job.chat.cache)
    _RECOMMENDER = AuditedRecommender(chat, job.prompt, job.max_tokens)
    _JOB = job


def _run_one(order: ProductOrder) -> tuple[PairOutcome, CallCounts]:
    assert _RECOMMENDER is not None and _JOB is not None
    recommender = _RECOMMENDER
    requested, computed = recommender.requested_calls(), recommender.computed_calls()
    outcome = evaluate_pair(recommender, _JOB.clean, _JOB.planted, _JOB.target, order)
    return outcome, CallCounts(recommender.requested_calls() - requested, recommender.computed_calls() - computed)
