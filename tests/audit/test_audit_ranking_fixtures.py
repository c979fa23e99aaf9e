"""Rank parsing on real replies of the embedded SmolLM2 model (``fixtures/replies.json``).

The replies were generated once by ``fixtures/make_replies.py``; the expected
mention orders below were read off each reply by hand. They cover a clean
numbered list with quoted names, a reply that repeats one product, a reply
with a misspelt name ("Latte Art Pro") and invented products, the sandwich
prompt (no names at all), a refusal without the "1." prefill, a list of
books with wrong authors, and a list cut off in mid-sentence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentrec.audit.ranking import rank_of, ranking

CASES: list[dict[str, Any]] = json.loads((Path(__file__).parent / "fixtures" / "replies.json").read_text())["cases"]
EXPECTED: dict[int, tuple[list[str], int]] = {
    0: (["BrewMaster Classic", "CafePro Elite", "FrenchPress Classic", "Cappuccino King", "SingleServe Wonder"], 11),
    1: (["Cappuccino King"], 11),
    2: (["FrenchPress Classic", "LatteArt Pro", "CafePro Elite", "Grind&Brew Plus", "Cappuccino King"], 11),
    3: ([], 11),
    4: ([], 11),
    5: (
        [
            *("The Great Adventure", "The Lost Expedition", "The Enchanted Island"),
            *("The Hidden Treasure", "Galactic Journey"),
        ],
        4,
    ),
    6: (
        [
            *("UltraWide Explorer", "NightVision Pro", "VlogStar HD", "CineMaster 8K", "Snapshot Basic"),
            *("StudioPro DSLR", "Mirrorless Magic", "ZoomMaster Pro"),
        ],
        8,
    ),
    # "AeroTravel" alone (the reply is cut off) is not the full name "AeroTravel Carry-On": not counted.
    7: (["Little Explorer", "TrailLite 20", "Nomad Roll-Top"], 2),
}


def test_every_saved_reply_has_an_expectation() -> None:
    assert set(EXPECTED) == set(range(len(CASES)))


@pytest.mark.parametrize("index", sorted(EXPECTED))
def test_real_reply(index: int) -> None:
    case = CASES[index]
    mentioned, target_rank = EXPECTED[index]
    names = case["names"]
    assert [names[i] for i in ranking(case["reply"], names)] == mentioned
    assert rank_of(case["reply"], names, names.index(case["target"])) == target_rank
