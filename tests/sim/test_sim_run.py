"""Whole runs on ml-100k: the same event log whatever the worker count, and exact resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentrec.sim.events import read_events
from agentrec.sim.report import SimulationResult
from agentrec.sim.run import PROGRESS_FILE, RunOptions, run_simulation

pytestmark = pytest.mark.realdata


def events_of(result: SimulationResult) -> list[tuple[object, ...]]:
    return read_events(result.run_dir / "events.duckdb", result.run_id)


def comparable(payload: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in payload.items() if key != "run_id"}


def test_event_log_is_identical_for_one_and_two_workers(
    ml100k: Path, tmp_path: Path, scenario_file: Callable[..., Path]
) -> None:
    scenario = scenario_file(tmp_path, "workers", ml100k, users=12, rounds=2, pages=3)
    single = run_simulation(scenario, RunOptions(workers=1, runs_root=tmp_path / "runs"))
    double = run_simulation(scenario, RunOptions(workers=2, runs_root=tmp_path / "runs"))
    assert single.run_id != double.run_id
    rows = events_of(single)
    assert rows == events_of(double)
    assert comparable(single.summary.json_data()) == comparable(double.summary.json_data())
    # 12 users x 2 arms x 2 rounds, each session ends with an interview and a session_end
    assert single.summary.sessions == 48
    assert sum(1 for row in rows if row[4] == "session_end") == 48
    assert single.summary.events == len(rows)
    kinds = {row[4] for row in rows}
    assert {"session_start", "impression", "watch", "interview", "session_end"} <= kinds


def test_payload_has_the_public_keys_and_a_report_folder(
    ml100k: Path, tmp_path: Path, scenario_file: Callable[..., Path]
) -> None:
    scenario = scenario_file(tmp_path, "keys", ml100k, users=10, rounds=2, pages=2)
    result = run_simulation(scenario, RunOptions(runs_root=tmp_path / "runs"))
    payload = result.summary.json_data()
    assert {"run_id", "events", "sessions", "metrics", "fidelity", "arms"} <= set(payload)
    assert {"choice_agreement", "rating_rmse"} <= set(payload["fidelity"])
    assert 0.2 < payload["fidelity"]["choice_agreement"] <= 1.0
    assert set(payload["arms"]) == {"ease", "pop"}
    assert "vs_ease" in payload["arms"]["pop"]
    assert len(payload["arms"]["ease"]["rounds"]) == 2
    for metric in ("ctr", "avg_rating", "exit_page", "session_length", "satisfaction", "coverage", "gini",
                   "novelty", "genre_entropy"):  # fmt: skip
        assert metric in payload["metrics"]
    report = result.run_dir / "report"
    for name in ("summary.json", "sessions.csv", "rounds.csv", "arms.png", "genre_entropy.png", "exit_pages.png"):
        assert (report / name).stat().st_size > 0


def wait_for_events(progress: Path, process: subprocess.Popen[str]) -> dict[str, object]:
    """Poll the run's progress file until some events are stored (the run must still be going)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        if progress.is_file():
            state = json.loads(progress.read_text())
            if state["events"] > 0 and state["sessions_done"] < state["sessions_total"]:
                return state
        time.sleep(0.02)
    pytest.fail("no events were written within 300 s")


def test_resume_after_kill_9_matches_an_uninterrupted_run(
    ml100k: Path, tmp_path: Path, scenario_file: Callable[..., Path]
) -> None:
    scenario = scenario_file(tmp_path, "killed", ml100k, users=300, rounds=3, pages=5)
    reference = run_simulation(scenario, RunOptions(runs_root=tmp_path / "reference"))
    env = dict(os.environ)
    command = [sys.executable, "-m", "agentrec.cli", "simulate", str(scenario)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = Path(env["AGENTREC_HOME"]) / "sim" / "runs"
    deadline = time.monotonic() + 120
    while not any(runs.glob("killed-*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    run_dir = next(runs.glob("killed-*"))
    state = wait_for_events(run_dir / PROGRESS_FILE, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert state["sessions_done"] < state["sessions_total"]
    out = tmp_path / "resumed.json"
    resumed = subprocess.run([*command, "--resume", run_dir.name, "--json", str(out)], env=env,
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    payload = json.loads(out.read_text())
    assert payload["run_id"] == run_dir.name
    assert read_events(run_dir / "events.duckdb", run_dir.name) == events_of(reference)
    assert payload["events"] == reference.summary.events
    assert comparable(payload) == json.loads(json.dumps(comparable(reference.summary.json_data())))


def test_resume_refuses_another_scenario(ml100k: Path, tmp_path: Path, scenario_file: Callable[..., Path]) -> None:
    from agentrec.core.errors import ConfigError

    first = scenario_file(tmp_path, "first", ml100k, users=4, rounds=1, pages=1)
    result = run_simulation(first, RunOptions(runs_root=tmp_path / "runs"))
    other = scenario_file(tmp_path, "other", ml100k, users=4, rounds=2, pages=1)
    with pytest.raises(ConfigError, match="different scenario"):
        run_simulation(other, RunOptions(runs_root=tmp_path / "runs", resume=result.run_id))
