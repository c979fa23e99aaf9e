"""Transport faults against a loopback fake OpenAI server: retries, timeouts, key handling."""

from __future__ import annotations

import pytest

from agentrec.core.errors import ConfigError, ModelBackendError
from agentrec.llm import (
    CachedChatModel,
    GenerationSettings,
    Message,
    ResponseStore,
    RetryPolicy,
    ToolSpec,
    make_backend,
)
from agentrec.llm.remote import LiteLLMChatModel

FAST_RETRIES = RetryPolicy(max_attempts=4, initial_wait_s=0.05, max_wait_s=0.2, jitter_s=0.0)


def test_500_then_429_then_success_is_retried_and_counted(fake_openai) -> None:
    server = fake_openai.start(
        [
            fake_openai.error(500),
            fake_openai.error(429, headers={"Retry-After": "1"}),
            fake_openai.ok("pong"),
        ]
    )
    model = LiteLLMChatModel("openai/fake-model", api_base=server.url, retry_policy=FAST_RETRIES)
    turn = model.complete([Message.user("ping")], settings=GenerationSettings(timeout=5))
    assert turn.text == "pong"
    assert turn.usage.retries == 2
    assert len(server.requests) == 3
    assert (turn.usage.prompt_tokens, turn.usage.completion_tokens) == (7, 2)


def test_a_server_that_never_answers_ends_in_model_backend_error(fake_openai) -> None:
    server = fake_openai.start([fake_openai.hang()])
    policy = RetryPolicy(max_attempts=2, initial_wait_s=0.05, max_wait_s=0.1, jitter_s=0.0)
    model = LiteLLMChatModel("openai/fake-model", api_base=server.url, retry_policy=policy)
    with pytest.raises(ModelBackendError, match="2 attempt"):
        model.complete([Message.user("ping")], settings=GenerationSettings(timeout=0.5))
    assert len(server.requests) == 2


def test_a_bad_request_is_not_retried(fake_openai) -> None:
    server = fake_openai.start([fake_openai.error(400)])
    model = LiteLLMChatModel("openai/fake-model", api_base=server.url, retry_policy=FAST_RETRIES)
    with pytest.raises(ModelBackendError):
        model.complete([Message.user("ping")], settings=GenerationSettings(timeout=5))
    assert len(server.requests) == 1


def test_retries_stop_after_the_attempt_budget(fake_openai) -> None:
    server = fake_openai.start([fake_openai.error(503)])
    model = LiteLLMChatModel("openai/fake-model", api_base=server.url, retry_policy=FAST_RETRIES)
    with pytest.raises(ModelBackendError, match="4 attempt"):
        model.complete([Message.user("ping")], settings=GenerationSettings(timeout=5))
    assert len(server.requests) == 4


def test_a_hosted_model_without_its_key_names_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_backend("openai/gpt-4o-mini")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        make_backend("anthropic/claude-3-5-haiku-latest")


def test_an_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown model"):
        make_backend("no-such-provider-model-xyz")


def test_a_loopback_endpoint_needs_no_key(fake_openai, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = fake_openai.start([fake_openai.ok("ok")])
    model = make_backend("any-served-model", api_base=server.url)
    assert model.complete([Message.user("hi")]).text == "ok"


def test_the_api_key_never_reaches_the_cache(fake_openai, monkeypatch, tmp_path) -> None:
    secret = "sk-test-secret-value-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    server = fake_openai.start([fake_openai.ok("cached answer")])
    store = ResponseStore(tmp_path / "cache.duckdb")
    model = CachedChatModel(LiteLLMChatModel("openai/fake-model", api_base=server.url), mode="on", store=store)
    model.complete([Message.user("hi")])
    assert store.count() == 1
    assert secret.encode() not in (tmp_path / "cache.duckdb").read_bytes()
    assert secret not in model.model_id


def test_json_mode_fallback_parses_a_tool_call_from_text(fake_openai) -> None:
    reply = '{"thought": "look it up", "tool": "lookup_movie", "arguments": {"title": "Alien"}}'
    server = fake_openai.start([fake_openai.ok(reply)])
    model = LiteLLMChatModel("openai/fake-model", api_base=server.url, native_tools=False)
    tool = ToolSpec(
        name="lookup_movie",
        description="Look up a movie.",
        parameters={"type": "object", "properties": {"title": {"type": "string"}}},
    )
    turn = model.complete([Message.user("Alien?")], tools=[tool], settings=GenerationSettings(tool_choice="required"))
    assert turn.tool_calls[0].name == "lookup_movie"
    assert turn.tool_calls[0].arguments == {"title": "Alien"}
    assert turn.text == "look it up"
    sent = server.requests[0]
    assert "tools" not in sent and sent["response_format"]["type"] == "json_object"
    # a self-hosted endpoint also gets the tool-call schema, which llama.cpp servers enforce
    assert sent["response_format"]["schema"]["properties"]["tool"] == {"const": "lookup_movie"}
    assert "lookup_movie" in sent["messages"][0]["content"]


def free_loopback_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("api_base", "named"),
    [
        (lambda: f"http://127.0.0.1:{free_loopback_port()}/v1", "connection refused"),
        (lambda: "http://no-such-host.invalid:8000/v1", "cannot resolve the endpoint's host name"),
    ],
)
def test_a_transport_failure_is_named_for_what_it_is(api_base, named: str, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")  # a non-loopback endpoint asks for a key
    policy = RetryPolicy(max_attempts=2, initial_wait_s=0.01, max_wait_s=0.02, jitter_s=0.0)
    model = LiteLLMChatModel("openai/fake-model", api_base=api_base(), retry_policy=policy)
    with pytest.raises(ModelBackendError) as raised:
        model.complete([Message.user("ping")], settings=GenerationSettings(timeout=5))
    assert named in str(raised.value)
    assert "HTTP 500" not in str(raised.value)


def test_a_timeout_is_named_a_timeout(fake_openai) -> None:
    server = fake_openai.start([fake_openai.hang()])
    policy = RetryPolicy(max_attempts=1, initial_wait_s=0.01, max_wait_s=0.02, jitter_s=0.0)
    model = LiteLLMChatModel("openai/fake-model", api_base=server.url, retry_policy=policy)
    with pytest.raises(ModelBackendError, match="within the timeout"):
        model.complete([Message.user("ping")], settings=GenerationSettings(timeout=0.5))
