"""The chat's words-to-constraints rules, as data: ``default_rules.toml`` plus the tool pack's ``[chat]`` table.

Nothing here knows a genre: "family" rules out Horror because a pack says so.
The rules are read once per workspace and resolved against its catalog's genre
names, so a key the catalog lacks is ignored.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from agentrec.core.errors import ConfigError

DEFAULT_RULES = Path(__file__).with_name("default_rules.toml")


class PhraseEffect(BaseModel):
    """What one phrase does to a request's constraints (genre keys, not catalog spellings)."""

    model_config = {"extra": "forbid"}

    exclude_genres: list[str] = Field(default_factory=list, description="ruled out from now on")
    prefer_genres: list[str] = Field(default_factory=list, description="soft wishes that persist")
    exclude_kinds: list[str] = Field(default_factory=list, description="title kinds ruled out (see title_kinds)")
    newer: bool = False
    older: bool = False
    audience: str | None = None
    of_item: bool = Field(
        default=False, description="a critique rules out only the excluded genres the item has (all when none)"
    )


class GenreQuestion(BaseModel):
    """The question the chat asks about one genre, and the words that answer it."""

    model_config = {"extra": "forbid"}

    ask: str
    yes: list[str] = Field(default_factory=list)
    no: list[str] = Field(default_factory=list)


class StopAsking(BaseModel):
    phrases: list[str] = Field(default_factory=list)


class ChatRules(BaseModel):
    """The rules as written (genre keys)."""

    model_config = {"extra": "forbid"}

    genre_words: dict[str, list[str]] = Field(default_factory=dict)
    phrases: dict[str, PhraseEffect] = Field(default_factory=dict)
    title_kinds: dict[str, str] = Field(default_factory=dict)
    questions: dict[str, GenreQuestion] = Field(default_factory=dict)
    stop_asking: StopAsking = Field(default_factory=StopAsking)

    @field_validator("title_kinds")
    @classmethod
    def _compiles(cls, kinds: dict[str, str]) -> dict[str, str]:
        for name, pattern in kinds.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"title kind {name!r} is not a regular expression: {error}") from None
        return kinds

    def merged(self, extra: dict[str, Any]) -> ChatRules:
        """These rules with a pack's ``[chat]`` table on top (an entry with the same key replaces one)."""
        try:
            added = ChatRules.model_validate(extra)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ConfigError(f"tool pack [chat]: {where}: {first['msg']}") from None
        return ChatRules(
            genre_words={**self.genre_words, **added.genre_words},
            phrases={**self.phrases, **added.phrases},
            title_kinds={**self.title_kinds, **added.title_kinds},
            questions={**self.questions, **added.questions},
            stop_asking=StopAsking(phrases=[*self.stop_asking.phrases, *added.stop_asking.phrases]),
        )


@cache
def default_rules() -> ChatRules:
    return ChatRules.model_validate(tomllib.loads(DEFAULT_RULES.read_text(encoding="utf-8")))


def genre_key(name: str) -> str:
    """ "Sci-Fi" -> "scifi", "Children's" -> "childrens": how the rules name a genre."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class Effect:
    """A phrase's effect in the catalog's own genre spellings."""

    phrase: str
    exclude_genres: tuple[str, ...]
    prefer_genres: tuple[str, ...]
    exclude_kinds: tuple[str, ...]
    newer: bool
    older: bool
    audience: str | None
    of_item: bool


@dataclass(frozen=True)
class Question:
    genre: str
    ask: str
    yes: tuple[str, ...]
    no: tuple[str, ...]


@dataclass(frozen=True)
class CatalogRules:
    """The rules resolved against one catalog's genres: what the parser and the chat read."""

    genres: tuple[str, ...]
    genre_words: dict[str, str]
    effects: dict[str, Effect]
    title_kinds: dict[str, re.Pattern[str]]
    questions: dict[str, Question]
    stop_asking: tuple[str, ...]

    @classmethod
    def resolve(cls, rules: ChatRules, genres: list[str]) -> CatalogRules:
        by_key = {genre_key(g): g for g in genres if g.lower() not in ("unknown", "(no genres listed)")}

        def spelled(keys: list[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(by_key[genre_key(k)] for k in keys if genre_key(k) in by_key))

        words = {}
        for word, keys in rules.genre_words.items():
            found = spelled(keys)
            if found:
                words[word] = found[0]
        effects = {phrase: _effect(phrase, e, spelled) for phrase, e in rules.phrases.items()}
        unknown = {k for e in effects.values() for k in e.exclude_kinds} - set(rules.title_kinds)
        if unknown:
            raise ConfigError(f"tool pack [chat]: phrases name title kinds with no pattern: {sorted(unknown)}")
        questions = {
            by_key[genre_key(key)]: Question(by_key[genre_key(key)], q.ask, tuple(q.yes), tuple(q.no))
            for key, q in rules.questions.items()
            if genre_key(key) in by_key
        }
        kinds = {name: re.compile(pattern) for name, pattern in rules.title_kinds.items()}
        return cls(
            tuple(by_key.values()),
            words,
            effects,
            kinds,
            questions,
            tuple(p.lower() for p in rules.stop_asking.phrases),
        )


def _effect(phrase: str, written: PhraseEffect, spelled: Callable[[list[str]], tuple[str, ...]]) -> Effect:
    return Effect(
        phrase,
        spelled(written.exclude_genres),
        spelled(written.prefer_genres),
        tuple(written.exclude_kinds),
        written.newer,
        written.older,
        written.audience,
        written.of_item,
    )
