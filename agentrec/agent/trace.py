"""Frozen records of an agent run, and a DuckDB store a user can query.

``agent_runs`` has one row per (policy, user) run; ``agent_steps`` one row per
step. Tables live in ``$AGENTREC_HOME/agent/traces.duckdb``; a connection is
held only for one write or read, so separate commands can share the file.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from agentrec.core.errors import AgentrecError, ConfigError, DataError
from agentrec.core.paths import state_dir
from agentrec.data.record_files import is_lock_error, unreadable_record

StepStatus = Literal["ok", "reasked", "skipped", "finish"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_runs (
    trace_id VARCHAR PRIMARY KEY, created DOUBLE, dataset VARCHAR, user_id VARCHAR, policy VARCHAR,
    model VARCHAR, fusion VARCHAR, items JSON, target VARCHAR, llm_calls INTEGER, tokens INTEGER,
    seconds DOUBLE, reasks INTEGER, skipped_steps INTEGER, fallback BOOLEAN, filled INTEGER);
CREATE TABLE IF NOT EXISTS agent_steps (
    trace_id VARCHAR, step INTEGER, thought VARCHAR, tool VARCHAR, arguments JSON, status VARCHAR,
    observation VARCHAR, prompt_tokens INTEGER, completion_tokens INTEGER, llm_ms DOUBLE, tool_ms DOUBLE);
CREATE TABLE IF NOT EXISTS agent_eval_runs (run_key VARCHAR, user_id VARCHAR, trace_id VARCHAR);
"""
_LOCK_ATTEMPTS = 50


class AgentStep(BaseModel):
    """One step: what the model thought and called, what came back, and what it cost."""

    model_config = ConfigDict(frozen=True)

    step: int
    thought: str = ""
    tool: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict)
    status: StepStatus = "ok"
    observation: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_ms: float = 0.0
    tool_ms: float = 0.0


class RankedItem(BaseModel):
    """One item of a final list, with where it came from."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    title: str
    source: str
    source_rank: int
    lists: int


class AgentRun(BaseModel):
    """One policy's run for one user."""

    model_config = ConfigDict(frozen=True)

    trace_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16])
    dataset: str
    user_id: str
    policy: str
    model: str = ""
    fusion: str = ""
    items: tuple[RankedItem, ...] = ()
    steps: tuple[AgentStep, ...] = ()
    target: str | None = None
    llm_calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    reasks: int = 0
    skipped_steps: int = 0
    fallback: bool = False
    filled: int = 0
    # Why the LLM was not reached (its calls failed after their retries); "" when it was. Such a run
    # is shown to a person with a warning, and a batch evaluation never saves it as finished.
    llm_unreachable: str = ""

    @property
    def item_ids(self) -> list[str]:
        return [item.item_id for item in self.items]


def default_trace_path() -> Path:
    return state_dir("agent") / "traces.duckdb"


class TraceStore:
    """Agent runs and their steps in one DuckDB file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_trace_path()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        for attempt in range(_LOCK_ATTEMPTS):
            try:
                con = duckdb.connect(str(self.path))
            except duckdb.IOException as error:
                if not is_lock_error(error) or attempt == _LOCK_ATTEMPTS - 1:
                    raise self._unreadable(error) from None
                time.sleep(0.1)
                continue
            except duckdb.Error as error:
                raise self._unreadable(error) from None
            try:
                con.execute(_SCHEMA)  # a truncated file can open and fail only here
                return con
            except duckdb.Error as error:
                con.close()
                raise self._unreadable(error) from None
        raise AssertionError("unreachable")

    def _unreadable(self, error: duckdb.Error) -> DataError:
        remedy = "move it aside to keep its traces and run again (a new trace store is started)"
        return unreadable_record(self.path, "agent trace store", remedy, error)

    def save(self, runs: Iterable[AgentRun], run_key: str | None = None) -> None:
        """Store runs and their steps (a run saved again replaces its earlier copy).

        With ``run_key``, the runs also count as done for that evaluation (see ``finished``).
        """
        runs = list(runs)
        if not runs:
            return
        con = self._connect()
        try:
            con.execute("BEGIN")
            ids = [run.trace_id for run in runs]
            con.execute("DELETE FROM agent_steps WHERE list_contains(?, trace_id)", [ids])
            con.execute("DELETE FROM agent_runs WHERE list_contains(?, trace_id)", [ids])
            con.executemany(
                "INSERT INTO agent_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_run_row(run) for run in runs],
            )
            steps = [_step_row(run.trace_id, step) for run in runs for step in run.steps]
            if steps:
                con.executemany("INSERT INTO agent_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", steps)
            if run_key is not None:
                users = [run.user_id for run in runs]
                con.execute(
                    "DELETE FROM agent_eval_runs WHERE run_key = ? AND list_contains(?, user_id)", [run_key, users]
                )
                con.executemany(
                    "INSERT INTO agent_eval_runs VALUES (?, ?, ?)", [[run_key, r.user_id, r.trace_id] for r in runs]
                )
            con.execute("COMMIT")
        finally:
            con.close()

    def try_save(self, run: AgentRun) -> str | None:
        """Save one run; say why it was not saved instead of raising.

        For callers whose answer matters more than its trace (a chat turn, an MCP
        client): a locked or broken trace file must not cost them the answer.
        """
        try:
            self.save([run])
        except AgentrecError as error:
            return str(error) or type(error).__name__
        return None

    def finished(self, run_key: str) -> dict[str, AgentRun]:
        """The runs already saved for an evaluation, by user id (what a resumed run skips)."""
        con = self._connect()
        try:
            rows = con.execute("SELECT user_id, trace_id FROM agent_eval_runs WHERE run_key = ?", [run_key]).fetchall()
        finally:
            con.close()
        return {user: self.load(trace_id) for user, trace_id in rows}

    def load(self, trace_id: str) -> AgentRun:
        """A stored run by trace id; ``ConfigError`` if there is none."""
        con = self._connect()
        try:
            row = con.execute("SELECT * FROM agent_runs WHERE trace_id = ?", [trace_id]).fetchone()
            if row is None:
                raise ConfigError(f"no agent trace {trace_id!r} in {self.path}")
            columns = [d[0] for d in con.description or []]
            steps = con.execute(
                "SELECT * EXCLUDE (trace_id) FROM agent_steps WHERE trace_id = ? ORDER BY step", [trace_id]
            ).fetchall()
            step_columns = [d[0] for d in con.description or []]
        finally:
            con.close()
        record = dict(zip(columns, row, strict=True))
        record.pop("created")
        record["items"] = json.loads(record["items"])
        record["steps"] = [
            {**dict(zip(step_columns, s, strict=True)), "arguments": json.loads(s[step_columns.index("arguments")])}
            for s in steps
        ]
        return AgentRun.model_validate(record)


def _run_row(run: AgentRun) -> list[Any]:
    return [
        run.trace_id, time.time(), run.dataset, run.user_id, run.policy, run.model, run.fusion,
        json.dumps([item.model_dump() for item in run.items]), run.target, run.llm_calls, run.tokens,
        run.seconds, run.reasks, run.skipped_steps, run.fallback, run.filled,
    ]  # fmt: skip


def _step_row(trace_id: str, step: AgentStep) -> list[Any]:
    return [
        trace_id, step.step, step.thought, step.tool, json.dumps(step.arguments), step.status,
        step.observation, step.prompt_tokens, step.completion_tokens, step.llm_ms, step.tool_ms,
    ]  # fmt: skip


class BatchedSaves:
    """Finished runs saved a batch at a time, for an evaluation that resumes by ``run_key``.

    One save is one DuckDB transaction (about 0.1 s, more than a run's own local
    work), so runs wait until ``most`` are pending or ``seconds`` have passed. On
    leaving the ``with`` block, error or not, the rest are saved. A process killed
    outright loses at most those seconds of runs; a resume recomputes them, and with
    the response cache on their LLM calls are not sent again.
    """

    def __init__(self, store: TraceStore, run_key: str, seconds: float = 2.0, most: int = 64) -> None:
        self.store, self.run_key, self.seconds, self.most = store, run_key, seconds, most
        self.pending: list[AgentRun] = []
        self.saved_at = time.monotonic()

    def __enter__(self) -> BatchedSaves:
        return self

    def add(self, run: AgentRun) -> None:
        """Keep ``run`` to save; save the batch when it is due."""
        self.pending.append(run)
        if len(self.pending) >= self.most or time.monotonic() - self.saved_at >= self.seconds:
            self.flush()

    def flush(self) -> None:
        """Save every pending run now."""
        if self.pending:
            self.store.save(self.pending, run_key=self.run_key)
            self.pending = []
        self.saved_at = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.flush()
