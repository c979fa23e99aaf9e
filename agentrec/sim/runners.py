"""Where sessions run: in this process, in a local process pool, or on Ray actors.

Every runner takes a round's session tasks and hands each finished session to a
callback in the parent, which writes its events. Runners differ only in
transport: each worker opens its own ``SimWorld`` from the same spec, and
sessions are seeded by (seed, arm, round, user), so the event log is the same
whatever the runner or the number of workers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from agentrec.core.errors import ConfigError, InvalidParameter
from agentrec.core.worker_pool import run_in_workers, spawn_pool
from agentrec.llm.worker_hooks import LLM_WORKERS
from agentrec.sim.world import SessionOutcome, SessionTask, SimWorld, WorldSpec

logger = logging.getLogger(__name__)

OnOutcome = Callable[[SessionOutcome], None]
BACKENDS = ("local", "ray")
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
    """Runs sessions one by one in the parent's own world."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world

    def run(self, tasks: Sequence[SessionTask], on_outcome: OnOutcome) -> None:
        for task in tasks:
            on_outcome(self.world.run_session(task))

    def close(self) -> None:
        return None


_WORKER_WORLD: SimWorld | None = None


def _open_worker_world(spec: WorldSpec) -> None:
    global _WORKER_WORLD
    _WORKER_WORLD = SimWorld.open(spec)


def _run_batch(tasks: list[SessionTask]) -> list[SessionOutcome]:
    if _WORKER_WORLD is None:
        raise RuntimeError("worker world not opened")
    return [_WORKER_WORLD.run_session(task) for task in tasks]


class PoolRunner:
    """A local process pool; each worker opens the world once (spawned, so no state is inherited)."""

    def __init__(self, spec: WorldSpec, workers: int) -> None:
        self.workers = workers
        self.pool = spawn_pool(workers, _open_worker_world, (spec,), LLM_WORKERS)

    def run(self, tasks: Sequence[SessionTask], on_outcome: OnOutcome) -> None:
        for _, outcomes in run_in_workers(self.pool, _run_batch, list(batches(tasks, self.workers))):
            for outcome in outcomes:
                on_outcome(outcome)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


class RayRunner:
    """Ray actors, each holding one world.

    With ``RAY_ADDRESS`` set, the actors go to that cluster; otherwise ``ray.init``
    starts a local one sized to ``workers``. (Ray refuses a CPU count when joining
    an existing cluster, hence the two calls.)
    """

    def __init__(self, spec: WorldSpec, workers: int) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("backend ray needs the ray extra: pip install 'agentrec[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            if os.environ.get("RAY_ADDRESS"):
                ray.init(log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        actor_class = ray.remote(num_cpus=1)(WorldActor)
        self.actors = [actor_class.remote(spec) for _ in range(workers)]

    def run(self, tasks: Sequence[SessionTask], on_outcome: OnOutcome) -> None:
        ray = self.ray
        pending: dict[Any, int] = {}
        queue = list(batches(tasks, len(self.actors)))
        free = list(range(len(self.actors)))
        while queue or pending:
            while queue and free:
                actor = free.pop()
                pending[self.actors[actor].run_batch.remote(queue.pop(0))] = actor
            done, _ = ray.wait(list(pending), num_returns=1)
            for reference in done:
                free.append(pending.pop(reference))
                for outcome in ray.get(reference):
                    on_outcome(outcome)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)


class WorldActor:
    """The Ray actor body: one world, many session batches."""

    def __init__(self, spec: WorldSpec) -> None:
        _open_worker_world(spec)

    def run_batch(self, tasks: list[SessionTask]) -> list[SessionOutcome]:
        return _run_batch(tasks)


def check_runner_options(backend: str, workers: int) -> None:
    if backend not in BACKENDS:
        raise InvalidParameter("backend", f"must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if workers < 1:
        raise InvalidParameter("workers", f"must be at least 1, got {workers}")


def make_runner(backend: str, workers: int, spec: WorldSpec, world: SimWorld) -> SessionRunner:
    """The runner for ``backend``; one local worker runs in this process."""
    check_runner_options(backend, workers)
    if backend == "ray":
        return RayRunner(spec, workers)
    if workers == 1:
        return InProcessRunner(world)
    return PoolRunner(spec, workers)
