"""Server dialects: each server gets its own form of a JSON schema and of an open tool choice.

The loopback load provider answers every form; posing as a server (``owned_by``
in its /v1/models) it lets a test check both the detection and the form sent.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any, Literal

import httpx
import jsonschema
import pytest
from pydantic import BaseModel, Field

from agentrec.core.errors import ConfigError
from agentrec.llm import GenerationSettings, Message, ToolSpec
from agentrec.llm.dialects import LLAMACPP, OPENAI, VLLM, Dialect, detect_dialect
from agentrec.llm.remote import LiteLLMChatModel
from agentrec.llm.tool_protocol import tool_call_schema

Start = Callable[..., str]
SETTINGS = GenerationSettings(max_tokens=64, timeout=10)


class LookupMovie(BaseModel):
    """Arguments of the lookup tool."""

    title: str = Field(min_length=2, max_length=40, description="The movie title to look up")


class RateMovie(BaseModel):
    """Arguments of the rating tool."""

    title: str = Field(description="The movie to rate")
    stars: int = Field(ge=1, le=5, description="How many stars")


LOOKUP = ToolSpec.from_model("lookup_movie", "Look up a movie.", LookupMovie)
RATE = ToolSpec.from_model("rate_movie", "Rate a movie.", RateMovie)


class Verdict(BaseModel):
    """A structured reply."""

    liked: bool
    score: int = Field(ge=1, le=5)
    mood: Literal["happy", "sad"]


def last_request(base_url: str) -> dict[str, Any]:
    """The response format, tool choice and tools of the provider's last chat request."""
    form = httpx.get(f"{base_url.removesuffix('/v1')}/stats", timeout=10.0).json()["last_request"]
    assert isinstance(form, dict)
    return form


# owned_by in /v1/models as each server writes it, and the dialect it must be taken for.
POSES = [("openai", OPENAI), ("system", OPENAI), ("vllm", VLLM), ("llamacpp", LLAMACPP)]


@pytest.mark.parametrize(("owned_by", "dialect"), POSES)
def test_a_schema_request_takes_the_servers_form(start_load_provider: Start, owned_by: str, dialect: Dialect) -> None:
    base_url = start_load_provider(owned_by=owned_by)
    model = LiteLLMChatModel("openai/load-test", api_base=base_url)
    assert model.dialect == dialect
    turn = model.complete([Message.user("Did you like Alien?")], response_schema=Verdict, settings=SETTINGS)
    Verdict.model_validate_json(turn.text)
    sent = last_request(base_url)["response_format"]
    schema = Verdict.model_json_schema()
    if dialect is LLAMACPP:
        assert sent["type"] == "json_object"
        assert sent["schema"]["properties"].keys() == schema["properties"].keys()
    else:
        assert sent["type"] == "json_schema" and "schema" not in sent
        assert sent["json_schema"]["name"] == "reply"
        assert sent["json_schema"]["schema"]["properties"].keys() == schema["properties"].keys()


@pytest.mark.parametrize(("owned_by", "dialect"), POSES)
def test_a_required_tool_call_takes_the_servers_form(
    start_load_provider: Start, owned_by: str, dialect: Dialect
) -> None:
    base_url = start_load_provider(owned_by=owned_by)
    model = LiteLLMChatModel("openai/load-test", api_base=base_url)
    settings = SETTINGS.model_copy(update={"tool_choice": "required"})
    turn = model.complete([Message.user("Look up Alien, then rate it.")], tools=[LOOKUP, RATE], settings=settings)
    (call,) = turn.tool_calls
    tool = {LOOKUP.name: LOOKUP, RATE.name: RATE}[call.name]
    jsonschema.validate(call.arguments, tool.parameters)
    sent = last_request(base_url)
    if dialect is LLAMACPP:  # no native "required" there: JSON mode constrained by the tool-call schema
        assert sent["tools"] == [] and sent["tool_choice"] is None
        assert sent["response_format"] == {
            "type": "json_object",
            "schema": tool_call_schema([LOOKUP, RATE], "required"),
        }
    else:
        assert sent["tools"] == [LOOKUP.name, RATE.name] and sent["tool_choice"] == "required"
        assert sent["response_format"] is None
        assert turn.finish_reason == "tool_calls"


def test_vllm_answers_auto_through_json_tools_and_a_named_tool_natively(start_load_provider: Start) -> None:
    # vLLM refuses "auto" unless started with --enable-auto-tool-choice; a schema-guided JSON reply always works.
    base_url = start_load_provider(owned_by="vllm")
    model = LiteLLMChatModel("openai/load-test", api_base=base_url)
    model.complete(
        [Message.user("Alien?")], tools=[LOOKUP], settings=SETTINGS.model_copy(update={"tool_choice": "auto"})
    )
    auto = last_request(base_url)
    assert auto["tools"] == [] and auto["response_format"]["type"] == "json_schema"
    assert "anyOf" in auto["response_format"]["json_schema"]["schema"]  # the call, or a plain reply
    named = SETTINGS.model_copy(update={"tool_choice": LOOKUP.name})
    (call,) = model.complete([Message.user("Alien?")], tools=[LOOKUP], settings=named).tool_calls
    assert call.name == LOOKUP.name
    assert last_request(base_url)["tool_choice"] == {"type": "function", "function": {"name": LOOKUP.name}}


def test_the_hosted_vllm_provider_is_vllm_without_asking(start_load_provider: Start) -> None:
    base_url = start_load_provider()  # owned by "bench": the provider name alone decides
    model = LiteLLMChatModel("hosted_vllm/load-test", api_base=base_url)
    assert model.dialect == VLLM
    turn = model.complete([Message.user("Did you like Alien?")], response_schema=Verdict, settings=SETTINGS)
    Verdict.model_validate_json(turn.text)
    assert last_request(base_url)["response_format"]["type"] == "json_schema"


def test_a_hosted_provider_speaks_openai_without_asking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-used")
    assert LiteLLMChatModel("anthropic/claude-3-5-haiku-latest").dialect == OPENAI


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield int(listener.getsockname()[1])


def refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_failed_probe_falls_back_to_the_llamacpp_form(fake_openai: Any, silent_port: int) -> None:
    # Nothing listening: construction still succeeds; the requests will report the outage.
    assert LiteLLMChatModel("openai/x", api_base=f"http://127.0.0.1:{refused_port()}/v1").dialect == LLAMACPP
    silent = f"http://127.0.0.1:{silent_port}/v1"
    assert detect_dialect("openai", silent, None, "silent", timeout_s=0.2) == LLAMACPP
    server = fake_openai.start([fake_openai.ok('{"liked": true, "score": 3, "mood": "sad"}')])  # GET gets 501
    model = LiteLLMChatModel("openai/fake-model", api_base=server.url)
    assert model.dialect == LLAMACPP
    turn = model.complete([Message.user("Did you like Alien?")], response_schema=Verdict, settings=SETTINGS)
    assert Verdict.model_validate_json(turn.text).score == 3
    (sent,) = server.requests
    assert (
        sent["response_format"]["type"] == "json_object" and "liked" in sent["response_format"]["schema"]["properties"]
    )


def test_an_unknown_owner_gets_the_llamacpp_form(start_load_provider: Start) -> None:
    # llama-cpp-python's server says "me", LM Studio "organization_owner": neither is known to take json_schema.
    assert LiteLLMChatModel("openai/load-test", api_base=start_load_provider(owned_by="me")).dialect == LLAMACPP


def test_the_named_dialect_wins_over_the_servers_answer(start_load_provider: Start) -> None:
    vllm_url = start_load_provider(owned_by="vllm")
    model = LiteLLMChatModel("openai/load-test", api_base=vllm_url, dialect="llamacpp")
    assert model.dialect == LLAMACPP
    model.complete([Message.user("Did you like Alien?")], response_schema=Verdict, settings=SETTINGS)
    assert last_request(vllm_url)["response_format"]["type"] == "json_object"
    llama_url = start_load_provider(owned_by="llamacpp")
    model = LiteLLMChatModel("openai/load-test", api_base=llama_url, dialect="OpenAI")
    required = SETTINGS.model_copy(update={"tool_choice": "required"})
    assert model.complete([Message.user("Alien?")], tools=[LOOKUP], settings=required).tool_calls
    assert last_request(llama_url)["tool_choice"] == "required"
    # A named dialect needs no server: nothing is asked.
    assert (
        LiteLLMChatModel("openai/x", api_base=f"http://127.0.0.1:{refused_port()}/v1", dialect="vllm").dialect == VLLM
    )
    with pytest.raises(ConfigError, match="unknown dialect 'tgi': use one of openai, vllm, llamacpp"):
        LiteLLMChatModel("openai/load-test", api_base=llama_url, dialect="tgi")


def test_the_probe_logs_neither_the_key_nor_the_urls_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret, password = "sk-test-secret-value-0123456789", "hunter2-password"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    caplog.set_level(logging.DEBUG)
    model = LiteLLMChatModel("openai/x", api_base=f"http://user:{password}@no-such-host.invalid:8000/v1")
    assert model.dialect == LLAMACPP
    assert "could not read the server's /models" in caplog.text
    assert secret not in caplog.text and password not in caplog.text


UNION = tool_call_schema([LOOKUP, RATE], "required")  # anyOf at the root
ONE_CALL = tool_call_schema([LOOKUP], "required")  # an object at the root


def test_openai_takes_only_an_object_root_in_json_schema() -> None:
    assert OPENAI.response_format(ONE_CALL, "tool_call")["type"] == "json_schema"
    assert OPENAI.response_format(UNION, "tool_call") == {"type": "json_object"}
    assert VLLM.response_format(UNION, "tool_call")["json_schema"]["schema"] == UNION
    assert LLAMACPP.response_format(UNION, "tool_call") == {"type": "json_object", "schema": UNION}
    assert json.dumps(OPENAI.response_format(ONE_CALL, "tool_call")).count('"strict"') == 0
    assert LLAMACPP.with_schema_format("json_schema").response_format(UNION, "r")["type"] == "json_schema"
    with pytest.raises(ConfigError, match="json_schema or json_object"):
        OPENAI.with_schema_format("xml")
