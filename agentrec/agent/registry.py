"""Tools the agent may call: ``@tool`` on a typed function, registered explicitly.

A tool is a plain function whose first parameter is the tool context (the
workspace, the user, the candidate pool, an rng) and whose other parameters are
the arguments the LLM fills in. Pydantic builds the argument schema from the
signature; the first docstring line is the description the LLM sees, and each
argument's description comes from the docstring's ``Args:`` section. A tool
without a description for every argument is refused at declaration, because the
model cannot use an argument it was never told about. A tool returns a
``ToolResult``: a pydantic model whose ``observation()`` is the text the model
reads back; a tool declared to return anything else is refused too.

``ToolRegistry.run_step`` is the one way a call becomes an ``AgentStep``: the
agent loop, the chat's rules, the heuristic policy and the MCP server all record
their calls through it (or through the ``ToolOutcome.step`` it returns).
"""

from __future__ import annotations

import inspect
import re
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from agentrec.agent.trace import AgentStep
from agentrec.core.errors import ConfigError, DataError, ToolRetry
from agentrec.llm.records import ToolSpec

MAX_OBSERVATION_CHARS = 500  # what a step keeps of an observation; the model reads it whole


class ToolResult(BaseModel):
    """What a tool returns: typed fields for programs, and ``observation()`` for the model."""

    @abstractmethod
    def observation(self) -> str:
        """The short text the model reads back after the call."""


ToolFunction = Callable[..., ToolResult]
_ARG_LINE = re.compile(r"^\s{2,}(?P<name>\w+)(?:\s*\([^)]*\))?:\s*(?P<text>.+)$")


@dataclass(frozen=True)
class Tool:
    """One declared tool: its function, name, description and argument model."""

    function: ToolFunction
    name: str
    description: str
    arguments: type[BaseModel]

    def spec(self) -> ToolSpec:
        """What the LLM is shown: name, description, JSON schema of the arguments."""
        return self._spec

    @cached_property
    def _spec(self) -> ToolSpec:
        # Built once per tool: pydantic's schema generation costs about a millisecond, at every step.
        return ToolSpec.from_model(self.name, self.description, self.arguments)

    def with_choices(self, choices: dict[str, Sequence[str]], description: str | None = None) -> Tool:
        """A copy whose named string arguments only accept the given values.

        Tool packs use this to put a dataset's real attribute values into the
        schema, so a grammar-constrained model can only write values that exist.
        """
        overrides: dict[str, Any] = {}
        for name, values in choices.items():
            if name not in self.arguments.model_fields:
                raise ConfigError(f"tool {self.name} has no argument {name!r} to restrict")
            if not values:
                raise ConfigError(f"tool {self.name}: no values to restrict {name!r} to")
            current = self.arguments.model_fields[name]
            allowed: Any = Literal[tuple(dict.fromkeys(str(v) for v in values))]  # built at run time
            optional = current.default is None
            annotation = (allowed | None) if optional else allowed
            overrides[name] = (annotation, Field(current.default, description=current.description))
        narrowed = create_model(self.arguments.__name__, __base__=self.arguments, **overrides)
        return Tool(self.function, self.name, description or self.description, narrowed)


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


@overload
def tool(function: ToolFunction, *, name: str | None = None) -> Tool: ...
@overload
def tool(function: None = None, *, name: str | None = None) -> Callable[[ToolFunction], Tool]: ...
def tool(function: ToolFunction | None = None, *, name: str | None = None) -> Tool | Callable[[ToolFunction], Tool]:
    """Declare ``function`` a tool. Its first parameter is the tool context.

    ``@tool`` names the tool after the function; ``@tool(name="filter")`` gives it
    a public name (what the LLM calls and traces record) a Python name should not
    have, such as a builtin's.
    """
    if function is None:
        return lambda declared: _declare(declared, name or declared.__name__)
    return _declare(function, name or function.__name__)


def _declare(function: ToolFunction, name: str) -> Tool:
    doc = inspect.getdoc(function) or ""
    description = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    if not description:
        raise ConfigError(f"tool {name} needs a docstring: its first line is what the LLM sees")
    described = _argument_docs(doc)
    hints = get_type_hints(function, include_extras=True)  # keep Annotated bounds (k: 1..100)
    _check_result_type(name, hints.get("return"))
    parameters = list(inspect.signature(function).parameters.values())[1:]
    fields: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.name not in described:
            raise ConfigError(f"tool {name}: argument {parameter.name!r} is not described in Args:")
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (hints[parameter.name], Field(default, description=described[parameter.name]))
    arguments = create_model(f"{name}_arguments", __base__=_Arguments, **fields)
    return Tool(function, name, description, arguments)


def _check_result_type(name: str, returned: object) -> None:
    """A tool must say it returns a concrete ``ToolResult``: its ``observation()`` is what the model reads."""
    if not (isinstance(returned, type) and issubclass(returned, ToolResult)):
        shown = getattr(returned, "__name__", None) or repr(returned)
        raise ConfigError(f"tool {name} must be annotated to return a ToolResult subclass, not {shown}")
    if inspect.isabstract(returned):
        raise ConfigError(f"tool {name}: its result {returned.__name__} does not define observation()")


def _argument_docs(doc: str) -> dict[str, str]:
    """Argument descriptions from a Google-style ``Args:`` section."""
    described: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:"):
            in_args = True
            continue
        if in_args:
            if line and not line.startswith(" "):
                break
            match = _ARG_LINE.match(line)
            if match:
                described[match.group("name")] = match.group("text").strip()
    return described


@dataclass(frozen=True)
class ToolOutcome:
    """What one call produced: the result (or the hint for a retry) and how long it took."""

    name: str
    arguments: dict[str, Any]
    result: ToolResult | None
    retry_hint: str | None
    milliseconds: float

    @property
    def observation(self) -> str:
        """What the model reads back, whole: the result's observation, or the problem to fix."""
        if self.result is None:
            return f"error: {self.retry_hint}"
        return self.result.observation()

    def step(self, index: int, thought: str = "") -> AgentStep:
        """The call as a run records it: ``ok`` with the observation, or ``skipped`` with the problem."""
        return AgentStep(
            step=index, thought=thought, tool=self.name, arguments=self.arguments,
            status="ok" if self.result is not None else "skipped",
            observation=self.observation[:MAX_OBSERVATION_CHARS], tool_ms=self.milliseconds,
        )  # fmt: skip


@dataclass
class ToolRegistry:
    """The tools one agent may use, by name. Registration is explicit; order is kept."""

    tools: dict[str, Tool] = field(default_factory=dict)

    @classmethod
    def of(cls, tools: Iterable[Tool]) -> ToolRegistry:
        registry = cls()
        for declared in tools:
            registry.register(declared)
        return registry

    def register(self, declared: Tool) -> None:
        if declared.name in self.tools:
            raise ConfigError(f"tool {declared.name!r} is registered twice")
        self.tools[declared.name] = declared

    def replace(self, declared: Tool) -> None:
        """Swap in a narrowed version of a registered tool (same name)."""
        if declared.name not in self.tools:
            raise ConfigError(f"no tool {declared.name!r} to replace")
        self.tools[declared.name] = declared

    def specs(self) -> list[ToolSpec]:
        return [declared.spec() for declared in self.tools.values()]

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def call(self, name: str, arguments: dict[str, Any], context: Any) -> ToolOutcome:
        """Validate ``arguments`` and run the tool.

        Anything the model can fix (an unknown tool, invalid arguments, a
        ``ToolRetry`` or ``DataError`` from the tool) comes back as a retry hint;
        any other exception is a bug and propagates.
        """
        started = time.perf_counter()
        declared = self.tools.get(name)
        if declared is None:
            hint = f"there is no tool {name!r}; use one of: {', '.join(self.tools)}"
            return ToolOutcome(name, arguments, None, hint, _ms_since(started))
        try:
            parsed = declared.arguments.model_validate(arguments)
            result = declared.function(context, **{key: getattr(parsed, key) for key in type(parsed).model_fields})
        except ValidationError as error:
            return ToolOutcome(name, arguments, None, validation_hint(error), _ms_since(started))
        except (ToolRetry, DataError) as error:
            return ToolOutcome(name, arguments, None, str(error), _ms_since(started))
        return ToolOutcome(name, arguments, result, None, _ms_since(started))

    def run_step(self, index: int, name: str, arguments: dict[str, Any], context: Any, thought: str = "") -> AgentStep:
        """Run one call (as ``call``) and record it as step ``index`` of a run."""
        return self.call(name, arguments, context).step(index, thought)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def validation_hint(error: ValidationError) -> str:
    """The first few problems of invalid arguments, each with the argument it is about."""
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        parts.append(f"{where}: {item['msg']}")
    return "invalid arguments: " + "; ".join(parts)
