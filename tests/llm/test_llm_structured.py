"""Structured replies: one re-ask with the validation error, then a typed error."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from agentrec.llm import (
    InvalidStructuredReply,
    Message,
    ScriptedChatModel,
    complete_structured,
)
from agentrec.llm.local import LocalChatModel


class Rating(BaseModel):
    """A structured reply with a constraint a grammar does not enforce."""

    stars: int = Field(ge=1, le=5)
    summary: str


def test_an_invalid_reply_gets_one_reask_showing_the_error() -> None:
    model = ScriptedChatModel(['{"stars": 9, "summary": "great"}', '{"stars": 5, "summary": "great"}'])
    rating, turns = complete_structured(model, [Message.user("Rate Alien.")], Rating)
    assert rating == Rating(stars=5, summary="great")
    assert len(turns) == 2
    reask = model.requests[1][-1]
    assert reask.role == "user" and "stars" in reask.content and "less than or equal" in reask.content


def test_two_invalid_replies_raise_a_typed_error() -> None:
    model = ScriptedChatModel(["not json", '{"stars": 0, "summary": "x"}'])
    with pytest.raises(InvalidStructuredReply, match="Rating"):
        complete_structured(model, [Message.user("Rate Alien.")], Rating)
    assert len(model.requests) == 2


def test_a_valid_first_reply_needs_no_reask() -> None:
    model = ScriptedChatModel(['{"stars": 3, "summary": "fine"}'])
    rating, turns = complete_structured(model, [Message.user("Rate Alien.")], Rating)
    assert rating.stars == 3 and len(turns) == 1


def test_the_embedded_model_gives_a_valid_structured_reply(local_model: LocalChatModel) -> None:
    class Pick(BaseModel):
        title: str = Field(max_length=200)
        year: int

    pick, _ = complete_structured(local_model, [Message.user("Name one classic film and its year.")], Pick)
    assert pick.title
