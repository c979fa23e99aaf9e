"""What the rule layer reads from a chat message before the LLM sees it.

The embedded model (SmolLM2-135M) calls tools, but it rarely turns "no horror"
into ``exclude_genres=["Horror"]`` or "more like #3" into ``similar`` of the third
item. So these phrasings are read by deterministic rules, and the LLM adds its
own tool calls on top:

* genres, by catalog name or a common word ("funny", "scary", "sci-fi"):
  "no X" / "not X" / "without X" excludes, "only X" / "just X" keeps only X,
  any other mention ("but funnier") is a soft wish;
* years: "90s", "1990s", "nineties", "before 1980", "after 1995",
  "between 1980 and 1990" (a hard range; "any year" drops it);
* "#3" or "number 3": an item of the last list; "like Alien", "similar to
  Alien", a "quoted title": a catalog title (fuzzy); an unknown title is reported
  with suggestions;
* "more", "others", "something else": items of the last list are left out;
* any words left over become a semantic ``search`` when the dataset has one.

Hard constraints persist for the session until the person changes them.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from agentrec.agent.workspace import AgentWorkspace
from agentrec.core.errors import DataError
from agentrec.data.records import ItemRecord
from agentrec.data.text_attributes import bare_title

# Words people use for a genre, mapped to genre keys (lower-case letters and digits);
# a key the catalog lacks is ignored.
GENRE_WORDS: dict[str, tuple[str, ...]] = {
    "funny": ("comedy",), "funnier": ("comedy",), "comedies": ("comedy",), "comic": ("comedy",),
    "hilarious": ("comedy",), "laugh": ("comedy",),
    "scary": ("horror",), "scarier": ("horror",), "spooky": ("horror",), "creepy": ("horror",),
    "gory": ("horror",), "romantic": ("romance",), "love story": ("romance",), "romcom": ("romance",),
    "sci fi": ("scifi",), "scifi": ("scifi",), "science fiction": ("scifi",),
    "animated": ("animation",), "cartoon": ("animation",), "cartoons": ("animation",), "anime": ("animation",),
    "kids": ("childrens", "children"), "children": ("childrens", "children"), "family": ("childrens", "children"),
    "documentaries": ("documentary",), "thrilling": ("thriller",), "suspense": ("thriller",),
    "dramatic": ("drama",), "noir": ("filmnoir",), "film noir": ("filmnoir",), "gangster": ("crime",),
    "magic": ("fantasy",), "detective": ("mystery",), "mysteries": ("mystery",),
}  # fmt: skip


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


NEGATIONS = _word_set(
    "no not without except excluding exclude avoid nothing hate dislike skip less never dont don't zero non"
)
ONLY_WORDS = _word_set("only just purely strictly")
DECADE_WORDS = {"fifties": 1950, "sixties": 1960, "seventies": 1970, "eighties": 1980, "nineties": 1990}
MORE_WORDS = _word_set("more other others else different next another")
# Words that carry no request of their own; what is left after them (and genres, years, titles) is searched.
FILLER = _word_set(
    """a an the and or but of to in on for with from by at as is are be it its this that these those some any
    something anything stuff thing things one ones me my i i'd id i'm im you we us please want wanna would like
    love liked loved enjoy enjoyed show give find get recommend recommendation recommendations suggest suggestion
    more less other others else different next another good great nice best new old watch watching see seeing
    movie movies film films item items can could should maybe really very too so what which similar such
    tonight today now kind sort type mood feel feeling let lets let's how about than then also same just only
    no not without except avoid never dont don't hate dislike year years decade era time genre genres
    after since before between until newer older number list top lot lots bit"""
)
_TITLE_TRIGGER = re.compile(
    r"\b(?:similar to|such as|as good as|in the vein of|reminds? me of|fan of|like|loved|enjoyed|liked)\s+",
    re.IGNORECASE,
)
_TITLE_END = re.compile(
    r"\s+(?:but|with|without|only|except|not|no|from|that|which|though|please|in the|set in|"
    r"made in|before|after|between)\b|[,;!?]|\.(?:\s|$)",
    re.IGNORECASE,
)
_LIST_SEPARATOR = re.compile(r",|\s+(?:and|or|&)\s+", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{2,80})[\"“”«»]")
_POSITION = re.compile(r"(?:#\s*|\bnumber\s+|\bno\.\s*)(\d{1,3})\b", re.IGNORECASE)
_DECADE = re.compile(r"(?<![\w#])'?(?:(19|20)(\d)0|(\d)0)'?s\b")
_RANGE = re.compile(r"\b(?:between|from)\s+((?:19|20)\d\d)\s+(?:and|to|-)\s+((?:19|20)\d\d)\b")
_BEFORE = re.compile(r"\b(?:before|older than|pre)\s+(?:the\s+)?((?:19|20)\d\d|'?\d0'?s)")
_AFTER = re.compile(r"\b(after|since|newer than|post)\s+(?:the\s+)?((?:19|20)\d\d|'?\d0'?s)")
_IN_YEAR = re.compile(r"\b(?:in|of|from)\s+((?:19|20)\d\d)\b(?!s)")
MAX_TITLE_WORDS = 8
MAX_TITLE_PHRASES = 5
STRICT_TITLE_MATCH = 85  # rapidfuzz ratio: "toy story and star wars" must not resolve to "star wars" alone


class Constraints(BaseModel):
    """Hard constraints in force for a session; every list obeys them."""

    genres: list[str] = Field(default_factory=list, description="keep only items with one of these")
    exclude_genres: list[str] = Field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None

    def is_empty(self) -> bool:
        return not (self.genres or self.exclude_genres or self.year_min is not None or self.year_max is not None)

    def filter_arguments(self) -> dict[str, Any]:
        """The ``filter`` tool's arguments for these constraints."""
        arguments: dict[str, Any] = {}
        if self.genres:
            arguments["genres"] = list(self.genres)
        if self.exclude_genres:
            arguments["exclude_genres"] = list(self.exclude_genres)
        if self.year_min is not None:
            arguments["year_min"] = self.year_min
        if self.year_max is not None:
            arguments["year_max"] = self.year_max
        return arguments

    def describe(self) -> str:
        """In words: "only Comedy; no Horror; 1990-1999"."""
        parts = []
        if self.genres:
            parts.append("only " + " or ".join(self.genres))
        if self.exclude_genres:
            parts.append("no " + ", ".join(self.exclude_genres))
        if self.year_min is not None or self.year_max is not None:
            if self.year_min is not None and self.year_max is not None:
                parts.append(f"{self.year_min}-{self.year_max}")
            elif self.year_min is not None:
                parts.append(f"{self.year_min} or later")
            else:
                parts.append(f"up to {self.year_max}")
        return "; ".join(parts)


class ParsedRequest(BaseModel):
    """What the rules took from one message."""

    constraints: Constraints
    understood: list[str] = Field(default_factory=list, description="what was read, in words")
    anchors: list[str] = Field(default_factory=list, description="item ids to find similar items for")
    wanted_genres: list[str] = Field(default_factory=list, description="soft wishes")
    search_text: str = ""
    problems: list[str] = Field(default_factory=list, description="unknown titles, positions out of range")
    wants_more: bool = False

    @property
    def has_intent(self) -> bool:
        """Whether the rules found anything to steer the list by."""
        return bool(self.anchors or self.wanted_genres or self.understood)


def normalise_message(text: str) -> str:
    """One line of NFKC text with single spaces (pasted multi-line text becomes one request)."""
    cleaned = unicodedata.normalize("NFKC", text)
    cleaned = "".join(ch if ch.isprintable() else " " for ch in cleaned)
    return " ".join(cleaned.split())


def parse_request(
    text: str, workspace: AgentWorkspace, previous: Constraints, last_items: list[str]
) -> ParsedRequest:
    """Read constraints, anchors, genre wishes and search words from ``text``."""
    lexicon = _genre_lexicon(workspace)
    lowered = _spaced(text.lower())
    request = ParsedRequest(constraints=previous.model_copy(deep=True))
    consumed: list[str] = []
    _read_positions(text, last_items, workspace, request)
    titles = _read_titles(text, lexicon, workspace, request, consumed)
    without_titles = _blank_out(text.lower(), titles)
    _read_genres(without_titles, lexicon, request, consumed)
    _read_years(_spaced(without_titles), request, consumed)
    words = [w for w in re.findall(r"[^\W\d_][\w']*", lowered) if w not in FILLER]
    leftovers = [w for w in words if not any(w in part.split() for part in consumed)]
    request.wants_more = not request.anchors and bool(MORE_WORDS & set(lowered.split()))
    if request.wants_more:
        request.understood.append("something other than the last list")
    request.search_text = " ".join(leftovers[:12]) if any(len(w) >= 3 for w in leftovers) else ""
    return request


def _spaced(text: str) -> str:
    """Lower-case text with punctuation (but apostrophes, # and digits) turned into spaces."""
    return " ".join(re.sub(r"[^\w#']+", " ", text.replace("\u2019", "'")).replace("_", " ").split())


def _genre_lexicon(workspace: AgentWorkspace) -> dict[str, str]:
    """Phrase (lower case, spaced) -> the catalog's genre spelling."""
    attributes = workspace.attributes
    if "genre" not in attributes.names:
        return {}
    by_key = {
        re.sub(r"[^a-z0-9]", "", value.lower()): value
        for value in attributes.values("genre")
        if value.lower() not in ("unknown", "(no genres listed)")
    }
    lexicon: dict[str, str] = {}
    for key, value in by_key.items():
        phrase = _spaced(value.lower().replace("-", " "))
        for form in (phrase, phrase + "s", key, key + "s"):
            lexicon[form] = value
    for word, keys in GENRE_WORDS.items():
        found = next((by_key[key] for key in keys if key in by_key), None)
        if found is not None:
            lexicon.setdefault(word, found)
    return lexicon


def _read_genres(text: str, lexicon: dict[str, str], request: ParsedRequest, consumed: list[str]) -> None:
    if not lexicon:
        return
    pattern = re.compile(r"\b(" + "|".join(re.escape(p) for p in sorted(lexicon, key=len, reverse=True)) + r")\b")
    constraints = request.constraints
    for raw_clause in re.split(r"\bbut\b|[,.;:!?()]", text.lower()):
        clause = _spaced(raw_clause)
        for match in pattern.finditer(clause):
            genre = lexicon[match.group(1)]
            before = set(clause[: match.start()].split()[-3:])
            after = set(clause[match.end() :].split()[:1])
            consumed.append(match.group(1))
            if before & NEGATIONS:
                constraints.genres = [g for g in constraints.genres if g != genre]
                if genre not in constraints.exclude_genres:
                    constraints.exclude_genres.append(genre)
                request.understood.append(f"no {genre}")
            elif (before | after) & ONLY_WORDS:
                constraints.exclude_genres = [g for g in constraints.exclude_genres if g != genre]
                constraints.genres = [genre]
                request.understood.append(f"only {genre}")
            elif genre not in request.wanted_genres and genre not in constraints.exclude_genres:
                request.wanted_genres.append(genre)
                request.understood.append(f"more {genre}")
    if re.search(r"\bany (genre|kind|type)s?\b", _spaced(text.lower())):
        constraints.genres, constraints.exclude_genres = [], []
        request.understood.append("any genre")


def _year(text: str, end: bool) -> int:
    """A year from "1994", "90s" or "'90s" (the decade's first year, or its last when ``end``)."""
    digits = re.sub(r"\D", "", text)
    if len(digits) == 4:
        return int(digits)
    start = (1900 if int(digits[0]) >= 3 else 2000) + int(digits[0]) * 10
    return start + 9 if end else start


def _read_years(lowered: str, request: ParsedRequest, consumed: list[str]) -> None:
    found = _year_range(lowered)
    constraints = request.constraints
    if found is not None:
        constraints.year_min, constraints.year_max = found
        request.understood.append(Constraints(year_min=found[0], year_max=found[1]).describe())
        consumed.extend(DECADE_WORDS)
    elif re.search(r"\bany (year|decade|time|era)s?\b", lowered):
        constraints.year_min = constraints.year_max = None
        request.understood.append("any year")


def _year_range(lowered: str) -> tuple[int | None, int | None] | None:
    """The first year phrase in ``lowered``, as (earliest, latest); None when there is none."""
    if match := _RANGE.search(lowered):
        low, high = sorted((int(match.group(1)), int(match.group(2))))
        return low, high
    if match := _BEFORE.search(lowered):
        return None, _year(match.group(1), end=False) - 1
    if match := _AFTER.search(lowered):
        keyword, when = match.group(1), match.group(2)
        # "since 1995" and "since the 90s" include the year or decade; "after" starts past it.
        return (_year(when, end=False) if keyword == "since" else _year(when, end=True) + 1), None
    if match := _DECADE.search(lowered):
        first = _year(match.group(0), end=False)
        return first, first + 9
    for word, first in DECADE_WORDS.items():
        if re.search(rf"\b{word}\b", lowered):
            return first, first + 9
    if match := _IN_YEAR.search(lowered):
        return int(match.group(1)), int(match.group(1))
    return None


def _read_positions(text: str, last_items: list[str], workspace: AgentWorkspace, request: ParsedRequest) -> None:
    for match in _POSITION.finditer(text):
        position = int(match.group(1))
        if not last_items:
            request.problems.append(f"there is no list yet, so #{position} means nothing; ask for something first")
        elif not 1 <= position <= len(last_items):
            request.problems.append(f"the last list has items #1 to #{len(last_items)}, not #{position}")
        elif last_items[position - 1] not in request.anchors:
            request.anchors.append(last_items[position - 1])
            title = workspace.store.catalog.item(last_items[position - 1]).label
            request.understood.append(f"like #{position} ({title})")


def _read_titles(
    text: str, lexicon: dict[str, str], workspace: AgentWorkspace, request: ParsedRequest, consumed: list[str]
) -> list[str]:
    """Resolve quoted titles and "like X" phrases to anchors; return the phrases that were read as titles."""
    chunks = [match.group(1).strip() for match in _QUOTED.finditer(text)]
    for match in _TITLE_TRIGGER.finditer(text):
        chunk = _TITLE_END.split(text[match.end() :], maxsplit=1)[0].strip(" '\"“”.")
        chunks.append(" ".join(chunk.split()[:MAX_TITLE_WORDS]))
    read: list[str] = []
    for chunk in list(dict.fromkeys(chunks))[:MAX_TITLE_PHRASES]:
        if not _could_be_title(chunk, lexicon):
            continue
        # "Sense and Sensibility" is one title, "Toy Story and Fargo" two: try the whole chunk first.
        whole = _resolve(chunk, workspace, strict=bool(_LIST_SEPARATOR.search(chunk)))
        parts = [chunk] if whole is not None else [p.strip() for p in _LIST_SEPARATOR.split(chunk) if p.strip()]
        for phrase in parts:
            if not _could_be_title(phrase, lexicon):
                continue
            read.append(phrase)
            consumed.append(phrase.lower())
            record = whole if whole is not None else _resolve(phrase, workspace)
            if record is None:
                suggestions = [m.item.label for m in workspace.store.catalog.search_titles(phrase, k=3)]
                hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
                request.problems.append(f"I don't know a title {phrase!r}{hint}")
            elif record.item_id not in request.anchors:
                request.anchors.append(record.item_id)
                request.understood.append(f"like {record.label}")
    return read


def _resolve(phrase: str, workspace: AgentWorkspace, strict: bool = False) -> ItemRecord | None:
    """The catalog item ``phrase`` names; ``strict`` also wants nearly the whole text to match."""
    try:
        record: ItemRecord = workspace.store.catalog.resolve(phrase)
    except DataError:
        return None
    if strict and fuzz.ratio(bare_title(phrase) or phrase.lower(), bare_title(record.title)) < STRICT_TITLE_MATCH:
        return None
    return record


def _blank_out(text: str, phrases: list[str]) -> str:
    """``text`` without the title phrases, so "Star Wars" is not read as the genre War."""
    for phrase in phrases:
        text = text.replace(phrase.lower(), " ")
    return text


def _could_be_title(phrase: str, lexicon: dict[str, str]) -> bool:
    """A phrase worth looking up: not "#3", not "something funny", not only genre or year words."""
    words = _spaced(phrase.lower()).split()
    if not words or phrase.lstrip().startswith("#") or words[0] in FILLER - {"the", "a", "an"}:
        return False
    meaningful = [
        w for w in words if w not in FILLER and w not in lexicon and not _DECADE.fullmatch(w) and w not in DECADE_WORDS
    ]
    return bool(meaningful)
