"""The shared worker pool: results keep their index, and workers die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agentrec.core.worker_pool import run_in_workers, spawn_pool
from agentrec.llm.records import AssistantTurn, Usage
from agentrec.llm.usage import run_usage


def test_results_come_back_with_the_index_of_their_item() -> None:
    with spawn_pool(2, os.getpid) as pool:
        results = dict(run_in_workers(pool, abs, [-3, 5, -7, 0]))
    assert results == {0: 3, 1: 5, 2: 7, 3: 0}


def test_workers_get_their_share_of_the_cores_for_the_llm() -> None:
    with spawn_pool(2, os.getpid) as pool:
        shares = {value for _, value in run_in_workers(pool, os.getenv, ["AGENTREC_LLM_THREADS"] * 2)}
    assert shares == {str(max(1, (os.cpu_count() or 1) // 2))}


def _two_metered_calls(tokens: int) -> int:
    """Work that meters two LLM calls in the worker's own process-wide meter."""
    for _ in range(2):
        run_usage().record(AssistantTurn(text="ok", usage=Usage(prompt_tokens=tokens), model="fake"))
    return tokens


def test_calls_metered_in_workers_join_the_parents_usage() -> None:
    meter = run_usage()
    before_calls, before_tokens = meter.calls, meter.prompt_tokens
    with spawn_pool(2, os.getpid) as pool:
        results = dict(run_in_workers(pool, _two_metered_calls, [10, 20, 30]))
    assert results == {0: 10, 1: 20, 2: 30}
    assert meter.calls - before_calls == 6
    assert meter.prompt_tokens - before_tokens == 2 * (10 + 20 + 30)


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
