"""The ``simulate`` summary and the report folder: summary.json, CSV tables and PNG plots."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agentrec.sim.events import EventLog
from agentrec.sim.items import SimItems
from agentrec.sim.macro import macro_behaviour
from agentrec.sim.metrics import SessionRow, run_metrics
from agentrec.sim.results import ArmReport, FidelityReport, SimulationSummary
from agentrec.sim.scenario import Scenario
from agentrec.sim.world import SimWorld


@dataclass
class SimulationResult:
    """A finished (or resumed) run: the ``simulate`` summary, the session rows and where it lives."""

    run_id: str
    run_dir: Path
    scenario: Scenario
    summary: SimulationSummary
    session_rows: list[SessionRow] = field(default_factory=list)
    seconds: float = 0.0


def build_summary(
    world: SimWorld, log: EventLog, fidelity: dict[str, Any]
) -> tuple[SimulationSummary, list[SessionRow]]:
    """The public record (keys run_id, events, sessions, metrics, actions, fidelity, arms) and the session rows."""
    scenario = world.scenario
    measured = run_metrics(log.con, log.run_id, [a.name for a in scenario.arms], world.items, scenario.seed)
    if scenario.fidelity.protocols and fidelity.get("enabled", True) is not False:
        held = world.split.test
        real = held.item[np.isin(held.user, np.fromiter(world.profiles, dtype=np.int64))].astype(np.int64)
        sessions = {"exit_page": measured.metrics.exit_page, "ctr": measured.metrics.ctr}
        fidelity = {**fidelity, "macro": macro_behaviour(log.con, log.run_id, world.items, real, sessions)}
    summary = SimulationSummary(
        run_id=log.run_id,
        scenario=scenario.name,
        dataset=scenario.dataset,
        choice_model=scenario.users.choice_model,
        users=len(world.spec.users),
        rounds=scenario.rounds,
        events=log.count(),
        sessions=len(measured.session_rows),
        metrics=measured.metrics,
        actions=measured.actions,
        fidelity=FidelityReport.model_validate(fidelity),
        arms=measured.arms,
    )
    return summary, measured.session_rows


def write_report(result: SimulationResult, items: SimItems) -> Path:
    """Write ``report/`` inside the run folder; returns its path."""
    from agentrec.sim.plots import plot_arms, plot_exit_pages, plot_macro, plot_rounds

    folder = result.run_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(result.summary.json_data(), indent=2) + "\n")
    _write_sessions(folder / "sessions.csv", result.session_rows)
    _write_rounds(folder / "rounds.csv", result.summary.arms)
    del items
    arms = result.summary.arms
    plot_arms(arms, folder / "arms.png")
    plot_rounds(arms, folder / "genre_entropy.png", "genre_entropy", "genre entropy of shown items (bits)")
    plot_rounds(arms, folder / "ctr_by_round.png", "ctr", "click-through rate")
    plot_rounds(arms, folder / "cumulative_ctr.png", "cumulative_ctr", "cumulative click-through rate")
    plot_rounds(arms, folder / "coverage_by_round.png", "coverage", "catalog coverage of shown items")
    plot_exit_pages(result.session_rows, folder / "exit_pages.png")
    if result.summary.fidelity.macro is not None:
        plot_macro(result.summary.fidelity.macro, folder / "macro.png")
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


def _write_rounds(path: Path, arms: dict[str, ArmReport]) -> None:
    rounds = [(arm, _flat_round(entry.json_data())) for arm, report in arms.items() for entry in report.rounds]
    if not rounds:
        return
    keys = list(rounds[0][1])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arm", *keys])
        for arm, entry in rounds:
            writer.writerow([arm, *(entry.get(k) for k in keys)])


def _flat_round(entry: dict[str, Any]) -> dict[str, Any]:
    """A round's record with its intervals as ``<metric>_low`` and ``<metric>_high`` columns."""
    intervals = entry.pop("ci", {}) or {}
    for metric, (low, high) in intervals.items():
        entry[f"{metric}_low"], entry[f"{metric}_high"] = low, high
    return entry
