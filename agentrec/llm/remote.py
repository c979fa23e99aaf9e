"""The litellm backend: any hosted or self-hosted model litellm can reach.

litellm is imported lazily and with its bundled price map: the default import
fetches the map over the network and costs seconds. Keys come only from the
environment; they are never logged, cached or traced. A loopback ``api_base``
(a llama.cpp server, vLLM, Ollama) needs no key at all.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

from agentrec.core.errors import ConfigError, ModelBackendError
from agentrec.core.redaction import redact_secrets
from agentrec.llm.capabilities import ScoresNextToken, require
from agentrec.llm.dialects import Dialect, detect_dialect, dialect_named
from agentrec.llm.openai_direct import DirectOpenAIClient, speaks_openai_directly
from agentrec.llm.pacing import CHARS_PER_TOKEN, ProviderLimits, Slot, shared_gate
from agentrec.llm.records import (
    AssistantTurn,
    GenerationSettings,
    Message,
    ResponseSchema,
    ToolCall,
    ToolSpec,
    Usage,
    response_schema_dict,
)
from agentrec.llm.retrying import RetryPolicy, TransientBackendError, call_with_retries
from agentrec.llm.structured import InvalidStructuredReply
from agentrec.llm.tool_protocol import (
    ToolReplyError,
    flattened_message,
    inline_refs,
    parse_tool_reply,
    tool_call_schema,
    tool_instructions,
    with_system_text,
)

logger = logging.getLogger(__name__)

# Providers that run on the user's own machine or cluster and take no key.
KEYLESS_PROVIDERS = frozenset({"ollama", "ollama_chat", "hosted_vllm", "lm_studio", "llamafile"})
# Sent to OpenAI-compatible local servers, whose client library insists on some key.
_PLACEHOLDER_KEY = "sk-no-key-needed"
TOP_LOGPROBS = 20  # OpenAI's most; enough for the 20 letter labels of a scored list


def import_litellm() -> Any:
    """Import litellm quietly and offline (bundled price map, no telemetry)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.drop_params = True  # e.g. `seed` for providers without it, instead of an error
    return litellm


def is_loopback(api_base: str | None) -> bool:
    """True when ``api_base`` points at this machine."""
    if not api_base:
        return False
    host = urlparse(api_base if "://" in api_base else f"http://{api_base}").hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


class LiteLLMChatModel:
    """A chat model reached through litellm: ``openai/...``, ``anthropic/...``, ``ollama/...``."""

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        retry_policy: RetryPolicy | None = None,
        native_tools: bool | None = None,
        schema_format: str | None = None,
        dialect: str | None = None,
        limits: ProviderLimits | None = None,
    ) -> None:
        """``dialect`` (``openai``, ``vllm`` or ``llamacpp``; see ``agentrec.llm.dialects``) is detected when
        not given, asking an ``api_base`` server once. ``native_tools`` and ``schema_format`` (``json_schema``
        or ``json_object``) override single parts of it."""
        self._litellm = import_litellm()
        self.model = model
        self.api_base = api_base
        self.retry_policy = retry_policy or RetryPolicy()
        # Every attempt passes the process's gate for these limits: --rpm, --tpm, --max-cost, in-flight.
        self.limits = limits or ProviderLimits()
        self.gate = shared_gate(self.limits)
        self.provider = self._provider_of(model, api_base)
        self.keyless = is_loopback(api_base) or self.provider in KEYLESS_PROVIDERS
        if not self.keyless:
            self._check_key()
        self._check_prices()
        self.native_tools = self._supports_tools() if native_tools is None else native_tools
        self.dialect = self._dialect(dialect, schema_format)
        self._direct = (
            DirectOpenAIClient(api_base, self._endpoint_key())
            if api_base is not None and speaks_openai_directly(self.provider, api_base)
            else None
        )

    @property
    def model_id(self) -> str:
        """The litellm model name, plus the endpoint when one was given (never a key)."""
        if not self.api_base:
            return self.model
        parsed = urlparse(self.api_base)
        # Drop any user:password@ part of the URL: the id goes into cache rows and reports.
        endpoint = f"{parsed.scheme}://{parsed.hostname}:{parsed.port or ''}{parsed.path}"
        return f"{self.model}@{endpoint}"

    def _provider_of(self, model: str, api_base: str | None) -> str:
        try:
            _, provider, _, _ = self._litellm.get_llm_provider(model=model, api_base=api_base)
        except Exception as error:  # litellm raises its BadRequestError for unknown names
            raise ConfigError(
                f"unknown model {model!r}: name a provider, e.g. openai/gpt-4o-mini, "
                "anthropic/claude-3-5-haiku-latest, ollama/llama3, or use --api-base"
            ) from error
        return str(provider)

    def _check_key(self) -> None:
        report = self._litellm.validate_environment(model=self.model, api_base=self.api_base)
        missing = [str(k) for k in report.get("missing_keys", [])]
        if missing:
            raise ConfigError(f"model {self.model} needs the environment variable {' and '.join(missing)}")

    def _supports_tools(self) -> bool:
        # Unknown models behind an OpenAI-compatible endpoint usually speak native tools.
        if self.api_base or self.provider in ("openai", "hosted_vllm", "anthropic"):
            return True
        try:
            return bool(self._litellm.supports_function_calling(model=self.model))
        except Exception:
            return False

    def _endpoint_key(self) -> str:
        """The key an OpenAI-compatible endpoint gets: a placeholder when it needs none (never logged)."""
        return _PLACEHOLDER_KEY if self.keyless else os.environ.get("OPENAI_API_KEY", _PLACEHOLDER_KEY)

    def _dialect(self, name: str | None, schema_format: str | None) -> Dialect:
        """The named dialect, else the detected one; a given ``schema_format`` replaces its schema form."""
        if name is not None:
            dialect = dialect_named(name)
        else:
            # The key the chat requests will carry (pass-through providers read OPENAI_API_KEY), so the probe
            # is let in wherever they are.
            dialect = detect_dialect(self.provider, self.api_base, self._endpoint_key(), self.model_id)
        return dialect if schema_format is None else dialect.with_schema_format(schema_format)

    def _open_choice_unsupported(self, tool_choice: str) -> bool:
        """Servers of the llama.cpp dialect may honour only a named ``tool_choice`` and answer
        "required"/"auto" with plain text (vLLM refuses "auto" unless started for it); there, a JSON
        reply constrained by the tool-call schema is the call that always arrives."""
        return not self.dialect.honours_natively(tool_choice)

    def complete(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_schema: ResponseSchema | None = None,
        settings: GenerationSettings | None = None,
    ) -> AssistantTurn:
        """Send one chat request (with retries) and return the answer as a turn."""
        settings = settings or GenerationSettings()
        use_tools = bool(tools) and settings.tool_choice != "none"
        json_tools = use_tools and (not self.native_tools or self._open_choice_unsupported(settings.tool_choice))
        request = self._request(messages, tools or [], response_schema, settings, use_tools, json_tools)
        started = time.perf_counter()
        response, retries = call_with_retries(lambda: self._send(request), self.retry_policy, self.model_id)
        latency = time.perf_counter() - started
        text, calls = self._read_reply(response, tools or [], settings, json_tools)
        usage = getattr(response, "usage", None)
        return AssistantTurn(
            text=text,
            tool_calls=tuple(calls),
            usage=Usage(
                prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                retries=retries,
            ),
            latency_s=latency,
            cost_usd=self._cost(response),
            model=self.model_id,
            finish_reason=response.choices[0].finish_reason,
        )

    def stream_text(self, messages: list[Message], settings: GenerationSettings | None = None) -> Iterator[str]:
        """Yield the reply piece by piece (plain text only): to time the first token, or to stop early."""
        settings = settings or GenerationSettings()
        request = self._request(messages, [], None, settings, use_tools=False, json_tools=False)
        request["stream"] = True
        chunks, _ = call_with_retries(lambda: self._send(request), self.retry_policy, self.model_id)
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    def forwards(self, capability: type[Any]) -> bool:
        """Next-token log-probabilities only where the provider takes ``logprobs``; the rest as declared."""
        if capability is ScoresNextToken:
            return self._takes_logprobs()
        return isinstance(self, capability)

    def _takes_logprobs(self) -> bool:
        # An OpenAI-compatible endpoint (vLLM, llama.cpp's server) is asked; a reply without them is refused later.
        if self.api_base and self.provider in ("openai", "hosted_vllm", "text-completion-openai"):
            return True
        try:
            params = self._litellm.get_supported_openai_params(model=self.model, custom_llm_provider=self.provider)
        except Exception:
            return False
        return bool(params) and "logprobs" in params and "top_logprobs" in params

    def next_token_logprobs(self, messages: list[Message], options: Sequence[str]) -> list[float | None]:
        """First-token log-probabilities of ``options`` from the provider's top log-probabilities.

        One token is generated with ``top_logprobs`` = 20 (OpenAI's maximum). An
        option among them gets its log-probability (leading spaces ignored, the
        best spelling kept); one outside them gets None.
        """
        require(self, ScoresNextToken, "next-token log-probabilities")
        settings = GenerationSettings(max_tokens=1, temperature=0.0)
        request = self._request(messages, [], None, settings, use_tools=False, json_tools=False)
        request.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        response, _ = call_with_retries(lambda: self._send(request), self.retry_policy, self.model_id)
        found: dict[str, float] = {}
        for entry in _top_logprobs(response):
            token, value = str(entry.get("token", "")).strip(), float(entry.get("logprob", float("-inf")))
            found[token] = max(value, found.get(token, float("-inf")))
        if not found:
            raise ConfigError(
                f"{self.model_id} returned no top log-probabilities (provider {self.provider}); "
                "--fusion llm-logits and rank(by=llm) need a server that honours logprobs/top_logprobs"
            )
        return [found.get(option.strip()) for option in options]

    def _request(
        self,
        messages: list[Message],
        tools: list[ToolSpec],
        response_schema: ResponseSchema | None,
        settings: GenerationSettings,
        use_tools: bool,
        json_tools: bool,
    ) -> dict[str, Any]:
        system_extra = ""
        request: dict[str, Any] = {
            "model": self.model,
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
            "timeout": settings.timeout,
            # tenacity owns retries; litellm's and the OpenAI client's would multiply them.
            "num_retries": 0,
            "max_retries": 0,
        }
        if settings.seed is not None:
            request["seed"] = settings.seed
        if settings.stop:
            request["stop"] = list(settings.stop)
        if self.api_base:
            request["api_base"] = self.api_base
        if self.keyless and self.provider not in ("ollama", "ollama_chat"):
            request["api_key"] = _PLACEHOLDER_KEY
        if use_tools and not json_tools:
            request["tools"] = [t.openai_format() for t in tools]
            request["tool_choice"] = _openai_tool_choice(settings.tool_choice)
        elif json_tools:
            system_extra = tool_instructions(tools, settings.tool_choice)
            schema = tool_call_schema(tools, settings.tool_choice)
            request["response_format"] = self.dialect.response_format(schema, "tool_call")
        elif response_schema is not None:
            schema = inline_refs(response_schema_dict(response_schema) or {})
            request["response_format"] = self.dialect.response_format(schema, "reply")
            system_extra = f"Reply with only a JSON object following this schema: {json.dumps(schema)}"
        request["messages"] = _openai_messages(messages, system_extra, json_tools)
        return request

    def _send(self, request: dict[str, Any]) -> Any:
        """One attempt, admitted by the gate (rate, in-flight, budget) and settled with its true use."""
        litellm = self._litellm
        prompt_chars = self._prompt_chars(request) if self.limits.counts_tokens else 0
        max_tokens = int(request.get("max_tokens") or 0)
        highest = self._highest_price(prompt_chars, max_tokens)
        with self.gate.admitted(prompt_chars, max_tokens, highest) as slot:
            try:
                response = (self._direct.completion if self._direct is not None else litellm.completion)(**request)
            except Exception as error:
                classified = _classify(error, litellm, self.model_id)
                throttled = isinstance(classified, TransientBackendError) and classified.throttled
                self.gate.settle(slot, 0, 0, 0.0, failed=True, throttled=throttled)
                raise classified from error
            self._settle(slot, response, stream=bool(request.get("stream")))
            return response

    @staticmethod
    def _prompt_chars(request: dict[str, Any]) -> int:
        """The request's size in characters, to estimate its tokens before it is sent."""
        chars = sum(len(str(m.get("content") or "")) for m in request["messages"])
        return chars + len(json.dumps(request.get("tools") or request.get("response_format") or ""))

    def _settle(self, slot: Slot, response: Any, stream: bool) -> None:
        if stream:  # a stream's size is known only at its end: charge what was set aside
            self.gate.settle(slot, 0, 0, slot.reserved_cost)
            return
        usage = getattr(response, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        self.gate.settle(slot, prompt, completion, self._cost(response))

    def _highest_price(self, prompt_chars: int, max_tokens: int) -> float:
        """What a request could cost at most: its estimated prompt and every allowed completion token."""
        prompt_tokens = int(prompt_chars / CHARS_PER_TOKEN)
        if self.limits.has_prices:
            return self.limits.price(prompt_tokens, max_tokens)
        if self.keyless or self.limits.max_cost_usd is None:
            return 0.0
        prompt_usd, completion_usd = self._litellm.cost_per_token(
            model=self.model, prompt_tokens=prompt_tokens, completion_tokens=max_tokens
        )
        return float(prompt_usd) + float(completion_usd)

    def _check_prices(self) -> None:
        """A spending cap needs prices: the run's own, or litellm's for a hosted model it knows."""
        if self.limits.max_cost_usd is None or self.limits.has_prices:
            return
        if self.keyless:
            raise ConfigError(
                f"--max-cost needs prices for {self.model_id}, which litellm does not bill: "
                "give --price-in and --price-out (USD per million tokens)"
            )
        try:
            self._litellm.cost_per_token(model=self.model, prompt_tokens=1, completion_tokens=1)
        except Exception:
            raise ConfigError(
                f"litellm has no price for {self.model}: give --price-in and --price-out (USD per million tokens)"
            ) from None

    def _read_reply(
        self, response: Any, tools: list[ToolSpec], settings: GenerationSettings, json_tools: bool
    ) -> tuple[str, list[ToolCall]]:
        message = response.choices[0].message
        text = message.content or ""
        if json_tools:
            try:
                return parse_tool_reply(text, tools, settings.tool_choice)
            except ToolReplyError as error:
                raise InvalidStructuredReply(f"{self.model_id} wrote an unusable tool call: {error}") from error
        calls = []
        for index, raw in enumerate(getattr(message, "tool_calls", None) or []):
            try:
                arguments = json.loads(raw.function.arguments or "{}")
            except json.JSONDecodeError as error:
                raise InvalidStructuredReply(
                    f"{self.model_id} sent tool arguments that are not JSON: {error}"
                ) from error
            calls.append(ToolCall(name=raw.function.name, arguments=arguments, call_id=raw.id or f"call_{index}"))
        return text, calls

    def _cost(self, response: Any) -> float:
        if self.limits.has_prices:
            usage = getattr(response, "usage", None)
            return self.limits.price(
                int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)
            )
        if self.keyless:
            return 0.0
        try:
            if self._direct is not None:  # the openai client's reply: priced from its token counts
                usage = getattr(response, "usage", None)
                prompt_usd, completion_usd = self._litellm.cost_per_token(
                    model=self.model,
                    prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                    completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                )
                return float(prompt_usd) + float(completion_usd)
            return float(self._litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # models missing from the price map cost 0 rather than failing the call
            logger.debug("no price for %s; counting 0 USD", self.model)
            return 0.0


def _top_logprobs(response: Any) -> list[dict[str, Any]]:
    """The first generated token's alternatives, as plain dicts (litellm returns objects or dicts)."""
    try:
        content = (
            response.choices[0].logprobs["content"]
            if isinstance(response.choices[0].logprobs, dict)
            else response.choices[0].logprobs.content
        )
        first = content[0]
        alternatives = first["top_logprobs"] if isinstance(first, dict) else first.top_logprobs
    except (AttributeError, IndexError, KeyError, TypeError):
        return []
    return [a if isinstance(a, dict) else {"token": a.token, "logprob": a.logprob} for a in alternatives or []]


def _openai_tool_choice(tool_choice: str) -> Any:
    if tool_choice in ("auto", "required", "none"):
        return tool_choice
    return {"type": "function", "function": {"name": tool_choice}}


def _openai_messages(messages: list[Message], system_extra: str, json_tools: bool) -> list[dict[str, Any]]:
    """The OpenAI ``messages``: tool traffic native, or flattened as for the embedded model in JSON-tool mode."""
    result: list[dict[str, Any]] = []
    for message in messages:
        native_call = message.role == "assistant" and bool(message.tool_calls)
        if json_tools or not (native_call or message.role == "tool"):
            result.append(flattened_message(message))
        elif native_call:
            result.append(
                {
                    "role": "assistant",
                    "content": message.content or None,
                    "tool_calls": [
                        {
                            "id": call.call_id or f"call_{i}",
                            "type": "function",
                            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                        }
                        for i, call in enumerate(message.tool_calls)
                    ],
                }
            )
        else:  # a tool result, answering the call of the same id
            result.append(
                {"role": "tool", "tool_call_id": message.tool_call_id or "call_0", "content": message.content}
            )
    return with_system_text(result, system_extra)


def _retry_after_seconds(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or getattr(error, "litellm_response_headers", None)
    value = headers.get("retry-after") if headers else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP date; the exponential backoff is good enough then


def _classify(error: Exception, litellm: Any, model_id: str) -> Exception:
    """Map a litellm exception to a transient (retried) or final agentrec error."""
    transport = _transport_failure(error)
    if transport is not None:
        # litellm wraps a refused connection or an unknown host as "InternalServerError 500":
        # name what happened, not a status no server sent.
        return TransientBackendError(f"{transport} ({model_id})")
    status = getattr(error, "status_code", None)
    if isinstance(error, litellm.RateLimitError) or status == 429:
        return TransientBackendError(f"rate limited (429) by {model_id}", _retry_after_seconds(error), throttled=True)
    if isinstance(error, litellm.Timeout):
        return TransientBackendError(f"no answer from {model_id} within the timeout")
    if isinstance(status, int) and status >= 500:
        return TransientBackendError(f"{model_id} answered HTTP {status}")
    # litellm's classes, or the openai client's of the same names (an endpoint spoken to directly).
    if isinstance(error, litellm.APIConnectionError) or type(error).__name__ == "APIConnectionError":
        return TransientBackendError(f"cannot reach {model_id}: {type(error).__name__}")
    if isinstance(error, litellm.AuthenticationError) or status == 401:
        return ConfigError(f"{model_id} rejected the API key from the environment")
    return ModelBackendError(f"{model_id} refused the request: {_first_line(error)}")


def _transport_failure(error: BaseException) -> str | None:
    """What went wrong below HTTP, read from the exception's chain: a refused connection, an unknown host,
    a timeout. None when the request reached a server (then its status speaks)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused: nothing listens at the endpoint"
        if isinstance(current, socket.gaierror):
            return "cannot resolve the endpoint's host name"
        if isinstance(current, TimeoutError) or type(current).__name__ in _TIMEOUT_TYPES:
            return "no answer within the timeout"
        current = current.__cause__ or current.__context__
    return None


# Timeout exceptions of the HTTP stack under litellm (httpx, httpcore, openai), matched by name
# so that none of those libraries is imported here for an isinstance check.
_TIMEOUT_TYPES = frozenset({"ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException",
                            "APITimeoutError", "Timeout"})  # fmt: skip


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return redact_secrets(lines[0][:300]) if lines else type(error).__name__
