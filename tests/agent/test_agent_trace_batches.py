"""Batched saves of an evaluation's runs: nothing finished is lost when the block ends, error or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrec.agent.trace import AgentRun, BatchedSaves, TraceStore


def a_run(user: str) -> AgentRun:
    return AgentRun(trace_id=f"t-{user}", dataset="d", user_id=user, policy="backbone", target="1")


def test_runs_wait_for_a_batch_and_the_rest_are_saved_on_leaving_even_after_an_error(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces.duckdb")
    with pytest.raises(RuntimeError), BatchedSaves(store, "key", seconds=3600, most=3) as saves:
        for user in ("a", "b", "c", "d"):
            saves.add(a_run(user))
            if user == "b":
                assert store.finished("key") == {}  # not due yet
        assert set(store.finished("key")) == {"a", "b", "c"}  # the third filled a batch
        raise RuntimeError("interrupted")
    assert set(store.finished("key")) == {"a", "b", "c", "d"}
