"""Rank parsing: the order in which a reply first mentions each product.

Names are matched after normalisation (case, punctuation and spacing ignored,
so "Grind & Brew Plus" is "Grind&Brew Plus"), on word boundaries, then
fuzzily with rapidfuzz against runs of whole words for misspellings
("Espresso Master 2000", "Capuccino King"). A fuzzy match may not overlap an
exact mention of another product, so "BrewMaster Classic" is never taken for
"ColdBrew Master". A product never mentioned gets rank N+1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

# ratio of a name against a run of words; 88 accepts one or two typos in a short name but
# not a different product that shares a word ("BrewMaster Classic" / "FrenchPress Classic").
FUZZY_CUTOFF = 88.0
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    """Lower case, every run of non-alphanumerics one space."""
    return _NOT_WORD.sub(" ", text.casefold()).strip()


@dataclass(frozen=True)
class Mention:
    """Where a product is first mentioned in the normalised reply, and how."""

    product: int
    start: int
    end: int
    exact: bool


def _exact_spans(text: str, names: Sequence[str]) -> list[tuple[int, int, int]]:
    """Every exact mention as (product, start, end); a name inside a longer name's mention does not count."""
    spans = []
    for index, name in enumerate(names):
        if name:
            # Word boundaries, so "pro" inside "professional" is no mention of a product "Pro".
            for match in re.finditer(rf"(?<![0-9a-z]){re.escape(name)}(?![0-9a-z])", text):
                spans.append((index, match.start(), match.end()))
    return [
        (index, start, end)
        for index, start, end in spans
        if not any(o != index and s <= start and end <= e and e - s > end - start for o, s, e in spans)
    ]


def _fuzzy_mention(text: str, name: str, index: int, taken: list[tuple[int, int, int]]) -> Mention | None:
    """The first run of whole words, one word shorter to one longer than ``name``, close enough to it."""
    size = len(name.split())
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    for first in range(len(words)):
        for count in (size, size + 1, size - 1):
            if count < 1 or first + count > len(words):
                continue
            start, end = words[first][0], words[first + count - 1][1]
            window = text[start:end]
            if "\n" in window or fuzz.ratio(name, window) < FUZZY_CUTOFF:
                continue
            if not any(other != index and start < e and s < end for other, s, e in taken):
                return Mention(index, start, end, exact=False)
    return None


def first_mentions(reply: str, names: Sequence[str]) -> list[Mention]:
    """The first mention of each product named in ``reply``, in reading order."""
    lines = [normalise(line) for line in reply.splitlines()]
    text = "\n".join(lines)
    normalised = [normalise(name) for name in names]
    taken = _exact_spans(text, normalised)
    found: dict[int, Mention] = {}
    for index, start, end in sorted(taken, key=lambda span: span[1]):
        found.setdefault(index, Mention(index, start, end, exact=True))
    for index, name in enumerate(normalised):
        if index not in found and name:
            mention = _fuzzy_mention(text, name, index, taken)
            if mention is not None:
                found[index] = mention
    return sorted(found.values(), key=lambda m: (m.start, -(m.end - m.start)))


def ranking(reply: str, names: Sequence[str]) -> list[int]:
    """Product positions (into ``names``) in the order the reply first mentions them."""
    return [mention.product for mention in first_mentions(reply, names)]


def rank_of(reply: str, names: Sequence[str], target: int) -> int:
    """1-based rank of ``names[target]`` in ``reply``; ``len(names) + 1`` if never mentioned."""
    order = ranking(reply, names)
    return order.index(target) + 1 if target in order else len(names) + 1
