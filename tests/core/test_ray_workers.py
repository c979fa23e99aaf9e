"""Ray actors keep the worker pool's contract (index, hooks, errors), and a killed driver leaves nothing running."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentrec.core.errors import ConfigError, InvalidParameter
from agentrec.core.ray_workers import RayWorkers
from agentrec.core.session_reaper import session_processes
from tests.core import test_worker_pool as pool_tests

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
# Ray's workers cannot import test modules: what they run from these goes by value.
for _module in (sys.modules[__name__], pool_tests):
    ray.cloudpickle.register_pickle_by_value(_module)


def _refuse(item: int) -> int:
    if item == 2:
        raise ConfigError("item 2 is refused")
    return item


def test_actors_keep_the_pools_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTREC_TEST_SETTING", "travels")  # an agentrec setting reaches actors on any machine
    pool_tests._RECEIVED.clear()
    with RayWorkers(2, os.getpid, hooks=pool_tests._PoolSizeAndPids()) as workers:
        assert dict(workers.results(abs, [-3, 5, -7, 0])) == {0: 3, 1: 5, 2: 7, 3: 0}
        seen = {value for _, value in workers.results(os.getenv, ["TEST_POOL_SIZE", "AGENTREC_TEST_SETTING"])}
        assert seen == {"2", "travels"}
        received = pool_tests._RECEIVED  # the pids the hooks metered, one per result
        assert len(received) == 6 and set(received) <= set(workers.pids()) and os.getpid() not in received
        with pytest.raises(ConfigError, match="item 2 is refused"):  # the worker's own error, not Ray's wrapper
            dict(workers.results(_refuse, [0, 1, 2]))
    with pytest.raises(InvalidParameter, match="workers needs 64 CPUs on the Ray cluster"):
        RayWorkers(64, os.getpid)


_DRIVER = """
import os, time
from agentrec.core.ray_workers import RayWorkers

workers = RayWorkers(2, os.getpid)
print(*workers.pids(), flush=True)
time.sleep(600)
"""


@pytest.fixture
def ray_folder() -> Iterator[Path]:
    """A Ray temp folder of its own (short: Ray's socket paths must fit in 107 characters)."""
    folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_killed_driver_leaves_no_process_of_its_local_cluster(ray_folder: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env |= {"RAY_TMPDIR": str(ray_folder), "RAY_USAGE_STATS_ENABLED": "0"}
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER], stdout=subprocess.PIPE, text=True, env=env)
    assert driver.stdout is not None
    actors = [int(pid) for pid in driver.stdout.readline().split()]
    cluster = session_processes(ray_folder)
    assert len(actors) == 2 and set(actors) <= set(cluster), (actors, cluster)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    # Ray's own agents would stay a minute (they first try to report to the dead GCS); the reaper ends them.
    deadline = time.monotonic() + 40
    while session_processes(ray_folder) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = session_processes(ray_folder)
    for pid in left:  # started by this test's driver: end them before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the killed driver's cluster still run: {left}"
