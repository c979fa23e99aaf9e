"""Worker processes for the long batch jobs (agent-eval, audit pairs, simulation).

Every pool here is spawned (no state inherited from the parent) and every
worker exits when the process that started it dies: a killed evaluation must
not leave orphans computing work nobody will collect.

What else a worker does is the business of the layer that starts the pool, so
it comes in as ``WorkerHooks`` (core knows nothing above it): the LLM layer's
hooks give each worker its share of the cores and send back, with each result,
the LLM calls the worker metered, which join the parent's usage.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class WorkerHooks:
    """How a layer above core prepares each worker and meters its work; this base does neither.

    An instance travels to every worker, so it must pickle: subclass at module level, keep no state.
    """

    def prepare(self, workers: int) -> None:
        """In each worker, before the pool's initialiser; ``workers`` is the size of the pool."""

    def measure(self, work: Callable[[Item], Result], item: Item) -> tuple[Result, Any]:
        """In a worker: ``work(item)`` and what it metered, which travels back with the result."""
        return work(item), None

    def receive(self, metered: Any) -> None:
        """In the parent, once per result: take in what ``measure`` metered in the worker."""


NO_HOOKS = WorkerHooks()


class WorkerPool(ProcessPoolExecutor):
    """A spawned process pool that remembers the hooks its workers were prepared with."""

    def __init__(
        self, workers: int, initializer: Callable[..., object], initargs: tuple[Any, ...], hooks: WorkerHooks
    ) -> None:
        super().__init__(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_prepare_worker,
            initargs=(os.getpid(), workers, hooks, initializer, initargs),
        )
        self.hooks = hooks

    def results(self, work: Callable[[Item], Result], items: Sequence[Item]) -> Iterator[tuple[int, Result]]:
        """``run_in_workers`` on this pool: the contract every backend of ``worker_backends`` keeps."""
        return run_in_workers(self, work, items)

    def close(self) -> None:
        """Stop the workers, dropping the items not yet started."""
        self.shutdown(cancel_futures=True)


def spawn_pool(
    workers: int,
    initializer: Callable[..., object],
    initargs: tuple[Any, ...] = (),
    hooks: WorkerHooks = NO_HOOKS,
) -> WorkerPool:
    """A spawned pool of ``workers`` processes; each is prepared by ``hooks``, then runs ``initializer(*initargs)``."""
    return WorkerPool(workers, initializer, initargs, hooks)


def run_in_workers(
    pool: WorkerPool, work: Callable[[Item], Result], items: Sequence[Item]
) -> Iterator[tuple[int, Result]]:
    """``(index, work(items[index]))`` as each finishes; on any error or interrupt the rest is cancelled."""
    futures = {pool.submit(pool.hooks.measure, work, item): index for index, item in enumerate(items)}
    try:
        for future in as_completed(futures):
            result, metered = future.result()
            pool.hooks.receive(metered)
            yield futures[future], result
    finally:
        # An error, an interrupt or a consumer that stops early must not leave work queued.
        for future in futures:
            future.cancel()


def _prepare_worker(
    parent: int, workers: int, hooks: WorkerHooks, initializer: Callable[..., object], initargs: tuple[Any, ...]
) -> None:
    exit_with_parent(parent)
    hooks.prepare(workers)
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
