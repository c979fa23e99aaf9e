"""The embedded llama.cpp backend, end to end on the bundled SmolLM2 model."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from agentrec.core.errors import ConfigError, ModelBackendError
from agentrec.llm import GenerationSettings, Message, ToolSpec, make_backend
from agentrec.llm.local import LocalChatModel, bundled_gguf_path, embedded_gguf_path


class SearchMovies(BaseModel):
    """Arguments of the search tool."""

    genre: Literal["comedy", "drama", "sci-fi", "horror"] = Field(description="Genre to search")
    k: int = Field(description="How many movies to return")


class SimilarTo(BaseModel):
    """Arguments of the similarity tool."""

    title: str = Field(description="A movie title")


class Opinion(BaseModel):
    """A structured reply."""

    liked: bool
    reason: str = Field(max_length=400)


SEARCH = ToolSpec.from_model("search_movies", "Find movies of a genre.", SearchMovies)
SIMILAR = ToolSpec.from_model("similar_to", "Find movies similar to a title.", SimilarTo)


def test_forced_tool_call_validates_against_its_schema(local_model: LocalChatModel) -> None:
    turn = local_model.complete(
        [Message.user("I want 5 funny movies for tonight.")],
        tools=[SEARCH, SIMILAR],
        settings=GenerationSettings(tool_choice="search_movies", max_tokens=160),
    )
    assert len(turn.tool_calls) == 1
    call = turn.tool_calls[0]
    assert call.name == "search_movies"
    SearchMovies.model_validate(call.arguments)
    assert turn.usage.prompt_tokens > 0 and turn.usage.completion_tokens > 0
    assert turn.cost_usd == 0.0


def test_required_tool_choice_picks_one_of_the_offered_tools(local_model: LocalChatModel) -> None:
    turn = local_model.complete(
        [Message.user("Find movies like The Matrix.")],
        tools=[SEARCH, SIMILAR],
        settings=GenerationSettings(tool_choice="required", max_tokens=160),
    )
    (call,) = turn.tool_calls
    schema = {"search_movies": SearchMovies, "similar_to": SimilarTo}[call.name]
    schema.model_validate(call.arguments)


def test_auto_tool_choice_gives_a_call_or_a_text_reply(local_model: LocalChatModel) -> None:
    turn = local_model.complete(
        [Message.user("Hello! How are you?")],
        tools=[SEARCH],
        settings=GenerationSettings(tool_choice="auto", max_tokens=160),
    )
    assert turn.tool_calls or turn.text


def test_structured_reply_parses(local_model: LocalChatModel) -> None:
    turn = local_model.complete(
        [Message.user("Did you like the film Alien? Answer briefly.")],
        response_schema=Opinion,
        settings=GenerationSettings(max_tokens=160),
    )
    opinion = Opinion.model_validate_json(turn.text)
    assert isinstance(opinion.liked, bool)


def test_logprobs_are_finite_and_rank_a_likely_continuation_first(
    local_model: LocalChatModel,
) -> None:
    messages = [
        Message.user("What is the capital of France?"),
        Message.assistant("The capital of France is"),
    ]
    likely = local_model.logprob(messages, " Paris")
    unlikely = local_model.logprob(messages, " Banana")
    assert math.isfinite(likely) and math.isfinite(unlikely)
    assert likely < 0.0
    assert likely > unlikely


def test_logprob_of_a_longer_continuation_is_the_sum_over_its_tokens(
    local_model: LocalChatModel,
) -> None:
    messages = [Message.user("Rank these: Widget, Gadget."), Message.assistant("1.")]
    one = local_model.logprob(messages, " Widget")
    two = local_model.logprob(messages, " Widget\n2. Gadget")
    assert two < one  # more tokens, each with probability < 1


def test_assistant_prefill_is_continued_not_closed(local_model: LocalChatModel) -> None:
    prompt = local_model.render_prompt([Message.user("List films."), Message.assistant("1.")])
    assert prompt.endswith("1.")
    turn = local_model.complete(
        [Message.user("Name three famous films."), Message.assistant("1.")],
        settings=GenerationSettings(max_tokens=24),
    )
    assert turn.text and "<|im_start|>" not in turn.text


def test_the_model_file_is_loaded_once_per_process(local_model: LocalChatModel) -> None:
    again = LocalChatModel()
    assert again.loaded is local_model.loaded


def test_a_missing_gguf_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        make_backend(str(tmp_path / "missing.gguf"))


def test_local_spec_builds_the_embedded_model() -> None:
    backend = make_backend("local")
    assert isinstance(backend, LocalChatModel)
    assert backend.model_id.startswith("local/")


def test_a_prompt_longer_than_the_context_is_a_backend_error() -> None:
    small = LocalChatModel(n_ctx=256)
    with pytest.raises(ModelBackendError, match="context"):
        small.complete([Message.user("film " * 400)], settings=GenerationSettings(max_tokens=8))


def test_local_runs_the_bundled_weights_re_encoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTREC_HOME", str(tmp_path))
    encoded = embedded_gguf_path()
    assert encoded.is_relative_to(tmp_path) and encoded.name.endswith(".Q8_0.gguf")
    assert encoded.read_bytes()[:4] == b"GGUF"
    written_at = encoded.stat().st_mtime_ns
    assert embedded_gguf_path() == encoded and encoded.stat().st_mtime_ns == written_at  # not redone
    assert LocalChatModel().path == encoded


def test_local_bundled_spec_runs_the_file_as_shipped() -> None:
    backend = make_backend("local:bundled")
    assert isinstance(backend, LocalChatModel) and backend.path == bundled_gguf_path()


def test_a_tool_call_goes_back_into_the_prompt_as_the_model_wrote_it(local_model: LocalChatModel) -> None:
    request = [Message.user("I want 5 funny movies for tonight.")]
    turn = local_model.complete(
        request, tools=[SEARCH], settings=GenerationSettings(tool_choice="search_movies", max_tokens=160)
    )
    assert json.loads(turn.written)["tool"] == "search_movies"
    follow_up = [*request, turn.as_message(), Message.tool_result("search_movies", "3 films")]
    assert turn.written in local_model.render_prompt(follow_up)
    canonical = Message.assistant(turn.text, turn.tool_calls)  # e.g. a turn from another backend
    assert '"tool": "search_movies"' in local_model.render_prompt([*request, canonical])
