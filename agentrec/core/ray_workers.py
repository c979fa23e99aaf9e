"""Worker actors on Ray: the contract of ``worker_pool``'s spawned processes, on one machine or many.

With ``RAY_ADDRESS`` set the actors join that cluster; otherwise ``ray.init`` starts
a local one sized to the workers. Like a spawned worker, each actor is prepared by
the caller's ``WorkerHooks``, then runs its initialiser once (an LLM loads there),
and every result brings back what the hooks metered. An actor on another machine
inherits neither this process's environment nor its folder, so the ``AGENTREC_*``
settings travel with it and it works in the same folder when that exists there.
Provider keys do not travel (Ray would keep them in its records): a remote LLM's key
must be in the cluster's own environment.

Nothing outlives a killed driver: on a joined cluster Ray ends the actors of a job
whose driver is gone, and a local cluster is reaped by ``session_reaper``.
Bad setups fail before any work, in one line: ray missing, or no cluster answering
at ``RAY_ADDRESS`` (``ray.init`` itself would retry such an address for minutes).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from agentrec.core.errors import ConfigError, InvalidParameter
from agentrec.core.session_reaper import start_reaper
from agentrec.core.worker_pool import NO_HOOKS, WorkerHooks

Item = TypeVar("Item")
Result = TypeVar("Result")

_PROBE_SECONDS = 5.0
# ray.init's attempts at a cluster that answers but will not have us (a wrong auth token), about a second
# each; Ray's own default is 20. Only set when the environment does not choose.
_JOIN_ATTEMPTS_VARIABLE = "RAY_gcs_server_port_wait_time_s"
_JOIN_ATTEMPTS = "5"
_FORWARDED_PREFIX = "AGENTREC_"


def import_ray() -> Any:
    """The ``ray`` module, or a ``ConfigError`` saying how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise ConfigError("backend ray needs the ray extra: pip install 'agentrec[ray]'") from None


def check_ray_backend() -> None:
    """Fail fast, before any model loads: ray is installed, and a cluster answers at ``RAY_ADDRESS`` when set."""
    import_ray()
    address = os.environ.get("RAY_ADDRESS")
    if address:
        _probe(address)


def join_ray(workers: int) -> Any:
    """Ray, initialised in this process (joined to ``RAY_ADDRESS``, or started here) with CPUs for ``workers``."""
    ray = import_ray()
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            _join(ray, address)
        else:
            _start_local(ray, workers)
    cpus = float(ray.cluster_resources().get("CPU", 0))
    if cpus < workers:  # the actors past the cluster's CPUs would wait forever for one
        raise InvalidParameter("workers", f"needs {workers} CPUs on the Ray cluster, which has {cpus:g}")
    return ray


def _probe(address: str) -> None:
    target = _host_and_port(address)
    if target is None:  # Ray's own words ("auto", "local"): nothing to probe
        return
    try:
        with socket.create_connection(target, timeout=_PROBE_SECONDS):
            pass
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise ConfigError(f"RAY_ADDRESS={address}: no Ray cluster answers there ({reason})") from None


def _host_and_port(address: str) -> tuple[str, int] | None:
    host, colon, port = address.rpartition("://")[2].rpartition(":")
    if not colon or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def _join(ray: Any, address: str) -> None:
    _probe(address)
    chose = _JOIN_ATTEMPTS_VARIABLE in os.environ
    os.environ.setdefault(_JOIN_ATTEMPTS_VARIABLE, _JOIN_ATTEMPTS)
    # Ray's native client writes a line per failed attempt straight to fd 2: held back, a failed join stays
    # one line, and a successful one still says what it said.
    with tempfile.TemporaryFile() as held:
        try:
            with _redirected_stderr(held.fileno()):
                ray.init(log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ConfigError(f"RAY_ADDRESS={address}: could not join the Ray cluster ({_root_cause(error)})") from None
        finally:
            if not chose:
                del os.environ[_JOIN_ATTEMPTS_VARIABLE]
        held.seek(0)
        os.write(2, held.read())


@contextlib.contextmanager
def _redirected_stderr(descriptor: int) -> Iterator[None]:
    """File descriptor 2, Python's and native code's alike, goes to ``descriptor`` inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(descriptor, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _root_cause(error: BaseException) -> str:
    """The innermost error's last line: Ray puts a whole traceback in some messages, whose last line says why."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = str(error).strip().splitlines()
    return (lines[-1] if lines else type(error).__name__)[:400]


def _start_local(ray: Any, workers: int) -> None:
    context = ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    start_reaper(Path(context.address_info["session_dir"]))


def forwarded_environment() -> dict[str, str]:
    """The variables an actor gets from this process: agentrec's own settings (folders, threads, packs)."""
    return {name: value for name, value in os.environ.items() if name.startswith(_FORWARDED_PREFIX)}


class WorkerActor:
    """The body of one Ray actor: prepared like a spawned worker, then given one item at a time."""

    def __init__(
        self,
        folder: str,
        workers: int,
        hooks: WorkerHooks,
        initializer: Callable[..., object],
        initargs: tuple[Any, ...],
    ) -> None:
        if os.path.isdir(folder):  # relative paths then mean what they mean to the driver
            os.chdir(folder)
        hooks.prepare(workers)
        initializer(*initargs)
        self.hooks = hooks

    def run(self, work: Callable[[Any], Any], item: Any) -> tuple[Any, Any]:
        return self.hooks.measure(work, item)

    def pid(self) -> int:
        return os.getpid()


class RayWorkers:
    """``workers`` Ray actors, each prepared by ``hooks`` and then ``initializer(*initargs)``.

    Used like ``spawn_pool``'s pool: ``results`` yields ``(index, work(items[index]))`` as each
    finishes, and leaving the ``with`` block (or ``close``) kills the actors, running work included.
    """

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., object],
        initargs: tuple[Any, ...] = (),
        hooks: WorkerHooks = NO_HOOKS,
    ) -> None:
        self.ray = join_ray(workers)
        self.hooks = hooks
        runtime_env = {"env_vars": forwarded_environment()}
        actor_class = self.ray.remote(num_cpus=1, runtime_env=runtime_env)(WorkerActor)
        self.actors = [actor_class.remote(os.getcwd(), workers, hooks, initializer, initargs) for _ in range(workers)]

    def results(self, work: Callable[[Item], Result], items: Sequence[Item]) -> Iterator[tuple[int, Result]]:
        """``(index, work(items[index]))`` as each finishes; each actor holds one item at a time."""
        ray = self.ray
        queue = deque(enumerate(items))
        idle = list(range(len(self.actors)))
        running: dict[Any, tuple[int, int]] = {}  # object ref -> (item index, actor index)
        while queue or running:
            while queue and idle:
                actor = idle.pop()
                index, item = queue.popleft()
                running[self.actors[actor].run.remote(work, item)] = (index, actor)
            done, _ = ray.wait(list(running), num_returns=1)
            index, actor = running.pop(done[0])
            idle.append(actor)
            result, metered = self._get(done[0])
            self.hooks.receive(metered)
            yield index, result

    def _get(self, reference: Any) -> tuple[Any, Any]:
        try:
            result, metered = self.ray.get(reference)
        except self.ray.exceptions.RayTaskError as error:
            # The worker's own exception, as a spawned worker's would be raised here (a ConfigError stays one).
            cause = getattr(error, "cause", None)
            if isinstance(cause, Exception):
                raise cause from error
            raise
        return result, metered

    def pids(self) -> list[int]:
        """The actors' process ids (on their own machines)."""
        return [int(pid) for pid in self.ray.get([actor.pid.remote() for actor in self.actors])]

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)

    def __enter__(self) -> RayWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
