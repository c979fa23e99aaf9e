"""The JSON tool-call protocol used by grammar-constrained and JSON-mode backends."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from agentrec.llm import ToolSpec
from agentrec.llm.tool_protocol import (
    REPLY_TOOL,
    ToolReplyError,
    inline_refs,
    parse_tool_reply,
    tool_call_schema,
)


class Window(BaseModel):
    """A nested model (pydantic puts it under definitions)."""

    start: int
    end: int


class Filter(BaseModel):
    """Arguments with a nested model."""

    genre: str
    years: Window


FILTER = ToolSpec.from_model("filter_items", "Filter the catalog.", Filter)
OTHER = ToolSpec(name="other", description="", parameters={"type": "object", "properties": {}})


def test_inline_refs_removes_every_reference() -> None:
    schema = inline_refs(FILTER.parameters)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    assert schema["properties"]["years"]["properties"]["start"]["type"] == "integer"


def test_a_named_tool_choice_allows_only_that_tool() -> None:
    schema = tool_call_schema([FILTER, OTHER], "filter_items")
    assert schema["properties"]["tool"] == {"const": "filter_items"}


def test_auto_adds_a_reply_option() -> None:
    schema = tool_call_schema([FILTER], "auto")
    names = [option["properties"]["tool"]["const"] for option in schema["anyOf"]]
    assert names == ["filter_items", REPLY_TOOL]


def test_parse_tool_reply_reads_a_call_and_a_text_reply() -> None:
    text, calls = parse_tool_reply(
        '{"thought": "t", "tool": "filter_items", "arguments": {"genre": "x"}}', [FILTER], "auto"
    )
    assert text == "t" and calls[0].name == "filter_items"
    text, calls = parse_tool_reply('{"tool": "reply", "arguments": {"text": "hi"}}', [FILTER], "auto")
    assert (text, calls) == ("hi", [])


@pytest.mark.parametrize(
    "reply",
    [
        '{"tool": "nope", "arguments": {}}',
        "[1, 2]",
        '{"tool": "filter_items", "arguments": 3}',
        "{",
    ],
)
def test_parse_tool_reply_rejects_malformed_replies(reply: str) -> None:
    with pytest.raises(ToolReplyError):
        parse_tool_reply(reply, [FILTER], "required")


def test_a_reply_is_not_allowed_when_a_tool_is_required() -> None:
    with pytest.raises(ToolReplyError):
        parse_tool_reply('{"tool": "reply", "arguments": {"text": "hi"}}', [FILTER], "required")


def test_a_property_named_title_survives_inlining() -> None:
    class Movie(BaseModel):
        title: str
        year: int

    schema = inline_refs(Movie.model_json_schema())
    assert set(schema["properties"]) == {"title", "year"}
    assert "title" not in schema  # the model's own title keyword is dropped
