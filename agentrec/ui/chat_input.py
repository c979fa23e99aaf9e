"""Reading chat lines: prompt_toolkit in a terminal (history, tab completion), plain lines otherwise.

History is kept across sessions in ``$AGENTREC_HOME/chat/prompt_history``. Tab
completes slash commands, and titles: after ``/like``, ``/dislike`` and ``/why``,
and for the last words typed anywhere else ("something like ali<Tab>").
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from agentrec.core.paths import state_dir

PROMPT = "you> "
MAX_COMPLETIONS = 20
MIN_TITLE_PREFIX = 3
ITEM_COMMANDS = ("/like ", "/dislike ", "/why ")
_ARTICLES = ("the ", "a ", "an ")


class ChatCompleter(Completer):
    """Completes slash commands and catalog titles."""

    def __init__(self, commands: Sequence[str], titles: Callable[[], Sequence[str]]) -> None:
        self.commands = list(commands)
        self.titles = titles

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        if text.startswith("/") and " " not in text:
            for command in self.commands:
                if command.startswith(text):
                    yield Completion(command, start_position=-len(text))
            return
        argument = next((text[len(c) :] for c in ITEM_COMMANDS if text.startswith(c)), None)
        if argument is not None:
            if argument.strip():
                yield from self._titles(argument.lstrip())
            return
        if text.startswith("/"):
            return
        words = text.split(" ")
        for count in range(min(len(words), 6), 0, -1):  # the longest tail of words that starts a title
            tail = " ".join(words[-count:])
            found = list(self._titles(tail)) if len(tail.strip()) >= MIN_TITLE_PREFIX else []
            if found:
                yield from found
                return

    def _titles(self, prefix: str) -> Iterable[Completion]:
        wanted = prefix.lower()
        shown = 0
        for title in self.titles():
            lowered = title.lower()
            bare = next((lowered[len(a) :] for a in _ARTICLES if lowered.startswith(a)), lowered)
            if lowered.startswith(wanted) or bare.startswith(wanted):
                yield Completion(title, start_position=-len(prefix))
                shown += 1
                if shown == MAX_COMPLETIONS:
                    return


class LineReader:
    """One line at a time: ``EOFError`` on Ctrl-D (or end of input), ``KeyboardInterrupt`` on Ctrl-C."""

    def __init__(self, completer: ChatCompleter) -> None:
        self._session: Any = None  # a PromptSession in a terminal
        if sys.stdin.isatty() and sys.stdout.isatty():
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory

            history = FileHistory(str(state_dir("chat") / "prompt_history"))
            self._session = PromptSession(history=history, completer=completer, complete_while_typing=False)

    def read(self) -> str:
        if self._session is not None:
            text: str = self._session.prompt(PROMPT)
            return text
        sys.stdout.write(PROMPT)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")
