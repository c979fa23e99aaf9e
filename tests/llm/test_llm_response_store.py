"""The response cache's file is derived data: an unreadable one is set aside with a warning and rebuilt."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentrec.llm import AssistantTurn, CachedChatModel, Message, ResponseStore, ScriptedChatModel, UsageMeter

CACHE_LOGGER = "agentrec.llm"


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGENTREC_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def cache_file(home: Path) -> Path:
    path = home / "llm" / "cache.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def unreadable_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "unreadable" in r.getMessage()]


def test_a_cache_overwritten_with_garbage_is_set_aside_and_rebuilt(
    state_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = cache_file(state_home)
    path.write_bytes(b"not a database at all\n" * 200)
    caplog.set_level(logging.WARNING, logger=CACHE_LOGGER)
    meter = UsageMeter()
    model = CachedChatModel(ScriptedChatModel(["Hello."]), mode="on", meter=meter)
    assert model.complete([Message.user("Hi")]).text == "Hello."
    assert model.complete([Message.user("Hi")]).cached  # the rebuilt cache works
    assert (meter.calls, meter.cache_hits) == (2, 1)
    [warning] = unreadable_warnings(caplog)
    assert str(path) in warning and "cache.duckdb.corrupt" in warning
    assert path.with_name("cache.duckdb.corrupt").read_bytes().startswith(b"not a database")


def test_a_truncated_cache_is_set_aside_when_a_read_fails(state_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    import duckdb

    path = cache_file(state_home)
    ResponseStore()  # creates the table
    turn = AssistantTurn(text="x" * 500).model_dump_json()
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO responses SELECT 'key' || i, 'm', ?, 0.0 FROM range(3000) AS t(i)", [turn])
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # the header survives; half the rows do not
    caplog.set_level(logging.WARNING, logger=CACHE_LOGGER)
    reopened = ResponseStore()
    assert reopened.get("key2999") is None  # unreadable rows: a miss, not a crash
    reopened.put("key", AssistantTurn(text="again", model="m"))
    assert ResponseStore().get("key") == AssistantTurn(text="again", model="m")
    assert len(unreadable_warnings(caplog)) == 1


def test_an_empty_cache_file_is_rebuilt(state_home: Path) -> None:
    cache_file(state_home).write_bytes(b"")
    assert ResponseStore().count() == 0


def test_llm_ping_runs_on_a_corrupted_cache(state_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    from agentrec.ui.llm_commands import app

    cache_file(state_home).write_bytes(b"\x00garbage" * 512)
    caplog.set_level(logging.WARNING, logger=CACHE_LOGGER)
    # The bundled file as shipped: a fresh state home has no re-encoded copy, and none is needed here.
    result = CliRunner().invoke(app, ["ping", "--llm", "local:bundled", "--cache", "on"])
    assert result.exit_code == 0, result.output
    assert len(unreadable_warnings(caplog)) == 1
