"""Worker processes for the long batch jobs (agent-eval, audit pairs, simulation).

Every pool here is spawned (no state inherited from the parent) and every
worker, before its own initialiser runs:

- exits when the process that started it dies: a killed evaluation must not
  leave orphans computing work nobody will collect;
- takes its share of the cores for llama.cpp (threads stall when they share a
  core) and one thread for BLAS, faiss and LightGBM, since the workers already
  share the cores between them;
- sends back, with each result, the LLM calls it metered for that item, which
  join the parent's ``run_usage()``: a command's usage line counts its workers.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from agentrec.llm.usage import CallRecord

Item = TypeVar("Item")
Result = TypeVar("Result")


def spawn_pool(workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A spawned pool of ``workers`` processes, each prepared as above and then ``initializer(*initargs)``."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_prepare_worker,
        initargs=(os.getpid(), workers, initializer, initargs),
    )


def run_in_workers(
    pool: ProcessPoolExecutor, work: Callable[[Item], Result], items: Sequence[Item]
) -> Iterator[tuple[int, Result]]:
    """``(index, work(items[index]))`` as each finishes; on any error or interrupt the rest is cancelled."""
    from agentrec.llm.usage import run_usage

    futures = {pool.submit(_metered, work, item): index for index, item in enumerate(items)}
    try:
        for future in as_completed(futures):
            result, calls = future.result()
            run_usage().add(calls)
            yield futures[future], result
    finally:
        # An error, an interrupt or a consumer that stops early must not leave work queued.
        for future in futures:
            future.cancel()


def _metered(work: Callable[[Item], Result], item: Item) -> tuple[Result, list[CallRecord]]:
    from agentrec.llm.usage import run_usage

    meter = run_usage()
    before = len(meter.records)
    result = work(item)
    return result, meter.records[before:]


def _prepare_worker(parent: int, workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    exit_with_parent(parent)
    os.environ.setdefault("AGENTREC_LLM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    from agentrec.recsys.threads import ThreadPlan, pin_threads

    pin_threads(ThreadPlan.uniform(1))
    initializer(*initargs)


def exit_with_parent(parent: int, poll_seconds: float = 1.0) -> None:
    """End this process soon after ``parent``, the process that started it, dies (killed, not
    interrupted). The parent's pid is passed in rather than read here: a parent killed while this
    worker was still importing has already been replaced by init."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
