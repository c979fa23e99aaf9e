"""@tool builds the schema from the signature and docstring; the registry makes mistakes hints and calls steps."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from agentrec.agent.registry import MAX_OBSERVATION_CHARS, ToolRegistry, ToolResult, tool
from agentrec.core.errors import ConfigError, ToolRetry


class Echo(ToolResult):
    text: str

    def observation(self) -> str:
        return f"echoed {self.text}"


class Plain(BaseModel):
    text: str


class Unobservable(ToolResult):
    text: str


@tool
def shout(context: object, text: str, times: Annotated[int, Field(ge=1, le=3)] = 1) -> Echo:
    """Repeat a text loudly.

    Args:
        text: what to repeat.
        times: how often (1 to 3).
    """
    if text == "forbidden":
        raise ToolRetry("pick another text")
    return Echo(text=(text.upper() + " ") * times)


def test_the_schema_comes_from_the_signature_and_the_docstring() -> None:
    spec = shout.spec()
    assert spec.name == "shout"
    assert spec.description == "Repeat a text loudly."
    properties = spec.parameters["properties"]
    assert properties["text"]["description"] == "what to repeat."
    assert properties["times"]["maximum"] == 3
    assert spec.parameters["required"] == ["text"]


def test_an_undescribed_argument_is_refused_at_declaration() -> None:
    with pytest.raises(ConfigError, match="not described"):

        @tool
        def vague(context: object, mystery: int) -> Echo:
            """Does something.

            Args:
            """
            return Echo(text="")


def test_a_tool_must_return_a_tool_result_that_says_what_the_model_reads() -> None:
    def plain(context: object, text: str) -> Plain:
        """Return a plain model.

        Args:
            text: anything.
        """
        return Plain(text=text)

    def unannotated(context: object, text: str):  # type: ignore[no-untyped-def]
        """Return nothing declared.

        Args:
            text: anything.
        """
        return Echo(text=text)

    def abstract(context: object, text: str) -> Unobservable:
        """Return a result without an observation.

        Args:
            text: anything.
        """
        raise AssertionError("never called")

    with pytest.raises(ConfigError, match="plain must be annotated to return a ToolResult subclass, not Plain"):
        tool(plain)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unannotated must be annotated to return a ToolResult"):
        tool(unannotated)
    with pytest.raises(ConfigError, match=r"Unobservable does not define observation\(\)"):
        tool(abstract)


def test_a_tool_may_take_a_public_name_its_function_should_not_have() -> None:
    def keep_only(context: object, text: str) -> Echo:
        """Keep a text.

        Args:
            text: what to keep.
        """
        return Echo(text=text)

    declared = tool(name="filter")(keep_only)
    assert declared.name == "filter" and declared.spec().name == "filter"
    assert ToolRegistry.of([declared]).call("filter", {"text": "a"}, None).retry_hint is None


def test_run_step_records_a_call_as_a_step() -> None:
    registry = ToolRegistry.of([shout])
    ok = registry.run_step(3, "shout", {"text": "hi"}, None, thought="why not")
    assert (ok.step, ok.tool, ok.status, ok.thought) == (3, "shout", "ok", "why not")
    assert ok.arguments == {"text": "hi"} and ok.observation == "echoed HI " and ok.tool_ms >= 0
    failed = registry.run_step(4, "shout", {"text": "forbidden"}, None)
    assert failed.status == "skipped" and failed.observation == "error: pick another text"
    long = registry.run_step(5, "shout", {"text": "x" * 400, "times": 3}, None)
    assert len(long.observation) == MAX_OBSERVATION_CHARS  # the step keeps a head; the model reads it whole
    assert len(registry.call("shout", {"text": "x" * 400, "times": 3}, None).observation) > MAX_OBSERVATION_CHARS


def test_a_call_runs_and_mistakes_become_hints() -> None:
    registry = ToolRegistry.of([shout])
    ok = registry.call("shout", {"text": "hi", "times": 2}, context=None)
    assert ok.retry_hint is None and isinstance(ok.result, Echo) and ok.result.text == "HI HI "
    assert "times" in (registry.call("shout", {"text": "hi", "times": 9}, None).retry_hint or "")
    assert "extra" in (registry.call("shout", {"text": "hi", "colour": "red"}, None).retry_hint or "").lower()
    assert registry.call("shout", {"text": "forbidden"}, None).retry_hint == "pick another text"
    assert "no tool 'whisper'" in (registry.call("whisper", {}, None).retry_hint or "")


def test_choices_narrow_a_string_argument_to_an_enum() -> None:
    narrowed = shout.with_choices({"text": ["a", "b"]})
    assert narrowed.spec().parameters["properties"]["text"]["enum"] == ["a", "b"]
    registry = ToolRegistry.of([narrowed])
    assert registry.call("shout", {"text": "a"}, None).retry_hint is None
    assert registry.call("shout", {"text": "c"}, None).retry_hint is not None
    with pytest.raises(ConfigError):
        shout.with_choices({"nope": ["a"]})


def test_a_tool_name_registers_once() -> None:
    registry = ToolRegistry.of([shout])
    with pytest.raises(ConfigError, match="twice"):
        registry.register(shout)
