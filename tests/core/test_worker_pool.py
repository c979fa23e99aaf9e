"""The shared worker pool: results keep their index, and workers die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agentrec.core.worker_pool import WorkerHooks, run_in_workers, spawn_pool


def test_results_come_back_with_the_index_of_their_item() -> None:
    with spawn_pool(2, os.getpid) as pool:
        results = dict(run_in_workers(pool, abs, [-3, 5, -7, 0]))
    assert results == {0: 3, 1: 5, 2: 7, 3: 0}


class _PoolSizeAndPids(WorkerHooks):
    """Hooks a test can see: set-up leaves the pool size in the environment, metering sends the worker's pid."""

    def prepare(self, workers: int) -> None:
        os.environ["TEST_POOL_SIZE"] = str(workers)

    def measure(self, work: Any, item: Any) -> tuple[Any, int]:
        return work(item), os.getpid()

    def receive(self, metered: int) -> None:
        _RECEIVED.append(metered)


_RECEIVED: list[int] = []


def _pool_size_seen_by_initializer() -> None:
    # The initialiser runs after the hooks' set-up, so it must already see it.
    assert os.environ["TEST_POOL_SIZE"] == "2"


def test_hooks_prepare_each_worker_before_its_initializer() -> None:
    with spawn_pool(2, _pool_size_seen_by_initializer, hooks=_PoolSizeAndPids()) as pool:
        sizes = {value for _, value in run_in_workers(pool, os.getenv, ["TEST_POOL_SIZE"] * 4)}
    assert sizes == {"2"}


def test_what_a_worker_metered_reaches_the_parent_once_per_result() -> None:
    _RECEIVED.clear()
    with spawn_pool(2, os.getpid, hooks=_PoolSizeAndPids()) as pool:
        results = dict(run_in_workers(pool, abs, [-1, -2, -3]))
        workers = {process.pid for process in pool._processes.values()}
    assert results == {0: 1, 1: 2, 2: 3}
    assert len(_RECEIVED) == 3
    assert set(_RECEIVED) <= workers and os.getpid() not in _RECEIVED


def test_without_hooks_a_worker_is_not_prepared() -> None:
    with spawn_pool(1, os.getpid) as pool:
        sizes = [value for _, value in run_in_workers(pool, os.getenv, ["TEST_POOL_SIZE"])]
    assert sizes == [None]


_ORPHAN_SCRIPT = """
import time
from agentrec.core.worker_pool import spawn_pool

pool = spawn_pool(1, time.sleep, (0,))
pool.submit(time.sleep, 600)
while not pool._processes:
    time.sleep(0.05)
print(*pool._processes, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(line for line in status.read_text().splitlines() if line.startswith("State:"))
    except (FileNotFoundError, StopIteration, ProcessLookupError):
        return False
    return "zombie" not in state


def test_a_killed_parent_takes_its_workers_with_it() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    worker = int(parent.stdout.readline().split()[0])
    assert _alive(worker)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = _alive(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the worker outlived the process that started it"
