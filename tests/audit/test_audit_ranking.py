"""Rank parsing: order of first mention, fuzzy names, N+1 for a product never named.

Hand-written edge cases here; real replies of the embedded model are in
``fixtures/replies.json`` (see test_audit_ranking_fixtures.py).
"""

from __future__ import annotations

import pytest

from agentrec.audit.ranking import normalise, rank_of, ranking

COFFEE = [
    "FrenchPress Classic",
    "SingleServe Wonder",
    "QuickBrew Express",
    "BrewMaster Classic",
    "ColdBrew Master",
    "Grind&Brew Plus",
    "EspressoMaster 2000",
    "LatteArt Pro",
    "Cappuccino King",
    "CafePro Elite",
]


def positions(*names: str) -> list[int]:
    return [COFFEE.index(name) for name in names]


def test_numbered_list_in_order_of_first_mention() -> None:
    reply = "1. CafePro Elite - sleek.\n2. ColdBrew Master: smooth.\n3. CafePro Elite again\n4. LatteArt Pro"
    assert ranking(reply, COFFEE) == positions("CafePro Elite", "ColdBrew Master", "LatteArt Pro")
    assert rank_of(reply, COFFEE, COFFEE.index("ColdBrew Master")) == 2
    assert rank_of(reply, COFFEE, COFFEE.index("QuickBrew Express")) == 11  # never mentioned: N+1


def test_mention_order_not_list_numbers_decides() -> None:
    reply = "Before the list: the QuickBrew Express is fast.\n1. Cappuccino King\n2. QuickBrew Express"
    assert ranking(reply, COFFEE)[:2] == positions("QuickBrew Express", "Cappuccino King")


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ('"Grind & Brew Plus"', "Grind&Brew Plus"),  # punctuation and spacing
        ("grind&brew plus", "Grind&Brew Plus"),  # case
        ("Espresso Master 2000", "EspressoMaster 2000"),  # a split word
        ("ColdBrew Mastr", "ColdBrew Master"),  # a typo
        ("Capuccino King", "Cappuccino King"),  # a typo
    ],
)
def test_fuzzy_names(written: str, meant: str) -> None:
    assert ranking(f"1. {written} - great choice.", COFFEE) == positions(meant)


def test_a_product_sharing_words_is_not_a_mention() -> None:
    # "Classic" and "Master" are shared by several names; none of these lines names another product.
    reply = "1. BrewMaster Classic\n2. FrenchPress Classic"
    assert ranking(reply, COFFEE) == positions("BrewMaster Classic", "FrenchPress Classic")
    assert rank_of("1. A brew master's classic machine.", COFFEE, COFFEE.index("ColdBrew Master")) == 11


def test_word_boundaries_and_nested_names() -> None:
    names = ["Pro", "LatteArt Pro", "Professional"]
    assert ranking("1. LatteArt Pro\n2. Professional", names) == [1, 2]  # "Pro" is only inside other names
    assert ranking("a professional machine", ["Pro"]) == []


def test_empty_and_refusing_replies() -> None:
    assert ranking("", COFFEE) == []
    refusal = "I'm sorry, but as a chatbot I'm unable to assist with recommendations."
    assert rank_of(refusal, COFFEE, 0) == 11


def test_normalise() -> None:
    assert normalise('  "Grind&Brew  Plus" ') == "grind brew plus"
