"""One chat turn, without a terminal: rules, then the LLM's tool calls, then a fused, explained list.

A turn runs in this order:

1. The rule layer (``request_rules``) reads hard constraints, titles the person
   liked, saw or disliked, "#3", genre wishes, the pack's phrases ("family") and
   the answer to the last question. Its tool calls (``filter``, ``similar``,
   ``retrieve``, ``search``) run first and are recorded as steps. "Like X but Y"
   filters the turn's pool to Y before it asks for X's neighbours, so the list
   is their intersection.
2. The LLM sees the session so far and those steps, and adds calls of its own
   through the agent loop's ``gather`` (same re-ask and skip rules as
   ``agentrec recommend``). It cannot call ``filter``, so it cannot drop a constraint.
3. ``finalise`` fuses the pool (reciprocal-rank fusion by default), grounds it
   (nothing seen, named, liked, disliked or outside the constraints) and fills
   it from the backbone; each item gets its reason from the pool's provenance.
4. A vague request over many mixed candidates also gets one question
   (``questions``), unless the person said "just recommend".
5. The reply is built from the catalog's facts; the LLM's sentence is shown
   only when no claim in it contradicts the catalog (``replies``).

The session changes only when the turn completes, so a turn cancelled with
Ctrl-C leaves it as it was. A model backend that fails mid-turn is noted in the
result and the list still comes from the tools.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from agentrec.agent.builtin_tools import filter_pool, retrieve, search, similar
from agentrec.agent.chat import feedback
from agentrec.agent.chat.chat_rules import CatalogRules
from agentrec.agent.chat.constraints import Constraints
from agentrec.agent.chat.explanations import listed_items
from agentrec.agent.chat.feedback import ChatInputError, Critique, SaidSoFar
from agentrec.agent.chat.model_tools import model_tools
from agentrec.agent.chat.prompts import MAX_MESSAGE_CHARS, reply_messages, turn_messages
from agentrec.agent.chat.questions import choose_question, question_for
from agentrec.agent.chat.records import ChatMessage, ChatSession, ListedItem, TurnRecord
from agentrec.agent.chat.replies import (
    REPLY_SENTENCES,
    CheckedReply,
    Facts,
    check_sentences,
    facts_reply,
    split_sentences,
)
from agentrec.agent.chat.request_rules import (
    ParsedRequest,
    RequestContext,
    genre_lexicon,
    normalise_message,
    parse_request,
    rules_of,
)
from agentrec.agent.chat.session_context import SessionContext, SessionProfile
from agentrec.agent.fusion import FusionName
from agentrec.agent.loop import StepTally, gather
from agentrec.agent.policies import RunSettings, finalise
from agentrec.agent.progress import Progress
from agentrec.agent.registry import ToolRegistry
from agentrec.agent.trace import AgentRun, AgentStep, TraceStore
from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import AgentrecError, ModelBackendError
from agentrec.data.records import ItemRecord
from agentrec.data.text_attributes import bare_title
from agentrec.llm.capabilities import KeepsPromptStates, supports
from agentrec.llm.records import AssistantTurn, ChatModel, GenerationSettings

__all__ = ["ChatAgent", "ChatInputError", "ChatSettings", "ReplyMode", "TurnResult"]

RULE_TOOLS = ToolRegistry.of([filter_pool, retrieve, similar, search])
MAX_READ_CHARS = 2000  # the rules read this much of a message; the LLM reads MAX_MESSAGE_CHARS
MAX_REPLY_CHARS = 400
SHOWN_BEFORE_MARGIN = 10  # "something else" leaves out every item shown so far while this many lists' worth remain
ReplyMode = Literal["facts", "llm"]


@dataclass(frozen=True)
class ChatSettings:
    """How a chat turn is made: list length, the LLM's step budget, fusion, reply kind and length."""

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
    # facts: a reply built from the catalog, after the LLM's sentence when that passes the check;
    # llm: the LLM's sentences that pass the check (the facts when none does).
    reply: ReplyMode = "facts"
    seed: int = 0

    def run_settings(self) -> RunSettings:
        return RunSettings(
            k=self.k, max_steps=max(1, self.llm_steps), fusion=self.fusion, seed_pool=0,
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
        self.model_registry = model_tools(self.registry)
        self.rules: CatalogRules = rules_of(self.workspace)
        self._kind_items: dict[str, list[int]] = {}

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

    # ----- what the person says about one item -------------------------------------------------
    def find_item(self, session: ChatSession, reference: str) -> ItemRecord:
        """An item by its number in the last list ("3" or "#3"), or by title or id."""
        return feedback.find_item(self.workspace, session, reference)

    def like(self, session: ChatSession, reference: str) -> ItemRecord:
        """Add an item to the session's likes (it steers later turns and is not recommended again)."""
        return feedback.like(self.workspace, session, reference)

    def dislike(self, session: ChatSession, text: str) -> Critique:
        """``N`` or ``N because REASON``: never again, and a reason becomes a constraint on that aspect."""
        return feedback.dislike(self.workspace, self.rules, session, text)

    def mark_seen(self, session: ChatSession, reference: str) -> ItemRecord:
        """The person has seen the item: it never comes back."""
        return feedback.mark_seen(self.workspace, session, reference)

    # ----- a turn ------------------------------------------------------------------------------
    def run_turn(self, session: ChatSession, text: str, progress: Progress | None = None) -> TurnResult:
        """Answer ``text``: gather with rules and the LLM, fuse, explain, ask; then record it in ``session``."""
        started = time.perf_counter()
        message = normalise_message(text)
        if not message:
            raise ChatInputError("say what you would like, for example: something like Alien but funnier")
        request = parse_request(message[:MAX_READ_CHARS], self.workspace, self._request_context(session))
        if len(message) > MAX_MESSAGE_CHARS:
            request.problems.append(f"your message is long; the model read its first {MAX_MESSAGE_CHARS} characters")
        said = SaidSoFar.after(session, request)
        context = self._open_context(session, request, said)
        tally = StepTally(progress=progress)
        rule_steps, constraints = self._rule_steps(context, request, session.constraints, tally)
        steps = list(rule_steps)
        settings = self.settings.run_settings()
        if self.model is not None and self.settings.llm_steps > 0:  # --steps 0: the model only writes the reply
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
        question = choose_question(context, request, session, self.rules) if items else None
        backend_error = tally.backend_errors[0] if tally.backend_errors else None
        reply, checked = self._reply(message, items, request, constraints, said, backend_error, tally)
        record = TurnRecord(
            request=message[:MAX_READ_CHARS], understood=request.understood, problems=request.problems,
            constraints=constraints, items=items, reply=reply, trace_id=run.trace_id,
            llm_calls=len(tally.turns), seconds=time.perf_counter() - started,
            question=question.ask if question else "", checked=[*checked.kept, *checked.dropped],
            dropped=checked.dropped,
        )  # fmt: skip
        usage = {"llm_calls": len(tally.turns), "tokens": sum(t.usage.total_tokens for t in tally.turns)}
        run = run.model_copy(update={**usage, "seconds": record.seconds})
        self._commit(session, record, run, request, said)
        if question is not None:
            session.pending_question = question.genre
            session.asked.append(question.genre)
        return TurnResult(record, run, backend_error)

    def _request_context(self, session: ChatSession) -> RequestContext:
        pending = question_for(session.pending_question, self.rules) if session.pending_question else None
        return RequestContext(
            previous=session.constraints,
            last_items=tuple(item.item_id for item in session.last_items),
            reference_years=self._reference_years(session),
            pending=pending,
        )

    def _reference_years(self, session: ChatSession) -> tuple[int, ...]:
        """What "newer" and "older" compare with: the last list, else what was liked, else the user's history."""
        years = [item.year for item in session.last_items if item.year is not None]
        if not years:
            liked = self._indices(session.liked)
            if not liked and session.user_id is not None:
                liked = tuple(int(i) for i in self.workspace.history(self.workspace.user_index(session.user_id)).items)
            years = [int(y) for y in self.workspace.item_years[list(liked)] if not np.isnan(y)]
        return tuple(years)

    def _open_context(self, session: ChatSession, request: ParsedRequest, said: SaidSoFar) -> SessionContext:
        """A context where nothing seen, named, disliked or of a ruled-out kind may enter the pool."""
        user = None if session.user_id is None else self.workspace.user_index(session.user_id)
        profile = SessionProfile(user, self._indices(said.liked), self._indices(said.disliked))
        blocked = [*self._indices(said.seen), *self._indices(request.anchors)]
        if request.wants_more or request.answered is not None:  # the person has seen these lists: show new items
            blocked += self._shown_before(session)
        for kind in request.constraints.exclude_kinds:
            blocked += self._items_of_kind(kind)
        return SessionContext.open(self.workspace, profile, self._label(session), self.settings.seed, blocked)

    def _shown_before(self, session: ChatSession) -> tuple[int, ...]:
        """Every item this session listed, or only the last list when that would leave too few to choose from."""
        everything = self._indices(list(dict.fromkeys(item.item_id for turn in session.turns for item in turn.items)))
        if self.workspace.n_items - len(everything) >= SHOWN_BEFORE_MARGIN * self.settings.list_size:
            return everything
        return self._indices([item.item_id for item in session.last_items])

    def _items_of_kind(self, kind: str) -> list[int]:
        if kind not in self._kind_items:
            pattern = self.rules.title_kinds.get(kind)
            records = self.workspace.records
            found = [] if pattern is None else [i for i, r in enumerate(records) if pattern.search(bare_title(r.title))]
            self._kind_items[kind] = found
        return self._kind_items[kind]

    def _indices(self, item_ids: list[str]) -> tuple[int, ...]:
        items = self.workspace.split.train.items
        return tuple(items.index(item_id) for item_id in item_ids if item_id in items)

    def _label(self, session: ChatSession) -> str:
        who = f"user {session.user_id}" if session.user_id is not None else "cold start"
        return f"chat {session.session_id} ({who})"

    def _rule_steps(
        self, context: SessionContext, request: ParsedRequest, previous: Constraints, tally: StepTally
    ) -> tuple[list[AgentStep], Constraints]:
        """Run the rule layer's calls; return the steps and the constraints that held."""
        steps, constraints = self._constraint_steps(context, request, previous, tally)
        within = request.contrast and self._within_step(context, request, steps, tally)
        list_size = self.settings.list_size
        for item_id in request.anchors:
            steps.append(self._call(context, len(steps) + 1, "similar", {"item": item_id, "k": list_size},
                                    "you asked for more like it", tally))  # fmt: skip
        wished = [*request.wanted_genres, *(g for g in constraints.prefer_genres if g not in request.wanted_genres)]
        for genre in [] if within else wished:
            arguments = {"attribute": "genre", "value": genre, "k": list_size}
            why = f"you asked for {genre}" if genre in request.wanted_genres else f"you prefer {genre}"
            steps.append(self._call(context, len(steps) + 1, "retrieve", arguments, why, tally))
        if request.search_text and self.workspace.models.text is not None:
            arguments = {"text": request.search_text, "k": list_size}
            steps.append(self._call(context, len(steps) + 1, "search", arguments, "words from your message", tally))
        if not request.anchors and not request.wanted_genres:
            why = "what you liked so far" if len(context.history.items) else "popular picks to start with"
            steps.append(self._call(context, len(steps) + 1, "retrieve", {"k": list_size}, why, tally))
        return steps, constraints

    def _constraint_steps(
        self, context: SessionContext, request: ParsedRequest, previous: Constraints, tally: StepTally
    ) -> tuple[list[AgentStep], Constraints]:
        """Apply the hard constraints with ``filter``; when nothing unseen meets them, keep the previous ones."""
        constraints = request.constraints
        steps: list[AgentStep] = []
        if constraints.filter_arguments():
            steps.append(
                self._call(context, 1, "filter", constraints.filter_arguments(), "you set these limits", tally)
            )
            if steps[-1].status != "ok":  # the filter left the pool untouched
                kept = previous.describe() or "no constraints"
                request.problems.append(f"nothing unseen matches {constraints.describe()}; keeping {kept}")
                constraints = previous
                if previous.filter_arguments():
                    arguments = previous.filter_arguments()
                    steps.append(self._call(context, 2, "filter", arguments, "the limits you set before", tally))
        return steps, constraints

    def _within_step(
        self, context: SessionContext, request: ParsedRequest, steps: list[AgentStep], tally: StepTally
    ) -> bool:
        """ "Like X but Y": keep only Y for this turn, so X's neighbours are found among Y's items."""
        wanted = request.wanted_genres
        arguments = {"genres": list(wanted)}
        why = f"like your title but {' or '.join(wanted)}: this request only"
        steps.append(self._call(context, len(steps) + 1, "filter", arguments, why, tally))
        if steps[-1].status == "ok":
            return True
        request.problems.append(f"nothing unseen is {' or '.join(wanted)} within your limits; showing neighbours only")
        return False

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
        constraints: Constraints,
        said: SaidSoFar,
        backend_error: str | None,
        tally: StepTally,
    ) -> tuple[str, CheckedReply]:
        """The reply and the check of the LLM's sentences; the facts alone without a model or when it failed."""
        noun = self.workspace.pack.item_noun
        facts = facts_reply(items, request.understood, noun)
        if self.model is None or backend_error is not None or not items:
            return facts, CheckedReply([], [])
        tally.announce("writing the answer")
        settings = GenerationSettings(max_tokens=self.settings.reply_tokens, seed=self.settings.seed, stop=("\n",))
        asked = f"{message[:200]} ({', '.join(request.understood)})" if request.understood else message[:200]
        try:
            turn: AssistantTurn = self.model.complete(reply_messages(noun, asked, items), settings=settings)
        except ModelBackendError as error:
            tally.backend_errors.append(str(error))
            return facts, CheckedReply([], [])
        tally.turns.append(turn)
        named_ids = [*request.anchors, *said.liked, *said.disliked, *said.seen]
        named = {bare_title(r.title): r.year for r in self.workspace.store.catalog.items(named_ids)}
        checked = check_sentences(
            split_sentences(turn.text)[:REPLY_SENTENCES], Facts(items, named, genre_lexicon(self.rules))
        )
        if self.settings.reply == "llm":
            return (" ".join(checked.kept) or facts)[:MAX_REPLY_CHARS], checked
        framing = checked.kept[0] + " " if checked.kept else ""
        return (framing + facts)[:MAX_REPLY_CHARS], checked

    def _commit(
        self, session: ChatSession, record: TurnRecord, run: AgentRun, request: ParsedRequest, said: SaidSoFar
    ) -> None:
        session.constraints = record.constraints
        session.liked, session.disliked, session.seen = said.liked, said.disliked, said.seen
        session.pending_question = None
        session.no_questions = session.no_questions or request.stop_asking
        session.turns.append(record)
        titles = "; ".join(f"{item.position}. {item.title}" for item in record.items)
        session.messages += [
            ChatMessage(role="user", text=record.request),
            ChatMessage(role="assistant", text=f"{record.reply}\n{titles}\n{record.question}".strip()),
        ]
        if self.traces is not None and (problem := self.traces.try_save(run)):
            record.problems.append(f"the steps were not saved to the trace store: {problem}")
