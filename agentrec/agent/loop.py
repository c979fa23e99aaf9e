"""The ToolRec loop: the LLM, as a surrogate user, calls tools until it finishes; the pool is fused.

One readable loop. Each step the model writes a thought and one tool call
(grammar-constrained on the embedded model, native tool calls on providers). An
invalid step (unparseable reply, unknown tool, bad arguments, a tool's
``ToolRetry``) gets one re-ask showing the problem; a second failure skips the
step and the failure is shown to the model. The run ends on ``finish``, after
``max_steps`` steps, or after ``max_skipped_steps`` skipped steps (default 1),
and the pool is fused into the final top-k. Guardrails live in the tools
and in ``finalise``, never as branches here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentrec.agent.context import ToolContext
from agentrec.agent.fusion import FusionModels
from agentrec.agent.policies import RunSettings, finalise, seed_pool
from agentrec.agent.progress import Progress
from agentrec.agent.prompts import opening_messages
from agentrec.agent.registry import MAX_OBSERVATION_CHARS, ToolOutcome, ToolRegistry
from agentrec.agent.trace import AgentRun, AgentStep, StepStatus
from agentrec.core.errors import ModelBackendError
from agentrec.llm.records import AssistantTurn, ChatModel, GenerationSettings, Message
from agentrec.llm.structured import InvalidStructuredReply

FINISH = "finish"


@dataclass
class StepTally:
    """What a run's steps cost and how often they failed; ``progress`` hears what is happening now."""

    turns: list[AssistantTurn] = field(default_factory=list)
    reasks: int = 0
    skipped: int = 0
    backend_errors: list[str] = field(default_factory=list)
    progress: Progress | None = None

    def announce(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


def run_agent(
    context: ToolContext,
    model: ChatModel,
    registry: ToolRegistry,
    settings: RunSettings,
    trained: FusionModels | None = None,
) -> AgentRun:
    """Run the surrogate-user loop for ``context.user`` and return the grounded run record."""
    started = time.perf_counter()
    seed_pool(context, settings)
    tally = StepTally()
    steps = gather(context, model, registry, settings, opening_messages(context), tally)
    run = finalise(
        context, settings, policy="agent", model=model, trained=trained, steps=steps, turns=tally.turns,
        reasks=tally.reasks, skipped=tally.skipped, started=started,
    )  # fmt: skip
    if tally.backend_errors:
        return run.model_copy(update={"llm_unreachable": tally.backend_errors[0]})
    return run


def gather(
    context: ToolContext,
    model: ChatModel,
    registry: ToolRegistry,
    settings: RunSettings,
    messages: Sequence[Message],
    tally: StepTally,
    first_step: int = 1,
) -> list[AgentStep]:
    """Up to ``settings.max_steps`` steps from ``messages``: the model calls tools that fill the pool.

    ``first_step`` numbers the steps after any already taken (the chat's rule steps).
    """
    conversation = list(messages)
    generation = GenerationSettings(max_tokens=settings.step_tokens, tool_choice="required", seed=settings.seed)
    steps: list[AgentStep] = []
    stops = stop_listeners(settings)
    for index in range(first_step, first_step + settings.max_steps):
        context.step = index
        step, reply, observation = _step(index, context, model, registry, conversation, generation, tally)
        steps.append(step)
        if reply is not None:
            conversation += [reply.as_message(), Message.tool_result(step.tool, observation, _call_id(reply))]
        if any(stop(steps) for stop in stops):
            break
    return steps


StopListener = Callable[[Sequence[AgentStep]], bool]


def stop_listeners(settings: RunSettings) -> list[StopListener]:
    """When a run ends early: on ``finish``, on a call that repeats an earlier one, or
    after ``max_skipped_steps`` skipped steps.

    A model that repeats itself, or fails a step even after the re-ask, rarely
    recovers (the embedded 135M model copies its last call), so more steps would
    only spend time; a repeat is read as "nothing more to ask for".
    """

    def finished(steps: Sequence[AgentStep]) -> bool:
        return steps[-1].tool == FINISH and steps[-1].status != "skipped"

    def stuck(steps: Sequence[AgentStep]) -> bool:
        return sum(step.status == "skipped" for step in steps) >= settings.max_skipped_steps

    def repeated(steps: Sequence[AgentStep]) -> bool:
        last = steps[-1]
        earlier = [(step.tool, step.arguments) for step in steps[:-1] if step.status != "skipped"]
        return last.status != "skipped" and (last.tool, last.arguments) in earlier

    return [finished, stuck, repeated] if settings.stop_on_repeat else [finished, stuck]


def _step(
    index: int,
    context: ToolContext,
    model: ChatModel,
    registry: ToolRegistry,
    messages: list[Message],
    generation: GenerationSettings,
    tally: StepTally,
) -> tuple[AgentStep, AssistantTurn | None, str]:
    """One step with at most one re-ask. Returns the step, the reply to keep, and its observation."""
    conversation = list(messages)
    for attempt in range(2):
        failures = len(tally.backend_errors)
        reply, problem = _ask(model, conversation, registry, generation, tally)
        outcome: ToolOutcome | None = None
        if reply is not None and problem is None:
            call = reply.tool_calls[0]
            tally.announce(f"running {_shown_call(call.name, call.arguments)}")
            outcome = registry.call(call.name, dict(call.arguments), context)
            problem = outcome.retry_hint
        if problem is None and reply is not None and outcome is not None:
            status: StepStatus = "finish" if outcome.name == FINISH else ("reasked" if attempt else "ok")
            return _record(index, reply, outcome, status), reply, outcome.observation
        if len(tally.backend_errors) > failures:
            break  # the transport already retried (llm/ owns that); a re-ask would only fail again
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
    tally: StepTally,
) -> tuple[AssistantTurn | None, str | None]:
    """One model call; a reply without a tool call, or an unusable one, is a problem to re-ask."""
    tally.announce("thinking")
    try:
        reply = model.complete(conversation, tools=registry.specs(), settings=generation)
    except InvalidStructuredReply as error:  # the model's own mistake: re-ask, as for a bad call
        return None, str(error)
    except ModelBackendError as error:
        tally.backend_errors.append(str(error))
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


def _record(
    index: int, reply: AssistantTurn | None, outcome: ToolOutcome | None, status: StepStatus, failure: str = ""
) -> AgentStep:
    """The step as the run records it: the call as the registry records every call, plus the model's turn.

    Without an ``outcome`` no tool ran (the reply had no usable call): the step shows ``failure``.
    """
    call = reply.tool_calls[0] if reply is not None and reply.tool_calls else None
    if outcome is not None:
        step = outcome.step(index)
    else:
        tool, arguments = (call.name, dict(call.arguments)) if call is not None else ("", {})
        step = AgentStep(step=index, tool=tool, arguments=arguments, observation=failure[:MAX_OBSERVATION_CHARS])
    if reply is None:
        return step.model_copy(update={"status": status})
    return step.model_copy(
        update={
            "status": status, "thought": reply.text[:300], "prompt_tokens": reply.usage.prompt_tokens,
            "completion_tokens": reply.usage.completion_tokens, "llm_ms": reply.latency_s * 1000.0,
        }
    )  # fmt: skip


def _shown_call(name: str, arguments: dict[str, object]) -> str:
    shown = ", ".join(f"{key}={value!r}" for key, value in arguments.items() if value not in (None, "", []))
    return f"{name}({shown[:60]})"


def _call_id(reply: AssistantTurn) -> str | None:
    return reply.tool_calls[0].call_id if reply.tool_calls else None
