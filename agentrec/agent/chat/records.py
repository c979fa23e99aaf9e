"""A chat session as saved: messages, likes, dislikes, constraints, and each turn's list with its evidence.

Sessions are JSON files in ``$AGENTREC_HOME/chat/sessions/<id>.json``, written
after every change (to a temporary file, then renamed, so a crash never leaves a
half-written session). The steps behind each turn go to the agent's DuckDB trace
store under the turn's ``trace_id``. ``agentrec chat --resume ID`` continues a
session; ``/save FILE`` writes the same JSON anywhere, and ``--resume FILE``
reads it back.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from agentrec.agent.chat.constraints import Constraints
from agentrec.core.errors import ConfigError
from agentrec.core.files import write_atomically
from agentrec.core.paths import state_dir

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ChatMessage(BaseModel):
    """One thing said in the chat."""

    role: Literal["user", "assistant"]
    text: str
    created: float = Field(default_factory=time.time)


class Evidence(BaseModel):
    """One list that held an item: which call made it, at what rank, and who asked for the call."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    call: str
    rank: int
    step: int
    origin: Literal["rule", "model", "fill"]
    note: str = ""


class ListedItem(BaseModel):
    """One numbered item of a turn's answer."""

    position: int
    item_id: str
    title: str
    year: int | None = None
    genres: list[str] = Field(default_factory=list)
    why: str
    evidence: list[Evidence] = Field(default_factory=list)
    mean_rating: float | None = None
    interactions: int = 0


class TurnRecord(BaseModel):
    """One turn: what was asked, what the rules read, the list, the reply, and where its trace is."""

    request: str
    understood: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    constraints: Constraints = Field(default_factory=Constraints)
    items: list[ListedItem] = Field(default_factory=list)
    reply: str = ""
    trace_id: str = ""
    llm_calls: int = 0
    seconds: float = 0.0
    question: str = Field(default="", description="the one question this turn asked, if any")
    checked: list[str] = Field(default_factory=list, description="the LLM's sentences, before the check")
    dropped: list[str] = Field(default_factory=list, description="LLM sentences left out: they contradict the catalog")


class ChatSession(BaseModel):
    """Everything a chat needs to continue: who it is for, what was said and liked, the turns."""

    session_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:10])
    dataset: str
    user_id: str | None = None
    llm: str = "local"
    backbone: str | None = None
    created: float = Field(default_factory=time.time)
    messages: list[ChatMessage] = Field(default_factory=list)
    liked: list[str] = Field(default_factory=list, description="item ids, in the order they were liked")
    disliked: list[str] = Field(default_factory=list, description="item ids that must never come back")
    seen: list[str] = Field(default_factory=list, description="item ids the person has seen: never recommended")
    constraints: Constraints = Field(default_factory=Constraints)
    turns: list[TurnRecord] = Field(default_factory=list)
    asked: list[str] = Field(default_factory=list, description="genres the chat has asked about")
    pending_question: str | None = Field(default=None, description="the genre of an unanswered question")
    no_questions: bool = Field(default=False, description="the person said 'just recommend'")

    @property
    def last_items(self) -> list[ListedItem]:
        return self.turns[-1].items if self.turns else []

    def reset(self) -> None:
        """Start over: nothing said, liked, disliked, seen, constrained, asked or listed (same id, same file)."""
        self.messages, self.liked, self.disliked, self.seen, self.turns = [], [], [], [], []
        self.constraints = Constraints()
        self.asked, self.pending_question, self.no_questions = [], None, False


class ChatStore:
    """Chat sessions as JSON files in one folder."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or state_dir("chat", "sessions")

    def path(self, session_id: str) -> Path:
        if not _SESSION_ID.match(session_id):
            raise ConfigError(f"{session_id!r} is not a chat session id (letters, digits, - and _)")
        return self.folder / f"{session_id}.json"

    def save(self, session: ChatSession, path: Path | None = None) -> Path:
        """Write ``session`` (to its own file unless ``path`` is given); return where it went."""
        target = (path or self.path(session.session_id)).expanduser()
        try:
            write_atomically(target, session.model_dump_json(indent=1))
        except OSError as error:
            raise ConfigError(f"cannot write the chat session to {target}: {error.strerror or error}") from None
        return target

    def load(self, reference: str) -> ChatSession:
        """A session by id, or from a JSON file written by ``/save``; ``ConfigError`` if there is none."""
        candidate = Path(reference).expanduser()
        if reference.endswith(".json") or candidate.is_file():
            return _read(candidate)
        path = self.path(reference)
        if not path.is_file():
            known = ", ".join(self.session_ids()[-5:]) or "none yet"
            raise ConfigError(f"no chat session {reference!r} in {self.folder} (latest: {known})")
        return _read(path)

    def session_ids(self) -> list[str]:
        """Saved session ids, oldest first."""
        files = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
        return [file.stem for file in files]


def _read(path: Path) -> ChatSession:
    try:
        return ChatSession.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(f"no chat session file {path}") from None
    except (OSError, ValueError, ValidationError) as error:
        first = str(error).splitlines()[0]
        raise ConfigError(f"{path} is not a saved chat session: {first}") from None
