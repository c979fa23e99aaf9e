"""Defences against an STS, each applied to both halves of every paired run.

* ``perplexity``: products whose text, against the rest of their catalog, is
  more perplexing to the embedded model than any clean product's (perplexity
  over the catalog's median; threshold from ``perplexity.py``) are
  neutralised: only their name stays, so a flagged target is still listed
  but its text, and the STS in it, never reaches the recommender.
* ``semantic``: products whose text reads as an instruction to the assistant,
  does not fit the product, or talks about the other candidates
  (``semantic_detectors.py``, thresholds from ``semantic.py``) are neutralised
  the same way.
* ``paraphrase``: the LLM paraphrases every text field of three words or
  more (the name excepted) before ranking; paraphrases are generated once per distinct text and
  cached by the response cache like any other call.
* ``sandwich``: the prompt marks the product list as data between
  delimiters and repeats the request after it (``prompt.py``).

A comma list (``perplexity,semantic``) applies each in turn, to the catalog
and to the recommender: a product any filter flags is neutralised, and a later
part sees the catalog as the earlier ones left it. The filters (perplexity,
semantic, and a list holding one) also say which products they flag
(``FiltersProducts.flags``), for benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeGuard, runtime_checkable

from agentrec.audit.catalog import Catalog
from agentrec.audit.perplexity import PerplexityCalibration, PerplexityScorer
from agentrec.audit.recommender import AuditedRecommender
from agentrec.audit.semantic import SemanticCalibration
from agentrec.audit.semantic_detectors import SemanticScorer
from agentrec.core.errors import ConfigError
from agentrec.llm.records import ChatModel, GenerationSettings, Message

DEFENCES: tuple[str, ...] = ("none", "perplexity", "semantic", "paraphrase", "sandwich")
MIN_PARAPHRASE_WORDS = 3
PARAPHRASE_SYSTEM = "You rewrite short product texts in your own words. Reply with the rewritten text only."


class Defence(Protocol):
    """Turns a catalog and a recommender into their defended versions."""

    name: str

    def protect(self, catalog: Catalog) -> Catalog:
        """The catalog as the defended recommender will see it."""
        ...

    def recommender(self, base: AuditedRecommender) -> AuditedRecommender:
        """The recommender the defence puts in place of ``base``."""
        ...


@runtime_checkable
class FiltersProducts(Protocol):
    """A defence that neutralises the products it flags."""

    def flags(self, catalog: Catalog) -> list[bool]:
        """One flag per product, in catalog order: True where the defence would neutralise it."""
        ...


class NoDefence:
    """Changes nothing."""

    name = "none"

    def protect(self, catalog: Catalog) -> Catalog:
        """The catalog unchanged."""
        return catalog

    def recommender(self, base: AuditedRecommender) -> AuditedRecommender:
        """The recommender unchanged."""
        return base


class SandwichDefence(NoDefence):
    """The delimited prompt that declares product text to be data."""

    name = "sandwich"

    def recommender(self, base: AuditedRecommender) -> AuditedRecommender:
        """``base`` under the sandwich prompt."""
        return base.with_prompt(base.prompt.model_copy(update={"style": "sandwich"}))


class PerplexityDefence(NoDefence):
    """Neutralises products whose JSON line is more perplexing than the calibrated threshold."""

    name = "perplexity"

    def __init__(self, scorer: PerplexityScorer, calibration: PerplexityCalibration) -> None:
        self.scorer = scorer
        self.calibration = calibration

    def scores(self, catalog: Catalog) -> list[float]:
        """Each product's score on the calibration's measure, in catalog order (relative needs the whole catalog)."""
        return self.calibration.scores([self.scorer.perplexity(product.json_line()) for product in catalog.products])

    def flags(self, catalog: Catalog) -> list[bool]:
        """One flag per product, in catalog order: over the threshold."""
        return [score > self.calibration.threshold for score in self.scores(catalog)]

    def protect(self, catalog: Catalog) -> Catalog:
        """Flagged products keep only their name."""
        return neutralise(catalog, self.flags(catalog))


class SemanticDefence(NoDefence):
    """Neutralises products that any semantic detector scores over its calibrated threshold."""

    name = "semantic"

    def __init__(self, scorer: SemanticScorer, calibration: SemanticCalibration) -> None:
        self.scorer = scorer
        self.calibration = calibration

    def scores(self, catalog: Catalog) -> list[dict[str, float]]:
        """Each product's score per detector, in catalog order (the detectors need the whole catalog)."""
        return self.scorer.scores(catalog)

    def flags(self, catalog: Catalog) -> list[bool]:
        """One flag per product, in catalog order."""
        return [self.calibration.flagged(scores) for scores in self.scores(catalog)]

    def protect(self, catalog: Catalog) -> Catalog:
        """Flagged products keep only their name."""
        return neutralise(catalog, self.flags(catalog))


def neutralise(catalog: Catalog, flags: Sequence[bool]) -> Catalog:
    """``catalog`` with each flagged product reduced to its name, in its place."""
    for index, flagged in enumerate(flags):
        if flagged:
            catalog = catalog.replace(index, catalog.products[index].name_only())
    return catalog


class ParaphraseDefence(NoDefence):
    """Replaces every text field of three words or more (not the name) by the LLM's paraphrase of it."""

    name = "paraphrase"

    def __init__(self, chat: ChatModel, max_tokens: int = 64) -> None:
        self.chat = chat
        self.settings = GenerationSettings(temperature=0.0, max_tokens=max_tokens, seed=0)
        self._memo: dict[str, str] = {}

    def paraphrase(self, text: str) -> str:
        """The first non-empty line of the model's paraphrase of ``text`` (empty if it wrote none)."""
        if text not in self._memo:
            messages = [
                Message.system(PARAPHRASE_SYSTEM),
                Message.user(f"Rewrite this product text in your own words, in one short sentence:\n{text}"),
            ]
            reply = self.chat.complete(messages, settings=self.settings).text
            lines = [line.strip().strip('"').strip() for line in reply.splitlines()]
            self._memo[text] = next((line for line in lines if line), "")
        return self._memo[text]

    def protect(self, catalog: Catalog) -> Catalog:
        """Each product with its prose fields paraphrased; the name, numbers and short specs are kept."""
        for index, product in enumerate(catalog.products):
            fields: dict[str, Any] = {
                key: self.paraphrase(value) if key != product.name_field and _is_prose(value) else value
                for key, value in product.fields.items()
            }
            catalog = catalog.replace(index, product.with_fields(fields))
        return catalog


def _is_prose(value: object) -> TypeGuard[str]:
    # Specs such as "4 cups" or "$29" carry no instructions and a small model only garbles them;
    # an STS makes any field it sits in long enough to be paraphrased.
    return isinstance(value, str) and len(value.split()) >= MIN_PARAPHRASE_WORDS


class CombinedDefence(NoDefence):
    """Several defences applied in turn, named by their comma list."""

    def __init__(self, parts: Sequence[Defence]) -> None:
        self.parts = list(parts)
        self.name = ",".join(part.name for part in self.parts)

    def protect(self, catalog: Catalog) -> Catalog:
        """The catalog as each part in turn leaves it."""
        for part in self.parts:
            catalog = part.protect(catalog)
        return catalog

    def recommender(self, base: AuditedRecommender) -> AuditedRecommender:
        """``base`` as each part in turn changes it."""
        for part in self.parts:
            base = part.recommender(base)
        return base

    def flags(self, catalog: Catalog) -> list[bool]:
        """Products any filtering part flags, each part judging the catalog as the parts before it left it."""
        flagged = [False] * len(catalog.products)
        filters = [isinstance(part, FiltersProducts) for part in self.parts]
        last = max((i for i, is_filter in enumerate(filters) if is_filter), default=-1)
        # Parts after the last filter cannot change a flag, and a paraphrase costs LLM calls.
        for part in self.parts[: last + 1]:
            if isinstance(part, FiltersProducts):
                flagged = [before or now for before, now in zip(flagged, part.flags(catalog), strict=True)]
            catalog = part.protect(catalog)
        return flagged


def defence_parts(name: str) -> list[str]:
    """The defences a name lists (``"perplexity,semantic"``), checked; ``ConfigError`` names a bad part."""
    parts = [part.strip() for part in name.split(",")]
    choices = ", ".join(DEFENCES)
    for part in parts:
        if not part:
            raise ConfigError(f"empty part in defence list {name!r}; give names such as perplexity,semantic")
        if part not in DEFENCES:
            raise ConfigError(f"unknown defence {part!r} in {name!r}; choose one of {choices}, or a comma list")
        if parts.count(part) > 1:
            raise ConfigError(f"defence {part!r} is listed twice in {name!r}")
    if len(parts) > 1 and "none" in parts:
        raise ConfigError(f"defence 'none' cannot be combined with others in {name!r}")
    return parts


def check_defence_name(name: str) -> str:
    """``name`` without spaces if it is a known defence or a comma list of them; ``ConfigError`` otherwise."""
    return ",".join(defence_parts(name))
