"""The dialects of OpenAI-compatible chat servers: how each takes a JSON schema, and which tool choices it honours.

Servers that all answer ``POST /chat/completions`` still differ where it matters
for structured output:

* **openai** (OpenAI itself, and every hosted provider litellm translates for):
  ``response_format = {"type": "json_schema", "json_schema": {"name", "schema"}}``,
  with an object at the schema's root; native tool calls honour
  ``tool_choice`` "required" and "auto".
* **vllm**: the same ``json_schema`` form, any schema at the root; native tool
  calls honour "required" (guided decoding, vLLM 0.8.3 and later). "auto" needs
  the server started with ``--enable-auto-tool-choice`` and a parser, and is
  refused without them, so it goes through JSON tool calls instead.
* **llamacpp** (llama.cpp's server and llama-cpp-python's): the schema travels
  inside JSON mode, ``{"type": "json_object", "schema": ...}``; a native call is
  sure to come only for a named ``tool_choice``, so "required" and "auto" go
  through JSON tool calls constrained by that schema.

Which one a server speaks is read once from its ``GET /models`` answer
(``owned_by``), and is llama.cpp's when that cannot be told: its form is the one
self-hosted servers accept most widely.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Literal

from agentrec.core.errors import ConfigError

logger = logging.getLogger(__name__)

# Short: detection must not hold up construction much when the server is down or busy
# (llama-cpp-python's server answers /models only between generations).
PROBE_TIMEOUT_S = 2.0
# The tool choices a server may leave open; a named tool is honoured by every dialect.
OPEN_TOOL_CHOICES = frozenset({"required", "auto"})
# "json_schema": OpenAI's response format; "json_object": JSON mode carrying a "schema" (llama.cpp).
SchemaFormat = Literal["json_schema", "json_object"]
SCHEMA_FORMATS: tuple[SchemaFormat, ...] = ("json_schema", "json_object")


@dataclasses.dataclass(frozen=True)
class Dialect:
    """What one kind of server accepts for structured output."""

    name: str
    schema_format: SchemaFormat
    # OpenAI refuses a json_schema whose root is not an object (a union of tool calls, say).
    object_root_only: bool
    # The open tool choices ("required", "auto") that native tool calls honour.
    native_open_choices: frozenset[str]

    def honours_natively(self, tool_choice: str) -> bool:
        """True when a native tool request with this ``tool_choice`` reliably gets the calls it asks for."""
        return tool_choice not in OPEN_TOOL_CHOICES or tool_choice in self.native_open_choices

    def with_schema_format(self, schema_format: str) -> Dialect:
        """This dialect with the other schema form, for a server known to want it."""
        if schema_format not in SCHEMA_FORMATS:
            raise ConfigError(f"schema format must be json_schema or json_object, got {schema_format!r}")
        return dataclasses.replace(self, schema_format=schema_format)

    def response_format(self, schema: dict[str, Any], name: str) -> dict[str, Any]:
        """The ``response_format`` asking for a JSON reply valid under ``schema`` (``name`` labels it)."""
        if self.schema_format == "json_object":
            return {"type": "json_object", "schema": schema}
        if self.object_root_only and schema.get("type") != "object":
            # Plain JSON mode then; the schema still reaches the model in the system prompt.
            return {"type": "json_object"}
        # No "strict": pydantic's optional fields and open objects are what strict mode refuses.
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


OPENAI = Dialect("openai", "json_schema", object_root_only=True, native_open_choices=OPEN_TOOL_CHOICES)
VLLM = Dialect("vllm", "json_schema", object_root_only=False, native_open_choices=frozenset({"required"}))
LLAMACPP = Dialect("llamacpp", "json_object", object_root_only=False, native_open_choices=frozenset())
DIALECTS = {dialect.name: dialect for dialect in (OPENAI, VLLM, LLAMACPP)}

# ``owned_by`` in a server's /models answer, by dialect. OpenAI lists its own models as "system" or "openai".
_DIALECT_OF_OWNER = {"llamacpp": LLAMACPP, "vllm": VLLM, "openai": OPENAI, "openai-internal": OPENAI, "system": OPENAI}
# litellm providers that pass requests unchanged to an OpenAI-compatible server, so the server must be asked.
_PASS_THROUGH_PROVIDERS = frozenset({"openai", "text-completion-openai", "custom_openai"})


def dialect_named(name: str) -> Dialect:
    """The dialect called ``name``; ``ConfigError`` naming the choices for any other."""
    try:
        return DIALECTS[name.strip().lower()]
    except KeyError:
        raise ConfigError(f"unknown dialect {name!r}: use one of {', '.join(DIALECTS)}") from None


def detect_dialect(
    provider: str,
    api_base: str | None,
    api_key: str | None,
    label: str,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> Dialect:
    """The dialect of a litellm ``provider`` at ``api_base``, asking the server when that is the only way.

    No endpoint means a hosted provider, spoken to in OpenAI's forms (litellm
    translates them). ``hosted_vllm`` is vLLM. An OpenAI-compatible endpoint is
    asked once for ``GET /models``; anything else, or a failed probe, gets
    llama.cpp's forms, as before dialects were told apart. ``api_key`` is sent
    to the endpoint as the chat requests send it, and never logged; ``label``
    names the model in log lines.
    """
    if provider == "hosted_vllm":
        return VLLM
    if not api_base:
        return OPENAI
    if provider not in _PASS_THROUGH_PROVIDERS:
        return LLAMACPP
    owner = probe_model_owner(api_base, api_key, label, timeout_s)
    dialect = _DIALECT_OF_OWNER.get(owner or "", LLAMACPP)
    logger.debug("%s: models owned by %r; speaking the %s dialect", label, owner, dialect.name)
    return dialect


def probe_model_owner(api_base: str, api_key: str | None, label: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """``owned_by`` of the first model the server at ``api_base`` lists, or None when it cannot be read.

    Never raises: the server may be down at construction, and the chat requests
    will report that with their own retries.
    """
    import httpx  # the HTTP client under litellm and openai; imported here, as litellm is

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{api_base.rstrip('/')}/models", headers=headers, timeout=timeout_s)
        response.raise_for_status()
        listing = response.json()
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:  # refused, timed out, refused by status, not JSON
        # Only the error's kind: its text may quote the URL, whose user:password@ part is a secret.
        logger.debug("%s: could not read the server's /models (%s)", label, type(error).__name__)
        return None
    models = listing.get("data") if isinstance(listing, dict) else None
    first = models[0] if isinstance(models, list) and models else None
    owner = first.get("owned_by") if isinstance(first, dict) else None
    return owner if isinstance(owner, str) else None
