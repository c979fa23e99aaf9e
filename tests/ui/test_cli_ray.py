"""``--backend ray`` as a user runs it: bad setups are one line and exit 2; on a two-node cluster the results
are the local backend's, exactly.

The cluster is two ``ray start`` nodes of one CPU each on this machine, so ``--workers 2`` puts one actor on
each. Its processes are found by the files they keep open in the test's own Ray folder, and stopped by pid
(``ray stop`` would stop every Ray process on the machine, other tests' included).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentrec.core.session_reaper import session_processes, start_reaper
from tests.audit.conftest import CATALOGS
from tests.conftest import PLANTED_PACK, free_port
from tests.sim.conftest import write_scenario

# The CLI with ray made unimportable, as on an install without the ray extra.
_WITHOUT_RAY = "import sys; sys.modules['ray'] = None; sys.argv[0] = 'agentrec'; from agentrec.cli import main; main()"
# The planted catalog's light pack (EASE, ItemKNN, no text model) for ml-100k: the dataset opens in seconds.
_LIGHT_PACK = PLANTED_PACK.replace('datasets = ["planted"]', 'datasets = ["ml-100k"]')


def run(*args: str, env: dict[str, str], without_ray: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", _WITHOUT_RAY] if without_ray else [sys.executable, "-m", "agentrec.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=600)


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def commands(ml100k: Path, folder: Path) -> dict[str, list[str]]:
    """Each command that takes --backend ray, with arguments that are otherwise fine."""
    scenario = write_scenario(folder, "ray-bad-input", ml100k, users=2)
    return {
        "agent-eval": ["agent-eval", "ml-100k", "--users", "2"],
        "audit": ["audit", str(CATALOGS / "coffee_machines.jsonl"), "--target", "ColdBrew Master", "--sts", "Best."],
        "simulate": ["simulate", str(scenario)],
    }


@pytest.mark.parametrize("command", ["agent-eval", "audit", "simulate"])
def test_backend_ray_without_the_ray_extra_is_one_line(command: str, ml100k: Path, tmp_path: Path) -> None:
    arguments = [*commands(ml100k, tmp_path)[command], "--backend", "ray", "--workers", "2"]
    result = run(*arguments, env=dict(os.environ), without_ray=True)
    assert_one_line_error(result, "backend ray needs the ray extra: pip install 'agentrec[ray]'")


@pytest.mark.parametrize("command", ["agent-eval", "audit", "simulate"])
def test_an_unreachable_ray_address_is_one_line_before_any_work(command: str, ml100k: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed")
    arguments = [*commands(ml100k, tmp_path)[command], "--backend", "ray", "--workers", "2"]
    # Ray itself would retry this address for minutes; the run's timeout is the deadline.
    result = run(*arguments, env={**os.environ, "RAY_ADDRESS": "127.0.0.1:1"})
    assert_one_line_error(result, "RAY_ADDRESS=127.0.0.1:1: no Ray cluster answers there")


@pytest.fixture
def ray_env() -> Iterator[dict[str, str]]:
    """The environment of every process of the test's cluster: its own Ray folder and auth token."""
    folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths must fit in 107 bytes
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env |= {
        "RAY_TMPDIR": str(folder),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    yield env
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def two_node_cluster(ray_env: dict[str, str]) -> Iterator[str]:
    """A head and a second node on 127.0.0.1, one CPU each; yields the address, stops both afterwards."""
    pytest.importorskip("ray", reason="the ray extra is not installed")
    folder = Path(ray_env["RAY_TMPDIR"])
    start_reaper(folder)  # should this test process be killed, the cluster goes with it
    ray = str(Path(sys.executable).parent / "ray")
    address = f"127.0.0.1:{free_port()}"
    node = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    try:
        for arguments in (["--head", f"--port={address.rsplit(':', 1)[1]}", "--include-dashboard=false"],
                          [f"--address={address}"]):  # fmt: skip
            started = subprocess.run(
                [ray, "start", *arguments, *node], capture_output=True, text=True, env=ray_env, timeout=180
            )
            assert started.returncode == 0, started.stdout + started.stderr
        yield address
    finally:
        stop_processes(folder)


def stop_processes(folder: Path) -> None:
    """Kill every process of the cluster in ``folder`` (a test cluster keeps nothing worth a graceful stop)."""
    deadline = time.monotonic() + 30
    while (left := session_processes(folder)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def agent_eval(env: dict[str, str], home: Path, *backend: str) -> dict[str, Any]:
    out = home / "agent-eval.json"
    result = run(
        "agent-eval", "ml-100k", "--users", "4", "--policy", "backbone,agent", "--fusion", "rrf", "--cache", "off",
        "--workers", "2", *backend, "--json", str(out), env={**env, "AGENTREC_HOME": str(home)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return dict(json.loads(out.read_text()))


def simulate(env: dict[str, str], home: Path, scenario: Path, *backend: str) -> dict[str, Any]:
    out = home / "simulate.json"
    arguments = ["simulate", str(scenario), "--workers", "2", *backend, "--json", str(out)]
    result = run(*arguments, env={**env, "AGENTREC_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    return dict(json.loads(out.read_text()))


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """What a backend must not change: each user's list and counts, and every metric (not times, not ids)."""
    rows = [{k: v for k, v in row.items() if k not in ("seconds", "trace_id")} for row in report["per_user"]]
    return {"per_user": rows, "metrics": {name: policy["metrics"] for name, policy in report["policies"].items()}}


@pytest.mark.slow
def test_agent_eval_and_simulate_on_a_two_node_cluster_equal_the_local_backend(
    two_node_cluster: str, ray_env: dict[str, str], ml100k: Path, tmp_path: Path
) -> None:
    (tmp_path / "packs").mkdir()
    assert _LIGHT_PACK != PLANTED_PACK
    (tmp_path / "packs" / "light.toml").write_text(_LIGHT_PACK)
    env = {**ray_env, "AGENTREC_TOOLS": str(tmp_path / "packs")}
    on_ray = {**env, "RAY_ADDRESS": two_node_cluster}
    # Each run has a home of its own, so the second neither resumes the first's runs nor reads its LLM replies.
    local = agent_eval(env, tmp_path / "agent-local")
    clustered = agent_eval(on_ray, tmp_path / "agent-ray", "--backend", "ray")
    assert comparable(clustered) == comparable(local)
    assert {row["policy"] for row in local["per_user"]} == {"backbone", "agent"} and len(local["per_user"]) == 8
    assert sum(row["llm_calls"] for row in local["per_user"]) > 0  # the agent's users did reach the LLM
    scenario = write_scenario(tmp_path, "ray-cluster", ml100k, users=4, rounds=2, pages=2)
    local_sim = simulate(env, tmp_path / "sim-local", scenario)
    clustered_sim = simulate(on_ray, tmp_path / "sim-ray", scenario, "--backend", "ray")
    assert {k: v for k, v in clustered_sim.items() if k != "run_id"} == {
        k: v for k, v in local_sim.items() if k != "run_id"
    }
