"""The loopback load-test provider (bench/load_provider.py): valid replies, faults and counters."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

import httpx
import jsonschema
import pytest
from pydantic import BaseModel, Field

from agentrec.llm import GenerationSettings, Message, ToolSpec
from agentrec.llm.remote import LiteLLMChatModel

Start = Callable[..., str]


@pytest.fixture
def start_provider(start_load_provider: Start) -> Start:
    return start_load_provider


def _root(base_url: str) -> str:
    return base_url.removesuffix("/v1")


def _chat(base_url: str, body: dict[str, Any], timeout: float = 10.0) -> httpx.Response:
    return httpx.post(f"{base_url}/chat/completions", json=body, timeout=timeout)


def _stats(base_url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{_root(base_url)}/stats", timeout=10.0).json())


HELLO = {"model": "load-test", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}


class Genre(BaseModel):
    """A nested model: reaches the tool schema as a ``$ref`` into ``$defs``."""

    name: Literal["comedy", "drama", "horror"]
    weight: float = Field(gt=0.0, lt=1.0)


class LookupMovie(BaseModel):
    """Arguments of the lookup tool."""

    title: str = Field(min_length=2, max_length=40, description="The movie title to look up")
    year: int | None = Field(default=None, ge=1900, le=2030)
    genres: list[Genre] = Field(min_length=1, max_length=3)
    exact: bool = False


LOOKUP = ToolSpec.from_model("lookup_movie", "Look up a movie.", LookupMovie)


class Verdict(BaseModel):
    """A structured reply with a mix of field kinds."""

    liked: bool
    score: int = Field(ge=1, le=5)
    tags: list[str] = Field(max_length=4)
    counts: dict[str, int]
    reason: str | None = None
    mood: Literal["happy", "sad"]


def test_a_native_tool_call_round_trips_through_litellm(start_provider: Start) -> None:
    model = LiteLLMChatModel("openai/load-test", api_base=start_provider())
    turn = model.complete(
        [Message.user("Look up the movie Titanic.")],
        tools=[LOOKUP],
        settings=GenerationSettings(tool_choice="lookup_movie", max_tokens=64, timeout=10),
    )
    (call,) = turn.tool_calls
    assert call.name == "lookup_movie"
    LookupMovie.model_validate(call.arguments)
    jsonschema.validate(call.arguments, LOOKUP.parameters)
    assert turn.finish_reason == "tool_calls"
    assert turn.usage.prompt_tokens > 0
    assert turn.usage.completion_tokens > 0


@pytest.mark.parametrize("schema_format", ["json_schema", "json_object"])
def test_a_structured_reply_validates_in_both_schema_dialects(start_provider: Start, schema_format: str) -> None:
    model = LiteLLMChatModel("openai/load-test", api_base=start_provider(), schema_format=schema_format)
    turn = model.complete(
        [Message.user("Did you like Alien?")],
        response_schema=Verdict,
        settings=GenerationSettings(max_tokens=64, timeout=10),
    )
    verdict = Verdict.model_validate_json(turn.text)
    jsonschema.validate(json.loads(turn.text), Verdict.model_json_schema())
    assert 1 <= verdict.score <= 5


def test_open_tool_choice_and_plain_json_mode_get_valid_answers(start_provider: Start) -> None:
    base_url = start_provider()
    tools = [LOOKUP.openai_format(), ToolSpec.from_model("rate", "Rate a movie.", Verdict).openai_format()]
    for choice in ("required", "auto"):
        reply = _chat(base_url, {**HELLO, "tools": tools, "tool_choice": choice}).json()
        (call,) = reply["choices"][0]["message"]["tool_calls"]
        schema = next(t["function"]["parameters"] for t in tools if t["function"]["name"] == call["function"]["name"])
        jsonschema.validate(json.loads(call["function"]["arguments"]), schema)
    plain_json = _chat(base_url, {**HELLO, "response_format": {"type": "json_object"}}).json()
    assert isinstance(json.loads(plain_json["choices"][0]["message"]["content"]), dict)
    text = _chat(base_url, HELLO).json()["choices"][0]
    assert text["message"]["content"] and text["finish_reason"] == "stop"
    assert _chat(base_url, {**HELLO, "stream": True, "response_format": {"type": "json_object"}}).status_code == 400


def test_plain_text_streams_word_by_word_through_litellm(start_provider: Start, load_provider: ModuleType) -> None:
    base_url = start_provider()
    model = LiteLLMChatModel("openai/load-test", api_base=base_url)
    pieces = list(model.stream_text([Message.user("Say something.")], GenerationSettings(max_tokens=8, timeout=10)))
    assert len(pieces) > 1 and all(piece.strip() in load_provider.WORDS for piece in pieces)
    events = _chat(base_url, {**HELLO, "stream": True, "stream_options": {"include_usage": True}}).text.split("\n\n")
    assert events[-2] == "data: [DONE]" and json.loads(events[-3].removeprefix("data: "))["usage"]["total_tokens"] > 0


KEYWORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind", "ratio", "maybe", "pinned", "nothing", "scores", "child", "extra"],
    "properties": {
        "id": {"type": ["integer", "null"], "exclusiveMinimum": 3, "exclusiveMaximum": 5},
        "kind": {"enum": ["a", "b"]},
        "ratio": {"type": "number", "minimum": 0.5, "maximum": 0.5},
        "maybe": {"oneOf": [{"type": "null"}, {"type": "string", "minLength": 3, "maxLength": 3}]},
        "pinned": {"const": 7},
        "nothing": {"type": "null"},
        "scores": {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 2},
        "child": {"$ref": "#/definitions/Child"},
        "when": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": {"type": "integer", "minimum": 10},
    "definitions": {
        "Child": {
            "type": "object",
            "properties": {"tags": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Tag"}}},
            "required": ["tags"],
            "additionalProperties": False,
        }
    },
    "$defs": {"Tag": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 0}]}},
}


@pytest.mark.parametrize("seed", range(5))
def test_sampled_values_satisfy_every_handled_keyword(seed: int, load_provider: ModuleType) -> None:
    value = load_provider.sample_value(KEYWORD_SCHEMA, KEYWORD_SCHEMA, random.Random(seed))
    jsonschema.validate(value, KEYWORD_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert value["id"] == 4 and value["ratio"] == 0.5 and len(value["maybe"]) == 3
    assert value["child"]["tags"]  # a dict[str, X] gets an entry


def test_next_token_logprobs_give_values_for_the_labels(start_provider: Start) -> None:
    model = LiteLLMChatModel("openai/load-test", api_base=start_provider())
    messages = [Message.user("Which is a fruit?\nA. a car\nB. an apple\nAnswer with the letter only.")]
    values = model.next_token_logprobs(messages, ["A", "B"])
    assert all(v is not None and v < 0 for v in values), values
    reply = _chat(start_provider(), {**HELLO, "max_tokens": 1, "logprobs": True, "top_logprobs": 5}).json()
    (first,) = reply["choices"][0]["logprobs"]["content"]
    alternatives = [a["logprob"] for a in first["top_logprobs"]]
    assert len(alternatives) == 5 and alternatives == sorted(alternatives, reverse=True)
    assert reply["choices"][0]["message"]["content"] == first["token"]


def test_rate_429_answers_with_retry_after(start_provider: Start) -> None:
    base_url = start_provider(rate_429=1.0, retry_after=3)
    response = _chat(base_url, HELLO)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_rpm_limit_refuses_the_request_over_it(start_provider: Start) -> None:
    base_url = start_provider(rpm=2)
    statuses = [_chat(base_url, {**HELLO, "n_try": i}).status_code for i in range(3)]
    assert statuses == [200, 200, 429]
    refused = _chat(base_url, HELLO)
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_500_and_timeout_faults(start_provider: Start) -> None:
    assert _chat(start_provider(rate_500=1.0), HELLO).status_code == 500
    held = start_provider(rate_timeout=1.0, timeout_s=0.2)
    with pytest.raises(httpx.ReadTimeout):
        _chat(held, HELLO, timeout=0.1)


def test_stats_count_requests_and_concurrency(start_provider: Start) -> None:
    # A fixed 200 ms delay (sigma 0) so that 8 requests released together certainly overlap.
    base_url = start_provider(median_ms=200, sigma=0.0)
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def send(index: int) -> None:
        barrier.wait()
        statuses.append(_chat(base_url, {**HELLO, "index": index}).status_code)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = _stats(base_url)
    assert statuses == [200] * 8
    assert stats["requests"] == stats["completed"] == 8
    assert stats["in_flight"] == 0
    assert stats["max_in_flight"] > 1
    assert stats["status_counts"] == {"200": 8}
    assert stats["duplicate_bodies"] == 0
    httpx.post(f"{_root(base_url)}/stats/reset", timeout=10.0)
    assert _stats(base_url)["requests"] == 0


def test_duplicate_bodies_count_a_finished_request_sent_again(start_provider: Start) -> None:
    base_url = start_provider(rpm=1)
    _chat(base_url, HELLO)  # answered
    reordered = dict(reversed(list(HELLO.items())))  # the same JSON, keys in another order
    assert _chat(base_url, reordered).status_code == 429  # refused, yet a resend of a finished request
    assert _chat(base_url, {**HELLO, "max_tokens": 9}).status_code == 429
    assert _stats(base_url)["duplicate_bodies"] == 1


def test_an_outage_answers_503_until_the_provider_is_up(start_provider: Start) -> None:
    base_url = start_provider()
    httpx.post(f"{_root(base_url)}/admin/down", timeout=10.0)
    assert _chat(base_url, HELLO).status_code == 503
    httpx.post(f"{_root(base_url)}/admin/up", timeout=10.0)
    assert _chat(base_url, HELLO).status_code == 200
    assert _stats(base_url)["status_counts"] == {"200": 1, "503": 1}
    assert httpx.get(f"{base_url}/models", timeout=10.0).json()["data"][0]["id"] == "load-test"


def test_the_same_request_gets_the_same_reply(load_provider: ModuleType) -> None:
    body = {**HELLO, "tools": [LOOKUP.openai_format()], "tool_choice": "auto"}
    first = load_provider.completion_reply(body, 0, "load-test")
    second = load_provider.completion_reply(json.loads(json.dumps(body)), 0, "load-test")
    assert first["choices"] == second["choices"]
    with pytest.raises(ValueError, match="sum to at most 1"):
        load_provider.LoadOptions(rate_429=0.6, rate_500=0.6)


def test_it_poses_as_a_server_and_shows_the_last_requests_form(
    start_provider: Start, load_provider: ModuleType
) -> None:
    base_url = start_provider(owned_by="vllm")
    assert httpx.get(f"{base_url}/models", timeout=10.0).json()["data"][0]["owned_by"] == "vllm"
    assert _stats(base_url)["last_request"] is None
    response_format = {"type": "json_object", "schema": Verdict.model_json_schema()}
    _chat(base_url, {**HELLO, "response_format": response_format})
    assert _stats(base_url)["last_request"] == {"response_format": response_format, "tool_choice": None, "tools": []}
    _chat(base_url, {**HELLO, "tools": [LOOKUP.openai_format()], "tool_choice": "required"})
    form = _stats(base_url)["last_request"]
    assert (form["tool_choice"], form["tools"], form["response_format"]) == ("required", ["lookup_movie"], None)
    assert load_provider.parse_arguments(["--owned-by", "llamacpp"])[1].owned_by == "llamacpp"
