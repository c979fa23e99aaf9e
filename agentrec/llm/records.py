"""The typed records every chat backend speaks, and the ``ChatModel`` protocol.

Backends differ in transport (in-process llama.cpp, litellm, a script); the
agent, simulator and audit only ever see these records.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]
ToolChoice = str  # "auto" | "required" | "none" | the name of one tool


class ToolCall(BaseModel):
    """One call the model asked for: a tool name and its JSON arguments."""

    model_config = ConfigDict(frozen=True)

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    call_id: str | None = None


class Message(BaseModel):
    """One chat message. A final ``assistant`` message is a prefill the model continues."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    # An assistant tool call exactly as the model wrote it (embedded model only). Put back
    # verbatim, the next prompt starts with tokens llama.cpp has already evaluated.
    written: str = ""

    @classmethod
    def system(cls, content: str) -> Message:
        """A system message."""
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        """A user message."""
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str, tool_calls: tuple[ToolCall, ...] = (), written: str = "") -> Message:
        """An assistant message (as the last message: a prefill to continue)."""
        return cls(role="assistant", content=content, tool_calls=tool_calls, written=written)

    @classmethod
    def tool_result(cls, name: str, content: str, call_id: str | None = None) -> Message:
        """The result of a tool call, sent back to the model."""
        return cls(role="tool", content=content, name=name, tool_call_id=call_id)


class ToolSpec(BaseModel):
    """A tool the model may call: name, description and a JSON schema of its arguments."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    parameters: dict[str, Any]

    @classmethod
    def from_model(cls, name: str, description: str, arguments: type[BaseModel]) -> ToolSpec:
        """Build a tool spec whose argument schema is the pydantic model ``arguments``."""
        return cls(name=name, description=description, parameters=arguments.model_json_schema())

    def openai_format(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


class Usage(BaseModel):
    """Token counts of one call, and how many transport retries it needed."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class AssistantTurn(BaseModel):
    """What a model answered, with its cost. ``cached`` is true when no backend was called."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    cost_usd: float = 0.0
    model: str = ""
    finish_reason: str | None = None
    cached: bool = False
    written: str = ""  # the raw tool-call text, when a backend parsed it from plain text

    def parsed_json(self) -> Any:
        """The reply text decoded as JSON (for structured replies); raises ``ValueError``."""
        return json.loads(self.text)

    def as_message(self) -> Message:
        """This turn as an assistant message, to append to the conversation."""
        return Message.assistant(self.text, self.tool_calls, self.written)


class GenerationSettings(BaseModel):
    """Sampling and transport settings of one call. ``timeout`` is per request, in seconds."""

    model_config = ConfigDict(frozen=True)

    temperature: float = 0.0
    max_tokens: int = 256
    seed: int | None = 0
    tool_choice: ToolChoice = "auto"
    timeout: float = 60.0
    stop: tuple[str, ...] = ()

    def cache_params(self) -> dict[str, Any]:
        """The settings that change the reply (the timeout does not)."""
        return self.model_dump(exclude={"timeout"})


ResponseSchema = type[BaseModel] | dict[str, Any]


def response_schema_dict(schema: ResponseSchema | None) -> dict[str, Any] | None:
    """A JSON schema dict from a pydantic model class or a schema dict."""
    if schema is None or isinstance(schema, dict):
        return schema
    return schema.model_json_schema()


@runtime_checkable
class ChatModel(Protocol):
    """Anything that answers a chat: the embedded model, litellm, a script."""

    @property
    def model_id(self) -> str:
        """A stable name of the backend and model (used in cache keys and reports)."""
        ...

    def complete(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_schema: ResponseSchema | None = None,
        settings: GenerationSettings | None = None,
    ) -> AssistantTurn:
        """Answer ``messages``; with ``tools``, possibly by calling tools."""
        ...
