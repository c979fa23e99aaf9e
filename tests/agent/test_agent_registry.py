"""@tool builds the schema from the signature and docstring; the registry turns mistakes into hints."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from agentrec.agent.registry import ToolRegistry, tool
from agentrec.core.errors import ConfigError, ToolRetry


class Echo(BaseModel):
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
