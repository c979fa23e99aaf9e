"""What the rule layer reads from a chat message before the LLM sees it.

The embedded model (SmolLM2-135M) calls tools, but it rarely turns "no horror"
into ``exclude_genres=["Horror"]`` or "more like #3" into ``similar`` of the third
item. So these phrasings are read by deterministic rules, and the LLM adds its
own tool calls on top; it cannot drop what the rules read. The words are data:
``default_rules.toml`` and the tool pack's ``[chat]`` table (``chat_rules``).

* titles (``title_mentions``): "I loved X and Y" (liked), "I've seen X" (seen),
  "I hated X" (disliked), "like X", "similar to X", a "quoted title"; an
  unknown or ambiguous title is asked about;
* genres, by catalog name or a common word ("funny", "scary", "sci-fi"):
  "no X" / "not X" / "without X" excludes, "only X" / "just X" keeps only X,
  any other mention ("but funnier") is a soft wish;
* years: "90s", "1990s", "nineties", "before 1980", "after 1995",
  "between 1980 and 1990" (a hard range; "any year" drops it); "newer" and
  "older" are relative to the last list, else to what was liked;
* phrases of the pack: an audience ("family": no Horror, prefer Children's),
  "less violent", "no sequels";
* the answer to the chat's last question ("More animated, or live action?");
* "#3" or "number 3": an item of the last list;
* "more", "others", "something else": items of the last list are left out;
* any words left over become a semantic ``search`` when the dataset has one.

Hard constraints persist for the session until the person changes them.
"""

from __future__ import annotations

import json
import re
import statistics
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import BaseModel, Field

from agentrec.agent.chat.chat_rules import CatalogRules, Effect, Question, default_rules
from agentrec.agent.chat.constraints import Constraints
from agentrec.agent.chat.title_mentions import Polarity, TitlePhrase, split_titles, title_phrases
from agentrec.agent.workspace import AgentWorkspace


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
    after since before between until newer older number list top lot lots bit evening night weekend afternoon
    i've we've seen saw watched hated loved liked enjoyed adored question questions ask asking stop"""
)
_POSITION = re.compile(r"(?:#\s*|\bnumber\s+|\bno\.\s*)(\d{1,3})\b", re.IGNORECASE)
DECADE = re.compile(r"(?<![\w#])'?(?:(19|20)(\d)0|(\d)0)'?s\b")
_RANGE = re.compile(r"\b(?:between|from)\s+((?:19|20)\d\d)\s+(?:and|to|-)\s+((?:19|20)\d\d)\b")
_BEFORE = re.compile(r"\b(?:before|older than|pre)\s+(?:the\s+)?((?:19|20)\d\d|'?\d0'?s)")
_AFTER = re.compile(r"\b(after|since|newer than|post)\s+(?:the\s+)?((?:19|20)\d\d|'?\d0'?s)")
_IN_YEAR = re.compile(r"\b(?:in|of|from)\s+((?:19|20)\d\d)\b(?!s)")


class SaidTitle(BaseModel):
    """A catalog item the person named, and what they said about it."""

    item_id: str
    polarity: Polarity


class ParsedRequest(BaseModel):
    """What the rules took from one message."""

    constraints: Constraints
    understood: list[str] = Field(default_factory=list, description="what was read, in words")
    anchors: list[str] = Field(default_factory=list, description="item ids to find similar items for")
    wanted_genres: list[str] = Field(default_factory=list, description="soft wishes")
    search_text: str = ""
    problems: list[str] = Field(default_factory=list, description="unknown titles, positions out of range")
    wants_more: bool = False
    said: list[SaidTitle] = Field(default_factory=list, description="titles liked, seen or disliked")
    stop_asking: bool = False
    answered: str | None = Field(default=None, description="the genre of the chat's question this message answered")

    @property
    def has_intent(self) -> bool:
        """Whether the rules found anything to steer the list by."""
        return bool(self.anchors or self.wanted_genres or self.understood)

    @property
    def contrast(self) -> bool:
        """ "Like X but Y": neighbours of X are wanted only among the items that are Y."""
        return bool(self.anchors and self.wanted_genres)


@dataclass(frozen=True)
class RequestContext:
    """What a message is read against: the session's constraints, the last list, the open question."""

    previous: Constraints = field(default_factory=Constraints)
    last_items: tuple[str, ...] = ()
    reference_years: tuple[int, ...] = ()  # "newer" and "older" are relative to these
    pending: Question | None = None


def normalise_message(text: str) -> str:
    """One line of NFKC text with single spaces (pasted multi-line text becomes one request)."""
    cleaned = unicodedata.normalize("NFKC", text)
    cleaned = "".join(ch if ch.isprintable() else " " for ch in cleaned)
    return " ".join(cleaned.split())


def parse_request(text: str, workspace: AgentWorkspace, context: RequestContext | None = None) -> ParsedRequest:
    """Read constraints, titles, genre wishes, answers and search words from ``text``."""
    context = context or RequestContext()
    rules = rules_of(workspace)
    lexicon = genre_lexicon(rules)
    lowered = spaced(text.lower())
    request = ParsedRequest(constraints=context.previous.model_copy(deep=True))
    consumed: list[str] = []
    _read_positions(text, list(context.last_items), workspace, request)
    titles = _read_titles(text, lexicon, workspace, request, consumed)
    without_titles = spaced(_blank_out(text.lower(), titles))
    _read_answer(without_titles, context.pending, request, consumed)
    _read_genres(_blank_out(text.lower(), titles), lexicon, request, consumed)
    explicit_years = _read_years(without_titles, request, consumed)
    _read_phrases(without_titles, rules, context.reference_years, not explicit_years, request, consumed)
    request.stop_asking = any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in rules.stop_asking)
    words = [w for w in re.findall(r"[^\W\d_][\w']*", lowered) if w not in FILLER and len(w) > 1]
    leftovers = [w for w in words if not any(w in part.split() for part in consumed)]
    request.wants_more = not request.anchors and bool(MORE_WORDS & set(lowered.split()))
    if request.wants_more:
        request.understood.append("something other than the last list")
    request.search_text = " ".join(leftovers[:12]) if any(len(w) >= 3 for w in leftovers) else ""
    return request


def rules_of(workspace: AgentWorkspace) -> CatalogRules:
    """The default rules with the workspace's pack on top, in its catalog's genre spellings."""
    genres = tuple(workspace.attributes.values("genre")) if "genre" in workspace.attributes.names else ()
    return _resolved_rules(json.dumps(workspace.pack.chat, sort_keys=True), genres)


@lru_cache(maxsize=8)
def _resolved_rules(pack_table: str, genres: tuple[str, ...]) -> CatalogRules:
    return CatalogRules.resolve(default_rules().merged(json.loads(pack_table)), list(genres))


def spaced(text: str) -> str:
    """Lower-case text with punctuation (but apostrophes, # and digits) turned into spaces."""
    return " ".join(re.sub(r"[^\w#']+", " ", text.replace("\u2019", "'")).replace("_", " ").split())


def genre_lexicon(rules: CatalogRules) -> dict[str, str]:
    """Phrase (lower case, spaced) -> the catalog's genre spelling."""
    lexicon: dict[str, str] = {}
    for genre in rules.genres:
        key = re.sub(r"[^a-z0-9]", "", genre.lower())
        phrase = spaced(genre.lower().replace("-", " "))
        for form in (phrase, phrase + "s", key, key + "s"):
            lexicon[form] = genre
    for word, genre in rules.genre_words.items():
        lexicon.setdefault(spaced(word.lower()), genre)
    return lexicon


def _read_genres(text: str, lexicon: dict[str, str], request: ParsedRequest, consumed: list[str]) -> None:
    if not lexicon:
        return
    pattern = re.compile(r"\b(" + "|".join(re.escape(p) for p in sorted(lexicon, key=len, reverse=True)) + r")\b")
    constraints = request.constraints
    for raw_clause in re.split(r"\bbut\b|[,.;:!?()]", text.lower()):
        clause = spaced(raw_clause)
        for match in pattern.finditer(clause):
            genre = lexicon[match.group(1)]
            before = set(clause[: match.start()].split()[-3:])
            after = set(clause[match.end() :].split()[:1])
            consumed.append(match.group(1))
            if before & NEGATIONS:
                constraints.exclude_genre(genre)
                request.understood.append(f"no {genre}")
            elif (before | after) & ONLY_WORDS:
                constraints.exclude_genres = [g for g in constraints.exclude_genres if g != genre]
                constraints.genres = [genre]
                request.understood.append(f"only {genre}")
            elif genre not in request.wanted_genres and genre not in constraints.exclude_genres:
                request.wanted_genres.append(genre)
                request.understood.append(f"more {genre}")
    if re.search(r"\bany (genre|kind|type)s?\b", spaced(text.lower())):
        constraints.genres, constraints.exclude_genres, constraints.prefer_genres = [], [], []
        constraints.exclude_kinds, constraints.audience = [], None
        request.understood.append("any genre")


def year_of(text: str, end: bool = False) -> int:
    """A year from "1994", "90s" or "'90s" (the decade's first year, or its last when ``end``)."""
    digits = re.sub(r"\D", "", text)
    if len(digits) == 4:
        return int(digits)
    start = (1900 if int(digits[0]) >= 3 else 2000) + int(digits[0]) * 10
    return start + 9 if end else start


def _read_years(lowered: str, request: ParsedRequest, consumed: list[str]) -> bool:
    """Read an explicit year range; True when the message named one."""
    found = _year_range(lowered)
    constraints = request.constraints
    if found is not None:
        constraints.year_min, constraints.year_max = found
        request.understood.append(Constraints(year_min=found[0], year_max=found[1]).describe())
        consumed.extend(DECADE_WORDS)
        return True
    if re.search(r"\bany (year|decade|time|era)s?\b", lowered):
        constraints.year_min = constraints.year_max = None
        request.understood.append("any year")
        return True
    return False


def _read_phrases(
    lowered: str,
    rules: CatalogRules,
    reference_years: tuple[int, ...],
    relative_years: bool,
    request: ParsedRequest,
    consumed: list[str],
) -> None:
    """Apply the pack's phrases ("family", "less violent", "newer") found in ``lowered``."""
    for phrase in sorted(rules.effects, key=len, reverse=True):
        written = spaced(phrase.lower())
        if not re.search(rf"\b{re.escape(written)}\b", lowered):
            continue
        consumed.append(written)
        lowered = re.sub(rf"\b{re.escape(written)}\b", " ", lowered)  # "too old" is not "old" again
        effect = rules.effects[phrase]
        if (effect.newer or effect.older) and not relative_years:
            continue  # "newer than 1990" was read as a year range
        apply_effect(effect, request.constraints, reference_years, request.understood)
        request.wanted_genres += [g for g in effect.prefer_genres if g not in request.wanted_genres]


def apply_effect(
    effect: Effect, constraints: Constraints, reference_years: tuple[int, ...], understood: list[str],
    item_genres: tuple[str, ...] | None = None,
) -> None:  # fmt: skip
    """Change ``constraints`` as ``effect`` says; ``item_genres`` when it critiques one item (``of_item``)."""
    excluded = effect.exclude_genres
    if effect.of_item and item_genres is not None:
        excluded = tuple(g for g in excluded if g in item_genres) or excluded
    for genre in excluded:
        constraints.exclude_genre(genre)
    for genre in effect.prefer_genres:
        if genre not in constraints.exclude_genres:
            constraints.prefer_genre(genre)
    constraints.exclude_kinds += [k for k in effect.exclude_kinds if k not in constraints.exclude_kinds]
    if effect.audience:
        constraints.audience = effect.audience
    said = effect.phrase
    if (effect.newer or effect.older) and reference_years:
        middle = int(statistics.median(reference_years))
        if effect.newer:
            constraints.set_year_min(middle + 1)
            said = f"{effect.phrase}: {middle + 1} or later"
        else:
            constraints.set_year_max(middle - 1)
            said = f"{effect.phrase}: up to {middle - 1}"
    elif effect.newer or effect.older:
        said = f"{effect.phrase} (there is nothing yet to compare with)"
    understood.append(said)


YES_WORDS = ("yes", "yeah", "yep", "sure", "ok", "okay", "the first", "first", "the first one", "please do")
NO_WORDS = ("no", "nope", "neither", "the second", "second", "the second one", "something else", "the other")


def _read_answer(lowered: str, pending: Question | None, request: ParsedRequest, consumed: list[str]) -> None:
    """The answer to the chat's last question: its "yes" words prefer the genre, its "no" words rule it out."""
    if pending is None:
        return
    said = lowered.strip()

    def says(words: tuple[str, ...]) -> str | None:
        forms = sorted((spaced(w.lower()) for w in words), key=len, reverse=True)
        return next((w for w in forms if w and (said == w or re.search(rf"\b{re.escape(w)}\b", said))), None)

    no = says(pending.no) or (said if said in NO_WORDS else None)
    yes = None if no else says(pending.yes) or (said if said in YES_WORDS else None)
    if no:
        request.constraints.exclude_genre(pending.genre)
        request.understood.append(f"no {pending.genre} (your answer)")
    elif yes:
        request.constraints.prefer_genre(pending.genre)
        request.wanted_genres.append(pending.genre)
        request.understood.append(f"more {pending.genre} (your answer)")
    else:
        return
    request.answered = pending.genre
    consumed.append(no or yes or "")


def _read_titles(
    text: str, lexicon: dict[str, str], workspace: AgentWorkspace, request: ParsedRequest, consumed: list[str]
) -> list[str]:
    """Resolve named titles to anchors and said titles; return the phrases that were read as titles."""
    read: list[str] = []
    for phrase in title_phrases(text):
        if not _could_be_title(phrase.text, lexicon):
            continue
        for part, resolved in split_titles(phrase, workspace):
            if not _could_be_title(part, lexicon):
                continue
            read.append(part)
            consumed.append(part.lower())
            if resolved.problem:
                request.problems.append(resolved.problem)
            elif resolved.record is not None:
                _note_title(resolved.record.item_id, resolved.record.label, phrase, request)
    return read


def _note_title(item_id: str, label: str, phrase: TitlePhrase, request: ParsedRequest) -> None:
    """A title liked or compared with becomes an anchor; one liked, seen or disliked is remembered."""
    polarity: Polarity | None = phrase.polarity
    if polarity is not None and all(s.item_id != item_id for s in request.said):
        request.said.append(SaidTitle(item_id=item_id, polarity=polarity))
        request.understood.append(f"you {polarity} {label}")
    if polarity in (None, "liked") and item_id not in request.anchors:
        request.anchors.append(item_id)
        if polarity is None:
            request.understood.append(f"like {label}")


def _year_range(lowered: str) -> tuple[int | None, int | None] | None:
    """The first year phrase in ``lowered``, as (earliest, latest); None when there is none."""
    if match := _RANGE.search(lowered):
        low, high = sorted((int(match.group(1)), int(match.group(2))))
        return low, high
    if match := _BEFORE.search(lowered):
        return None, year_of(match.group(1), end=False) - 1
    if match := _AFTER.search(lowered):
        keyword, when = match.group(1), match.group(2)
        # "since 1995" and "since the 90s" include the year or decade; "after" starts past it.
        return (year_of(when, end=False) if keyword == "since" else year_of(when, end=True) + 1), None
    if match := DECADE.search(lowered):
        first = year_of(match.group(0), end=False)
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


def _blank_out(text: str, phrases: list[str]) -> str:
    """``text`` without the title phrases, so "Star Wars" is not read as the genre War."""
    for phrase in sorted(phrases, key=len, reverse=True):
        text = text.replace(phrase.lower(), " ")
    return text


def _could_be_title(phrase: str, lexicon: dict[str, str]) -> bool:
    """A phrase worth looking up: not "#3", not "something funny", not only genre or year words."""
    words = spaced(phrase.lower()).split()
    if not words or phrase.lstrip().startswith("#") or words[0] in FILLER - {"the", "a", "an"}:
        return False
    meaningful = [
        w for w in words if w not in FILLER and w not in lexicon and not DECADE.fullmatch(w) and w not in DECADE_WORDS
    ]
    return bool(meaningful)
