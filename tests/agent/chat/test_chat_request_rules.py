"""The chat's rule layer: what it reads from a message, on the planted catalog's genres and titles."""

from __future__ import annotations

from typing import Any

import pytest

from agentrec.agent.chat.constraints import Constraints
from agentrec.agent.chat.request_rules import RequestContext, normalise_message, parse_request
from agentrec.agent.workspace import AgentWorkspace

LAST = ["c1", "h2", "c5"]
CASES: list[tuple[str, dict[str, Any]]] = [
    ("no horror", {"exclude_genres": ["Horror"]}),
    ("nothing too scary please", {"exclude_genres": ["Horror"]}),
    ("I don't like horror films", {"exclude_genres": ["Horror"]}),
    ("only comedies", {"genres": ["Comedy"]}),
    ("comedy only", {"genres": ["Comedy"]}),
    ("something funny", {"wanted_genres": ["Comedy"]}),
    ("only 90s", {"year_min": 1990, "year_max": 1999}),
    ("films from the '80s", {"year_min": 1980, "year_max": 1989}),
    ("1990s thrillers", {"year_min": 1990, "year_max": 1999, "wanted_genres": ["Thriller"]}),
    ("something from the nineties", {"year_min": 1990, "year_max": 1999}),
    ("before 1985", {"year_max": 1984}),
    ("after 1985", {"year_min": 1986}),
    ("since the 80s", {"year_min": 1980}),
    ("between 1988 and 1982", {"year_min": 1982, "year_max": 1988}),
    ("like Comedy Film 3 but scarier", {"anchors": ["c3"], "wanted_genres": ["Horror"]}),
    ("similar to Comedy Film 3 and Horror Film 2", {"anchors": ["c3", "h2"]}),
    ('"Lonely Drama"', {"anchors": ["d0"]}),
    ("more like #2", {"anchors": ["h2"]}),
    ("more like number 3, no thrillers", {"anchors": ["c5"], "exclude_genres": ["Thriller"]}),
    ("more", {"wants_more": True}),
    ("something else", {"wants_more": True}),
    ("I'd like something funny", {"wanted_genres": ["Comedy"], "anchors": []}),
]


def parsed(message: str, workspace: AgentWorkspace, previous: Constraints | None = None) -> dict[str, Any]:
    request = parse_request(message, workspace, RequestContext(previous or Constraints(), tuple(LAST)))
    return {**request.constraints.model_dump(), **request.model_dump(exclude={"constraints"})}


@pytest.mark.parametrize(("message", "expected"), CASES)
def test_what_the_rules_read(message: str, expected: dict[str, Any], workspace: AgentWorkspace) -> None:
    result = parsed(message, workspace)
    for key, value in expected.items():
        assert result[key] == value, (message, key, result)
    assert not result["problems"], result["problems"]


def test_a_title_is_not_read_as_its_genre_words(workspace: AgentWorkspace) -> None:
    result = parsed("more like Horror Film 7", workspace)
    assert result["anchors"] == ["h7"] and result["wanted_genres"] == [] and not result["search_text"]


def test_constraints_carry_over_and_can_be_dropped(workspace: AgentWorkspace) -> None:
    previous = Constraints(genres=["Comedy"], exclude_genres=["Horror"], year_min=1980, year_max=1989)
    assert parsed("and no thrillers", workspace, previous)["exclude_genres"] == ["Horror", "Thriller"]
    horror = parsed("ok, horror only", workspace, previous)
    assert horror["genres"] == ["Horror"] and horror["exclude_genres"] == []
    cleared = parsed("any genre, any year", workspace, previous)
    assert Constraints.model_validate(cleared).is_empty()
    assert previous.exclude_genres == ["Horror"]  # the session's own record is not changed


def test_problems_are_reported_with_suggestions(workspace: AgentWorkspace) -> None:
    request = parse_request("something like Comedy Flim 3x and #7", workspace, RequestContext(last_items=tuple(LAST)))
    assert any("#1 to #3, not #7" in problem for problem in request.problems)
    unknown = parse_request("like Zyzzyva Quux", workspace)
    assert unknown.problems and "did you mean" in unknown.problems[0]
    assert parse_request("#2", workspace).problems == [
        "there is no list yet, so #2 means nothing; ask for something first"
    ]


def test_messages_are_normalised_to_one_line() -> None:
    assert normalise_message("  no\nhorror\r\n\tplease\x00 ") == "no horror please"
    assert normalise_message("\u202e\u200b") == ""
    full_width = "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in "no horror")
    assert normalise_message(full_width) == "no horror"  # NFKC folds full-width letters
