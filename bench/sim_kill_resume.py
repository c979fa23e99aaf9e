"""kill -9 in the middle of a simulation, resume it, and compare it with an uninterrupted run of the same scenario.

    AGENTREC_DATA_HOME=/work/shared/data /work/venv/bin/python bench/sim_kill_resume.py \
        simulations/bandit_vs_retrain.toml --users 300 --kill-at 0.55

Both runs are real ``agentrec simulate`` processes with their own state home (under
bench/out/kill_resume/). The interrupted one is killed with SIGKILL once the share
``--kill-at`` of its sessions is stored, then resumed with ``--resume``. Reported: the
sessions stored at the kill, the events of both runs, and whether the two event logs
and summaries are identical (the adaptive arms' learned state shows up in both: a
different state would show different pages).

Writes bench/out/sim_kill_resume.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agentrec.sim.events import read_events

OUT = Path(__file__).parent / "out"


def simulate(scenario: Path, home: Path, users: int | None, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "agentrec.cli", "simulate", str(scenario), *extra]
    if users is not None:
        command += ["--users", str(users)]
    env = dict(os.environ, AGENTREC_HOME=str(home))
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def only_run(home: Path) -> Path:
    runs = sorted((home / "sim" / "runs").glob("*"))
    if len(runs) != 1:
        raise SystemExit(f"expected one run in {home}, found {len(runs)}")
    return runs[0]


def comparable(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key not in ("run_id", "usage")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--users", type=int, default=None, help="simulate this many users (default: the scenario's)")
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of sessions stored before the kill")
    args = parser.parse_args()
    root = OUT / "kill_resume"
    shutil.rmtree(root, ignore_errors=True)
    # the model store is shared, so both runs load the same fitted models
    shared_models = Path(os.environ.get("AGENTREC_HOME", Path.home() / ".cache" / "agentrec")) / "models"
    for name in ("reference", "killed"):
        (root / name).mkdir(parents=True)
        if shared_models.is_dir():
            (root / name / "models").symlink_to(shared_models)

    started = time.perf_counter()
    reference = simulate(args.scenario, root / "reference", args.users, "--json", str(root / "reference.json"))
    if reference.wait() != 0:
        raise SystemExit(f"the reference run failed: {reference.stderr.read() if reference.stderr else ''}")
    reference_seconds = time.perf_counter() - started

    killed = simulate(args.scenario, root / "killed", args.users)
    state: dict[str, Any] = {}
    while killed.poll() is None:
        progress = next((root / "killed" / "sim" / "runs").glob("*/progress.json"), None)
        if progress is not None and progress.is_file():
            state = json.loads(progress.read_text())
            if state["sessions_total"] and state["sessions_done"] >= args.kill_at * state["sessions_total"]:
                killed.send_signal(signal.SIGKILL)
                break
        time.sleep(0.05)
    killed.wait()
    if not state or state["sessions_done"] >= state["sessions_total"]:
        raise SystemExit("the run finished before it could be killed; lower --kill-at")
    run_dir = only_run(root / "killed")
    resumed_json = str(root / "resumed.json")
    resumed = simulate(args.scenario, root / "killed", None, "--resume", run_dir.name, "--json", resumed_json)
    if resumed.wait() != 0:
        raise SystemExit(f"the resumed run failed: {resumed.stderr.read() if resumed.stderr else ''}")

    reference_dir = only_run(root / "reference")
    reference_events = read_events(reference_dir / "events.duckdb", reference_dir.name)
    resumed_events = read_events(run_dir / "events.duckdb", run_dir.name)
    keys = [tuple(row[:4]) for row in resumed_events]  # arm, user, round, step: the log's key within a run
    result = {
        "scenario": str(args.scenario),
        "users": args.users,
        "sessions_total": state["sessions_total"],
        "sessions_at_kill": state["sessions_done"],
        "events_at_kill": state["events"],
        "events_reference": len(reference_events),
        "events_resumed": len(resumed_events),
        "duplicated_keys": len(keys) - len(set(keys)),
        "events_identical": reference_events == resumed_events,
        "summary_identical": comparable(json.loads((root / "reference.json").read_text()))
        == comparable(json.loads((root / "resumed.json").read_text())),
        "reference_seconds": round(reference_seconds, 1),
    }
    (OUT / "sim_kill_resume.json").write_text(json.dumps(result, indent=1) + "\n")
    print(
        "| scenario | sessions | stored at kill -9 | events (uninterrupted / resumed) | duplicated "
        "| identical log | identical summary |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.scenario.name} ({args.users or 'all'} users) | {result['sessions_total']:,} | "
        f"{result['sessions_at_kill']:,} | {result['events_reference']:,} / {result['events_resumed']:,} | "
        f"{result['duplicated_keys']} | {result['events_identical']} | {result['summary_identical']} |"
    )


if __name__ == "__main__":
    main()
