"""Run a scenario round by round, writing events as sessions finish; resume a killed run exactly.

A run lives in ``$AGENTREC_HOME/sim/runs/<run_id>/``: ``run.json`` (scenario
fingerprint and users), ``events.duckdb``, the calibration, per-round feedback
files, models refitted between rounds, ``progress.json``, and ``report/``.
``--resume`` reopens that folder and re-runs only the sessions whose
``session_end`` is missing; their events come out identical, and the keyed
inserts skip the ones already stored.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import PositiveInt
from pydantic.dataclasses import dataclass as pydantic_dataclass

from agentrec.core.errors import ConfigError, DataError, InvalidParameter, ModelBackendError
from agentrec.core.files import write_atomically
from agentrec.core.paths import state_dir
from agentrec.data.interactions import Vocabulary
from agentrec.data.store import open_dataset
from agentrec.llm.pacing import forget_gates, process_snapshot, provider_usage
from agentrec.sim.arms import check_arm
from agentrec.sim.events import Event, EventLog, read_run_record
from agentrec.sim.recommenders import LearnsFromShown
from agentrec.sim.report import SimulationResult, build_summary, write_report
from agentrec.sim.runners import check_runner_options, make_runner
from agentrec.sim.scenario import Scenario, load_scenario
from agentrec.sim.social import feed_for
from agentrec.sim.world import SessionOutcome, SessionTask, SimWorld, WorldSpec, feedback_path, shown_path

logger = logging.getLogger(__name__)
RUN_FILE = "run.json"
PROGRESS_FILE = "progress.json"
FIDELITY_FILE = "fidelity.json"
_FLUSH_SECONDS = 0.25
_FLUSH_EVENTS = 5000


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands, for a progress bar: stage, sessions done of all, events and LLM tokens so far."""

    stage: str
    sessions_done: int
    sessions_total: int
    events: int
    tokens: int


ProgressCallback = Callable[[RunProgress], None]


@pydantic_dataclass(frozen=True)
class RunOptions:
    """How a scenario is run; the bounds are checked at construction (a ``ValidationError`` names the field)."""

    users: PositiveInt | None = None
    workers: PositiveInt = 1
    concurrency: PositiveInt = 1  # sessions in flight at once in each process (threads): for remote providers
    backend: str = "local"
    resume: str | None = None
    runs_root: Path | None = None
    fidelity_protocols: bool = False  # simulate --fidelity: the published protocols as well


def runs_root(options: RunOptions) -> Path:
    return options.runs_root or state_dir("sim", "runs")


def select_users(scenario: Scenario, users: Vocabulary, active: set[int], count: int | None) -> tuple[str, ...]:
    """The scenario's users: explicit ids, or a seeded sample of ``count`` active users (all if unset)."""
    if scenario.users.ids:
        unknown = [u for u in scenario.users.ids if u not in users]
        if unknown:
            raise DataError(f"unknown user id {unknown[0]!r} in {scenario.dataset}")
        return tuple(dict.fromkeys(str(u) for u in scenario.users.ids))
    pool = np.array(sorted(active), dtype=np.int64)
    wanted = count if count is not None else scenario.users.count
    if wanted is not None and wanted > pool.size:
        logger.warning(
            "users: asked for %s, but %s has %s users with interactions; simulating all %s",
            f"{wanted:,}", scenario.dataset, f"{pool.size:,}", f"{pool.size:,}",
        )  # fmt: skip
    if wanted is not None and wanted < pool.size:
        pool = np.sort(np.random.default_rng(scenario.seed).choice(pool, size=wanted, replace=False))
    return tuple(users.id(int(u)) for u in pool)


def prepare_run(scenario: Scenario, options: RunOptions) -> tuple[str, Path, tuple[str, ...]]:
    """A new run folder, or the one ``--resume`` names (checked against the scenario)."""
    root = runs_root(options)
    if options.resume is not None:
        # an empty id once fell through to a new run: the user asked to resume, so say what is wrong
        if not options.resume.strip():
            raise InvalidParameter("resume", f"is empty; give the id of a run in {root}")
        run_dir = root / options.resume
        meta_path = run_dir / RUN_FILE
        if not meta_path.is_file():
            raise ConfigError(f"no run {options.resume!r} to resume in {root}")
        meta = read_run_record(meta_path)
        if meta["scenario_fingerprint"] != scenario.fingerprint():
            raise ConfigError(
                f"run {options.resume!r} was made from a different scenario; resume it with the same file"
                " (and --fidelity if the run had it)"
            )
        if options.users is not None and options.users != len(meta["users"]):
            raise ConfigError(f"run {options.resume!r} has {len(meta['users'])} users; drop --users or pass that")
        return options.resume, run_dir, tuple(meta["users"])
    store = open_dataset(scenario.dataset)
    data = store.interactions()
    users = select_users(scenario, data.users, set(np.unique(data.user).tolist()), options.users)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_id = f"{scenario.name}-{stamp}-{secrets.token_hex(2)}"
    run_dir = root / run_id
    meta = {
        "run_id": run_id,
        "scenario": scenario.model_dump(mode="json"),
        "scenario_fingerprint": scenario.fingerprint(),
        "users": list(users),
    }
    write_atomically(run_dir / RUN_FILE, json.dumps(meta, indent=1))
    return run_id, run_dir, users


class EventWriter:
    """Writes finished sessions to the log in short transactions and reports progress."""

    def __init__(self, log: EventLog, run_dir: Path, total: int, done: int, progress: ProgressCallback | None) -> None:
        self.log, self.run_dir, self.progress = log, run_dir, progress
        self.total, self.done = total, done
        self.events = log.count()
        self.tokens = 0
        self.buffer: list[SessionOutcome] = []
        self.last_flush = time.monotonic()

    def accept(self, outcome: SessionOutcome) -> None:
        self.buffer.append(outcome)
        buffered = sum(len(o.events) for o in self.buffer)
        if buffered >= _FLUSH_EVENTS or time.monotonic() - self.last_flush >= _FLUSH_SECONDS:
            self.flush()

    def flush(self, stage: str = "simulating") -> None:
        if self.buffer:
            self.log.insert(event for outcome in self.buffer for event in outcome.events)
            self.done += len(self.buffer)
            self.events += sum(len(o.events) for o in self.buffer)
            self.tokens += sum(o.tokens for o in self.buffer)
            self.buffer = []
        self.last_flush = time.monotonic()
        self.report(stage)

    def report(self, stage: str, finished: bool = False) -> None:
        state = {
            "sessions_done": self.done,
            "sessions_total": self.total,
            "events": self.events,
            "tokens": self.tokens,
            "stage": stage,
            "finished": finished,
        }
        write_atomically(self.run_dir / PROGRESS_FILE, json.dumps(state))
        if self.progress:
            self.progress(RunProgress(stage, self.done, self.total, self.events, self.tokens))


def run_simulation(
    scenario_path: Path, options: RunOptions, progress: ProgressCallback | None = None
) -> SimulationResult:
    """Run (or resume) a scenario; returns the ``simulate`` summary and writes the report folder."""
    started = time.perf_counter()
    forget_gates()  # this run's provider counts and budget start from nothing
    scenario = load_scenario(scenario_path)
    if options.fidelity_protocols:
        protocols = scenario.fidelity.model_copy(update={"enabled": True, "protocols": True})
        scenario = scenario.model_copy(update={"fidelity": protocols})
    check_runner_options(options.backend, options.workers)
    for arm in scenario.arms:
        check_arm(arm)
    run_id, run_dir, users = prepare_run(scenario, options)
    spec = WorldSpec(scenario, run_dir, users, options.concurrency)
    world = SimWorld.open(spec)
    log = EventLog(run_dir / "events.duckdb", run_id)
    try:
        total = len(users) * len(scenario.arms) * scenario.rounds
        writer = EventWriter(log, run_dir, total, len(log.finished_sessions()), progress)
        writer.report("starting")
        runner = make_runner(options.backend, options.workers, spec, world)
        try:
            for round_index in range(scenario.rounds):
                run_round(world, log, writer, runner, round_index)
        except ModelBackendError as error:  # the provider failed, or --max-cost was reached
            writer.flush("stopped")  # every session that finished is kept
            raise ModelBackendError(
                f"{error}; {writer.done} of {total} sessions are saved: run again with --resume {run_id} to carry on"
            ) from error
        finally:
            runner.close()
        writer.report("measuring fidelity")
        fidelity = load_or_measure_fidelity(world, run_dir)
        summary, rows = build_summary(world, log, fidelity)
        summary = summary.model_copy(update={"usage": provider_usage(process_snapshot())})
        writer.report("done", finished=True)
    finally:
        log.close()
    seconds = time.perf_counter() - started
    result = SimulationResult(run_id, run_dir, scenario, summary, rows, seconds)
    write_report(result, world.items)
    return result


def run_round(world: SimWorld, log: EventLog, writer: EventWriter, runner: Any, round_index: int) -> None:
    """One round: store each arm's feedback, refit what retrains, then run the unfinished sessions."""
    scenario = world.scenario
    for arm in scenario.arms:
        if round_index > 0:
            watches = log.watches(arm.name, round_index)
            path = feedback_path(world.spec.run_dir, arm.name, round_index)
            write_atomically(path, json.dumps([list(w) for w in watches]))
            if isinstance(world.arms[arm.name], LearnsFromShown):  # only the previous round: earlier files stay
                shown = log.shown(arm.name, round_index - 1)
                write_atomically(shown_path(world.spec.run_dir, arm.name, round_index), json.dumps(shown))
        writer.report(f"round {round_index + 1}/{scenario.rounds}: preparing {arm.name}")
        world.start_round(arm.name, round_index)
    finished = log.finished_sessions()
    tasks = []
    for arm in scenario.arms:
        prior = log.memory_events(arm.name, round_index) if round_index > 0 else {}
        feeds = social_feeds(world, log, arm.name, round_index)
        tasks += [
            SessionTask(arm.name, round_index, user, tuple(prior.get(user, ())), feeds.get(user, ()))
            for user in world.spec.users
            if (arm.name, user, round_index) not in finished
        ]
    writer.report(f"round {round_index + 1}/{scenario.rounds}")
    runner.run(tasks, writer.accept)
    writer.flush(f"round {round_index + 1}/{scenario.rounds}")


def social_feeds(world: SimWorld, log: EventLog, arm: str, round_index: int) -> dict[str, tuple[Event, ...]]:
    """Per user, friends' posts of the rounds before ``round_index`` (empty without a social graph)."""
    graph = world.session_tools().graph
    if graph is None or round_index == 0:
        return {}
    posts = log.posts(arm, round_index)
    return {user: feed_for(user, graph, posts) for user in world.spec.users}


def load_or_measure_fidelity(world: SimWorld, run_dir: Path) -> dict[str, Any]:
    """The run's fidelity block: measured once, then read back (a resumed run does not redo it)."""
    path = run_dir / FIDELITY_FILE
    if path.is_file():
        stored: dict[str, Any] = json.loads(path.read_text())
        return stored
    if not world.scenario.fidelity.enabled:
        return {"choice_agreement": None, "rating_rmse": None, "enabled": False}
    from agentrec.sim.fidelity import measure_fidelity

    users = np.array(sorted(world.profiles), dtype=np.int64)
    fidelity = measure_fidelity(world, users)
    write_atomically(path, json.dumps(fidelity, indent=1))
    return fidelity
