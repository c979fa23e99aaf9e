"""The LLM layer: one ``ChatModel`` protocol over an embedded model, litellm and a script.

Importing this package is cheap: llama.cpp and litellm load only when a backend
that needs them is built (see ``make_chat_model``).
"""

from agentrec.llm.cache import CachedChatModel, ReplayMissError, ResponseStore
from agentrec.llm.factory import make_backend, make_chat_model
from agentrec.llm.records import (
    AssistantTurn,
    ChatModel,
    GenerationSettings,
    Message,
    ToolCall,
    ToolSpec,
    Usage,
)
from agentrec.llm.retrying import RetryPolicy
from agentrec.llm.scripted import ScriptedChatModel
from agentrec.llm.structured import InvalidStructuredReply, complete_structured
from agentrec.llm.usage import UsageMeter, run_usage

__all__ = [
    "AssistantTurn",
    "CachedChatModel",
    "ChatModel",
    "GenerationSettings",
    "InvalidStructuredReply",
    "Message",
    "ReplayMissError",
    "ResponseStore",
    "RetryPolicy",
    "ScriptedChatModel",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "UsageMeter",
    "complete_structured",
    "make_backend",
    "make_chat_model",
    "run_usage",
]
