"""Where sessions run: in this process, in a local process pool, or on Ray actors.

Every runner takes a round's session tasks and hands each finished session to a
callback in the parent, which writes its events. Runners differ only in
transport: each worker opens its own ``SimWorld`` from the same spec, and
sessions are seeded by (seed, arm, round, user), so the event log is the same
whatever the runner or the number of workers. Within each process the world
keeps ``WorldSpec.concurrency`` sessions in flight (threads, for a remote LLM).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from agentrec.core.errors import InvalidParameter
from agentrec.core.worker_backends import BACKENDS as BACKENDS  # the simulate command's choices
from agentrec.core.worker_backends import check_backend, start_workers
from agentrec.llm.worker_hooks import LLM_WORKERS
from agentrec.sim.world import SessionOutcome, SessionTask, SimWorld, WorldSpec

logger = logging.getLogger(__name__)

OnOutcome = Callable[[SessionOutcome], None]
# Batches small enough that progress stays live, large enough that IPC is cheap.
_BATCHES_PER_WORKER = 8
_MAX_BATCH = 64


class SessionRunner(Protocol):
    def run(self, tasks: Sequence[SessionTask], on_outcome: OnOutcome) -> None: ...

    def close(self) -> None: ...


def batches(tasks: Sequence[SessionTask], workers: int) -> Iterator[list[SessionTask]]:
    size = max(1, min(_MAX_BATCH, len(tasks) // max(1, workers * _BATCHES_PER_WORKER)))
    for start in range(0, len(tasks), size):
        yield list(tasks[start : start + size])


class InProcessRunner:
    """Runs sessions in the parent's own world, one by one or ``--concurrency`` at once, in task order."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world

    def run(self, tasks: Sequence[SessionTask], on_outcome: OnOutcome) -> None:
        for outcome in self.world.run_sessions(tasks):
            on_outcome(outcome)

    def close(self) -> None:
        return None


_WORKER_WORLD: SimWorld | None = None


def _open_worker_world(spec: WorldSpec) -> None:
    global _WORKER_WORLD
    _WORKER_WORLD = SimWorld.open(spec)


def _run_batch(tasks: list[SessionTask]) -> list[SessionOutcome]:
    if _WORKER_WORLD is None:
        raise RuntimeError("worker world not opened")
    return list(_WORKER_WORLD.run_sessions(tasks))


class WorkerRunner:
    """Workers on a backend of ``core.worker_backends`` (a spawned pool, or Ray actors), each opening the
    world once from the spec; sessions go to them in batches."""

    def __init__(self, backend: str, spec: WorldSpec, workers: int) -> None:
        self.workers = workers
        self.group = start_workers(backend, workers, _open_worker_world, (spec,), LLM_WORKERS)

    def run(self, tasks: Sequence[SessionTask], on_outcome: OnOutcome) -> None:
        for _, outcomes in self.group.results(_run_batch, list(batches(tasks, self.workers))):
            for outcome in outcomes:
                on_outcome(outcome)

    def close(self) -> None:
        self.group.close()


def check_runner_options(backend: str, workers: int) -> None:
    check_backend(backend)
    if workers < 1:
        raise InvalidParameter("workers", f"must be at least 1, got {workers}")


def make_runner(backend: str, workers: int, spec: WorldSpec, world: SimWorld) -> SessionRunner:
    """The runner for ``backend``; one local worker runs in this process."""
    check_runner_options(backend, workers)
    if backend == "local" and workers == 1:
        return InProcessRunner(world)
    return WorkerRunner(backend, spec, workers)
