"""agent-eval against a flaky, throttling, dying or priced provider (the loopback load provider).

Each run is compared with an uninterrupted, fault-free one on the same users:
transient faults change nothing, an outage fails exactly the users it hit, a
rerun completes exactly those, a spending cap stops the run before it is crossed,
and a run killed with SIGKILL resumes without re-asking what it had answered.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentrec.agent import evaluation
from agentrec.agent.evaluation import AgentEvalSpec, run_agent_eval
from agentrec.agent.policies import RunSettings
from agentrec.agent.trace import TraceStore
from agentrec.llm import remote
from agentrec.llm.pacing import BUDGET_STOP, ProviderLimits
from agentrec.llm.retrying import RetryPolicy

USERS = 12
SETTINGS = RunSettings(k=5, seed_pool=5, list_size=5)


def results(report: dict[str, Any]) -> tuple[Any, ...]:
    """What a run found (not how long it took or what it cost): every list and every metric."""
    rows = sorted((r["user"], r["policy"], tuple(r["items"])) for r in report["per_user"])
    metrics = {name: policy["metrics"] for name, policy in report["policies"].items()}
    return report["users_evaluated"], rows, metrics


@pytest.fixture
def evaluate(
    planted_folder: Path, planted_pack: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., dict[str, Any]]:
    """Run agent-eval on the planted dataset against ``base_url``; ``store`` names the run's trace store."""
    monkeypatch.setenv("AGENTREC_TOOLS", str(planted_pack.parent))
    # Quick retries: an outage is told after two attempts, not after three minutes of backoff.
    monkeypatch.setattr(remote, "RetryPolicy", lambda: RetryPolicy(max_attempts=3, initial_wait_s=0.01, jitter_s=0))

    def run(base_url: str, store: str, progress: Any = None, **options: Any) -> dict[str, Any]:
        traces = TraceStore(tmp_path / f"{store}.duckdb")
        monkeypatch.setattr(evaluation, "TraceStore", lambda: traces)
        options.setdefault("cache", "off")
        options.setdefault("settings", SETTINGS)
        spec = AgentEvalSpec(
            dataset=str(planted_folder), users=USERS, policies=("backbone", "agent"), llm="openai/load-test",
            api_base=base_url, concurrency=4, **options,
        )  # fmt: skip
        return run_agent_eval(spec, progress).json_data()

    return run


def admin(base_url: str, path: str) -> dict[str, Any]:
    root = base_url.removesuffix("/v1")
    response = (
        httpx.post(root + path) if path.startswith("/admin") or path.endswith("reset") else httpx.get(root + path)
    )
    return dict(response.json())


def test_throttling_and_server_errors_lose_no_user_and_change_nothing(
    evaluate: Callable[..., dict[str, Any]], start_load_provider: Callable[..., str]
) -> None:
    clean = evaluate(start_load_provider(seed=3), "clean")
    flaky_url = start_load_provider(seed=3, rate_429=0.05, rate_500=0.02, retry_after=0.01)
    flaky = evaluate(flaky_url, "flaky")
    stats = admin(flaky_url, "/stats")
    assert stats["status_counts"].get("429", 0) + stats["status_counts"].get("500", 0) > 0  # faults were met
    assert flaky["failed_units"] == {}
    assert results(flaky) == results(clean)
    assert flaky["usage"]["failed_calls"] > 0 and flaky["usage"]["llm_calls"] == clean["usage"]["llm_calls"]


def test_an_outage_fails_exactly_the_users_it_hit_and_a_rerun_completes_them(
    evaluate: Callable[..., dict[str, Any]], start_load_provider: Callable[..., str]
) -> None:
    clean = evaluate(start_load_provider(seed=3), "clean")
    # Slow enough that the users after the fourth are still being asked when the outage starts.
    base_url = start_load_provider(seed=3, median_ms=50.0)

    def outage_after_four(label: str, done: int, total: int) -> None:
        if label == "agent" and done == 4:
            admin(base_url, "/admin/down")

    hit = evaluate(base_url, "outage", progress=outage_after_four)
    failed = hit["failed_units"]["agent"]
    assert 0 < len(failed) <= USERS - 4
    assert "503" in hit["failures"]["agent"]
    assert hit["users_evaluated"] == USERS - len(failed)
    admin(base_url, "/admin/up")
    admin(base_url, "/stats/reset")
    rerun = evaluate(base_url, "outage")
    assert rerun["failed_units"] == {}
    assert results(rerun) == results(clean)
    # Only the failed users were asked again: fewer calls than a whole run, none already answered.
    assert 0 < rerun["usage"]["llm_calls"] < clean["usage"]["llm_calls"]
    assert admin(base_url, "/stats")["duplicate_bodies"] == 0


def test_a_spending_cap_stops_the_run_before_it_is_crossed_and_a_higher_one_finishes_it(
    evaluate: Callable[..., dict[str, Any]], start_load_provider: Callable[..., str]
) -> None:
    prices = {"price_in_per_m": 100.0, "price_out_per_m": 400.0}
    clean = evaluate(start_load_provider(seed=3), "clean", limits=ProviderLimits(**prices))
    whole = clean["usage"]["cost_usd"]
    base_url = start_load_provider(seed=3)
    capped = evaluate(base_url, "capped", cache="on", limits=ProviderLimits(max_cost_usd=whole / 2, **prices))
    assert capped["failures"]["agent"].startswith(BUDGET_STOP)
    assert 0 < capped["usage"]["cost_usd"] <= whole / 2
    finished = evaluate(base_url, "capped", cache="on", limits=ProviderLimits(max_cost_usd=whole * 2, **prices))
    assert finished["failed_units"] == {}
    assert results(finished) == results(clean)
    # Nothing paid for twice: the two parts cost what one run does, and no answered request was resent.
    assert capped["usage"]["cost_usd"] + finished["usage"]["cost_usd"] == pytest.approx(whole, rel=1e-6)
    assert admin(base_url, "/stats")["duplicate_bodies"] == 0


def test_a_run_killed_halfway_resumes_without_resending_answered_requests(
    evaluate: Callable[..., dict[str, Any]],
    start_load_provider: Callable[..., str],
    planted_folder: Path,
    tmp_path: Path,
) -> None:
    # The command's own settings at --k 5, run in this process without interruption.
    clean = evaluate(start_load_provider(seed=3), "clean", settings=RunSettings(k=5))
    base_url = start_load_provider(seed=3, median_ms=60.0)
    report = tmp_path / "resumed.json"
    command = [
        sys.executable, "-m", "agentrec.cli", "agent-eval", str(planted_folder), "--users", str(USERS),
        "--policy", "backbone,agent", "--llm", "openai/load-test", "--api-base", base_url, "--concurrency", "4",
        "--k", "5", "--json", str(report),
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while admin(base_url, "/stats")["completed"] < clean["usage"]["llm_calls"] // 2:
        assert first.poll() is None, "the run ended before it could be killed halfway"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    in_flight_at_kill = 4
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = json.loads(report.read_text())
    # Only requests in flight when the process died can have been answered and never recorded.
    assert admin(base_url, "/stats")["duplicate_bodies"] <= in_flight_at_kill
    assert results(final)[1] == results(clean)[1]
