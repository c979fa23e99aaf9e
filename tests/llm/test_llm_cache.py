"""The DuckDB response cache, with the real embedded model behind it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agentrec.core.errors import ConfigError
from agentrec.llm import (
    AssistantTurn,
    CachedChatModel,
    GenerationSettings,
    Message,
    ReplayMissError,
    ResponseStore,
    ToolSpec,
    UsageMeter,
)
from agentrec.llm.local import LocalChatModel
from agentrec.llm.response_store import request_key


class PickGenre(BaseModel):
    """Arguments of the genre tool."""

    genre: str


PICK = ToolSpec.from_model("pick_genre", "Pick a genre.", PickGenre)
SETTINGS = GenerationSettings(max_tokens=24)
CALLS = [
    ([Message.user("Name a film genre.")], None),
    ([Message.user("Name a film about space.")], None),
    ([Message.user("I like scary films.")], [PICK]),
]


def _run(model: CachedChatModel) -> list:
    turns = []
    for messages, tools in CALLS:
        tool_settings = {"tool_choice": "pick_genre", "max_tokens": 96}
        settings = SETTINGS.model_copy(update=tool_settings) if tools else SETTINGS
        turns.append(model.complete(messages, tools=tools, settings=settings))
    return turns


def test_a_replayed_run_makes_no_backend_calls_and_returns_identical_turns(
    local_model: LocalChatModel, tmp_path
) -> None:
    store = ResponseStore(tmp_path / "cache.duckdb")
    live = CachedChatModel(local_model, mode="on", store=store, meter=UsageMeter())
    live_turns = _run(live)
    assert live.backend_calls == len(CALLS)
    assert not any(t.cached for t in live_turns)

    meter = UsageMeter()
    replay = CachedChatModel(local_model, mode="replay", store=store, meter=meter)
    replay_turns = _run(replay)
    assert replay.backend_calls == 0
    assert all(t.cached for t in replay_turns)
    assert [t.model_copy(update={"cached": False}) for t in replay_turns] == live_turns
    assert meter.cache_hits == len(CALLS) and meter.cost_usd == 0.0


def test_a_replay_miss_names_the_missing_call(local_model: LocalChatModel, tmp_path) -> None:
    replay = CachedChatModel(local_model, mode="replay", store=ResponseStore(tmp_path / "c.duckdb"))
    with pytest.raises(ReplayMissError, match=r"local/.*'Which film won"):
        replay.complete([Message.user("Which film won the most Oscars?")], settings=SETTINGS)
    assert replay.backend_calls == 0


def test_cache_off_always_calls_the_backend(local_model: LocalChatModel) -> None:
    model = CachedChatModel(local_model, mode="off")
    model.complete([Message.user("Hi")], settings=SETTINGS)
    model.complete([Message.user("Hi")], settings=SETTINGS)
    assert model.backend_calls == 2


def test_an_unknown_cache_mode_is_a_config_error(local_model: LocalChatModel) -> None:
    with pytest.raises(ConfigError, match="cache mode"):
        CachedChatModel(local_model, mode="sometimes")  # type: ignore[arg-type]


def test_the_key_depends_on_what_changes_the_reply_only() -> None:
    messages = [Message.user("hello")]
    base = request_key("m", messages, None, None, GenerationSettings())
    assert base == request_key("m", messages, None, None, GenerationSettings(timeout=1))
    assert base != request_key("m", messages, None, None, GenerationSettings(temperature=0.5))
    assert base != request_key("m2", messages, None, None, GenerationSettings())
    assert base != request_key("m", messages, [PICK], None, GenerationSettings())
    assert base != request_key("m", [Message.user("hello!")], None, None, GenerationSettings())


def test_a_store_sees_answers_another_store_wrote_after_it_opened(tmp_path) -> None:
    path = tmp_path / "shared.duckdb"
    reader, writer = ResponseStore(path), ResponseStore(path)
    assert reader.get("k") is None  # the reader has now indexed the (empty) file
    writer.put("k", AssistantTurn(text="from another process", model="m"))
    stored = reader.get("k")
    assert stored is not None and stored.text == "from another process"
