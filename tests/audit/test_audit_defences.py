"""Defences: the perplexity filter on the embedded model, paraphrase and sandwich on both halves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentrec.audit.catalog import Catalog, Product
from agentrec.audit.defences import ParaphraseDefence, PerplexityDefence, SandwichDefence
from agentrec.audit.perplexity import PerplexityScorer, calibrate_threshold
from agentrec.audit.placement import catalog_with_sts
from agentrec.audit.prompt import RecommenderPrompt
from agentrec.audit.recommender import AuditedRecommender
from agentrec.llm.records import Message
from agentrec.llm.scripted import ScriptedChatModel

if TYPE_CHECKING:
    from agentrec.llm.local import LocalChatModel

# Token soup of the kind random search and GCG produce.
GIBBERISH = "rensemicsEntry DameMessagefact pamphletages heads idolat redistributemeasurement carving banner Brass"


def part(catalog: Catalog, start: int, stop: int) -> Catalog:
    products = catalog.products[start:stop]
    return catalog.model_copy(update={"products": products, "name": f"{catalog.name}[{start}:{stop}]"})


def test_perplexity_filter_flags_gibberish_and_reports_false_positives(
    coffee: Catalog, local_model: LocalChatModel
) -> None:
    scorer = PerplexityScorer(local_model)
    clean, other = part(coffee, 0, 4), part(coffee, 4, 8)
    heard: list[tuple[int, int]] = []
    calibration = calibrate_threshold(scorer, [clean, other], progress=lambda done, total: heard.append((done, total)))
    assert heard == [(done, 8) for done in range(1, 9)]
    assert calibration.clean_products == 8
    assert 0.0 <= calibration.false_positive_rate <= 1.0
    assert calibration.threshold == max(v for values in calibration.clean_perplexity.values() for v in values)
    defence = PerplexityDefence(scorer, calibration)
    planted = catalog_with_sts(clean, "FrenchPress Classic", GIBBERISH)
    assert scorer.perplexity(planted.products[0].json_line()) > calibration.threshold
    protected = defence.protect(planted)
    assert protected.products[0].fields == {"Name": "FrenchPress Classic"}  # the flagged text is gone
    assert protected.products[1:] == planted.products[1:]


def test_paraphrase_rewrites_text_fields_once_each_and_keeps_name_and_numbers(coffee: Catalog) -> None:
    def rewrite(messages: list[Message]) -> str:
        return f'"PARAPHRASE of {messages[-1].content.splitlines()[-1][:12]}"\nextra line'

    chat = ScriptedChatModel([rewrite] * 100)
    defence = ParaphraseDefence(chat)
    one = part(coffee, 0, 1)
    protected = defence.protect(one).products[0]
    original = one.products[0]
    assert protected.fields["Name"] == original.fields["Name"] and protected.fields["Rating"] == 4.1
    assert protected.fields["Description"] == "PARAPHRASE of Traditional"
    assert protected.fields["Price"] == "$29" and protected.fields["Capacity"] == "4 cups"  # specs stay
    calls = len(chat.requests)
    defence.protect(one)
    assert len(chat.requests) == calls  # memoised (and the response cache keeps them across runs)


def test_sandwich_changes_only_the_prompt(coffee: Catalog) -> None:
    base = AuditedRecommender(ScriptedChatModel([]), RecommenderPrompt(request="coffee?"))
    defended = SandwichDefence().recommender(base)
    assert defended.prompt.style == "sandwich" and base.prompt.style == "plain"
    assert defended.chat is base.chat
    assert SandwichDefence().protect(coffee) == coffee


def test_flagged_product_keeps_its_place() -> None:
    product = Product(fields={"Name": "X", "Note": "y"})
    assert product.with_field("Note", "z").fields == {"Name": "X", "Note": "z"}
