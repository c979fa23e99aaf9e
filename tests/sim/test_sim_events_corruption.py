"""Simulation events are records: an unreadable log or run record is refused in one line (issue 16, 12-13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrec.core.errors import AgentrecError, DataError
from agentrec.sim.events import Event, EventLog, read_run_record


def _written_log(path: Path) -> bytes:
    log = EventLog(path, "run-1")
    log.insert([Event("ease", "u1", 0, step, "watch", item_id="i1", rating=4) for step in range(50)])
    log.close()
    return path.read_bytes()


@pytest.mark.parametrize("how", ["garbage", "truncated", "empty"])
def test_an_unreadable_event_log_is_refused_naming_the_file_and_what_to_do(how: str, tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    written = _written_log(path)
    damaged = {"garbage": b"\x00garbage\xff" * 600, "truncated": written[:5000], "empty": b""}[how]
    path.write_bytes(damaged)
    with pytest.raises(DataError) as caught:
        EventLog(path, "run-1")
    message = str(caught.value)
    assert str(path) in message and "new run" in message and "\n" not in message


@pytest.mark.parametrize("content", ["{not json", '{"run_id": "x"}', ""])
def test_an_unreadable_run_record_is_refused(content: str, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(content)
    with pytest.raises(AgentrecError, match=r"run\.json"):
        read_run_record(path)
