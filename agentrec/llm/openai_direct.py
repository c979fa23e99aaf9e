"""Requests to an OpenAI-compatible endpoint through the ``openai`` client itself.

litellm translates every request for its many providers; for a server that
already speaks OpenAI's API (vLLM, llama.cpp's server, a load-test provider)
that translation is pure overhead: about 6 ms of Python a call against 1 ms for
the openai client's own (``bench/provider_scale.py``). With 64 requests in
flight on two cores those milliseconds are what limits throughput, so such
endpoints are spoken to directly. The request is the one built for litellm, less
litellm's own keys; replies have the same shape, and errors carry the same
status codes, so everything after the send is shared.
"""

from __future__ import annotations

from typing import Any

# Keys only litellm understands; the endpoint and key go to the client instead.
_LITELLM_ONLY_KEYS = frozenset({"num_retries", "max_retries", "api_base", "api_key"})


def speaks_openai_directly(provider: str, api_base: str | None) -> bool:
    """True for an ``openai/...`` model at an explicit endpoint: an OpenAI-compatible server."""
    return api_base is not None and provider == "openai"


def served_model_name(model: str) -> str:
    """The name the server knows: litellm's ``openai/`` routing prefix removed."""
    return model.split("/", 1)[1] if model.startswith("openai/") else model


class DirectOpenAIClient:
    """One ``openai.OpenAI`` client (thread-safe, pooled connections) for one endpoint; no retries of its own."""

    def __init__(self, api_base: str, api_key: str) -> None:
        import openai

        # tenacity owns retries (llm/retrying.py); the client's would multiply them.
        self._client = openai.OpenAI(base_url=api_base, api_key=api_key, max_retries=0)

    def completion(self, **request: Any) -> Any:
        """``litellm.completion``'s call, posted to ``/chat/completions`` as the body it already is.

        ``chat.completions.create`` would first walk the body against its typed
        parameters, several milliseconds for a request carrying tool schemas; the
        body here is built to OpenAI's format already, so it is posted as it is
        (the client's documented way to call an endpoint with a body of one's own).
        """
        from openai import Stream
        from openai.types.chat import ChatCompletion, ChatCompletionChunk

        body = {key: value for key, value in request.items() if key not in _LITELLM_ONLY_KEYS}
        body["model"] = served_model_name(str(body["model"]))
        timeout = body.pop("timeout", None)
        options: Any = {"timeout": timeout} if timeout is not None else {}
        if body.get("stream"):
            return self._client.post(
                "/chat/completions", body=body, cast_to=ChatCompletion, options=options, stream=True,
                stream_cls=Stream[ChatCompletionChunk],
            )  # fmt: skip
        return self._client.post("/chat/completions", body=body, cast_to=ChatCompletion, options=options)
