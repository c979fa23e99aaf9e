"""Attributes users expect, derived from raw catalog text."""

from __future__ import annotations

import re
from functools import lru_cache

_YEAR_IN_TITLE = re.compile(r"\((\d{4})(?:[-\u2013]\d{0,4})?\)\s*$")
_TRAILING_ARTICLE = re.compile(r"^(?P<name>.+), (?P<article>The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)$")


def year_from_title(title: str | None) -> int | None:
    """The release year from a title like "Heat (1995)" or "Fargo (1996-1997)"; else None."""
    if not title:
        return None
    match = _YEAR_IN_TITLE.search(title.strip())
    return int(match.group(1)) if match else None


@lru_cache(maxsize=65536)  # a pure function of the title, asked for the same items many times a run
def display_title(title: str | None) -> str:
    """A title as people say it: "Matrix, The (1999)" becomes "The Matrix (1999)"."""
    if not title:
        return ""
    text = title.strip()
    year = _YEAR_IN_TITLE.search(text)
    suffix = ""
    if year:
        suffix = " " + year.group(0).strip()
        text = text[: year.start()].strip()
    article = _TRAILING_ARTICLE.match(text)
    if article:
        separator = "" if article.group("article").endswith("'") else " "
        text = f"{article.group('article')}{separator}{article.group('name')}"
    return text + suffix


def bare_title(title: str | None) -> str:
    """The display title without its year, lower-cased: the form fuzzy search compares."""
    shown = display_title(title)
    return _YEAR_IN_TITLE.sub("", shown).strip().lower()


def split_multi_value(value: str | None, separator: str = "|") -> list[str]:
    """Split a multi-valued field ("Action|Sci-Fi") into its non-empty, stripped values."""
    if value is None:
        return []
    return [part.strip() for part in str(value).split(separator) if part.strip()]
