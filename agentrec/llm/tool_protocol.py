"""Tool calls as plain JSON: the schema a reply must follow, the prompt asking for it, the parser,
and the conversation flattened back into plain roles for the next prompt.

Backends without native tool calling (the embedded model, JSON-mode providers)
ask for one JSON object ``{"thought": ..., "tool": NAME, "arguments": {...}}``.
The embedded model is constrained by a grammar built from ``tool_call_schema``,
so its reply always parses; other backends are parsed and checked the same way.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from agentrec.llm.records import Message, ToolCall, ToolSpec

# A free-text answer is offered as one more "tool" when the model may choose not to call one.
REPLY_TOOL = "reply"
# A thought longer than this would eat the token budget before the call is written. Kept
# short because a length bound compiles to nested grammar rules that slow sampling
# (the longer the bound, the slower a tool call on SmolLM2; figures in bench/README.md).
THOUGHT_MAX_CHARS = 100


class ToolReplyError(ValueError):
    """A reply that should have been a tool call is not valid JSON of the expected shape."""


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` with local ``$ref``s replaced by their definitions.

    Tool schemas are nested inside one larger schema, where their ``#/$defs``
    pointers would no longer resolve. Titles are dropped: they only add tokens.
    """
    definitions = {**schema.get("definitions", {}), **schema.get("$defs", {})}

    def resolve(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                name = ref.rsplit("/", 1)[-1]
                if name in seen:  # a recursive model: stop unfolding, accept any object
                    return {"type": "object"}
                return resolve(copy.deepcopy(definitions[name]), seen | {name})
            resolved = {}
            for key, value in node.items():
                if key in ("$defs", "definitions", "title"):
                    continue
                if key == "properties" and isinstance(value, dict):
                    # Property names are data, not keywords: a field may be called "title".
                    resolved[key] = {name: resolve(sub, seen) for name, sub in value.items()}
                else:
                    resolved[key] = resolve(value, seen)
            return resolved
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema, frozenset())
    return resolved


# Inlined argument schemas by spec: every request carries every tool's, and specs never change.
_INLINED: dict[int, tuple[ToolSpec, dict[str, Any]]] = {}
_MOST_INLINED = 512


def inlined_parameters(tool: ToolSpec) -> dict[str, Any]:
    """``inline_refs(tool.parameters)``, computed once per spec; shared, so never to be changed in place."""
    found = _INLINED.get(id(tool))
    if found is None or found[0] is not tool:  # the id of a spec that is gone may be reused
        if len(_INLINED) >= _MOST_INLINED:
            _INLINED.clear()
        found = _INLINED[id(tool)] = (tool, inline_refs(tool.parameters))
    return found[1]


def _one_tool_schema(tool: ToolSpec, with_thought: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if with_thought:
        properties["thought"] = {"type": "string", "maxLength": THOUGHT_MAX_CHARS}
    properties["tool"] = {"const": tool.name}
    properties["arguments"] = inlined_parameters(tool)
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def offered_tools(tools: list[ToolSpec], tool_choice: str) -> list[ToolSpec]:
    """The tools a reply may call under ``tool_choice`` (auto, required, none, or a name)."""
    if tool_choice == "none":
        return []
    if tool_choice in ("auto", "required"):
        return list(tools)
    chosen = [tool for tool in tools if tool.name == tool_choice]
    if not chosen:
        raise ValueError(f"tool_choice names {tool_choice!r}, which is not among the tools")
    return chosen


def tool_call_schema(tools: list[ToolSpec], tool_choice: str, with_thought: bool = True) -> dict[str, Any]:
    """The JSON schema of a reply under ``tool_choice``: one of the tool calls (or a reply)."""
    options = [_one_tool_schema(tool, with_thought) for tool in offered_tools(tools, tool_choice)]
    if tool_choice == "auto":
        reply = ToolSpec(
            name=REPLY_TOOL,
            description="",
            parameters={
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        )
        options.append(_one_tool_schema(reply, with_thought))
    if len(options) == 1:
        return options[0]
    return {"anyOf": options}


def tool_instructions(tools: list[ToolSpec], tool_choice: str) -> str:
    """The system-prompt text that describes the tools and the reply format."""
    lines = ["You can call these tools:"]
    for tool in offered_tools(tools, tool_choice):
        lines.append(f"- {tool.name}: {tool.description}")
        schema = inlined_parameters(tool)
        required = set(schema.get("required", []))
        for name, field in schema.get("properties", {}).items():
            lines.append(f"  {name}: {_argument_line(field, name in required)}")
    lines.append(
        'Answer with one JSON object: {"thought": "<why, briefly>", "tool": "<tool name>", "arguments": {<arguments>}}.'
    )
    if tool_choice == "auto":
        lines.append(
            f'To answer without a tool, use "tool": "{REPLY_TOOL}" with "arguments": {{"text": "<your answer>"}}.'
        )
    return "\n".join(lines)


def _argument_line(field: dict[str, Any], required: bool) -> str:
    """One argument in a few tokens: type (or allowed values), default, description.

    The full JSON schema costs about twice the tokens, and on a grammar-constrained
    model the grammar enforces the schema anyway; the text only has to inform.
    """
    options = field.get("anyOf", [field])
    kinds: list[str] = []
    for option in options:
        if "enum" in option:
            kinds.append(" | ".join(json.dumps(value) for value in option["enum"]))
        elif option.get("type") == "array":
            kinds.append(f"list of {option.get('items', {}).get('type', 'value')}")
        elif option.get("type") != "null":
            kinds.append(str(option.get("type", "value")))
    text = " or ".join(kinds) or "value"
    if not required:
        text += f" (optional, default {json.dumps(field.get('default'))})"
    description = field.get("description")
    return f"{text}. {description}" if description else text


def parse_tool_reply(text: str, tools: list[ToolSpec], tool_choice: str) -> tuple[str, list[ToolCall]]:
    """Split a JSON tool reply into (thought or answer text, tool calls).

    Raises ``ToolReplyError`` when the text is not one JSON object naming an
    offered tool with an object of arguments.
    """
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ToolReplyError(f"the reply is not valid JSON ({error})") from error
    if not isinstance(payload, dict):
        raise ToolReplyError("the reply must be one JSON object")
    name = payload.get("tool")
    arguments = payload.get("arguments", {})
    thought = str(payload.get("thought", ""))
    if not isinstance(arguments, dict):
        raise ToolReplyError('"arguments" must be a JSON object')
    if name == REPLY_TOOL and tool_choice == "auto":
        return str(arguments.get("text", "")), []
    names = [tool.name for tool in offered_tools(tools, tool_choice)]
    if name not in names:
        raise ToolReplyError(f'"tool" must be one of {names}, got {name!r}')
    return thought, [ToolCall(name=str(name), arguments=arguments)]


def render_tool_call(call: ToolCall, thought: str = "") -> str:
    """A past tool call written the way the model is asked to write one."""
    payload: dict[str, Any] = {"thought": thought} if thought else {}
    payload.update({"tool": call.name, "arguments": call.arguments})
    return json.dumps(payload)


def flattened_message(message: Message) -> dict[str, str]:
    """``message`` in plain roles, for a prompt whose model has no native tools.

    A past call becomes the JSON the model is asked to write (exactly as the model
    wrote it, when it did: the embedded model then finds those tokens evaluated);
    a tool result becomes a user turn, since many chat templates reject a "tool" role.
    """
    if message.role == "assistant" and message.tool_calls:
        if message.written:
            return {"role": "assistant", "content": message.written}
        return {
            "role": "assistant",
            "content": "\n".join(render_tool_call(c, message.content) for c in message.tool_calls),
        }
    if message.role == "tool":
        return {"role": "user", "content": f"Result of {message.name or 'the tool'}:\n{message.content}"}
    return {"role": message.role, "content": message.content}


def with_system_text(messages: list[dict[str, Any]], extra: str) -> list[dict[str, Any]]:
    """``messages`` with ``extra`` appended to the system message, or put first as one."""
    if not extra:
        return messages
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": f"{messages[0]['content']}\n\n{extra}"}, *messages[1:]]
    return [{"role": "system", "content": extra}, *messages]
