"""The LLM layer's worker hooks: each worker takes its core share, and its metered calls join the parent's usage."""

from __future__ import annotations

import os

from agentrec.core.worker_pool import run_in_workers, spawn_pool
from agentrec.llm.records import AssistantTurn, Usage
from agentrec.llm.usage import run_usage
from agentrec.llm.worker_hooks import LLM_WORKERS


def test_workers_get_their_share_of_the_cores_for_the_llm() -> None:
    with spawn_pool(2, os.getpid, hooks=LLM_WORKERS) as pool:
        shares = {value for _, value in run_in_workers(pool, os.getenv, ["AGENTREC_LLM_THREADS"] * 2)}
    assert shares == {str(max(1, (os.cpu_count() or 1) // 2))}


def _pinned_faiss_threads(_: object) -> int:
    import faiss

    return int(faiss.omp_get_max_threads())


def test_workers_run_the_recommenders_single_threaded() -> None:
    with spawn_pool(2, os.getpid, hooks=LLM_WORKERS) as pool:
        threads = {value for _, value in run_in_workers(pool, _pinned_faiss_threads, [0, 1])}
    assert threads == {1}


def _two_metered_calls(tokens: int) -> int:
    """Work that meters two LLM calls in the worker's own process-wide meter."""
    for _ in range(2):
        run_usage().record(AssistantTurn(text="ok", usage=Usage(prompt_tokens=tokens), model="fake"))
    return tokens


def test_calls_metered_in_workers_join_the_parents_usage() -> None:
    meter = run_usage()
    before_calls, before_tokens = meter.calls, meter.prompt_tokens
    with spawn_pool(2, os.getpid, hooks=LLM_WORKERS) as pool:
        results = dict(run_in_workers(pool, _two_metered_calls, [10, 20, 30]))
    assert results == {0: 10, 1: 20, 2: 30}
    assert meter.calls - before_calls == 6
    assert meter.prompt_tokens - before_tokens == 2 * (10 + 20 + 30)
