"""A chat model that plays back canned turns: for unit tests of control flow only."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from agentrec.core.errors import ModelBackendError
from agentrec.llm.records import (
    AssistantTurn,
    GenerationSettings,
    Message,
    ResponseSchema,
    ToolSpec,
)

TurnSource = AssistantTurn | str | Callable[[list[Message]], AssistantTurn | str]


class ScriptedChatModel:
    """Answers each call with the next scripted turn; records the messages it was sent.

    A script entry is a turn, a plain text reply, or a function of the messages.
    Running past the end of the script is an error, so a test notices extra calls.
    """

    def __init__(self, script: Iterable[TurnSource], name: str = "scripted") -> None:
        self._script = list(script)
        self._name = name
        self.requests: list[list[Message]] = []

    @property
    def model_id(self) -> str:
        """The script's name."""
        return f"scripted/{self._name}"

    def complete(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_schema: ResponseSchema | None = None,
        settings: GenerationSettings | None = None,
    ) -> AssistantTurn:
        """Return the next scripted turn."""
        if len(self.requests) >= len(self._script):
            raise ModelBackendError(
                f"{self.model_id}: script has {len(self._script)} turns; this is call {len(self.requests) + 1}"
            )
        entry = self._script[len(self.requests)]
        self.requests.append(list(messages))
        if callable(entry):
            entry = entry(list(messages))
        if isinstance(entry, str):
            entry = AssistantTurn(text=entry)
        return entry.model_copy(update={"model": entry.model or self.model_id})
