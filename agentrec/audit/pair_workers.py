"""Paired runs spread over worker processes, each with its own LLM.

One llama.cpp thread per core is how the embedded model runs fastest here
(``llm/local.py``), so W workers answer about W pairs at a time. Both halves
of a pair stay in one worker: they share the prompt up to the target, which
that worker's llama.cpp keeps evaluated. Workers share the response cache
(a DuckDB file that each opens per operation), so a rerun is free whatever
the worker count. The defence has been applied before the catalogs reach a
worker: calibration and paraphrases are computed once, in the parent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TYPE_CHECKING

from agentrec.audit.catalog import Catalog, ProductOrder
from agentrec.audit.prompt import RecommenderPrompt
from agentrec.audit.recommender import AuditedRecommender
from agentrec.llm.cache import CacheMode

if TYPE_CHECKING:
    from agentrec.audit.evaluation import PairOutcome

PairProgress = Callable[[int, int], None]


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
    job: PairJob, orders: list[ProductOrder], workers: int, progress: PairProgress | None = None
) -> tuple[list[PairOutcome], CallCounts]:
    """One paired run per order in ``workers`` processes; outcomes in the order of ``orders``."""
    results: dict[int, PairOutcome] = {}
    requested = computed = 0
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_start, initargs=(job, workers)
    ) as pool:
        futures = {pool.submit(_run_one, order): index for index, order in enumerate(orders)}
        try:
            for future in as_completed(futures):
                outcome, counts = future.result()
                results[futures[future]] = outcome
                requested += counts.requested
                computed += counts.computed
                if progress is not None:
                    progress(len(results), len(orders))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [results[index] for index in range(len(orders))], CallCounts(requested, computed)


def _start(job: PairJob, workers: int) -> None:
    global _RECOMMENDER, _JOB
    # Split the cores between workers: llama.cpp threads stall when they share a core.
    os.environ.setdefault("AGENTREC_LLM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    from agentrec.llm.factory import make_chat_model

    chat = make_chat_model(job.chat.llm, job.chat.api_base, job.chat.cache)
    _RECOMMENDER = AuditedRecommender(chat, job.prompt, job.max_tokens)
    _JOB = job


def _run_one(order: ProductOrder) -> tuple[PairOutcome, CallCounts]:
    from agentrec.audit.evaluation import evaluate_pair  # evaluation imports this module

    assert _RECOMMENDER is not None and _JOB is not None
    recommender = _RECOMMENDER
    requested, computed = recommender.requested_calls(), recommender.computed_calls()
    outcome = evaluate_pair(recommender, _JOB.clean, _JOB.planted, _JOB.target, order)
    return outcome, CallCounts(recommender.requested_calls() - requested, recommender.computed_calls() - computed)
