"""Runs MCP tool calls over one opened dataset: candidate pools kept per person, ``finish``, ``recommend``.

State is kept per person, not per connection: one candidate pool for each
(user, liked items) a client names, shared by every client of the process, until
``finish`` fuses and empties it. Gathering for user 7 and then ranking for user 7
works on one pool whatever the transport; the 2026 protocol has no connection
state to hang a pool on (each request stands alone), and on stdio a process
serves one client anyway. At most ``MAX_POOLS`` pools are kept, least recently
used dropped first. ``recommend`` and ``item_info`` never touch a pool.

A person's pool never holds what the dataset says they interacted with, the
held-out last item included: this is a service, not an evaluation.

Not thread-safe: the server runs every call on one worker thread.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from agentrec.agent.chat.session_context import SessionContext, SessionProfile
from agentrec.agent.policies import finalise
from agentrec.agent.registry import ToolResult, validation_hint
from agentrec.agent.service import AgentService
from agentrec.agent.trace import AgentRun, AgentStep, TraceStore
from agentrec.core.errors import AgentrecError, ToolRetry
from agentrec.mcp_server.arguments import McpTool, Person, RecommendArguments, ToolKind, mcp_tools

logger = logging.getLogger(__name__)

MAX_POOLS = 64
PersonKey = tuple[int | None, tuple[int, ...]]
FINISHED_POLICY = "tools"  # how a run fused from a client's own tool calls is labelled in the trace store


@dataclass(frozen=True)
class ToolAnswer:
    """What a call produced: a JSON-ready payload, or a message saying what to fix."""

    payload: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Who:
    """A resolved ``Person``: the pool key, the profile the tools score for, and a label for traces."""

    key: PersonKey
    profile: SessionProfile
    label: str


@dataclass
class PersonPool:
    """A person's tool context (their pool) and the calls that built it, for the trace."""

    context: SessionContext
    steps: list[AgentStep] = field(default_factory=list)


class McpToolbox:
    """The MCP tools of one ``AgentService``."""

    def __init__(self, service: AgentService, traces: TraceStore | None = None, max_pools: int = MAX_POOLS) -> None:
        self.service = service
        self.tools = mcp_tools(service.registry)
        self.traces = traces
        self.max_pools = max_pools
        self.pools: OrderedDict[PersonKey, PersonPool] = OrderedDict()
        # Serves catalog-only tools; nobody's pool.
        self.catalog = SessionContext.open(service.workspace, SessionProfile(), "catalog")
        self._runners: dict[ToolKind, Callable[[McpTool, Any], dict[str, Any]]] = {
            "pool": self._run_pool_tool,
            "catalog": self._run_catalog_tool,
            "finish": self._finish,
            "recommend": self._recommend,
        }

    def warm_up(self) -> None:
        """Load what the first call would otherwise wait for (the text model's sentence encoder)."""
        self.service.workspace.warm_up()

    def call(self, name: str, arguments: dict[str, Any]) -> ToolAnswer:
        """Run tool ``name`` (one of ``self.tools``); anything the client can fix comes back as an error."""
        declared = self.tools[name]
        try:
            parsed = declared.arguments.model_validate(arguments)
            return ToolAnswer(self._runners[declared.kind](declared, parsed))
        except ValidationError as error:
            return ToolAnswer(error=validation_hint(error))
        except AgentrecError as error:
            return ToolAnswer(error=str(error) or type(error).__name__)

    # ----- the kinds of tools ------------------------------------------------------------------
    def _run_pool_tool(self, declared: McpTool, parsed: BaseModel) -> dict[str, Any]:
        pool = self._pool(self._who(parsed))
        arguments = parsed.model_dump(exclude=set(Person.model_fields))
        step = len(pool.steps) + 1
        pool.context.step = step
        # the client needs the whole result, so this is ``run_step`` in its two halves: the call, then its step
        outcome = self.service.registry.call(declared.name, arguments, pool.context)
        pool.steps.append(outcome.step(step, thought="MCP client"))
        return _payload(outcome.result, outcome.retry_hint)

    def _run_catalog_tool(self, declared: McpTool, parsed: BaseModel) -> dict[str, Any]:
        outcome = self.service.registry.call(declared.name, parsed.model_dump(), self.catalog)
        return _payload(outcome.result, outcome.retry_hint)

    def _finish(self, declared: McpTool, parsed: Any) -> dict[str, Any]:
        who = self._who(parsed)
        pool = self.pools.get(who.key)
        if pool is None or len(pool.context.pool) == 0:
            raise ToolRetry(
                f"nothing is pooled for {who.label}; gather with retrieve, search or similar first, "
                "passing the same user and liked as here"
            )
        settings = replace(self.service.settings, k=parsed.k)
        run = finalise(
            pool.context, settings, policy=FINISHED_POLICY, model=self.service.model, trained=self.service.trained,
            steps=pool.steps, started=time.perf_counter(),
        )  # fmt: skip
        del self.pools[who.key]
        return self._recorded(run)

    def _recommend(self, declared: McpTool, parsed: RecommendArguments) -> dict[str, Any]:
        who = self._who(parsed)
        if who.profile.user is None and not who.profile.liked:
            raise ToolRetry("say who to recommend to: a user id, liked items, or both")
        service = replace(self.service, settings=replace(self.service.settings, k=parsed.k))
        return self._recorded(service.run_in(self._context(who), parsed.policy))

    # ----- people, pools, runs -----------------------------------------------------------------
    def _who(self, parsed: Any) -> Who:
        """Resolve the person fields; an unknown user or item is a ``DataError`` naming it."""
        user = None if parsed.user is None else self.service.user_index(parsed.user)
        liked = tuple(dict.fromkeys(self.service.item_index(reference) for reference in parsed.liked))
        label = parsed.user if parsed.user is not None else "anonymous"
        if liked:
            label = f"{label} +{len(liked)} liked" if parsed.user is not None else f"{len(liked)} liked items"
        return Who((user, liked), SessionProfile(user, liked), label)

    def _context(self, who: Who) -> SessionContext:
        workspace = self.service.workspace
        user = who.profile.user
        held_out = workspace.target(user) if user is not None else None
        blocked = () if held_out is None else (held_out,)
        return SessionContext.open(workspace, who.profile, who.label, self.service.settings.seed, blocked)

    def _pool(self, who: Who) -> PersonPool:
        pool = self.pools.pop(who.key, None) or PersonPool(self._context(who))
        self.pools[who.key] = pool  # most recently used last
        while len(self.pools) > self.max_pools:
            dropped, _ = self.pools.popitem(last=False)
            logger.info("dropped the least recently used pool %s (more than %s kept)", dropped, self.max_pools)
        return pool

    def _recorded(self, run: AgentRun) -> dict[str, Any]:
        """Save ``run`` to the trace store (a failure there costs the client nothing) and return it."""
        if self.traces is not None and (problem := self.traces.try_save(run)):
            logger.warning("trace %s not saved: %s", run.trace_id, problem)
        return run.model_dump(mode="json")


def _payload(result: ToolResult | None, retry_hint: str | None) -> dict[str, Any]:
    if result is None:
        raise ToolRetry(retry_hint or "the tool returned nothing")
    return result.model_dump(mode="json")
