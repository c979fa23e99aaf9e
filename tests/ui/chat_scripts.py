"""Twenty scripted conversations on ml-100k, with what each turn must and must not show.

Each turn is what a person types and what a person would check in the answer:

* ``said``: titles the person said they loved, saw or hated (never listed from then on);
* ``compared``: titles named only as a comparison ("like Alien"), not listed in that turn;
* ``no``: genres ruled out from then on (until ``clear``); ``only``: a list of genres, one of
  which every item has from then on (until ``clear``); ``within``: the same for this turn only;
* ``years``: (earliest, latest) from then on, either may be None (``clear_years`` drops it);
* ``no_sequels``: from then on no title reads as a sequel;
* ``keeping``: words the turn's answer must hold (its status line "keeping: ...", or a note).

A slash command ``/seen N`` or ``/dislike N ...`` forbids the item at N of the last list from
then on; ``/dislike N because too old`` also sets the earliest year to that item's year + 1.
``bench/chat_trust.py --parts scripts`` plays the same conversations with the LLM's tool step on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Turn = dict[str, Any]

FAMILY_OUT = ["Horror", "War", "Crime", "Thriller", "Film-Noir"]

SCRIPTS: list[list[Turn]] = [
    [
        {"say": "I loved Toy Story and Aladdin. Something funny for a family evening, only 90s",
         "said": ["Toy Story (1995)", "Aladdin (1992)"], "no": FAMILY_OUT, "years": (1990, 1999),
         "keeping": ["for family"]},
        {"say": "no musicals please, something newer", "no": ["Musical"], "keeping": ["no Horror", "Musical"]},
        {"say": "something like Alien but funnier", "compared": ["Alien (1979)"], "within": ["Comedy"]},
    ],
    [
        {"say": "I've seen Star Wars and Fargo. Something from the 80s", "said": ["Star Wars (1977)", "Fargo (1996)"],
         "years": (1980, 1989)},
        {"say": "no action", "no": ["Action"], "keeping": ["1980-1989"]},
    ],
    [
        {"say": "I hated Grease. Something romantic", "said": ["Grease (1978)"]},
        {"say": "only 90s", "years": (1990, 1999)},
        {"say": "/seen 1"},
        {"say": "more like #2"},
    ],
    [
        {"say": "something like The Godfather but funnier", "compared": ["The Godfather (1972)"], "within": ["Comedy"]},
        {"say": "no comedies", "no": ["Comedy"]},
    ],
    [
        {"say": "I watched Star Wars, The Empire Strikes Back and Return of the Jedi, no sequels",
         "said": ["Star Wars (1977)", "The Empire Strikes Back (1980)", "Return of the Jedi (1983)"],
         "no_sequels": True, "keeping": ["no sequel"]},
        {"say": "something with adventure", "keeping": ["no sequel"]},
    ],
    [
        {"say": "only horror", "only": ["Horror"]},
        {"say": "I saw Scream and Alien", "said": ["Scream (1996)", "Alien (1979)"]},
        {"say": "before 1990", "years": (None, 1989)},
    ],
    [
        {"say": "something for the kids", "no": FAMILY_OUT, "keeping": ["for family"]},
        {"say": "I loved The Lion King", "said": ["The Lion King (1994)"]},
    ],
    [
        {"say": "no drama, no war", "no": ["Drama", "War"]},
        {"say": "like Schindler's List", "compared": ["Schindler's List (1993)"], "keeping": ["no Drama, War"]},
    ],
    [
        {"say": "I have seen Pulp Fiction, Reservoir Dogs and Heat",
         "said": ["Pulp Fiction (1994)", "Reservoir Dogs (1992)", "Heat (1995)"]},
        {"say": "crime please"},
        {"say": "/dislike 1 because too old"},
    ],
    [
        {"say": "only sci-fi from the 90s", "only": ["Sci-Fi"], "years": (1990, 1999)},
        {"say": "I loved Independence Day and Twelve Monkeys",
         "said": ["Independence Day (ID4) (1996)", "Twelve Monkeys (1995)"]},
    ],
    [
        {"say": "recommend me something"},
        {"say": "no"},
        {"say": "something else"},
    ],
    [
        {"say": "something funny"},
        {"say": "/dislike 2 because too old"},
        {"say": "more comedies"},
    ],
    [
        {"say": "like Fargo but scarier", "compared": ["Fargo (1996)"], "within": ["Horror"]},
        {"say": "I've seen Scream", "said": ["Scream (1996)"]},
    ],
    [
        {"say": "something like Babe, no children's films", "compared": ["Babe (1995)"], "no": ["Children's"]},
        {"say": "only 90s", "years": (1990, 1999)},
    ],
    [
        {"say": "I hated Titanic and The English Patient. something romantic but not a drama",
         "said": ["Titanic (1997)", "The English Patient (1996)"], "no": ["Drama"]},
        {"say": "after 1990", "years": (1991, None)},
    ],
    [
        {"say": "comedies from the 70s", "years": (1970, 1979)},
        {"say": "I saw Annie Hall", "said": ["Annie Hall (1977)"]},
        {"say": "any year", "clear_years": True},
    ],
    [
        {"say": "I loved Three Colors. only westerns", "only": ["Western"],
         "keeping": ["could be several titles", "Three Colors: Red (1994)"]},  # ambiguous: asked, not guessed
        {"say": "I've seen Unforgiven and Dances with Wolves",
         "said": ["Unforgiven (1992)", "Dances with Wolves (1990)"]},
    ],
    [
        {"say": "less violent please", "no": ["War", "Horror", "Crime", "Action", "Thriller"]},
        {"say": "like Die Hard", "compared": ["Die Hard (1988)"]},
    ],
    [
        {"say": "something like Star Wars but funnier, only 80s", "compared": ["Star Wars (1977)"],
         "within": ["Comedy"], "years": (1980, 1989)},
        {"say": "/seen 3"},
        {"say": "something else"},
    ],
    [
        {"say": "I loved Casablanca and Citizen Kane. no war", "said": ["Casablanca (1942)", "Citizen Kane (1941)"],
         "no": ["War"]},
        {"say": "any genre", "clear": True},
        {"say": "only thrillers", "only": ["Thriller"]},
    ],
]  # fmt: skip


# The test's own idea of a sequel's title, apart from the pack's pattern it checks.
SEQUEL = re.compile(
    r"\b(?:II|III|IV|VI|[2-6])\b(?!\d)|\bPart \w+|Returns|Strikes Back|Return of|Wrath of|Search for|Voyage Home"
    r"|Final Frontier|Undiscovered Country|Next Generation|Bride of|Son of|Revenge of",
)
YEAR = re.compile(r"\((\d{4})\)\s*$")


@dataclass(frozen=True)
class Listed:
    """One numbered line of an answer, as the person sees it."""

    title: str
    genres: tuple[str, ...]

    @property
    def year(self) -> int | None:
        match = YEAR.search(self.title)
        return int(match.group(1)) if match else None


@dataclass
class ScriptState:
    """What the person has said so far, and what a list must therefore not hold."""

    said: set[str] = field(default_factory=set)
    no: set[str] = field(default_factory=set)
    only: list[str] = field(default_factory=list)
    years: tuple[int | None, int | None] = (None, None)
    no_sequels: bool = False
    last: list[Listed] = field(default_factory=list)

    def before(self, turn: Turn) -> None:
        """Take a turn's expectations in before its answer is checked."""
        if turn.get("clear"):
            self.no, self.only = set(), []
        if turn.get("clear_years"):
            self.years = (None, None)
        self.said |= set(turn.get("said", []))
        self.no |= set(turn.get("no", []))
        self.only = list(turn.get("only", self.only))
        if "years" in turn:
            self.years = turn["years"]
        self.no_sequels = self.no_sequels or bool(turn.get("no_sequels"))
        command = re.match(r"/(seen|dislike) (\d+)( because too old)?", turn["say"])
        if command and self.last:
            item = self.last[int(command.group(2)) - 1]
            self.said.add(item.title)
            if command.group(3) and item.year is not None:
                self.years = (item.year + 1, self.years[1])

    def violations(self, turn: Turn, listed: list[Listed]) -> list[str]:
        """Everything in ``listed`` the person was promised would not be there."""
        found = []
        for item in listed:
            if item.title in self.said or item.title in turn.get("compared", []):
                found.append(f"{item.title}: the person named it")
            if self.no & set(item.genres):
                found.append(f"{item.title}: has {sorted(self.no & set(item.genres))}")
            for wanted in (self.only, turn.get("within", [])):
                if wanted and not set(wanted) & set(item.genres):
                    found.append(f"{item.title}: none of {wanted}")
            low, high = self.years
            if (low is not None or high is not None) and item.year is None:
                found.append(f"{item.title}: no year, but years were limited")
            elif item.year is not None and (
                (low is not None and item.year < low) or (high is not None and item.year > high)
            ):
                found.append(f"{item.title}: outside {self.years}")
            if self.no_sequels and SEQUEL.search(YEAR.sub("", item.title)):
                found.append(f"{item.title}: a sequel")
        return found


# ----- replies, checked against the catalog by the tests' own rules -------------------------------
ML_GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
GENRE_WORDS = {g.lower().replace("-", " "): g for g in ML_GENRES} | {
    "comedies": "Comedy", "comedic": "Comedy", "funny": "Comedy", "scary": "Horror", "romantic": "Romance",
    "animated": "Animation", "sci fi": "Sci-Fi", "science fiction": "Sci-Fi", "thrillers": "Thriller",
    "dramas": "Drama", "westerns": "Western", "musicals": "Musical", "cartoon": "Animation", "kids": "Children's",
}  # fmt: skip
_ENDS = re.compile(r"(?<=[.!?])(?<!\b[A-Z]\.)(?<!\bDr\.)(?<!\bMr\.)(?<!\bSt\.)(?<!\bvs\.)\s+(?!\()")
_DENIED = re.compile(r"\b(?:no|not|without|never|isn't|aren't)\b(?:\s+\w+){0,2}\s*$")


class Titled(Protocol):
    title: str
    genres: Any  # a sequence of genre names

    @property
    def year(self) -> int | None: ...


def sentences(reply: str) -> list[str]:
    return [s for s in _ENDS.split(" ".join(reply.split())) if s]


def contradiction(sentence: str, items: Sequence[Titled]) -> str | None:
    """A genre, year or decade in ``sentence`` that the items it is about do not have.

    The sentence is about the listed items whose titles it contains, else the first three.
    """
    text = sentence.lower().replace("-", " ")
    named = [i for i in items if _bare(i.title) in text]
    about = named or list(items[:3])
    for item in named:
        text = text.replace(_bare(item.title), " ")
    for word, genre in GENRE_WORDS.items():
        for match in re.finditer(rf"\b{re.escape(word)}\b", text):
            denied = bool(_DENIED.search(text[: match.start()]))
            wrong = [i.title for i in about if (genre in i.genres) == denied]
            if wrong:
                return f"{wrong[0]} {'has' if denied else 'lacks'} {genre}"
    for match in re.finditer(r"(?<!\d)(19\d\d|20[0-2]\d)(?!\d)(s?)", text):
        year = int(match.group(1))
        years = [i.year for i in about]
        if match.group(2) and any(y is None or not year <= y <= year + 9 for y in years):
            return f"not all from the {year}s"
        if not match.group(2) and year not in years:
            return f"none from {year}"
    return None


def _bare(title: str) -> str:
    return YEAR.sub("", title).strip().lower().replace("-", " ")
