"""What a person says about one item: /like, /dislike (with a reason: a critique), /seen.

A critique ("/dislike 3 because too old") changes the session's constraints on
that aspect, relative to the item ("too old": nothing older than it), not only
the item: the reasons are the pack's phrases, or a genre word ("too much romance").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentrec.agent.chat.chat_rules import CatalogRules, Effect
from agentrec.agent.chat.records import ChatSession
from agentrec.agent.chat.request_rules import ParsedRequest, apply_effect, genre_lexicon, spaced
from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import AgentrecError
from agentrec.data.records import ItemRecord

_BECAUSE = re.compile(r"\s+because\b|\s*\bbecause\b", re.IGNORECASE)
MAX_REFERENCE_CHARS = 200


class ChatInputError(AgentrecError):
    """Something the person typed cannot be used (an empty message, an unknown item number)."""


@dataclass(frozen=True)
class Critique:
    """A dislike and what it changed."""

    record: ItemRecord
    change: str = ""  # the constraint it added, in words; empty for a plain dislike


@dataclass(frozen=True)
class SaidSoFar:
    """The session's likes, dislikes and seen items once this message's titles are counted."""

    liked: list[str]
    disliked: list[str]
    seen: list[str]

    @classmethod
    def after(cls, session: ChatSession, request: ParsedRequest) -> SaidSoFar:
        liked, disliked, seen = list(session.liked), list(session.disliked), list(session.seen)
        for said in request.said:
            for ids in (liked, disliked, seen):
                if said.item_id in ids:
                    ids.remove(said.item_id)
            {"liked": liked, "disliked": disliked, "seen": seen}[said.polarity].append(said.item_id)
        return cls(liked, disliked, seen)


def find_item(workspace: AgentWorkspace, session: ChatSession, reference: str) -> ItemRecord:
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
        listed: ItemRecord = workspace.store.catalog.item(last[int(text) - 1].item_id)
        return listed
    named: ItemRecord = workspace.store.catalog.resolve(text[:MAX_REFERENCE_CHARS])  # DataError with suggestions
    return named


def like(workspace: AgentWorkspace, session: ChatSession, reference: str) -> ItemRecord:
    """Add an item to the session's likes (it steers later turns and is not recommended again)."""
    record = find_item(workspace, session, reference)
    session.disliked = [i for i in session.disliked if i != record.item_id]
    if record.item_id not in session.liked:
        session.liked.append(record.item_id)
    return record


def mark_seen(workspace: AgentWorkspace, session: ChatSession, reference: str) -> ItemRecord:
    """The person has seen an item: it never comes back, and it does not steer the lists."""
    record = find_item(workspace, session, reference)
    if record.item_id not in session.seen:
        session.seen.append(record.item_id)
    return record


def dislike(workspace: AgentWorkspace, rules: CatalogRules, session: ChatSession, text: str) -> Critique:
    """``N`` or ``N because REASON``: the item never comes back; a reason also becomes a constraint."""
    reference, because, reason = (part.strip() for part in _partition(text))
    if because and not reason:
        raise ChatInputError("say what about it, for example: /dislike 3 because too old")
    effect = critique_effect(reason, rules) if reason else None  # an unknown reason changes nothing
    record = find_item(workspace, session, reference)
    change = ""
    if effect is not None:
        said: list[str] = []
        before = session.constraints.describe()
        year = (record.year,) if record.year is not None else ()
        apply_effect(effect, session.constraints, year, said, item_genres=record.genres)
        after = session.constraints.describe()
        change = after if after != before else "no change: the constraints already said so"
    session.liked = [i for i in session.liked if i != record.item_id]
    if record.item_id not in session.disliked:
        session.disliked.append(record.item_id)
    return Critique(record, change)


def _partition(text: str) -> tuple[str, str, str]:
    match = _BECAUSE.search(text)
    if match is None:
        return text, "", ""
    return text[: match.start()], "because", text[match.end() :]


def critique_effect(reason: str, rules: CatalogRules) -> Effect:
    """The pack's phrase in ``reason``, else "no GENRE" for a genre word in it; ``ChatInputError`` otherwise."""
    said = spaced(reason.lower())
    for phrase in sorted(rules.effects, key=len, reverse=True):
        if re.search(rf"\b{re.escape(spaced(phrase.lower()))}\b", said):
            return rules.effects[phrase]
    lexicon = genre_lexicon(rules)
    for word in sorted(lexicon, key=len, reverse=True):
        if re.search(rf"\b{re.escape(word)}\b", said):
            genre = lexicon[word]
            return Effect(f"no {genre}", (genre,), (), (), newer=False, older=False, audience=None, of_item=False)
    known = ", ".join(sorted(rules.effects, key=len)[:6])
    raise ChatInputError(f"I don't know the reason {reason[:60]!r}; try one of: {known}, or a genre")
