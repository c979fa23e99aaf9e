"""``agentrec chat``: conversational recommendation in a terminal.

The turn logic lives in ``agentrec.agent.chat.conversation``; this module reads
lines, runs turns under a spinner that names the tool at work, dispatches slash
commands and saves the session after every change. Ctrl-C cancels the turn in
progress (the session is left as it was before it); Ctrl-D saves and leaves.
A mistake the person can fix (an unknown title, a bad number, a model backend
that is down) is one line, and the chat goes on.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentrec.ui.agent_commands import ApiBaseOption, CacheOption
from agentrec.ui.choices import CacheChoice, ReplyChoice, resume_id

if TYPE_CHECKING:
    from agentrec.agent.chat.conversation import ChatAgent
    from agentrec.agent.chat.records import ChatSession, ChatStore
    from agentrec.agent.trace import AgentRun
    from agentrec.llm.records import ChatModel

ModelMaker = Callable[[str], "ChatModel"]

# EASE fits ml-100k in about two seconds and folds in a new like exactly (x @ W); the
# MovieLens pack's SASRec needs minutes of training on two cores before the first answer.
DEFAULT_BACKBONE = "ease"


def chat(
    dataset: Annotated[str, typer.Argument(help="ml-100k | ml-latest-small | a folder name or PATH")],
    user: Annotated[str | None, typer.Option("--user", help="Start from this user's history.")] = None,
    llm: Annotated[
        str | None,
        typer.Option("--llm", help="local (embedded SmolLM2-135M, the default), a .gguf path, or a litellm model."),
    ] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", callback=resume_id, help="Continue a saved session (id or file).")
    ] = None,
    backbone: Annotated[
        str | None, typer.Option("--backbone", help=f"Model behind retrieve (default {DEFAULT_BACKBONE}: fast).")
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Items per answer.")] = 8,
    steps: Annotated[int, typer.Option("--steps", min=0, help="Tool calls the LLM may add per turn.")] = 1,
    reply: Annotated[
        ReplyChoice | None,
        typer.Option(
            "--reply",
            help="facts: a reply built from the catalog, with the LLM's sentence only when it agrees with the "
            "catalog (default on the embedded model); llm: the LLM's checked sentences (default on a provider).",
        ),
    ] = None,
    api_base: ApiBaseOption = None,
    cache: CacheOption = CacheChoice.on,
) -> None:
    """Talk to the agent: "I loved Toy Story, something funny for the family", "like Alien but funnier", /like 2.

    Without --user you start cold and the session learns from what you say you loved, saw or hated.
    Titles you name are never recommended back; constraints ("no horror", "only 90s", "family")
    last until you change them (/constraints shows them). Every session is saved; --resume ID continues one.
    """
    from agentrec.agent.chat.conversation import ChatAgent, ChatSettings, ReplyMode
    from agentrec.agent.chat.records import ChatSession, ChatStore
    from agentrec.agent.policies import RunSettings
    from agentrec.agent.service import open_agent
    from agentrec.agent.trace import TraceStore
    from agentrec.llm.factory import BUNDLED_SPEC, LOCAL_SPEC, make_chat_model
    from agentrec.recsys.threads import pin_threads
    from agentrec.ui.console import stderr

    log = _log_to_file()
    # Hugging Face draws a progress bar while the text model loads (in the background): not in a chat.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    store = ChatStore()
    session = store.load(resume) if resume is not None else ChatSession(dataset=dataset, user_id=user)
    _check_resume(session, dataset, user)
    session.llm = llm or session.llm
    session.backbone = backbone or session.backbone or DEFAULT_BACKBONE
    pin_threads()
    with stderr.status(f"opening {dataset}...") as status:
        service = open_agent(
            dataset, RunSettings(k=k, fusion="rrf"), backbone=session.backbone, progress=lambda m: status.update(m)
        )
        if session.user_id is not None:
            service.user_index(session.user_id)  # an unknown user is a DataError here, before the chat opens

        def make_model(name: str) -> ChatModel:
            local = name in (LOCAL_SPEC, BUNDLED_SPEC) or name.lower().endswith(".gguf")
            return make_chat_model(name, None if local else api_base, cache.value)

        model = make_model(session.llm)
        keep_prompt_states(model)
    embedded = session.llm in (LOCAL_SPEC, BUNDLED_SPEC) or session.llm.lower().endswith(".gguf")
    chosen = reply or (ReplyChoice.facts if embedded else ReplyChoice.llm)
    reply_mode: ReplyMode = "llm" if chosen == ReplyChoice.llm else "facts"
    settings = ChatSettings(k=k, llm_steps=steps, reply=reply_mode)
    agent = ChatAgent(service.workspace, service.registry, model, settings, TraceStore())
    ChatRepl(agent, session, store, make_model, log).run(resumed=resume is not None)


def _log_to_file() -> Path:
    """Send log records to a file: retry warnings must not break into the conversation."""
    from agentrec.core.paths import state_dir

    path = state_dir("chat") / "chat.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger("agentrec").setLevel(logging.INFO)
    return path


def keep_prompt_states(model: ChatModel) -> None:
    """The embedded model keeps its tool prompt and its reply prompt evaluated (a turn uses both)."""
    from typing import cast

    from agentrec.llm.capabilities import KeepsPromptStates, supports

    if supports(model, KeepsPromptStates):  # other backends keep their own state, or none
        cast(KeepsPromptStates, model).keep_prompt_states()


def _check_resume(session: ChatSession, dataset: str, user: str | None) -> None:
    from agentrec.core.errors import ConfigError

    if session.dataset != dataset:
        raise ConfigError(f"session {session.session_id} is a chat about {session.dataset}, not {dataset}")
    if user is not None and session.user_id != user:
        raise ConfigError(f"session {session.session_id} is for user {session.user_id or 'nobody (cold start)'}")


@dataclass
class ChatRepl:
    """The read-answer loop over one session."""

    agent: ChatAgent
    session: ChatSession
    store: ChatStore
    make_model: ModelMaker
    log: Path | None = None
    last_run: AgentRun | None = None
    _titles: list[str] = field(default_factory=list)

    def run(self, resumed: bool) -> None:
        from agentrec.ui.chat_input import ChatCompleter, LineReader
        from agentrec.ui.chat_render import COMMANDS

        self._titles = sorted({record.label for record in self.agent.workspace.records})
        commands = [name.split()[0] for name in COMMANDS] + ["/exit"]
        reader = LineReader(ChatCompleter(commands, lambda: self._titles))
        # The model's fixed prompt is evaluated while the person types their first message.
        warming = threading.Thread(target=self._warm_up, name="chat-warm-up", daemon=True)
        warming.start()
        self._greet(resumed)
        self._save()
        while True:
            try:
                line = reader.read()
            except KeyboardInterrupt:
                self._say("[dim](Ctrl-C clears the line; Ctrl-D or /quit leaves)[/dim]")
                continue
            except EOFError:
                break
            if not self.handle(line):
                break
        warming.join()  # llama.cpp is freed at exit; it must not be mid-evaluation then
        self._save()
        self._say(
            f"[dim]session {self.session.session_id} saved; continue it with: "
            f"agentrec chat {self.session.dataset} --resume {self.session.session_id}[/dim]"
        )

    def _warm_up(self) -> None:
        try:
            self.agent.warm_up()
        except Exception:  # best effort in the background: a traceback must not land in the chat
            logging.getLogger(__name__).exception("warming up the chat failed")

    def handle(self, line: str) -> bool:
        """Answer one line; False when the person wants to leave."""
        from agentrec.core.errors import AgentrecError

        text = line.strip()
        if not text:
            return True
        try:
            if text.startswith("/"):
                return self._command(text)
            self._turn(text)
        except AgentrecError as error:
            self._say(f"[yellow]{_escape(' '.join(str(error).split()))}[/yellow]")
        return True

    # ----- turns -------------------------------------------------------------------------------
    def _turn(self, text: str) -> None:
        from agentrec.ui.chat_render import render_turn
        from agentrec.ui.console import stdout

        with stdout.status("thinking...", spinner="dots") as status:
            try:
                result = self.agent.run_turn(self.session, text, progress=lambda m: status.update(f"{m}..."))
            except KeyboardInterrupt:
                result = None
            except Exception as error:
                if not _interrupted(error):
                    raise
                result = None
        if result is None:
            self._say("[yellow]turn cancelled; the session is as it was before it[/yellow]")
            return
        self.last_run = result.run
        render_turn(result.record, result.backend_error, self.log)
        self._save()

    # ----- commands ----------------------------------------------------------------------------
    def _command(self, text: str) -> bool:
        name, _, argument = text.partition(" ")
        argument = argument.strip()
        name = name.lower()
        if name in ("/quit", "/exit", "/q"):
            return False
        handlers: dict[str, Callable[[str], None]] = {
            "/like": self._like, "/dislike": self._dislike, "/seen": self._seen, "/constraints": self._constraints,
            "/why": self._why, "/trace": self._trace,
            "/history": self._history, "/tools": self._tools, "/model": self._model, "/save": self._save_as,
            "/reset": self._reset, "/help": self._help,
        }  # fmt: skip
        handler = handlers.get(name)
        if handler is None:
            self._say(f"[yellow]unknown command {_escape(name)}; /help lists the commands[/yellow]")
            return True
        handler(argument)
        return True

    def _like(self, argument: str) -> None:
        record = self.agent.like(self.session, argument)
        self._save()
        self._say(f"liked [bold]{_escape(record.label)}[/bold]; the next lists follow it")

    def _dislike(self, argument: str) -> None:
        critique = self.agent.dislike(self.session, argument)
        self._save()
        self._say(f"disliked [bold]{_escape(critique.record.label)}[/bold]; it will not come back")
        if critique.change:
            self._say(f"constraints now: {_escape(critique.change)}")

    def _seen(self, argument: str) -> None:
        record = self.agent.mark_seen(self.session, argument)
        self._save()
        self._say(f"seen [bold]{_escape(record.label)}[/bold]; it will not be recommended")

    def _constraints(self, argument: str) -> None:
        from agentrec.ui.chat_render import render_constraints

        del argument
        render_constraints(self.session)

    def _why(self, argument: str) -> None:
        from agentrec.agent.chat.conversation import ChatInputError
        from agentrec.ui.chat_render import render_why

        items = self.session.last_items
        position = argument.lstrip("#").strip()
        if not items:
            raise ChatInputError("there is no list yet; ask for something first")
        if not position.isdigit() or not 1 <= int(position) <= len(items):
            raise ChatInputError(f"say /why N with N from 1 to {len(items)}")
        render_why(items[int(position) - 1])

    def _trace(self, argument: str) -> None:
        from agentrec.agent.trace import TraceStore
        from agentrec.ui.agent_commands import render_trace

        del argument
        run = self.last_run
        if run is None and self.session.turns:
            run = TraceStore().load(self.session.turns[-1].trace_id)  # ConfigError if it was never stored
        if run is None:
            self._say("[dim]no turn yet[/dim]")
            return
        render_trace(run)

    def _history(self, argument: str) -> None:
        from agentrec.ui.chat_render import render_history

        del argument
        catalog = self.agent.workspace.store.catalog
        ids = [*self.session.liked, *self.session.disliked, *self.session.seen]
        render_history(self.session, {record.item_id: record.label for record in catalog.items(ids)})

    def _tools(self, argument: str) -> None:
        from agentrec.ui.chat_render import render_tools

        del argument
        render_tools(self.agent.model_registry)

    def _model(self, argument: str) -> None:
        from agentrec.agent.chat.conversation import ChatInputError

        if not argument:
            current = getattr(self.agent.model, "model_id", "none")
            raise ChatInputError(f"the model is {current}; say /model NAME to switch (local, a .gguf, provider/model)")
        self.agent.model = self.make_model(argument)  # ConfigError if unusable
        keep_prompt_states(self.agent.model)
        self.session.llm = argument
        self._save()
        self._say(f"now using {_escape(getattr(self.agent.model, 'model_id', argument))}")

    def _save_as(self, argument: str) -> None:
        from agentrec.agent.chat.conversation import ChatInputError

        if not argument:
            raise ChatInputError("say /save FILE, for example /save my-chat.json")
        path = self.store.save(self.session, Path(argument))
        self._say(f"saved to {_escape(str(path))}; continue it with --resume {_escape(str(path))}")

    def _reset(self, argument: str) -> None:
        del argument
        self.session.reset()
        self.last_run = None
        self._save()
        self._say("started over: no messages, likes, dislikes, seen items, questions or constraints")

    def _help(self, argument: str) -> None:
        from agentrec.ui.chat_render import render_help

        del argument
        render_help()

    # ----- output ------------------------------------------------------------------------------
    def _greet(self, resumed: bool) -> None:
        from agentrec.ui.chat_render import render_items

        workspace = self.agent.workspace
        session = self.session
        model = getattr(self.agent.model, "model_id", "no LLM")
        self._say(
            f"[bold]agentrec chat[/bold] · {_escape(workspace.store.name)} · backbone {_escape(session.backbone or '')}"
            f" · LLM {_escape(model)} · session {session.session_id}"
        )
        if resumed:
            counts = f"{len(session.turns)} turns, {len(session.liked)} likes, {len(session.disliked)} dislikes"
            self._say(f"resumed: {counts}")
            if session.turns:
                render_items(session.last_items)
        elif session.user_id is not None:
            index = workspace.user_index(session.user_id)
            seen = len(workspace.history(index).items)
            self._say(f"starting from user {_escape(session.user_id)}'s history ({seen} {workspace.pack.item_noun}s)")
        else:
            self._say("cold start: tell me what you like, and /like what you see")
        self._say(
            '[dim]try "I loved Toy Story; something funny for the family", "like Alien but funnier", "no horror", '
            '"only 90s"; /help for commands[/dim]'
        )

    def _save(self) -> None:
        self.store.save(self.session)

    def _say(self, text: str) -> None:
        from agentrec.ui.console import stdout

        stdout.print(text, highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _interrupted(error: Exception) -> bool:
    """A Ctrl-C that landed inside a DuckDB query (the LLM cache, the catalog) surfaces as
    DuckDB's own error instead of ``KeyboardInterrupt``; it still means "cancel the turn"."""
    import duckdb

    if isinstance(error, duckdb.InterruptException):
        return True
    return isinstance(error, RuntimeError) and "interrupted" in str(error).lower()
