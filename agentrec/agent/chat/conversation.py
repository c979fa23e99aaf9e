"""One chat turn, without a terminal: rules, then the LLM's tool calls, then a fused, explained list.

A turn runs in this order:

1. The rule layer (``request_rules``) reads hard constraints, titles, "#3",
   genre wishes and search words from the message. Its tool calls (``filter``,
   ``similar``, ``retrieve``, ``search``) run first and are recorded as steps.
2. The LLM sees the session so far and those steps, and adds calls of its own
   through the agent loop's ``gather`` (same re-ask and skip rules as
   ``agentrec recommend``).
3. ``finalise`` fuses the pool (reciprocal-rank fusion by default), grounds it
   (nothing seen, liked, disliked or outside the constraints) and fills it from
   the backbone; each item gets its reason from the pool's provenance.
4. The LLM writes one or two sentences about the list.

The session changes only when the turn completes, so a turn cancelled with
Ctrl-C leaves it as it was. A model backend that fails mid-turn is noted in the
result and the list still comes from the tools.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

from agentrec.agent.builtin_tools import filter_pool, retrieve, search, similar
from agentrec.agent.chat.explanations import listed_items
from agentrec.agent.chat.prompts import MAX_MESSAGE_CHARS, reply_messages, turn_messages
from agentrec.agent.chat.records import ChatMessage, ChatSession, ListedItem, TurnRecord
from agentrec.agent.chat.request_rules import Constraints, ParsedRequest, normalise_message, parse_request
from agentrec.agent.chat.session_context import SessionContext, SessionProfile
from agentrec.agent.context import ToolContext
from agentrec.agent.fusion import FusionName
from agentrec.agent.loop import StepTally, gather
from agentrec.agent.policies import RunSettings, finalise
from agentrec.agent.progress import Progress
from agentrec.agent.registry import Tool, ToolRegistry, ToolResult
from agentrec.agent.trace import AgentRun, AgentStep, TraceStore
from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import AgentrecError, ModelBackendError, ToolRetry
from agentrec.data.records import ItemRecord
from agentrec.llm.capabilities import KeepsPromptStates, supports
from agentrec.llm.records import AssistantTurn, ChatModel, GenerationSettings

RULE_TOOLS = ToolRegistry.of([filter_pool, retrieve, similar, search])
# Hard constraints come only from the person's words (the rules): a small model that calls
# filter(genres=["Horror"]) after "no horror" would otherwise empty the list of what was asked.
# item_info adds nothing to the pool. Dropping both also halves the tool prompt.
MODEL_TOOLS_LEFT_OUT = ("filter", "item_info")
REPEAT_OVERLAP = 0.9  # a list sharing this much of its head with a pooled list of the same tool is a copy
MAX_READ_CHARS = 2000  # the rules read this much of a message; the LLM reads MAX_MESSAGE_CHARS
REPLY_SENTENCES = 2
MAX_REPLY_CHARS = 300
_REPEATS = re.compile(r"\b(\w+(?: \w+)?)(?:,? \1\b){2,}", re.IGNORECASE)


class ChatInputError(AgentrecError):
    """Something the person typed cannot be used (an empty message, an unknown item number)."""


@dataclass(frozen=True)
class ChatSettings:
    """How a chat turn is made: list length, the LLM's step budget, fusion, reply length."""

    k: int = 8
    llm_steps: int = 1
    list_size: int = 20
    step_tokens: int = 120
    reply_tokens: int = 40
    fusion: FusionName = "rrf"
    # In the fusion a list the model chose counts this much of a list the rules made from the
    # person's words and likes. SmolLM2-135M often calls the opposite of what was asked (Comedy
    # right after a horror like), so its lists only nudge near-ties and fill short lists: at 0.1
    # an item only the model found scores below a rule list's 20th, and an item both found rises
    # a place or two.
    model_list_weight: float = 0.1
    seed: int = 0

    def run_settings(self) -> RunSettings:
        return RunSettings(
            k=self.k, max_steps=self.llm_steps, fusion=self.fusion, seed_pool=0,
            list_size=self.list_size, step_tokens=self.step_tokens, seed=self.seed,
        )  # fmt: skip


@dataclass(frozen=True)
class TurnResult:
    """A finished turn: its record (saved with the session) and the full run (steps, for /trace)."""

    record: TurnRecord
    run: AgentRun
    backend_error: str | None = None


@dataclass
class ChatAgent:
    """Runs chat turns over one workspace, with one LLM (None: rules and tools only)."""

    workspace: AgentWorkspace
    registry: ToolRegistry
    model: ChatModel | None
    settings: ChatSettings = field(default_factory=ChatSettings)
    traces: TraceStore | None = None

    def __post_init__(self) -> None:
        self.model_registry = ToolRegistry.of(
            refusing_repeats(declared)
            for name, declared in self.registry.tools.items()
            if name not in MODEL_TOOLS_LEFT_OUT
        )

    def warm_up(self) -> None:
        """Evaluate the model's fixed prompt and load the text model, so the first turn starts warm.

        The REPL runs this in the background while the person types; a failure here is
        harmless (the first turn meets it again and reports it).
        """
        self.workspace.warm_up()
        # Only a model that keeps prompt states gains from it; to a provider it would be a paid
        # call, and one that hangs would hold the REPL's exit until its timeout.
        if self.model is None or not supports(self.model, KeepsPromptStates):
            return
        context = SessionContext.open(self.workspace, SessionProfile(), "warm-up")
        messages = turn_messages(context, ChatSession(dataset=self.workspace.store.name), "hello", [])
        settings = GenerationSettings(max_tokens=1, tool_choice="required", seed=self.settings.seed)
        with contextlib.suppress(AgentrecError):  # one token cannot finish a call; the prompt is evaluated anyway
            self.model.complete(messages, tools=self.model_registry.specs(), settings=settings)

    # ----- the session profile ---------------------------------------------------------------
    def profile(self, session: ChatSession) -> SessionProfile:
        user = None if session.user_id is None else self.workspace.user_index(session.user_id)
        return SessionProfile(user, self._indices(session.liked), self._indices(session.disliked))

    def _indices(self, item_ids: list[str]) -> tuple[int, ...]:
        items = self.workspace.split.train.items
        return tuple(items.index(item_id) for item_id in item_ids if item_id in items)

    def find_item(self, session: ChatSession, reference: str) -> ItemRecord:
        """An item by its number in the last list ("3" or "#3"), or by title or id."""
        text = reference.strip().lstrip("#").strip()
        if not text:
            raise ChatInputError("say which item: its number in the last list, or a title")
        if text.isdigit() and len(text) <= 3:
            last = session.last_items
            if not last:
                raise ChatInputError("there is no list yet; ask for something first")
            if not 1 <= int(text) <= len(last):
                raise ChatInputError(f"the last list has items 1 to {len(last)}, not {text}")
            listed: ItemRecord = self.workspace.store.catalog.item(last[int(text) - 1].item_id)
            return listed
        named: ItemRecord = self.workspace.store.catalog.resolve(text[:200])  # DataError with suggestions
        return named

    def like(self, session: ChatSession, reference: str) -> ItemRecord:
        """Add an item to the session's likes (it steers later turns and is not recommended again)."""
        record = self.find_item(session, reference)
        session.disliked = [i for i in session.disliked if i != record.item_id]
        if record.item_id not in session.liked:
            session.liked.append(record.item_id)
        return record

    def dislike(self, session: ChatSession, reference: str) -> ItemRecord:
        """Add an item to the session's dislikes: it never comes back in this session."""
        record = self.find_item(session, reference)
        session.liked = [i for i in session.liked if i != record.item_id]
        if record.item_id not in session.disliked:
            session.disliked.append(record.item_id)
        return record

    # ----- a turn ------------------------------------------------------------------------------
    def run_turn(self, session: ChatSession, text: str, progress: Progress | None = None) -> TurnResult:
        """Answer ``text``: gather with rules and the LLM, fuse, explain; then record it in ``session``."""
        started = time.perf_counter()
        message = normalise_message(text)
        if not message:
            raise ChatInputError("say what you would like, for example: something like Alien but funnier")
        request = parse_request(
            message[:MAX_READ_CHARS], self.workspace, session.constraints, [i.item_id for i in session.last_items]
        )
        if len(message) > MAX_MESSAGE_CHARS:
            request.problems.append(f"your message is long; the model read its first {MAX_MESSAGE_CHARS} characters")
        blocked = self._indices([i.item_id for i in session.last_items]) if request.wants_more else ()
        context = SessionContext.open(
            self.workspace, self.profile(session), self._label(session), self.settings.seed, blocked
        )
        tally = StepTally(progress=progress)
        rule_steps, constraints = self._rule_steps(context, request, session.constraints, tally)
        steps = list(rule_steps)
        settings = self.settings.run_settings()
        if self.model is not None:
            shown = [step for step in rule_steps if step.status == "ok"]
            messages = turn_messages(context, session, message, shown)
            steps += gather(context, self.model, self.model_registry, settings, messages, tally, len(rule_steps) + 1)
            context.pool.lists = [
                g if g.step <= len(rule_steps) else replace(g, weight=self.settings.model_list_weight)
                for g in context.pool.lists
            ]
        tally.announce("ranking the pool")
        run = finalise(
            context, settings, policy="agent" if self.model is not None else "heuristic", model=self.model,
            steps=steps, turns=tally.turns, reasks=tally.reasks, skipped=tally.skipped, started=started,
        )  # fmt: skip
        items = listed_items(context, run, steps, len(rule_steps))
        backend_error = tally.backend_errors[0] if tally.backend_errors else None
        reply = self._reply(message, items, request, backend_error, tally)
        record = TurnRecord(
            request=message[:MAX_READ_CHARS], understood=request.understood, problems=request.problems,
            constraints=constraints, items=items, reply=reply, trace_id=run.trace_id,
            llm_calls=len(tally.turns), seconds=time.perf_counter() - started,
        )  # fmt: skip
        usage = {"llm_calls": len(tally.turns), "tokens": sum(t.usage.total_tokens for t in tally.turns)}
        run = run.model_copy(update={**usage, "seconds": record.seconds})
        self._commit(session, record, run)
        return TurnResult(record, run, backend_error)

    def _label(self, session: ChatSession) -> str:
        who = f"user {session.user_id}" if session.user_id is not None else "cold start"
        return f"chat {session.session_id} ({who})"

    def _rule_steps(
        self, context: SessionContext, request: ParsedRequest, previous: Constraints, tally: StepTally
    ) -> tuple[list[AgentStep], Constraints]:
        """Run the rule layer's calls; return the steps and the constraints that held."""
        constraints = request.constraints
        steps: list[AgentStep] = []
        if not constraints.is_empty():
            limits = constraints.filter_arguments()
            steps.append(self._call(context, 1, "filter", limits, "you set these limits", tally))
            if steps[-1].status != "ok":  # the filter left the pool untouched
                kept = previous.describe() or "no constraints"
                request.problems.append(f"nothing unseen matches {constraints.describe()}; keeping {kept}")
                constraints = previous
                if not previous.is_empty():
                    arguments = previous.filter_arguments()
                    steps.append(self._call(context, 2, "filter", arguments, "the limits you set before", tally))
        list_size = self.settings.list_size
        for item_id in request.anchors:
            steps.append(self._call(context, len(steps) + 1, "similar", {"item": item_id, "k": list_size},
                                    "you asked for more like it", tally))  # fmt: skip
        for genre in request.wanted_genres:
            arguments = {"attribute": "genre", "value": genre, "k": list_size}
            steps.append(self._call(context, len(steps) + 1, "retrieve", arguments, f"you asked for {genre}", tally))
        if request.search_text and self.workspace.models.text is not None:
            arguments = {"text": request.search_text, "k": list_size}
            steps.append(self._call(context, len(steps) + 1, "search", arguments, "words from your message", tally))
        if not request.anchors and not request.wanted_genres:
            why = "what you liked so far" if len(context.history.items) else "popular picks to start with"
            steps.append(self._call(context, len(steps) + 1, "retrieve", {"k": list_size}, why, tally))
        return steps, constraints

    def _call(
        self, context: SessionContext, index: int, name: str, arguments: dict[str, Any], why: str, tally: StepTally
    ) -> AgentStep:
        context.step = index
        tally.announce(f"running {name}")
        return RULE_TOOLS.run_step(index, name, arguments, context, thought=f"rule: {why}")

    def _reply(
        self,
        message: str,
        items: list[ListedItem],
        request: ParsedRequest,
        backend_error: str | None,
        tally: StepTally,
    ) -> str:
        """One or two sentences from the LLM; a plain sentence when there is no model or it failed."""
        fallback = _plain_reply(request, items)
        if self.model is None or backend_error is not None or not items:
            return fallback
        tally.announce("writing the answer")
        noun = self.workspace.pack.item_noun
        settings = GenerationSettings(max_tokens=self.settings.reply_tokens, seed=self.settings.seed, stop=("\n",))
        asked = f"{message[:200]} ({', '.join(request.understood)})" if request.understood else message[:200]
        try:
            turn: AssistantTurn = self.model.complete(reply_messages(noun, asked, items), settings=settings)
        except ModelBackendError as error:
            tally.backend_errors.append(str(error))
            return fallback
        tally.turns.append(turn)
        return _sentences(turn.text, cut=turn.finish_reason == "length") or fallback

    def _commit(self, session: ChatSession, record: TurnRecord, run: AgentRun) -> None:
        session.constraints = record.constraints
        session.turns.append(record)
        titles = "; ".join(f"{item.position}. {item.title}" for item in record.items)
        session.messages += [
            ChatMessage(role="user", text=record.request),
            ChatMessage(role="assistant", text=f"{record.reply}\n{titles}".strip()),
        ]
        if self.traces is not None and (problem := self.traces.try_save(run)):
            record.problems.append(f"the steps were not saved to the trace store: {problem}")


def refusing_repeats(declared: Tool) -> Tool:
    """``declared``, but a call whose list starts like one already pooled is undone and sent back.

    Small models copy the calls they were shown with another ``k``; in a fused
    pool such a copy only doubles the weight of a list that is already there.
    """

    def guarded(context: ToolContext, **arguments: Any) -> ToolResult:
        before = len(context.pool.lists)
        result = declared.function(context, **arguments)
        if len(context.pool.lists) > before:
            new = context.pool.lists[-1]
            for old in context.pool.lists[:before]:
                shared = min(len(old.items), len(new.items))
                # compared as sets: items tied at the cut-off may swap places between two list sizes
                overlap = len(set(old.items[:shared]) & set(new.items[:shared]))
                if old.tool == new.tool and shared and overlap >= REPEAT_OVERLAP * shared:
                    context.pool.lists.pop()
                    raise ToolRetry(f"{new.describe()} repeats {old.describe()}; gather something different or finish")
        return result

    return Tool(guarded, declared.name, declared.description, declared.arguments)


def _plain_reply(request: ParsedRequest, items: list[ListedItem]) -> str:
    if not items:
        return "Nothing left matches; try /reset or drop a constraint (say 'any genre' or 'any year')."
    if request.understood:
        return f"Here is what I found for: {', '.join(request.understood)}."
    return (
        "I did not find a title, genre or decade in that, so these come from your profile. "
        "Try 'something like Alien but funnier', 'no horror', 'only 90s' or 'more like #3'."
    )


def _sentences(text: str, cut: bool = False) -> str:
    """At most two sentences of the model's reply, on one line, without its word loops.

    ``cut``: the model ran out of tokens, so a trailing fragment ends at its last clause, with "...".
    """
    flat = " ".join(text.replace("\n", " ").split()).strip(" \"'")
    flat = _REPEATS.sub(r"\1", flat)  # "classic, classic, classic" -> "classic"
    sentences = re.findall(r"[^.!?]+[.!?]+(?=\s|$)", flat)
    if sentences:
        return " ".join(s.strip() for s in sentences[:REPLY_SENTENCES])[:MAX_REPLY_CHARS]
    if cut and flat:
        head = re.split(r"[;,](?=[^;,]*$)", flat)[0] if re.search(r"[;,]", flat) else flat.rsplit(" ", 1)[0]
        return head[:MAX_REPLY_CHARS].rstrip(" ,;") + "..."
    return flat[:MAX_REPLY_CHARS]
