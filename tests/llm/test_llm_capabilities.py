"""Declared capabilities: who has which, what the cache wrapper forwards, and the error for a missing one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentrec.core.errors import ConfigError
from agentrec.llm import (
    CachedChatModel,
    GenerationSettings,
    KeepsPromptStates,
    Message,
    ReplayMissError,
    ResponseStore,
    RunsGgufFile,
    ScoresNextToken,
    ScoresText,
    ScriptedChatModel,
    StreamsText,
    Tokenizes,
    UsageMeter,
    require,
    supports,
)
from agentrec.llm.local import LocalChatModel
from agentrec.llm.records import AssistantTurn

MESSAGES = [Message.user("Rank three films.")]
SETTINGS = GenerationSettings(max_tokens=32)


class ScoringStreamer:
    """A backend that scores and streams, counting what it computed."""

    def __init__(self, reply: str = "1. Alien\n2. Heat\n3. Ran\n") -> None:
        self.pieces = reply.splitlines(keepends=True)
        self.scored = 0
        self.streamed_pieces = 0
        self.closed = 0

    @property
    def model_id(self) -> str:
        return "fake/scoring-streamer"

    def complete(self, messages: list[Message], *args: object, **kwargs: object) -> AssistantTurn:
        return AssistantTurn(text="".join(self.pieces))

    def logprob(self, messages: list[Message], continuation: str) -> float:
        self.scored += 1
        return -1.5 * len(continuation)

    def stream_text(self, messages: list[Message], settings: GenerationSettings | None = None) -> Iterator[str]:
        try:
            for piece in self.pieces:
                self.streamed_pieces += 1
                yield piece
        finally:
            self.closed += 1


def test_the_embedded_model_declares_what_it_can(local_model: LocalChatModel) -> None:
    for capability in (ScoresText, StreamsText, KeepsPromptStates, Tokenizes, RunsGgufFile):
        assert supports(local_model, capability), capability.__name__
    assert local_model.gguf_path() == local_model.path
    assert local_model.count_tokens("hello world") >= 2
    texts = local_model.token_texts()
    assert len(texts) == local_model.loaded.llama.n_vocab() and "hello" in texts


def test_a_wrapper_offers_exactly_its_backends_capabilities(local_model: LocalChatModel) -> None:
    scripted = CachedChatModel(ScriptedChatModel([]), mode="off")
    local = CachedChatModel(local_model, mode="off")
    for capability in (ScoresText, StreamsText, KeepsPromptStates, Tokenizes, RunsGgufFile):
        assert not supports(scripted, capability)
        assert supports(local, capability)
    assert local.gguf_path() == local_model.path
    assert local.count_tokens("hello world") == local_model.count_tokens("hello world")


def test_the_wrapper_has_no_attribute_passthrough() -> None:
    assert "__getattr__" not in vars(CachedChatModel)
    wrapped = CachedChatModel(ScoringStreamer(), mode="off")
    with pytest.raises(AttributeError):
        wrapped.streamed_pieces  # type: ignore[attr-defined]  # noqa: B018


@pytest.mark.parametrize(
    ("call", "capability"),
    [
        (lambda m: m.logprob(MESSAGES, " Alien"), "ScoresText"),
        (lambda m: m.stream_text(MESSAGES), "StreamsText"),
        (lambda m: m.stream_until(MESSAGES, SETTINGS, lambda text: True, "rule"), "StreamsText"),
        (lambda m: m.keep_prompt_states(), "KeepsPromptStates"),
        (lambda m: m.count_tokens("x"), "Tokenizes"),
        (lambda m: m.gguf_path(), "RunsGgufFile"),
    ],
)
def test_a_missing_capability_is_one_config_error_naming_backend_and_capability(call, capability: str) -> None:
    wrapped = CachedChatModel(ScriptedChatModel([], name="plain"), mode="off")
    with pytest.raises(ConfigError, match=rf"scripted/plain cannot give .* \(it does not implement {capability}\)"):
        call(wrapped)


def test_require_passes_a_backend_that_has_the_capability() -> None:
    require(ScoringStreamer(), ScoresText, "log-probabilities")
    with pytest.raises(ConfigError, match="scripted/scripted cannot give log-probabilities"):
        require(ScriptedChatModel([]), ScoresText, "log-probabilities")


def test_log_probabilities_go_through_the_cache_and_the_meter(tmp_path: Path) -> None:
    backend, meter = ScoringStreamer(), UsageMeter()
    store = ResponseStore(tmp_path / "cache.duckdb")
    model = CachedChatModel(backend, mode="on", store=store, meter=meter)
    assert model.logprob(MESSAGES, " Alien") == model.logprob(MESSAGES, " Alien") == -9.0
    assert backend.scored == 1 and model.backend_calls == 1
    assert (meter.calls, meter.cache_hits) == (2, 1)
    # Replay reads it; a missing one is computed (deterministic, no tokens) but not stored.
    replay = CachedChatModel(backend, mode="replay", store=ResponseStore(store.path), meter=meter)
    assert replay.logprob(MESSAGES, " Alien") == -9.0 and backend.scored == 1
    assert replay.logprob(MESSAGES, " Heat") == -7.5 and backend.scored == 2
    assert store.count() == 1
    assert meter.calls == 4


def test_a_live_stream_is_metered_even_when_the_caller_stops_early(tmp_path: Path) -> None:
    backend, meter = ScoringStreamer(), UsageMeter()
    store = ResponseStore(tmp_path / "cache.duckdb")
    model = CachedChatModel(backend, mode="on", store=store, meter=meter)
    stream = model.stream_text(MESSAGES, SETTINGS)
    assert next(stream) == "1. Alien\n"
    stream.close()
    assert backend.closed == 1  # the backend's stream was closed too: the model is free again
    assert (meter.calls, meter.completion_tokens, meter.cache_hits) == (1, 1, 0)
    assert "".join(model.stream_text(MESSAGES, SETTINGS)) == "1. Alien\n2. Heat\n3. Ran\n"
    assert (meter.calls, meter.completion_tokens) == (2, 4) and model.backend_calls == 2
    assert store.count() == 0  # a live stream is for timing or stopping: never answered from the cache


def test_a_reply_streamed_until_a_rule_is_cached_under_the_rule_and_metered(tmp_path: Path) -> None:
    backend, meter = ScoringStreamer(), UsageMeter()
    model = CachedChatModel(backend, mode="on", store=ResponseStore(tmp_path / "cache.duckdb"), meter=meter)

    def heat_is_listed(text: str) -> bool:
        return "Heat" in text

    assert model.stream_until(MESSAGES, SETTINGS, heat_is_listed, "Heat listed") == "1. Alien\n2. Heat\n"
    assert backend.streamed_pieces == 2 and backend.closed == 1
    assert model.stream_until(MESSAGES, SETTINGS, heat_is_listed, "Heat listed") == "1. Alien\n2. Heat\n"
    assert backend.streamed_pieces == 2 and model.backend_calls == 1  # the second came from the cache
    assert model.stream_until(MESSAGES, SETTINGS, lambda text: False, "never") == "1. Alien\n2. Heat\n3. Ran\n"
    assert (meter.calls, meter.cache_hits) == (3, 1)
    replay = CachedChatModel(backend, mode="replay", store=model.store)
    with pytest.raises(ReplayMissError):
        replay.stream_until(MESSAGES, SETTINGS, heat_is_listed, "another rule")
    with pytest.raises(ReplayMissError, match="cannot stream a live reply"):
        replay.stream_text(MESSAGES, SETTINGS)


def test_the_embedded_stream_through_the_wrapper_matches_the_whole_reply(local_model: LocalChatModel) -> None:
    meter = UsageMeter()
    model = CachedChatModel(local_model, mode="off", meter=meter)
    # llama.cpp evaluates a prompt it has cached up to its last token one token at a time, and
    # without the CPU's repacked kernels (agentrec/llm/local.py) that can tip a near tie in greedy
    # decoding: so both replies compared here are made from the same cached prompt
    model.complete(MESSAGES, settings=SETTINGS)
    whole = model.complete(MESSAGES, settings=SETTINGS).text
    assert "".join(model.stream_text(MESSAGES, SETTINGS)) == whole
    assert meter.calls == 3 and meter.completion_tokens > 0


class LabelScorer:
    """A backend that gives next-token log-probabilities, counting what it computed."""

    def __init__(self) -> None:
        self.scored = 0

    @property
    def model_id(self) -> str:
        return "fake/label-scorer"

    def complete(self, messages: list[Message], *args: object, **kwargs: object) -> AssistantTurn:
        return AssistantTurn(text="A")

    def next_token_logprobs(self, messages: list[Message], options: list[str]) -> list[float | None]:
        self.scored += 1
        return [-float(i + 1) if option != "Z" else None for i, option in enumerate(options)]


def test_next_token_log_probabilities_go_through_the_cache_and_the_meter(tmp_path: Path) -> None:
    backend, meter = LabelScorer(), UsageMeter()
    store = ResponseStore(tmp_path / "cache.duckdb")
    model = CachedChatModel(backend, mode="on", store=store, meter=meter)
    first = model.next_token_logprobs(MESSAGES, ["A", "B", "Z"])
    assert first == model.next_token_logprobs(MESSAGES, ["A", "B", "Z"]) == [-1.0, -2.0, None]
    assert backend.scored == 1 and model.backend_calls == 1
    assert (meter.calls, meter.cache_hits) == (2, 1)
    # Other options are another question, not a cache hit.
    assert model.next_token_logprobs(MESSAGES, ["B", "A"]) == [-1.0, -2.0] and backend.scored == 2
    # Replay answers only from the cache: a remote scorer's call may be paid for.
    replay = CachedChatModel(backend, mode="replay", store=ResponseStore(store.path))
    assert replay.next_token_logprobs(MESSAGES, ["A", "B", "Z"]) == [-1.0, -2.0, None]
    with pytest.raises(ReplayMissError):
        replay.next_token_logprobs(MESSAGES, ["C"])


def test_a_backend_without_next_token_scores_gets_one_error_naming_it() -> None:
    wrapped = CachedChatModel(ScriptedChatModel([], name="plain"), mode="off")
    assert not supports(wrapped, ScoresNextToken)
    with pytest.raises(ConfigError, match=r"scripted/plain cannot give next-token .*ScoresNextToken"):
        wrapped.next_token_logprobs(MESSAGES, ["A"])


def test_the_embedded_model_scores_labels_in_one_pass_like_teacher_forcing(local_model: LocalChatModel) -> None:
    messages = [
        Message.system("Answer with one letter."),
        Message.user("Which is a fruit?\nA. a car\nB. an apple\nC. a chair\nAnswer with the letter only."),
    ]
    assert supports(local_model, ScoresNextToken)
    values = local_model.next_token_logprobs(messages, ["A", "B", "C"])
    assert all(v is not None and v < 0 for v in values)
    # The same number the continuation scorer gives for a one-token continuation.
    for option, value in zip(["A", "B", "C"], values, strict=True):
        assert value == pytest.approx(local_model.logprob(messages, option), abs=1e-3)
    # Deterministic, whatever was evaluated before (the kept prefix is reused).
    local_model.next_token_logprobs([Message.user("Something else entirely.")], ["A"])
    assert local_model.next_token_logprobs(messages, ["A", "B", "C"]) == pytest.approx(values, abs=1e-6)


def test_extra_buffer_types_are_switched_off_only_on_a_cpu_with_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    import llama_cpp.llama_cpp as bindings

    from agentrec.llm import local

    original = bindings.llama_model_default_params
    monkeypatch.setattr(bindings, "llama_model_default_params", original)  # restored after the test
    monkeypatch.setattr(local, "cpu_has_amx", lambda: False)
    local.disable_extra_buffer_types()
    assert bindings.llama_model_default_params is original
    monkeypatch.setattr(local, "cpu_has_amx", lambda: True)
    local.disable_extra_buffer_types()
    local.disable_extra_buffer_types()  # once per process: not wrapped twice
    assert bindings.llama_model_default_params().use_extra_bufts is False
    assert getattr(bindings.llama_model_default_params, "_agentrec_plain", False)
