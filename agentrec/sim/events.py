"""Simulation events in DuckDB, written as sessions finish, keyed so a rewrite is harmless.

The key is ``(run_id, arm, user_id, session, step)``. A session is deterministic
given the seed and the event log before it, so a run resumed after ``kill -9``
re-runs every unfinished session and inserts its events with ``INSERT OR IGNORE``:
events already stored stay, missing ones are added, none is duplicated.
A session is finished once its ``session_end`` event is stored.

What the columns hold, per kind (columns not named are NULL):

=================  ==========================================================================
kind               columns
=================  ==========================================================================
session_start      value: items the recommender ranked
impression         page, position, item_id: an item on a recommendation page
watch              page (NULL off the pages), position, item_id, rating, text: the feeling
next_page, exit    page
reflection         text
search             page, text: the query, value: results
search_result      position, item_id
chat               page, text: the user's message to the conversational agent
chat_reply         text: the agent's reply, value: items listed
chat_item          position, item_id
read_post          item_id, rating: the author's, text: the author's user id
post               page (NULL off the pages), item_id, rating, text: the post
friend_chat        page, text: the friend's user id
friend_message     text: what the user asked the friend
friend_reply       item_id, rating: the friend's, text: the friend's answer (no item: nothing to suggest)
interview          value: satisfaction 1-10, text: the reason
session_end        value: LLM tokens spent in the session (users, agent chats, the recommender)
=================  ==========================================================================

A watch off the pages came from the list event before it: a search, an agent
chat, a friend's reply or the feed (``read_post``).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

import duckdb
import pyarrow as pa

from agentrec.core.errors import DataError
from agentrec.data.record_files import is_lock_error, unreadable_record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    run_id VARCHAR NOT NULL, arm VARCHAR NOT NULL, user_id VARCHAR NOT NULL, session INTEGER NOT NULL,
    step INTEGER NOT NULL, kind VARCHAR NOT NULL, page INTEGER, position INTEGER, item_id VARCHAR,
    rating INTEGER, value DOUBLE, text VARCHAR,
    PRIMARY KEY (run_id, arm, user_id, session, step))
"""
# What a user did (the table above says which columns each kind fills).
EventKind = Literal[
    "session_start", "impression", "watch", "next_page", "exit", "reflection", "interview", "session_end",
    "search", "search_result", "chat", "chat_reply", "chat_item",
    "read_post", "post", "friend_chat", "friend_message", "friend_reply",
]  # fmt: skip
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
_LOCK_ATTEMPTS = 50


@dataclass(frozen=True)
class Event:
    """One thing a simulated user did; ``session`` is the round, ``step`` counts within it."""

    arm: str
    user_id: str
    session: int
    step: int
    kind: EventKind
    page: int | None = None
    position: int | None = None
    item_id: str | None = None
    rating: int | None = None
    value: float | None = None
    text: str | None = None


EVENT_COLUMNS = tuple(f.name for f in fields(Event))
_ARROW_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("arm", pa.string()),
        ("user_id", pa.string()),
        ("session", pa.int32()),
        ("step", pa.int32()),
        ("kind", pa.string()),
        ("page", pa.int32()),
        ("position", pa.int32()),
        ("item_id", pa.string()),
        ("rating", pa.int32()),
        ("value", pa.float64()),
        ("text", pa.string()),
    ]
)


class EventLog:
    """The events DuckDB file of one run folder; this process is its only writer."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.con = _connect(path)
        try:
            self.con.execute(_SCHEMA)
            self.con.execute("SELECT count(*) FROM events").fetchall()  # a damaged file can open and fail on read
        except duckdb.Error as error:
            self.con.close()
            raise _unreadable(path, error) from None

    def close(self) -> None:
        self.con.close()

    def insert(self, events: Iterable[Event]) -> int:
        """Store ``events`` in one transaction (already stored keys are skipped); returns how many were given."""
        rows = [(self.run_id, *astuple(event)) for event in events]
        if not rows:
            return 0
        batch = pa.Table.from_pylist([dict(zip(_ARROW_SCHEMA.names, row, strict=True)) for row in rows], _ARROW_SCHEMA)
        self.con.register("incoming", batch)
        try:
            self.con.execute("INSERT OR IGNORE INTO events SELECT * FROM incoming")
        finally:
            self.con.unregister("incoming")
        return len(rows)

    def count(self) -> int:
        row = self.con.execute("SELECT count(*) FROM events WHERE run_id = ?", [self.run_id]).fetchone()
        return int(row[0]) if row else 0

    def finished_sessions(self) -> set[tuple[str, str, int]]:
        """(arm, user_id, session) of every session whose end is stored."""
        rows = self.con.execute(
            "SELECT arm, user_id, session FROM events WHERE run_id = ? AND kind = 'session_end'", [self.run_id]
        ).fetchall()
        return {(arm, user, int(session)) for arm, user, session in rows}

    def watches(self, arm: str, before_session: int) -> list[tuple[str, str, int, int, int]]:
        """(user_id, item_id, rating, session, step) of every watch in earlier sessions of ``arm``, in order."""
        rows = self.con.execute(
            "SELECT user_id, item_id, rating, session, step FROM events WHERE run_id = ? AND arm = ? "
            "AND session < ? AND kind = 'watch' ORDER BY user_id, session, step",
            [self.run_id, arm, before_session],
        ).fetchall()
        return [(u, i, int(r), int(s), int(t)) for u, i, r, s, t in rows]

    def shown(self, arm: str, session: int) -> list[tuple[str, str, bool, int]]:
        """(user_id, item_id, watched, session) of every impression of one session of ``arm``, in order."""
        rows = self.con.execute(
            "SELECT i.user_id, i.item_id, EXISTS (SELECT 1 FROM events w WHERE w.run_id = i.run_id "
            "AND w.arm = i.arm AND w.user_id = i.user_id AND w.session = i.session AND w.kind = 'watch' "
            "AND w.page IS NOT NULL AND w.item_id = i.item_id) FROM events i "
            "WHERE i.run_id = ? AND i.arm = ? AND i.session = ? AND i.kind = 'impression' ORDER BY i.user_id, i.step",
            [self.run_id, arm, session],
        ).fetchall()
        return [(u, i, bool(w), session) for u, i, w in rows]

    def memory_events(self, arm: str, before_session: int) -> dict[str, list[Event]]:
        """Per user, the watches and reflections of earlier sessions (what rebuilds memory), in order."""
        rows = self.con.execute(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE run_id = ? AND arm = ? AND session < ? "
            "AND kind IN ('watch', 'reflection') ORDER BY user_id, session, step",
            [self.run_id, arm, before_session],
        ).fetchall()
        by_user: dict[str, list[Event]] = defaultdict(list)
        for row in rows:
            by_user[row[1]].append(Event(*row))
        return dict(by_user)

    def posts(self, arm: str, before_session: int) -> dict[str, list[Event]]:
        """Per author, the posts of earlier sessions of ``arm`` (what friends may read), in order."""
        rows = self.con.execute(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE run_id = ? AND arm = ? AND session < ? "
            "AND kind = 'post' ORDER BY user_id, session, step",
            [self.run_id, arm, before_session],
        ).fetchall()
        by_author: dict[str, list[Event]] = defaultdict(list)
        for row in rows:
            by_author[row[1]].append(Event(*row))
        return dict(by_author)

    def table(self) -> dict[str, Any]:
        """Every event of the run as numpy columns, in key order."""
        return self.con.execute(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE run_id = ? ORDER BY arm, user_id, session, step",
            [self.run_id],
        ).fetchnumpy()

    def rows(self) -> list[tuple[Any, ...]]:
        """Every event as a tuple without the run id, in key order (to compare two runs)."""
        return self.con.execute(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE run_id = ? ORDER BY arm, user_id, session, step",
            [self.run_id],
        ).fetchall()


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open ``path`` for writing, waiting briefly if another process still holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(_LOCK_ATTEMPTS):
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as error:
            if not is_lock_error(error) or attempt == _LOCK_ATTEMPTS - 1:
                raise _unreadable(path, error) from None
            time.sleep(0.05 * (attempt + 1))
        except duckdb.Error as error:
            raise _unreadable(path, error) from None
    raise AssertionError("unreachable")


def _unreadable(path: Path, error: duckdb.Error) -> DataError:
    remedy = "move it aside (or delete the run folder) and start a new run instead of resuming this one"
    return unreadable_record(path, "simulation's event log", remedy, error)


def read_run_record(path: Path) -> dict[str, Any]:
    """A run folder's ``run.json`` (what resuming needs), or one line saying it cannot be read."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise unreadable_record(path, "run's record", "start a new run instead of resuming this one", error) from None
    if not isinstance(record, dict) or not {"scenario_fingerprint", "users"} <= record.keys():
        raise DataError(f"{path}: the run's record lacks its scenario fingerprint or users; start a new run")
    return record


def read_events(path: Path, run_id: str) -> list[tuple[Any, ...]]:
    """The events of ``run_id`` in a finished run's file, in key order (read-only)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE run_id = ? ORDER BY arm, user_id, session, step",
            [run_id],
        ).fetchall()
