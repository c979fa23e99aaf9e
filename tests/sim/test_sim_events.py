"""Event kinds: one Literal type, and every kind the SQL reads is one that is written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import agentrec.sim
from agentrec.sim.events import EVENT_KINDS, EventKind

SIM_FOLDER = Path(agentrec.sim.__file__).parent
# kind = 'x', and the quoted names inside kind IN (...)
_KIND_EQUALS = re.compile(r"kind\s*=\s*'(\w+)'")
_KIND_IN = re.compile(r"kind\s+IN\s*\(([^)]*)\)", re.IGNORECASE)


def kinds_in_sql(text: str) -> set[str]:
    found = set(_KIND_EQUALS.findall(text))
    for group in _KIND_IN.findall(text):
        found |= set(re.findall(r"'(\w+)'", group))
    return found


def test_the_kinds_are_the_literal_type() -> None:
    assert get_args(EventKind) == EVENT_KINDS
    assert len(set(EVENT_KINDS)) == len(EVENT_KINDS)


def test_every_kind_the_queries_name_exists() -> None:
    named = set().union(*(kinds_in_sql(path.read_text()) for path in SIM_FOLDER.glob("*.py")))
    assert {"impression", "watch", "session_end", "read_post"} <= named  # the scan finds the queries
    assert named <= set(EVENT_KINDS)


def test_the_scan_catches_an_unknown_kind() -> None:
    assert kinds_in_sql("count(*) FILTER (WHERE kind IN ('watch', 'wacth'))") == {"watch", "wacth"}
