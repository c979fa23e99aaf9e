"""Deliberate thread counts for BLAS, torch, faiss and LightGBM on a small machine.

Each library otherwise sizes its own pool to the core count, and on two cores the
pools fight each other. With 2 threads instead of 1, faiss search (single queries
most of all) and LightGBM LambdaRank run slower, EASE's Gram inverse and SASRec epochs
faster (figures: bench/README.md, "Threads: 1 vs 2"). The defaults below follow;
override them with ``ThreadPlan`` or the ``AGENTREC_THREADS`` environment variable
(one number for every library).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from threadpoolctl import threadpool_limits


@dataclass(frozen=True)
class ThreadPlan:
    """Threads per library; ``lightgbm`` is passed as its ``num_threads`` parameter."""

    blas: int
    torch: int
    faiss: int
    lightgbm: int

    @classmethod
    def uniform(cls, threads: int) -> ThreadPlan:
        return cls(blas=threads, torch=threads, faiss=threads, lightgbm=threads)


def default_plan() -> ThreadPlan:
    """The plan measured best on two cores, or ``AGENTREC_THREADS`` for every library."""
    configured = os.environ.get("AGENTREC_THREADS")
    if configured:
        return ThreadPlan.uniform(max(1, int(configured)))
    cores = os.cpu_count() or 1
    # dense BLAS (EASE) and torch matmuls scale with cores; faiss/LightGBM on small
    # batches lose to thread start-up and contention, so they stay single-threaded.
    return ThreadPlan(blas=cores, torch=cores, faiss=1, lightgbm=1)


def pin_threads(plan: ThreadPlan | None = None) -> ThreadPlan:
    """Apply ``plan`` (default: ``default_plan()``) process-wide; returns the plan applied.

    torch is only configured if it is already imported, so pinning never pays its import.
    """
    global _PINNED
    plan = plan or default_plan()
    _PINNED = plan
    threadpool_limits(limits=plan.blas, user_api="blas")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(plan.torch)
    # faiss last: when torch was imported first, faiss's OpenMP calls resolve to torch's
    # libgomp, so whichever is set last holds for both, and faiss's single-query search
    # suffers most from a second thread (bench/README.md). Torch models pin their own count in fit.
    import faiss

    faiss.omp_set_num_threads(plan.faiss)
    return plan


_PINNED: ThreadPlan | None = None


def repin_torch() -> None:
    """Give torch the pinned plan's thread count if torch was imported after ``pin_threads``.

    Commands pin before they know whether a torch model will load; without this, a
    worker asked to use one thread would run SASRec on every core, and single-user
    scoring slows down by an order of magnitude under load (bench/README.md).
    """
    if _PINNED is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(_PINNED.torch)


@contextmanager
def limited_threads(threads: int) -> Iterator[None]:
    """Temporarily run BLAS/OpenMP, faiss and torch with ``threads`` threads (for benchmarks)."""
    import faiss

    previous_faiss = faiss.omp_get_max_threads()
    torch = sys.modules.get("torch")
    previous_torch = torch.get_num_threads() if torch else None
    faiss.omp_set_num_threads(threads)
    if torch:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        faiss.omp_set_num_threads(previous_faiss)
        if torch and previous_torch:
            torch.set_num_threads(previous_torch)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run torch ops with ``threads`` intra-op threads, then restore the process setting.

    A model that knows its own best count (small batches: 1) sets it for its ``fit``
    only, so the plan ``pin_threads`` applied stays in force for everything else.
    ``None`` keeps the current setting.
    """
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
