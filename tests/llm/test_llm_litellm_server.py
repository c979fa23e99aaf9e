"""The litellm backend against a real llama.cpp server on loopback."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from agentrec.core.errors import ConfigError
from agentrec.llm import GenerationSettings, Message, ScoresNextToken, ToolSpec, supports
from agentrec.llm.remote import LiteLLMChatModel


class LookupMovie(BaseModel):
    """Arguments of the lookup tool."""

    title: str = Field(description="The movie title to look up")


LOOKUP = ToolSpec.from_model("lookup_movie", "Look up a movie by title.", LookupMovie)


def test_a_tool_call_round_trips_through_litellm(llama_server: str) -> None:
    model = LiteLLMChatModel("openai/smollm2", api_base=llama_server)
    turn = model.complete(
        [Message.user("Look up the movie Titanic.")],
        tools=[LOOKUP],
        settings=GenerationSettings(tool_choice="lookup_movie", max_tokens=64, timeout=60),
    )
    (call,) = turn.tool_calls
    assert call.name == "lookup_movie"
    LookupMovie.model_validate(call.arguments)
    assert turn.usage.prompt_tokens > 0
    assert turn.usage.completion_tokens > 0
    assert turn.usage.retries == 0
    assert turn.cost_usd == 0.0
    assert turn.latency_s > 0


def test_a_plain_reply_round_trips_with_usage(llama_server: str) -> None:
    model = LiteLLMChatModel("openai/smollm2", api_base=llama_server)
    turn = model.complete([Message.user("Say hello.")], settings=GenerationSettings(max_tokens=16, timeout=60))
    assert turn.text
    assert 0 < turn.usage.completion_tokens <= 16
    assert turn.model.startswith("openai/smollm2@http://127.0.0.1:")


class Verdict(BaseModel):
    """A structured reply."""

    liked: bool


def test_a_structured_reply_round_trips_through_litellm(llama_server: str) -> None:
    model = LiteLLMChatModel("openai/smollm2", api_base=llama_server)
    turn = model.complete(
        [Message.user("Did you like Alien?")],
        response_schema=Verdict,
        settings=GenerationSettings(max_tokens=32, timeout=60),
    )
    assert isinstance(Verdict.model_validate_json(turn.text).liked, bool)


def test_label_log_probabilities_come_from_the_servers_top_logprobs(llama_server: str) -> None:
    model = LiteLLMChatModel("openai/smollm2", api_base=llama_server)
    assert supports(model, ScoresNextToken)
    messages = [Message.user("Which is a fruit?\nA. a car\nB. an apple\nC. a chair\nAnswer with the letter only.")]
    values = model.next_token_logprobs(messages, ["A", "B", "C", "Q"])
    given = [v for v in values if v is not None]
    assert given, values
    assert all(v <= 0 for v in given)


def test_a_provider_without_logprobs_is_refused_naming_it(monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-used")
    model = LiteLLMChatModel("anthropic/claude-3-5-haiku-latest")
    assert not supports(model, ScoresNextToken)
    with pytest.raises(ConfigError, match=r"anthropic/claude-3-5-haiku-latest cannot give next-token"):
        model.next_token_logprobs([Message.user("A or B?")], ["A", "B"])
