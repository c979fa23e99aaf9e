"""The LLM layer: one ``ChatModel`` protocol over an embedded model, litellm and a script.

Capabilities beyond a chat (log-probabilities, streaming, ...) are declared in
``capabilities.py`` and asked for with ``supports`` / ``require``.

Importing this package is cheap: llama.cpp and litellm load only when a backend
that needs them is built (see ``make_chat_model``).
"""

from agentrec.llm.cache import CachedChatModel, ReplayMissError
from agentrec.llm.capabilities import (
    KeepsPromptStates,
    RunsGgufFile,
    ScoresNextToken,
    ScoresText,
    StreamsText,
    Tokenizes,
    require,
    supports,
)
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
from agentrec.llm.response_store import ResponseStore
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
    "KeepsPromptStates",
    "Message",
    "ReplayMissError",
    "ResponseStore",
    "RetryPolicy",
    "RunsGgufFile",
    "ScoresNextToken",
    "ScoresText",
    "ScriptedChatModel",
    "StreamsText",
    "Tokenizes",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "UsageMeter",
    "complete_structured",
    "make_backend",
    "make_chat_model",
    "require",
    "run_usage",
    "supports",
]
