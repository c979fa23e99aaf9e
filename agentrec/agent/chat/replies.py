"""Replies that say only what is true: a reply from the catalog's facts, and a check on the LLM's sentences.

SmolLM2-135M writes fluent sentences that are often false ("Dances with Wolves
is a comedy"). So a reply's facts (genres, years, ratings, what an item is
similar to) come from the catalog and the pool's provenance, and each sentence
the LLM writes is checked against them before it is shown:

* a genre it names (by catalog name or a common word: "funny", "scary") must be
  a genre of every item the sentence is about; a genre it denies, of none;
* a year or decade must be the year of an item it is about (a decade: of all);
* a rating ("4.2/5", "3 stars") must be within 0.3 of the item's mean rating;
* a title it compares with ("similar to X", "like X") must be one the person
  named, and a title it mentions must be on the list;
* a sentence that repeats a long word ("lightheartedness and lightheartedness")
  is garbled and dropped.

A sentence names the items whose titles it contains; one that names none is
about the items the LLM was shown. A sentence that fails any check is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentrec.agent.chat.records import ListedItem
from agentrec.agent.chat.request_rules import DECADE, DECADE_WORDS, year_of
from agentrec.data.text_attributes import bare_title

REPLY_SENTENCES = 2
MAX_REPLY_CHARS = 300
SHOWN_TO_MODEL = 3  # the reply prompt shows the model the top three picks
RATING_TOLERANCE = 0.3
FACT_ITEMS = 2
_RANK_OR_YEAR = re.compile(r" \((?:#\d+|\d{4})\)")
_REPEATS = re.compile(r"\b(\w+(?: \w+)?)(?:,? \1\b){2,}", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20[0-4]\d)(?!\d)(?!s)")
# A sentence ends at . ! or ? and a space, but not after an initial or a title's abbreviation ("E.T. the", "Dr. No").
_SENTENCE_END = re.compile(
    r"(?<=[.!?])(?<!\b[A-Z]\.)(?<!\bMr\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bvs\.)(?<!\bJr\.)\s+(?!\()"
)  # ... and not before "(": "Mars Attacks! (1996)" is one title
_RATING = re.compile(r"(\d(?:\.\d+)?)\s*(?:/\s*5|out of 5|stars?)\b", re.IGNORECASE)
_COMPARED = re.compile(r"\b(?:similar to|like|reminds? (?:me |you )?of|in the vein of)\s+", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:no|not|without|never|isn't|aren't|nothing)\b(?:\s+\w+){0,2}\s*$")
_LONG_WORD = re.compile(r"\b[a-z]{7,}\b")


@dataclass(frozen=True)
class Facts:
    """What a reply may state: the listed items, the titles the person named, the genre words."""

    items: Sequence[ListedItem]
    named: dict[str, int | None]  # bare title -> year, of the titles the person named
    genre_words: dict[str, str]  # word or genre name (lower case) -> the catalog's genre


@dataclass(frozen=True)
class CheckedReply:
    kept: list[str]
    dropped: list[str]


def facts_reply(items: Sequence[ListedItem], understood: Sequence[str], noun: str) -> str:
    """Sentences built only from the catalog and the pool's provenance: what the top picks are, and why.

    The request is not restated (the status line shows what was read), so every sentence is
    about listed items and can be checked against the catalog.
    """
    if not items:
        return "Nothing left matches; try /reset or drop a constraint (say 'any genre' or 'any year')."
    hint = "" if understood else f"I found no title, genre or decade in that, so these {noun}s follow your profile. "
    return hint + " ".join(_item_facts(item) for item in items[:FACT_ITEMS])


def _item_facts(item: ListedItem) -> str:
    genres = ", ".join(item.genres) or "no listed genre"
    rating = f"; rated {item.mean_rating:.1f}/5 by {item.interactions} people" if item.mean_rating is not None else ""
    # The reason names other titles ("similar to Aladdin"); their years and list ranks are for /why.
    reason = _RANK_OR_YEAR.sub("", item.why.split("; ")[0])
    return f"#{item.position} {item.title}: {genres}{rating}; {reason}."


def split_sentences(text: str) -> list[str]:
    """The model's text as sentences on one line, without its word loops."""
    flat = " ".join(text.replace("\n", " ").split()).strip(" \"'")
    flat = _REPEATS.sub(r"\1", flat)  # "classic, classic, classic" -> "classic"
    # A trailing fragment without its full stop was cut off by the token limit: its claim is unfinished.
    return [part for part in _SENTENCE_END.split(flat) if part and part[-1] in ".!?"]


def check_sentences(sentences: Sequence[str], facts: Facts) -> CheckedReply:
    """Keep the sentences whose every claim agrees with ``facts``."""
    kept: list[str] = []
    dropped: list[str] = []
    for sentence in sentences:
        (dropped if contradiction(sentence, facts) else kept).append(sentence)
    return CheckedReply(kept, dropped)


def contradiction(sentence: str, facts: Facts) -> str | None:
    """Why ``sentence`` cannot be shown, or None when every claim it makes holds."""
    lowered = _plain(sentence)
    about, rest = _items_named(lowered, facts.items)
    if compared := _unnamed_comparison(rest, facts):
        return compared
    for named_title in facts.named:
        rest = rest.replace(_plain(named_title), " ")
    if not about:
        about = list(facts.items[:SHOWN_TO_MODEL])
    return (
        _repeated(rest) or _genre_claims(rest, about, facts) or _year_claims(rest, about) or _rating_claims(rest, about)
    )


def _items_named(lowered: str, items: Sequence[ListedItem]) -> tuple[list[ListedItem], str]:
    """The listed items whose titles ``lowered`` contains, and the sentence with those titles blanked out."""
    found = []
    for item in sorted(items, key=lambda i: -len(bare_title(i.title))):
        title = _plain(bare_title(item.title))
        if len(title) >= 3 and title in lowered:
            found.append(item)
            lowered = lowered.replace(title, " ")
    return found, lowered


def _unnamed_comparison(rest: str, facts: Facts) -> str | None:
    """ "similar to X" where X is not a title the person named (nor on the list, already blanked out)."""
    for match in _COMPARED.finditer(rest):
        after = rest[match.end() :].strip()
        if not after or not after[0].isalpha():
            continue
        if any(after.startswith(_plain(title)) for title in facts.named):
            continue
        first_word = after.split()[0].strip(",.;:!?'\"")
        if first_word in ("the", "a", "an", "what", "you", "your", "these", "those", "this", "that", "them"):
            continue
        if first_word[:1].isalpha() and first_word not in facts.genre_words and len(first_word) > 2:
            return f"compares with {after[:40]!r}, a title nobody named"
    return None


def _plain(text: str) -> str:
    """Lower case with hyphens as spaces, so "Sci-Fi", "sci-fi" and "sci fi" are one word to the checks."""
    return text.lower().replace("-", " ").replace("\u2019", "'")


def _repeated(rest: str) -> str | None:
    words = _LONG_WORD.findall(rest)
    repeated = {w for w in words if words.count(w) > 1}
    return f"repeats {sorted(repeated)[0]!r}" if repeated else None


def _genre_claims(rest: str, about: Sequence[ListedItem], facts: Facts) -> str | None:
    words = {_plain(word): genre for word, genre in facts.genre_words.items()}
    for word in sorted(words, key=len, reverse=True):
        for match in re.finditer(rf"\b{re.escape(word)}\b", rest):
            genre = words[word]
            denied = bool(_NEGATION.search(rest[: match.start()]))
            wrong = [i.title for i in about if (genre in i.genres) == denied]
            if wrong:
                return f"says {wrong[0]} {'is not' if denied else 'is'} {genre}"
        rest = re.sub(rf"\b{re.escape(word)}\b", " ", rest)
    return None


def _year_claims(rest: str, about: Sequence[ListedItem]) -> str | None:
    years = {i.year for i in about}
    for match in _YEAR.finditer(rest):
        if int(match.group(1)) not in years:
            return f"names the year {match.group(1)}, which none of its titles has"
    decades = [year_of(m.group(0)) for m in DECADE.finditer(rest)]
    decades += [first for word, first in DECADE_WORDS.items() if re.search(rf"\b{word}\b", rest)]
    for first in decades:
        outside = [i.title for i in about if i.year is None or not first <= i.year <= first + 9]
        if outside:
            return f"places {outside[0]} in the {first}s"
    return None


def _rating_claims(rest: str, about: Sequence[ListedItem]) -> str | None:
    for match in _RATING.finditer(rest):
        said = float(match.group(1))
        if not any(i.mean_rating is not None and abs(i.mean_rating - said) <= RATING_TOLERANCE for i in about):
            return f"gives a rating of {said}, which none of its titles has"
    return None
