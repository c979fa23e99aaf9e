"""What a chat model can do beyond ``complete``, declared as protocols.

Every backend answers a chat (``ChatModel``); some can do more: score a
continuation, stream a reply, keep prompt states, tokenise, name the GGUF file
they run. A caller that needs one of these asks ``supports`` (to choose) or
``require`` (to insist) instead of probing attributes. The cache wrapper
implements every capability and forwards it on purpose, through the cache and
the usage meter; it says through ``forwards`` which ones its backend really has,
so ``supports`` on a wrapper is the answer of the backend behind it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from agentrec.core.errors import ConfigError
from agentrec.llm.records import ChatModel, GenerationSettings, Message

# RAM for kept prompt states (LocalChatModel.keep_prompt_states); about 25 kB per token on SmolLM2-135M.
STATE_CACHE_BYTES = 256 << 20


@runtime_checkable
class ScoresText(Protocol):
    """Log-probabilities of a given continuation (teacher forcing, no sampling)."""

    def logprob(self, messages: list[Message], continuation: str) -> float:
        """log P(continuation | prompt of ``messages``), summed over its tokens."""
        ...


@runtime_checkable
class ScoresNextToken(Protocol):
    """Log-probabilities of several one-token answers at the reply's first position, in one forward pass.

    The job a small model can do (LlamaRec's verbalizer, FIRST's first-token
    logits): read how likely each label is, rather than generate a list.
    """

    def next_token_logprobs(self, messages: list[Message], options: Sequence[str]) -> list[float | None]:
        """log P(first token of each option | prompt of ``messages``); None where the backend did not say."""
        ...


@runtime_checkable
class StreamsText(Protocol):
    """A plain-text reply piece by piece: to time the first token, or to stop early."""

    def stream_text(self, messages: list[Message], settings: GenerationSettings | None = None) -> Iterator[str]:
        """Yield the reply as it is generated."""
        ...


@runtime_checkable
class KeepsPromptStates(Protocol):
    """Evaluated prompt states kept in RAM, for callers that switch between prompts."""

    def keep_prompt_states(self, capacity_bytes: int = STATE_CACHE_BYTES) -> None:
        """Start keeping prompt states, up to ``capacity_bytes``."""
        ...


@runtime_checkable
class Tokenizes(Protocol):
    """The model's own tokenizer."""

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` alone (no special tokens added)."""
        ...

    def token_texts(self) -> Sequence[str]:
        """The text of every token id, in id order ("" where a token is not text on its own)."""
        ...

    def prompt_tokens(self, messages: list[Message]) -> int:
        """Tokens of the prompt ``messages`` render to (a stream or a score reports no usage of its own)."""
        ...


@runtime_checkable
class RunsGgufFile(Protocol):
    """A model running a GGUF file in this process (its weights can be loaded elsewhere too)."""

    def gguf_path(self) -> Path:
        """The GGUF file."""
        ...


@runtime_checkable
class ForwardsCapabilities(Protocol):
    """A wrapper that offers the capabilities of the model it wraps, and only those."""

    def forwards(self, capability: type[Any]) -> bool:
        """True when the wrapped model has ``capability``."""
        ...


def supports(model: object, capability: type[Any]) -> bool:
    """True when ``model`` (or the backend behind a wrapper) has ``capability``."""
    if isinstance(model, ForwardsCapabilities):
        return model.forwards(capability)
    return isinstance(model, capability)


def require(model: ChatModel, capability: type[Any], what: str) -> None:
    """Raise ``ConfigError`` naming the backend and ``what`` it lacks, unless it has ``capability``."""
    if not supports(model, capability):
        raise ConfigError(
            f"the LLM backend {model.model_id} cannot give {what} (it does not implement {capability.__name__})"
        )
