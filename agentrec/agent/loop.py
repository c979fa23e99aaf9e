"""The ToolRec loop: the LLM, as a surrogate user, calls tools until it finishes; the pool is fused.

One readable loop. Each step the model writes a thought and one tool call
(grammar-constrained on the embedded model, native tool calls on providers). An
invalid step (unparseable reply, unknown tool, bad arguments, a tool's
``ToolRetry``) gets one re-ask showing the problem; a second failure skips the
step and the failure is shown to the model. After ``max_steps`` steps, or on
``finish``, the pool is fused into the final top-k. Guardrails live in the tools
and in ``finalise``, never as branches here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentrec.agent.context import ToolContext
from agentrec.agent.policies import RunSettings, finalise, seed_pool
from agentrec.agent.prompts import opening_messages
from agentrec.agent.registry import ToolOutcome, ToolRegistry
from agentrec.agent.trace import AgentRun, AgentStep
from agentrec.core.errors import ModelBackendError
from agentrec.llm.records import AssistantTurn, ChatModel, GenerationSettings, Message
from agentrec.recsys.ranker import LearnedFusion

FINISH = "finish"


@dataclass
class _Tally:
    turns: list[AssistantTurn] = field(default_factory=list)
    reasks: int = 0
    skipped: int = 0


def run_agent(
    context: ToolContext,
    model: ChatModel,
    registry: ToolRegistry,
    settings: RunSettings,
    ranker: LearnedFusion | None = None,
) -> AgentRun:
    """Run the surrogate-user loop for ``context.user`` and return the grounded run record."""
    started = time.perf_counter()
    seed_pool(context, settings)
    messages = opening_messages(context)
    generation = GenerationSettings(max_tokens=settings.step_tokens, tool_choice="required", seed=settings.seed)
    tally, steps = _Tally(), []
    stops = stop_listeners(settings)
    for index in range(1, settings.max_steps + 1):
        context.step = index
        step, reply, observation = _step(index, context, model, registry, messages, generation, tally)
        steps.append(step)
        if reply is not None:
            messages += [reply.as_message(), Message.tool_result(step.tool, observation, _call_id(reply))]
        if any(stop(steps) for stop in stops):
            break
    return finalise(
        context, settings, policy="agent", model=model, ranker=ranker, steps=steps, turns=tally.turns,
        reasks=tally.reasks, skipped=tally.skipped, started=started,
    )  # fmt: skip


StopListener = Callable[[Sequence[AgentStep]], bool]


def stop_listeners(settings: RunSettings) -> list[StopListener]:
    """When a run ends early: on ``finish``, or after ``max_skipped_steps`` skipped steps.

    A model that fails a step even after the re-ask rarely recovers (the embedded
    135M model repeats the failing call), so more steps would only spend time.
    """

    def finished(steps: Sequence[AgentStep]) -> bool:
        return steps[-1].tool == FINISH and steps[-1].status != "skipped"

    def stuck(steps: Sequence[AgentStep]) -> bool:
        return sum(step.status == "skipped" for step in steps) >= settings.max_skipped_steps

    return [finished, stuck]


def _step(
    index: int,
    context: ToolContext,
    model: ChatModel,
    registry: ToolRegistry,
    messages: list[Message],
    generation: GenerationSettings,
    tally: _Tally,
) -> tuple[AgentStep, AssistantTurn | None, str]:
    """One step with at most one re-ask. Returns the step, the reply to keep, and its observation."""
    conversation = list(messages)
    for attempt in range(2):
        reply, problem = _ask(model, conversation, registry, generation, tally)
        outcome: ToolOutcome | None = None
        if reply is not None and problem is None:
            call = reply.tool_calls[0]
            outcome = registry.call(call.name, dict(call.arguments), context)
            problem = outcome.retry_hint
        if problem is None and reply is not None and outcome is not None:
            status = "finish" if outcome.name == FINISH else ("reasked" if attempt else "ok")
            observation = _observe(outcome)
            return _record(index, reply, outcome, status, observation), reply, observation
        if attempt == 0:
            tally.reasks += 1
            conversation += _reask_messages(reply, problem or "no tool call")
    tally.skipped += 1
    failed = f"error: {problem}"
    skipped = _record(index, reply, outcome, "skipped", failed)
    return skipped, reply if reply is not None and reply.tool_calls else None, failed


def _ask(
    model: ChatModel,
    conversation: list[Message],
    registry: ToolRegistry,
    generation: GenerationSettings,
    tally: _Tally,
) -> tuple[AssistantTurn | None, str | None]:
    """One model call; a reply without a tool call, or an unusable one, is a problem to re-ask."""
    try:
        reply = model.complete(conversation, tools=registry.specs(), settings=generation)
    except ModelBackendError as error:
        return None, str(error)
    tally.turns.append(reply)
    if not reply.tool_calls:
        return reply, "call exactly one tool"
    return reply, None


def _reask_messages(reply: AssistantTurn | None, problem: str) -> list[Message]:
    shown = [reply.as_message()] if reply is not None else []
    if reply is not None and reply.tool_calls:
        shown.append(Message.tool_result(reply.tool_calls[0].name, f"error: {problem}", _call_id(reply)))
        return [*shown, Message.user("That call failed. Call one tool again, fixing the problem.")]
    return [*shown, Message.user(f"That reply was not usable ({problem}). Call one tool.")]


def _observe(outcome: ToolOutcome) -> str:
    result = outcome.result
    observe = getattr(result, "observation", None)
    return str(observe()) if callable(observe) else (result.model_dump_json()[:500] if result else "")


def _record(
    index: int, reply: AssistantTurn | None, outcome: ToolOutcome | None, status: str, observation: str
) -> AgentStep:
    call = reply.tool_calls[0] if reply is not None and reply.tool_calls else None
    return AgentStep(
        step=index,
        thought=(reply.text if reply is not None else "")[:300],
        tool=call.name if call is not None else "",
        arguments=dict(call.arguments) if call is not None else {},
        status=status,  # type: ignore[arg-type]
        observation=observation[:500],
        prompt_tokens=reply.usage.prompt_tokens if reply is not None else 0,
        completion_tokens=reply.usage.completion_tokens if reply is not None else 0,
        llm_ms=(reply.latency_s * 1000.0) if reply is not None else 0.0,
        tool_ms=outcome.milliseconds if outcome is not None else 0.0,
    )


def _call_id(reply: AssistantTurn) -> str | None:
    return reply.tool_calls[0].call_id if reply.tool_calls else None
