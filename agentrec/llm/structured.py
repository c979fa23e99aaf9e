"""Structured replies: ask for a pydantic model, validate, re-ask once, then fail typed.

Grammar-constrained backends always produce parseable JSON, but a schema can
say more than a grammar enforces (ranges, cross-field rules), and remote
backends may ignore JSON mode. The one re-ask shows the validation error to the
model, which is the cheapest way for it to fix its answer.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from agentrec.core.errors import ModelBackendError
from agentrec.llm.records import AssistantTurn, ChatModel, GenerationSettings, Message

logger = logging.getLogger(__name__)

ReplyModel = TypeVar("ReplyModel", bound=BaseModel)


class InvalidStructuredReply(ModelBackendError):
    """The model's reply did not validate against the requested schema, even after a re-ask."""


def complete_structured(
    model: ChatModel,
    messages: list[Message],
    reply_model: type[ReplyModel],
    settings: GenerationSettings | None = None,
) -> tuple[ReplyModel, list[AssistantTurn]]:
    """Ask ``model`` for a reply matching ``reply_model``; return it and the turns it took.

    An invalid reply is answered once with the validation error; a second
    invalid reply raises ``InvalidStructuredReply``.
    """
    conversation = list(messages)
    turns: list[AssistantTurn] = []
    for attempt in range(2):
        turn = model.complete(conversation, response_schema=reply_model, settings=settings)
        turns.append(turn)
        try:
            return reply_model.model_validate_json(turn.text), turns
        except ValidationError as error:
            problem = _short_error(error)
            logger.info("structured reply invalid (attempt %s): %s", attempt + 1, problem)
            conversation += [
                Message.assistant(turn.text),
                Message.user(
                    f"Your reply did not match the required JSON schema: {problem}. "
                    "Answer again with only the corrected JSON object."
                ),
            ]
    raise InvalidStructuredReply(f"{model.model_id} gave no valid {reply_model.__name__} after one re-ask: {problem}")


def _short_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "reply"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
