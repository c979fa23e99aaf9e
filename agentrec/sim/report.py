"""The ``simulate`` JSON payload and the report folder: summary.json, CSV tables and PNG plots."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentrec.sim.events import EventLog
from agentrec.sim.items import SimItems
from agentrec.sim.metrics import SessionRow, run_metrics
from agentrec.sim.world import SimWorld

if TYPE_CHECKING:
    from agentrec.sim.run import SimulationResult


def build_payload(world: SimWorld, log: EventLog, fidelity: dict[str, Any]) -> tuple[dict[str, Any], list[SessionRow]]:
    """The public JSON (keys run_id, events, sessions, metrics, actions, fidelity, arms) and the session rows."""
    scenario = world.scenario
    report = run_metrics(log.con, log.run_id, [a.name for a in scenario.arms], world.items, scenario.seed)
    rows: list[SessionRow] = report.pop("session_rows")
    payload = {
        "run_id": log.run_id,
        "scenario": scenario.name,
        "dataset": scenario.dataset,
        "choice_model": scenario.users.choice_model,
        "users": len(world.spec.users),
        "rounds": scenario.rounds,
        "events": log.count(),
        "sessions": len(rows),
        "metrics": report["metrics"],
        "actions": report["actions"],
        "fidelity": fidelity,
        "arms": report["arms"],
    }
    return _finite(payload), rows


def _finite(value: Any) -> Any:
    """NaN becomes null, so the JSON is standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_report(result: SimulationResult, items: SimItems) -> Path:
    """Write ``report/`` inside the run folder; returns its path."""
    from agentrec.sim.plots import plot_arms, plot_exit_pages, plot_rounds

    folder = result.run_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(result.payload, indent=2) + "\n")
    _write_sessions(folder / "sessions.csv", result.session_rows)
    _write_rounds(folder / "rounds.csv", result.payload["arms"])
    del items
    plot_arms(result.payload["arms"], folder / "arms.png")
    plot_rounds(
        result.payload["arms"], folder / "genre_entropy.png", "genre_entropy", "genre entropy of shown items (bits)"
    )
    plot_rounds(result.payload["arms"], folder / "ctr_by_round.png", "ctr", "click-through rate")
    plot_exit_pages(result.session_rows, folder / "exit_pages.png")
    return folder


def _write_sessions(path: Path, rows: list[SessionRow]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "arm",
                "user_id",
                "round",
                "shown",
                "watched",
                "ctr",
                "avg_rating",
                "exit_page",
                "session_length",
                "left_site",
                "satisfaction",
                "tokens",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    r.arm,
                    r.user_id,
                    r.session,
                    r.shown,
                    r.watched,
                    round(r.ctr, 4),
                    "" if r.avg_rating != r.avg_rating else round(r.avg_rating, 4),
                    r.exit_page,
                    r.session_length,
                    int(r.left_site),
                    r.satisfaction,
                    int(r.tokens),
                ]
            )


def _write_rounds(path: Path, arms: dict[str, Any]) -> None:
    rounds = [(arm, entry) for arm, report in arms.items() for entry in report["rounds"]]
    if not rounds:
        return
    keys = list(rounds[0][1])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arm", *keys])
        for arm, entry in rounds:
            writer.writerow([arm, *(entry.get(k) for k in keys)])
