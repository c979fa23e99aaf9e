"""Agent traces and chat sessions are records: an unreadable file is refused in one line (issue 16, 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrec.agent.chat.records import ChatSession, ChatStore
from agentrec.agent.trace import TraceStore
from agentrec.core.errors import AgentrecError, DataError


@pytest.mark.parametrize("how", ["garbage", "truncated", "empty"])
def test_an_unreadable_trace_store_is_refused_naming_the_file_and_what_to_do(how: str, tmp_path: Path) -> None:
    path = tmp_path / "traces.duckdb"
    TraceStore(path).finished("any")  # creates the file with its tables
    written = path.read_bytes()
    path.write_bytes({"garbage": b"\x00garbage\xff" * 600, "truncated": written[:5000], "empty": b""}[how])
    with pytest.raises(DataError) as caught:
        TraceStore(path).finished("any")
    message = str(caught.value)
    assert str(path) in message and "move it aside" in message and "\n" not in message
    assert path.read_bytes()[:10] == {"garbage": b"\x00garbage\xff" * 600, "truncated": written, "empty": b""}[how][:10]


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_an_unreadable_chat_session_is_refused_in_one_line(how: str, tmp_path: Path) -> None:
    store = ChatStore(tmp_path)
    path = store.save(ChatSession(dataset="ml-100k", user_id="1"))
    written = path.read_bytes()
    path.write_bytes(b"\x00garbage\xff" if how == "garbage" else written[: len(written) // 2])
    with pytest.raises(AgentrecError) as caught:
        store.load(path.stem)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
