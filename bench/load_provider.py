"""A loopback OpenAI-compatible chat provider for load and fault tests.

It answers ``POST /v1/chat/completions`` without any model: every reply is made
up, yet valid for what the request asked, so an agent run against it exercises
the whole client path (native tool calls, structured replies, log-probabilities,
retries, rate limits, outages) at whatever concurrency the client reaches, and
at no cost. Replies come after a seeded lognormal delay (``asyncio.sleep``, so
hundreds of requests can be in flight), and faults are drawn from the same
seeded generator.

What a reply holds:

* ``tools`` with ``tool_choice`` "required", "auto" (also when absent) or
  ``{"type": "function", "function": {"name": ...}}``: one ``tool_calls`` entry
  whose ``arguments`` validate against that tool's ``parameters`` schema (the
  named tool, else one picked at random). ``tool_choice`` "none": plain text.
* ``response_format`` ``{"type": "json_schema", "json_schema": {"schema": ...}}``
  (OpenAI) or ``{"type": "json_object", "schema": ...}`` (llama.cpp): a JSON
  object valid under the schema; ``{"type": "json_object"}`` alone: ``{}``.
* otherwise a short plain-text reply, at most ``max_tokens`` words.
* ``logprobs: true`` with ``top_logprobs: N``: the first token is a letter and
  comes with N alternatives among "A".."T" (at most 20), log-probabilities
  decreasing; the reply starts with the best letter.
* ``usage``: prompt tokens = characters of the message texts // 4, completion
  tokens = characters of the reply // 4 (at least 1 each).
* ``stream: true`` on a plain-text request: the same kind of reply as
  server-sent ``chat.completion.chunk`` events, one word a chunk, after the
  drawn delay (then a usage chunk when ``stream_options.include_usage`` asks,
  and ``[DONE]``). Streamed tool calls and structured replies are not
  simulated: such a request is refused with HTTP 400.

Content is drawn from a generator seeded by ``--seed`` and the request body, so
the same request gets the same reply whatever the arrival order; delays and
faults come from one generator seeded by ``--seed``, in arrival order.

Other endpoints:

* ``GET /v1/models``: the one model, named by ``--model`` and owned by
  ``--owned-by``, so a client that tells servers apart by ``owned_by`` (llama.cpp
  says "llamacpp", vLLM "vllm", OpenAI "system" or "openai") can be shown each.
* ``GET /stats``: ``requests``, ``completed`` (answered, any status),
  ``in_flight``, ``max_in_flight``, ``status_counts`` (by HTTP status),
  ``duplicate_bodies``: requests whose body (canonical JSON) equals that of an
  earlier request answered 200, i.e. a finished request sent again; and
  ``last_request``: the ``response_format``, ``tool_choice`` and tool names of
  the last chat request (null before the first), to check which form a client sent.
  ``POST /stats/reset`` zeroes them (and forgets the seen bodies and the
  ``--rpm`` window).
* ``POST /admin/down`` (optionally ``?seconds=S``): answer every chat request
  with 503 until ``POST /admin/up`` (or for S seconds), to simulate an outage
  in the middle of a run.

Flags (``--help`` repeats them):

--port N          TCP port on 127.0.0.1 (default 8765; 0 picks a free one).
--model NAME      model name listed by /v1/models (default "load-test"); any
                  requested name is accepted and echoed.
--owned-by NAME   owner of that model in /v1/models (default "bench"); e.g.
                  llamacpp, vllm or openai to pose as that server. Every form is
                  answered whatever the pose.
--median-ms MS    median reply delay in milliseconds (default 800).
--sigma S         lognormal sigma of the delay (default 0.5; 0 = always the median).
--seed N          seed of delays, faults and contents (default 0).
--rate-429 P      share of requests answered 429 with Retry-After (default 0).
--retry-after S   Retry-After seconds of the --rate-429 answers (default 1).
--rate-500 P      share of requests answered 500 after the usual delay (default 0).
--rate-timeout P  share of requests held 1.25 x --timeout-s, then answered 504,
                  so the client times out first (default 0).
--timeout-s S     the client's timeout that --rate-timeout outlasts (default 30).
--rpm N           requests admitted per sliding minute; over it, 429 with the
                  seconds until a slot frees as Retry-After (default 0 = no limit).

The three rates share one draw per request, so their sum must be at most 1.
Precedence: outage (503), then --rpm (429), then the drawn fault.

Example::

    python bench/load_provider.py --port 8765 --median-ms 800 --sigma 0.5 \\
        --rate-429 0.05 --rate-500 0.02 --rate-timeout 0.01 --timeout-s 30 --rpm 600
    # then point the agent at it: LiteLLMChatModel("openai/load-test", api_base="http://127.0.0.1:8765/v1")
    curl -s http://127.0.0.1:8765/stats

Tests start it in a thread with ``serve_in_thread(port=0, median_ms=5)``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import math
import random
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

HOST = "127.0.0.1"
LETTERS = string.ascii_uppercase[:20]  # "A".."T": the labels of a scored list, as many as OpenAI's top_logprobs
WORDS = ("this", "is", "a", "made", "up", "reply", "from", "the", "load", "test", "provider")
# Strings the common formats accept; pydantic checks formats (datetime, email...) even where jsonschema does not.
FORMAT_EXAMPLES = {
    "date-time": "2024-01-02T03:04:05Z",
    "date": "2024-01-02",
    "time": "03:04:05",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "uuid": "12345678-1234-5678-1234-567812345678",
}
MAX_DEPTH = 6  # past it, optional parts of recursive schemas stay empty


@dataclass(frozen=True)
class LoadOptions:
    """How the provider behaves; the fields mirror the command-line flags."""

    median_ms: float = 800.0
    sigma: float = 0.5
    seed: int = 0
    rate_429: float = 0.0
    retry_after: float = 1.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    timeout_s: float = 30.0
    rpm: int = 0
    model: str = "load-test"
    owned_by: str = "bench"

    def __post_init__(self) -> None:
        rates = (self.rate_429, self.rate_500, self.rate_timeout)
        if any(not 0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0:
            raise ValueError("--rate-429, --rate-500 and --rate-timeout must lie in [0, 1] and sum to at most 1")
        if self.median_ms < 0 or self.sigma < 0 or self.timeout_s < 0 or self.retry_after < 0 or self.rpm < 0:
            raise ValueError("--median-ms, --sigma, --timeout-s, --retry-after and --rpm cannot be negative")


# ----------------------------------------------------------------------------- values from a JSON schema


def sample_value(schema: Any, root: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    """A value valid under ``schema``; ``root`` is the whole document, where ``$ref``s point."""
    if not isinstance(schema, dict):  # `true` or a missing schema accepts anything
        return "text"
    schema = resolve_ref(schema, root)
    if "allOf" in schema:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged.update(resolve_ref(part, root))
        schema = merged
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        # The first non-null option: Optional[X] should give an X, which exercises the client more than null.
        chosen = next((o for o in options if resolve_ref(o, root).get("type") != "null"), options[0])
        return sample_value(chosen, root, rng, depth + 1)
    kind = schema_type(schema)
    if kind == "object":
        return sample_object(schema, root, rng, depth)
    if kind == "array":
        return sample_array(schema, root, rng, depth)
    if kind == "string":
        return sample_string(schema, rng)
    if kind == "integer":
        return sample_integer(schema, rng)
    if kind == "number":
        return sample_number(schema, rng)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return "text"  # an empty schema accepts anything


def resolve_ref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref``s (``#/$defs/X``, ``#/definitions/X``, any ``#/`` pointer)."""
    seen: set[str] = set()
    while isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#") and schema["$ref"] not in seen:
        seen.add(schema["$ref"])
        target: Any = root
        for part in schema["$ref"].lstrip("#").strip("/").split("/"):
            if part:
                target = target[part.replace("~1", "/").replace("~0", "~")]
        schema = target
    return schema


def schema_type(schema: dict[str, Any]) -> str | None:
    """The type to generate: the first non-null one of a list, else guessed from the keywords."""
    declared = schema.get("type")
    if isinstance(declared, list):
        concrete = [t for t in declared if t != "null"]
        return concrete[0] if concrete else ("null" if declared else None)
    if declared:
        return str(declared)
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def sample_object(schema: dict[str, Any], root: dict[str, Any], rng: random.Random, depth: int) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    required: list[str] = list(schema.get("required", []))
    # Optional properties are filled too (a fuller reply tests the client more), except deep in recursion.
    names = list(properties) if depth < MAX_DEPTH else [n for n in properties if n in required]
    extra = schema.get("additionalProperties", True)
    result = {name: sample_value(properties[name], root, rng, depth + 1) for name in names}
    for name in required:
        if name not in result:
            result[name] = sample_value(extra if isinstance(extra, dict) else {}, root, rng, depth + 1)
    if not properties and isinstance(extra, dict) and depth < MAX_DEPTH:
        result.setdefault("key_1", sample_value(extra, root, rng, depth + 1))  # a dict[str, X] with one entry
    return result


def sample_array(schema: dict[str, Any], root: dict[str, Any], rng: random.Random, depth: int) -> list[Any]:
    low = int(schema.get("minItems", 0))
    high = int(schema.get("maxItems", max(low, 3)))
    count = low if depth >= MAX_DEPTH else min(high, max(low, rng.randint(1, 3)))
    items = [sample_value(schema.get("items", {}), root, rng, depth + 1) for _ in range(count)]
    if schema.get("uniqueItems"):
        unique: list[Any] = []
        for item in items:
            if item not in unique:
                unique.append(item)
        items = unique
    return items


def sample_string(schema: dict[str, Any], rng: random.Random) -> str:
    low = int(schema.get("minLength", 0))
    high = int(schema.get("maxLength", max(low, 12)))
    if schema.get("format") in FORMAT_EXAMPLES and low <= len(FORMAT_EXAMPLES[schema["format"]]) <= high:
        return FORMAT_EXAMPLES[schema["format"]]
    length = min(high, max(low, rng.randint(4, 12)))
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(length))


def sample_integer(schema: dict[str, Any], rng: random.Random) -> int:
    lows = [math.ceil(schema["minimum"])] if is_number(schema.get("minimum")) else []
    lows += [math.floor(schema["exclusiveMinimum"]) + 1] if is_number(schema.get("exclusiveMinimum")) else []
    highs = [math.floor(schema["maximum"])] if is_number(schema.get("maximum")) else []
    highs += [math.ceil(schema["exclusiveMaximum"]) - 1] if is_number(schema.get("exclusiveMaximum")) else []
    low = max(lows) if lows else (min(highs) - 100 if highs else 0)
    high = min(highs) if highs else low + 100
    return rng.randint(low, max(low, high))


def sample_number(schema: dict[str, Any], rng: random.Random) -> float:
    low, high = numeric_bounds(schema)
    # Strictly inside the interval, so exclusive bounds hold too.
    return low + (high - low) * rng.uniform(0.1, 0.9)


def is_number(value: Any) -> bool:
    """A numeric bound; draft-4's boolean ``exclusiveMinimum`` is not one (bool is an int in Python)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def numeric_bounds(schema: dict[str, Any]) -> tuple[float, float]:
    """The tightest lower and upper bound (numeric draft-6+ exclusive bounds), defaulting to a range of 100."""
    lows = [float(schema[k]) for k in ("minimum", "exclusiveMinimum") if is_number(schema.get(k))]
    highs = [float(schema[k]) for k in ("maximum", "exclusiveMaximum") if is_number(schema.get(k))]
    low = max(lows) if lows else (min(highs) - 100.0 if highs else 0.0)
    high = min(highs) if highs else low + 100.0
    return low, high


# ----------------------------------------------------------------------------- replies


def canonical_digest(body: Any) -> str:
    """The same hash for the same JSON, whatever the key order or spacing."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def message_characters(messages: Any) -> int:
    total = 0
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):  # OpenAI content parts
            total += sum(len(str(part.get("text", ""))) for part in content if isinstance(part, dict))
    return total


def error_body(message: str, kind: str, code: int) -> dict[str, Any]:
    """An error in OpenAI's shape, which the client libraries parse into their exceptions."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class BadRequest(Exception):
    """A request this provider cannot answer; becomes HTTP 400."""


def chosen_tool(body: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """The tool to call, or None when the request wants text."""
    tools: list[dict[str, Any]] = [
        t["function"] for t in body.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        named = [tool for tool in tools if tool.get("name") == name]
        if not named:
            raise BadRequest(f"tool_choice names {name!r}, which is not among the tools")
        return named[0]
    if choice in ("auto", "required"):
        return rng.choice(tools)
    raise BadRequest(f"unsupported tool_choice {choice!r}")


def requested_schema(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema of either dialect; an empty-object schema for JSON mode without one; None for free text."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    schema: Any
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}
    if kind == "json_object":
        schema = response_format.get("schema")
        # Plain JSON mode promises an object, nothing more: an empty one is the safe answer.
        return schema if isinstance(schema, dict) else {"type": "object", "properties": {}, "maxProperties": 0}
    return None


def first_token_logprobs(count: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """The first token and its ``logprobs`` entry: ``count`` letters with geometric, decreasing probabilities."""
    letters = list(LETTERS)
    rng.shuffle(letters)  # a different favourite per request, so scored lists do not all tie
    count = max(0, min(count, len(letters)))
    weights = [0.5**rank for rank in range(len(letters))]
    total = sum(weights)
    alternatives = [
        {"token": letter, "logprob": math.log(weight / total), "bytes": list(letter.encode())}
        for letter, weight in zip(letters[:count], weights, strict=False)
    ]
    token = letters[0]
    entry = {"token": token, "logprob": math.log(weights[0] / total), "bytes": list(token.encode())}
    return token, {"content": [{**entry, "top_logprobs": alternatives}]}


def completion_reply(body: dict[str, Any], seed: int, default_model: str) -> dict[str, Any]:
    """A schema-valid chat completion for ``body``, drawn from ``seed`` and the body itself."""
    digest = canonical_digest(body)
    rng = random.Random(seed * 1_000_003 + int(digest[:16], 16))
    max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish_reason = "stop"
    logprobs: dict[str, Any] | None = None
    tool = chosen_tool(body, rng)
    schema = requested_schema(body.get("response_format"))
    if tool is not None:
        parameters = tool.get("parameters") or {"type": "object", "properties": {}}
        arguments = json.dumps(sample_value(parameters, parameters, rng))
        message["tool_calls"] = [
            {
                "id": f"call_{digest[:12]}",
                "type": "function",
                "function": {"name": tool["name"], "arguments": arguments},
            }
        ]
        finish_reason, reply_text = "tool_calls", arguments
    elif schema is not None:
        reply_text = message["content"] = json.dumps(sample_value(schema, schema, rng))
    else:
        words = [rng.choice(WORDS) for _ in range(max(1, min(max_tokens, 12)))]
        if body.get("logprobs"):
            token, logprobs = first_token_logprobs(int(body.get("top_logprobs") or 0), rng)
            words = [token, *words[: max_tokens - 1]]
        reply_text = message["content"] = " ".join(words)
    prompt_tokens = max(1, message_characters(body.get("messages")) // 4)
    completion_tokens = max(1, len(reply_text) // 4)
    return {
        "id": f"chatcmpl-{digest[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or default_model),
        "system_fingerprint": "load-test",
        "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# ----------------------------------------------------------------------------- traffic: delays, faults, counters


class Traffic:
    """Counters, the --rpm window, the outage switch and the seeded draws of delays and faults.

    Only the server's event loop touches it, so plain attributes need no lock.
    """

    def __init__(self, options: LoadOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.down_until: float | None = None
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.completed = 0
        self.in_flight = getattr(self, "in_flight", 0)  # live requests survive a reset
        self.max_in_flight = self.in_flight
        self.status_counts: collections.Counter[int] = collections.Counter()
        self.duplicate_bodies = 0
        self.answered_digests: set[str] = set()
        self.admitted_at: collections.deque[float] = collections.deque()
        self.last_request: dict[str, Any] | None = None

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "completed": self.completed,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "status_counts": {str(status): n for status, n in sorted(self.status_counts.items())},
            "duplicate_bodies": self.duplicate_bodies,
            "last_request": self.last_request,
        }

    def is_down(self) -> bool:
        return self.down_until is not None and time.monotonic() < self.down_until

    def seconds_until_rpm_slot(self) -> float:
        """0 when a request may be admitted under --rpm (and admits it); else how long until one may."""
        if self.options.rpm <= 0:
            return 0.0
        now = time.monotonic()
        while self.admitted_at and now - self.admitted_at[0] >= 60.0:
            self.admitted_at.popleft()
        if len(self.admitted_at) >= self.options.rpm:
            return 60.0 - (now - self.admitted_at[0])
        self.admitted_at.append(now)
        return 0.0

    def draw_fault(self) -> str | None:
        """One draw decides among the faults, so their rates add up as given."""
        draw, options = self.rng.random(), self.options
        if draw < options.rate_429:
            return "429"
        if draw < options.rate_429 + options.rate_500:
            return "500"
        if draw < options.rate_429 + options.rate_500 + options.rate_timeout:
            return "timeout"
        return None

    def draw_delay_s(self) -> float:
        if self.options.median_ms <= 0:
            return 0.0
        return self.rng.lognormvariate(math.log(self.options.median_ms / 1000.0), self.options.sigma)


def build_app(options: LoadOptions) -> FastAPI:
    """The FastAPI app of one provider; its state lives in ``app.state.traffic``."""
    app = FastAPI(title="agentrec load-test provider", docs_url=None, redoc_url=None, openapi_url=None)
    traffic = Traffic(options)
    app.state.traffic = traffic

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        model = {"id": options.model, "object": "model", "created": 0, "owned_by": options.owned_by}
        return {"object": "list", "data": [model]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        traffic.requests += 1
        traffic.in_flight += 1
        traffic.max_in_flight = max(traffic.max_in_flight, traffic.in_flight)
        response: Response = JSONResponse(error_body("internal error of the load provider", "server_error", 500), 500)
        try:
            response = await answer(request, traffic)
        finally:
            traffic.in_flight -= 1
            traffic.completed += 1
            traffic.status_counts[response.status_code] += 1
        return response

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return traffic.stats()

    @app.post("/stats/reset")
    async def reset_stats() -> dict[str, Any]:
        traffic.reset()
        return traffic.stats()

    @app.post("/admin/down")
    async def go_down(seconds: float | None = None) -> dict[str, Any]:
        traffic.down_until = time.monotonic() + (seconds if seconds is not None else math.inf)
        return {"down": True, "seconds": seconds}

    @app.post("/admin/up")
    async def come_up() -> dict[str, Any]:
        traffic.down_until = None
        return {"down": False}

    return app


async def answer(request: Request, traffic: Traffic) -> Response:
    """The answer to one chat request: a refusal, a fault, or a reply after the drawn delay."""
    try:
        body = json.loads(await request.body())
    except json.JSONDecodeError as error:
        return invalid_request(f"the body is not JSON: {error}")
    if not isinstance(body, dict):
        return invalid_request("the body must be a JSON object")
    traffic.last_request = request_form(body)
    digest = canonical_digest(body)
    # Checked on arrival against finished requests: a copy sent while the first is still running is a
    # concurrent duplicate, not a resend of a finished one, and is not counted.
    if digest in traffic.answered_digests:
        traffic.duplicate_bodies += 1
    if traffic.is_down():
        return JSONResponse(error_body("the provider is down (simulated outage)", "server_error", 503), 503)
    wait_s = traffic.seconds_until_rpm_slot()
    if wait_s > 0:
        return rate_limited(f"over the limit of {traffic.options.rpm} requests per minute", wait_s)
    wants_tool = bool(body.get("tools")) and body.get("tool_choice") != "none"
    if body.get("stream") and (wants_tool or requested_schema(body.get("response_format")) is not None):
        return invalid_request("the load provider streams plain-text replies only")
    fault, delay_s = traffic.draw_fault(), traffic.draw_delay_s()
    if fault == "429":
        return rate_limited("rate limited (simulated)", traffic.options.retry_after)
    if fault == "timeout":
        await asyncio.sleep(traffic.options.timeout_s * 1.25)
        return JSONResponse(error_body("held past the client's timeout (simulated)", "timeout", 504), 504)
    await asyncio.sleep(delay_s)
    if fault == "500":
        return JSONResponse(error_body("internal error (simulated)", "server_error", 500), 500)
    try:
        reply = completion_reply(body, traffic.options.seed, traffic.options.model)
    except (BadRequest, KeyError, TypeError, ValueError) as error:
        return invalid_request(f"cannot answer this request: {error}")
    traffic.answered_digests.add(digest)
    return streamed_reply(reply, body) if body.get("stream") else JSONResponse(reply)


def streamed_reply(reply: dict[str, Any], body: dict[str, Any]) -> StreamingResponse:
    """``reply`` (plain text) as OpenAI's server-sent chunks: one word a chunk, the finish, usage if asked."""
    head = {key: reply[key] for key in ("id", "created", "model", "system_fingerprint")}
    choice = reply["choices"][0]
    words = str(choice["message"]["content"] or "").split(" ")
    pieces = [{"role": "assistant", "content": words[0]}, *({"content": f" {word}"} for word in words[1:])]
    chunks = [
        {**head, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]} for delta in pieces
    ]
    finish = [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]
    chunks.append({**head, "object": "chat.completion.chunk", "choices": finish})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**head, "object": "chat.completion.chunk", "choices": [], "usage": reply["usage"]})
    events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
    return StreamingResponse(iter(events), media_type="text/event-stream")


def request_form(body: dict[str, Any]) -> dict[str, Any]:
    """What decides the form of the reply: the response format, the tool choice and the tools offered."""
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    return {
        "response_format": body.get("response_format"),
        "tool_choice": body.get("tool_choice"),
        "tools": [
            t["function"].get("name") for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)
        ],
    }


def invalid_request(message: str) -> JSONResponse:
    return JSONResponse(error_body(message, "invalid_request_error", 400), 400)


def rate_limited(message: str, retry_after_s: float) -> JSONResponse:
    # Whole seconds: clients parse Retry-After as an integer or an HTTP date; round up so the retry is admitted.
    seconds = max(0, math.ceil(retry_after_s))
    return JSONResponse(error_body(message, "rate_limit_error", 429), 429, headers={"Retry-After": str(seconds)})


# ----------------------------------------------------------------------------- running it


def serve_in_thread(port: int = 0, **options: Any) -> tuple[str, Callable[[], None]]:
    """Start the provider on 127.0.0.1 in a daemon thread; return its ``/v1`` base URL and a stop function.

    ``options`` are :class:`LoadOptions` fields (``median_ms=5``, ``rate_429=1.0``...).
    """
    config = uvicorn.Config(
        build_app(LoadOptions(**options)),
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,  # requests held by --rate-timeout must not stall a test's teardown
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"load-provider-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the load provider did not start on {HOST}:{port}")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10.0)

    return f"http://{HOST}:{bound_port}/v1", stop


def parse_arguments(argv: list[str] | None = None) -> tuple[int, LoadOptions]:
    parser = argparse.ArgumentParser(
        description="A loopback OpenAI-compatible chat provider with seeded latency and faults, for load tests.",
        epilog="Also serves GET /stats, POST /stats/reset, POST /admin/down[?seconds=S] and POST /admin/up.",
    )
    parser.add_argument(
        "--port", metavar="N", type=int, default=8765, help="TCP port on 127.0.0.1 (default 8765; 0 = any free)"
    )
    parser.add_argument(
        "--model", metavar="NAME", default="load-test", help="model name listed by /v1/models (default load-test)"
    )
    parser.add_argument(
        "--owned-by",
        metavar="NAME",
        default="bench",
        help="owner of the model in /v1/models, to pose as a server: llamacpp, vllm, openai (default bench)",
    )
    parser.add_argument(
        "--median-ms", metavar="MS", type=float, default=800.0, help="median reply delay in ms (default 800)"
    )
    parser.add_argument(
        "--sigma", metavar="S", type=float, default=0.5, help="lognormal sigma of the delay (default 0.5)"
    )
    parser.add_argument(
        "--seed", metavar="N", type=int, default=0, help="seed of delays, faults and reply contents (default 0)"
    )
    parser.add_argument(
        "--rate-429",
        metavar="P",
        type=float,
        default=0.0,
        help="share of requests answered 429 with a Retry-After header (default 0)",
    )
    parser.add_argument(
        "--retry-after",
        metavar="S",
        type=float,
        default=1.0,
        help="Retry-After seconds sent with --rate-429 answers (default 1)",
    )
    parser.add_argument(
        "--rate-500",
        metavar="P",
        type=float,
        default=0.0,
        help="share of requests answered 500 after the delay (default 0)",
    )
    parser.add_argument(
        "--rate-timeout",
        metavar="P",
        type=float,
        default=0.0,
        help="share of requests held 1.25 x --timeout-s then answered 504, so clients time out (default 0)",
    )
    parser.add_argument(
        "--timeout-s",
        metavar="S",
        type=float,
        default=30.0,
        help="the client timeout that --rate-timeout outlasts (default 30)",
    )
    parser.add_argument(
        "--rpm",
        metavar="N",
        type=int,
        default=0,
        help="requests admitted per sliding minute; over it 429 with Retry-After (default 0 = no limit)",
    )
    arguments = parser.parse_args(argv)
    values = vars(arguments)
    port = values.pop("port")
    try:
        options = LoadOptions(**{f.name: values[f.name] for f in fields(LoadOptions)})
    except ValueError as error:
        parser.error(str(error))
    return port, options


def main(argv: list[str] | None = None) -> None:
    port, options = parse_arguments(argv)
    print(f"load provider on http://{HOST}:{port}/v1 ({options})", flush=True)
    uvicorn.run(build_app(options), host=HOST, port=port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
