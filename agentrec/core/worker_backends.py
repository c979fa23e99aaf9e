"""Where the batch jobs' workers run: spawned processes on this machine, or Ray actors.

Both keep one contract (``WorkerGroup``): each worker is prepared by the caller's
hooks and initialiser once, ``results`` yields ``(index, result)`` as items finish,
and leaving the ``with`` block stops the workers. A job written against it (agent-eval,
audit pairs, simulation) gives the same results on either backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar, get_args

from agentrec.core.errors import InvalidParameter
from agentrec.core.ray_workers import RayWorkers, check_ray_backend
from agentrec.core.worker_pool import NO_HOOKS, WorkerHooks, spawn_pool

Item = TypeVar("Item")
Result = TypeVar("Result")

Backend = Literal["local", "ray"]
BACKENDS: tuple[str, ...] = get_args(Backend)
# --concurrency keeps items in flight in threads of one process, for a remote provider; Ray spreads processes.
RAY_WITHOUT_THREADS = "--concurrency and --backend ray do not combine: on Ray, --workers sets the actors"


class WorkerGroup(Protocol):
    """Workers that each hold their own state (a model, a world) and take items one at a time."""

    def results(self, work: Callable[[Item], Result], items: Sequence[Item]) -> Iterator[tuple[int, Result]]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None, /
    ) -> bool | None: ...


def check_backend(backend: str) -> None:
    """Refuse an unknown backend, and a Ray backend that cannot run here, before any work."""
    if backend not in BACKENDS:
        raise InvalidParameter("backend", f"must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "ray":
        check_ray_backend()


def runs_in_workers(backend: str, workers: int, items: int) -> bool:
    """Whether ``items`` go to workers: Ray, asked for by name, takes any; local processes pay off from two
    items and two workers (a single one runs in the caller's own process)."""
    if backend == "ray":
        return items > 0
    return workers > 1 and items > 1


def start_workers(
    backend: str,
    workers: int,
    initializer: Callable[..., object],
    initargs: tuple[Any, ...] = (),
    hooks: WorkerHooks = NO_HOOKS,
) -> WorkerGroup:
    """``workers`` workers on ``backend``, each prepared by ``hooks`` and then ``initializer(*initargs)``."""
    if backend == "ray":
        return RayWorkers(workers, initializer, initargs, hooks)
    return spawn_pool(workers, initializer, initargs, hooks)
