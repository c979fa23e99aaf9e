"""Titles in a chat message: which catalog items a person names, and what they said about each.

"I loved Toy Story and Aladdin" names two items the person liked; "I've seen
Heat" one they watched; "I hated Grease" one they disliked; "something like
Alien" one to find neighbours of. Each phrase is resolved to a catalog item
(fuzzy); when two titles fit about equally ("Three Colors"), or none fits, the
person is asked "did you mean ...?" and the phrase is not used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import DataError
from agentrec.data.records import ItemRecord
from agentrec.data.text_attributes import bare_title

Polarity = Literal["liked", "seen", "disliked"]

# A verb that says what the person thinks of the titles after it; None: only a comparison ("like Alien").
_TRIGGER = re.compile(
    r"\b(?P<verb>(?:i|we)(?:'ve| have| had)? (?:really |just |already |also )?(?:love|like|adore)d?"
    r"|loved|liked|enjoyed|adored|fan of"
    r"|(?:have |'ve |already |just |recently )?(?:watched|seen)|saw"
    r"|hated|disliked|(?:didn't|did not|don't|do not) like|couldn't stand|(?:i|we) hate"
    r"|similar to|such as|as good as|in the vein of|reminds? me of|like)\s+",
    re.IGNORECASE,
)
_POLARITY_WORDS: tuple[tuple[Polarity, re.Pattern[str]], ...] = (
    ("disliked", re.compile(r"hate|dislike|n't like|not like|couldn't stand", re.IGNORECASE)),
    ("liked", re.compile(r"lov|lik|enjoy|ador|fan of", re.IGNORECASE)),
    ("seen", re.compile(r"watch|seen|saw", re.IGNORECASE)),
)
# A comparison's title ends at a comma ("like Alien, only 90s"); a list of titles liked or seen does not.
_COMPARISON_END = re.compile(
    r"\s+(?:but|with|without|only|except|not|no|from|that|which|though|please|in the|set in|"
    r"made in|before|after|between|for|so|and then)\b|[,;!?]|\.(?:\s|$)",
    re.IGNORECASE,
)
_LIST_END = re.compile(
    r"\s+(?:but|with|without|only|except|that|which|though|please|so|for|and i|and we|i want|give me|now)\b"
    r"|[;!?:]|\.(?:\s|$)",
    re.IGNORECASE,
)
_LIST_SEPARATOR = re.compile(r",|\s+(?:and|or|&)\s+", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{2,80})[\"“”«»]")
MAX_TITLE_WORDS = 8
MAX_TITLE_PHRASES = 6
STRICT_TITLE_MATCH = 85  # rapidfuzz ratio: "toy story and star wars" must not resolve to "star wars" alone
CLEAR_WINNER = 10  # a fuzzy match this much closer than the next one is taken without asking
SUGGESTIONS = 3


@dataclass(frozen=True)
class TitlePhrase:
    """A phrase that may be a title, and what the person said about it (None: a comparison)."""

    text: str
    polarity: Polarity | None


@dataclass(frozen=True)
class Resolved:
    """A phrase resolved: the item, or a question when it is unknown or ambiguous."""

    phrase: TitlePhrase
    record: ItemRecord | None
    problem: str | None = None
    ambiguous: bool = False


def title_phrases(text: str) -> list[TitlePhrase]:
    """Quoted titles and the phrases after "loved", "watched", "like" and such, in order."""
    found = [TitlePhrase(match.group(1).strip(), None) for match in _QUOTED.finditer(text)]
    for match in _TRIGGER.finditer(text):
        polarity = _polarity(match.group("verb"))
        end = _COMPARISON_END if polarity is None else _LIST_END
        chunk = end.split(text[match.end() :], maxsplit=1)[0].strip(" '\"“”.")
        found.append(TitlePhrase(" ".join(chunk.split()[: MAX_TITLE_WORDS * 3]), polarity))
    unique: dict[str, TitlePhrase] = {}
    for phrase in found:
        unique.setdefault(phrase.text.lower(), phrase)
    return list(unique.values())[:MAX_TITLE_PHRASES]


def _polarity(verb: str) -> Polarity | None:
    lowered = " ".join(verb.lower().split())
    if lowered == "like" or lowered in ("similar to", "such as", "as good as", "in the vein of") or "remind" in lowered:
        return None
    for polarity, pattern in _POLARITY_WORDS:
        if pattern.search(lowered):
            return polarity
    return None


def split_titles(phrase: TitlePhrase, workspace: AgentWorkspace) -> list[tuple[str, Resolved]]:
    """ "Sense and Sensibility" is one title, "Toy Story and Fargo" two: the whole phrase first, then its parts."""
    text = phrase.text
    if len(text.split()) <= MAX_TITLE_WORDS:
        several = bool(_LIST_SEPARATOR.search(text))
        whole = resolve_phrase(text, phrase, workspace, strict=several)
        if whole.record is not None or (whole.ambiguous and not several):
            return [(text, whole)]
    parts = [" ".join(p.split()[:MAX_TITLE_WORDS]) for p in _LIST_SEPARATOR.split(text) if p.strip()]
    return [(part, resolve_phrase(part, phrase, workspace)) for part in parts]


def resolve_title(phrase: str, workspace: AgentWorkspace, strict: bool = False) -> ItemRecord | None:
    """The catalog item ``phrase`` names when one fits clearly; ``strict`` also wants nearly the whole text."""
    exact = workspace.title_index.get(phrase.strip().lower())
    if exact is not None:
        return workspace.records[exact]
    try:
        record: ItemRecord = workspace.store.catalog.resolve(phrase)
    except DataError:
        return None
    if strict and fuzz.ratio(bare_title(phrase) or phrase.lower(), bare_title(record.title)) < STRICT_TITLE_MATCH:
        return None
    return record


def resolve_phrase(text: str, phrase: TitlePhrase, workspace: AgentWorkspace, strict: bool = False) -> Resolved:
    """``text`` (a phrase or a part of one) as an item, or the question to ask about it."""
    matches = [m.item for m in workspace.store.catalog.search_titles(text, k=SUGGESTIONS)]
    record = resolve_title(text, workspace, strict)
    rivals = _rivals(text, record, matches)
    if rivals:
        chosen = [record.label] if record is not None else []
        return Resolved(
            phrase, None, f"{text!r} could be several titles: did you mean {_either([*chosen, *rivals])}?", True
        )
    if record is None:
        hint = f" (did you mean {_either([m.label for m in matches])}?)" if matches else ""
        return Resolved(phrase, None, f"I don't know a title {text!r}{hint}")
    return Resolved(phrase, record)


def _rivals(text: str, chosen: ItemRecord | None, candidates: list[ItemRecord]) -> list[str]:
    """Titles that contain ``text`` and fit it about as well as ``chosen`` (none when it is a title as written)."""
    query = bare_title(text) or text.lower()
    own = bare_title(chosen.title) if chosen is not None else ""
    if chosen is not None and query in (own, own.removeprefix("the "), own.removeprefix("a ")):
        return []
    closeness = fuzz.ratio(query, own) if chosen is not None else 0.0
    return [
        other.label
        for other in candidates
        if (chosen is None or other.item_id != chosen.item_id)
        and fuzz.token_set_ratio(query, bare_title(other.title), processor=default_process) >= 95
        and (chosen is None or closeness - fuzz.ratio(query, bare_title(other.title)) < CLEAR_WINNER)
    ]


def _either(labels: list[str]) -> str:
    labels = list(dict.fromkeys(labels))
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
