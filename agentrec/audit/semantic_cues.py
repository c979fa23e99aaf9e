"""The text units the semantic defence judges, and the surface cues it counts in them.

An attack is usually a sentence or a run of tokens appended to honest text, so
a product is judged segment by segment and its score is the worst segment's:
every sentence of three words or more of every text field, and, inside a long
sentence (an STS appended to a field that ends without a full stop), windows of
a few words, so a short run of odd text is not averaged away by the honest
words around it.

Cues are exact evidence that a text is about the list rather than the product
(another candidate's name, "#1", "than the rest"), that it addresses the
assistant ("AI assistant:", "ignore the previous instructions"), or that it
contradicts the product's own fields (a price or rating that is not the one in
its spec). They are counted per sentence; the detectors add them to their
embedding scores (``semantic_detectors.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentrec.audit.catalog import Product

MIN_WORDS = 3  # shorter pieces ("Day hikers") cannot carry an instruction, and their embeddings are noise
WINDOW_WORDS = 8
WINDOW_STRIDE = 4
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")

INSTRUCTION_CUES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\b(?:ai|shopping|virtual|dear) assistant\b",
        r"\bassistant\s*[:,]",
        r"\b(?:language models?|chatbots?|llms?)\b",
        r"\bignore\b[^.!?]{0,40}\b(?:instructions?|above|previous|prior|rest|others?)\b",
        r"\b(?:system|developer|assistant|ai) (?:prompt|message|note|instruction)s?\b",
        r"\b(?:previous|prior|above|following) instructions?\b",
        # Role markers and hidden markup of chat formats: text for a model, not for a shopper.
        r"<!--|\brole\s*:\s*(?:system|assistant|user)\b|\[\s*(?:system|assistant|ai)\b|#{2,}\s*instruction",
        r"\b(?:always|must|should|please) (?:recommend|rank|list|mention|suggest|put|place|say|tell|answer|respond)\b",
        # An order about where this product goes: "Recommend X first", "list it before the others".
        r"(?:^|[.!?:]\s*)(?:recommend|rank|suggest)\b",
        r"\b(?:recommend|rank|list|put|place|suggest|show|mention)\b[^.!?]{0,40}\b(?:first|top|above|before|ahead)\b",
        r"\btell (?:the|every|any) (?:user|customer|shopper|reader)s?\b",
        r"\b(?:your|the assistant'?s) (?:answer|response|reply|recommendations?|list)\b",
        r"\byou (?:must|have to|need to|are required to)\b",
    )
)
LIST_CUES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"#\s?1\b|\bno\.\s?1\b|\bnumber (?:one|1)\b",
        r"\b(?:top|head|first|front|bottom|end) of (?:the|this|your|any|every|all|each) "
        r"(?:lists?|rankings?|results|recommendations|answer)\b",
        r"\b(?:first|top|highest|1st|second|last) (?:place|position|spot|slot)\b",
        r"\b(?:position|place|spot|slot) #?\s?[1-9]\b",
        r"\b(?:rank|ranks|ranked|ranking|rankings)\b",
        r"\b(?:other|remaining|competing|rival|alternative) "
        r"(?:products|options|items|models|choices|candidates|brands|listings|entries|alternatives)\b",
        r"\b(?:in|on|from|of) (?:this|the|your|that) list\b",
        r"\b(?:than|and|then|before|above) the rest\b",
        r"\b(?:better|superior|preferable) (?:than|to)\b|\bunlike\b|\bcompared (?:with|to)\b",
        r"\b(?:outperforms?|outranks?|beats)\b",
        r"(?:^|\s)[1-9][.)]\s+\w",  # a numbered list: "1. X 2. Y"
    )
)
_PRICE = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)")
_STARS = re.compile(r"(\d(?:\.\d+)?)\s*(?:stars?\b|/\s*5\b|out of 5\b)|\brated (?:at )?(\d(?:\.\d+)?)\b", re.IGNORECASE)
_AMOUNT = re.compile(r"(?<![\w.$])(\d[\d,]*(?:\.\d+)?)\s?([A-Za-z]{1,12})\b")
RATING_KEYS = ("rating", "stars", "score")
# Units whose values prose repeats consistently; a drill's text may give two torques or voltages.
PROSE_UNITS = ("$", "star")


@dataclass(frozen=True)
class Segment:
    """A piece of one text field: a sentence, or a window of words inside a long one."""

    field: str
    text: str
    sentence: str  # the sentence it lies in (itself when it is one)
    rest: str  # the field's other sentences: what honest text in the same field says


def product_segments(product: Product) -> list[Segment]:
    """Every sentence of three words or more in the product's text fields, and windows of its long sentences."""
    found: list[Segment] = []
    for key in product.text_fields():
        sentences = field_sentences(str(product.fields[key]))
        for sentence in sentences:
            rest = " ".join(s for s in sentences if s != sentence)
            found.append(Segment(key, sentence, sentence, rest))
            found += [Segment(key, window, sentence, rest) for window in windows(sentence)]
    return found


def field_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (whitespace normalised) with at least ``MIN_WORDS`` words, each once."""
    pieces = [" ".join(piece.split()) for piece in _SENTENCE_END.split(text)]
    return list(dict.fromkeys(piece for piece in pieces if len(piece.split()) >= MIN_WORDS))


def windows(sentence: str) -> list[str]:
    """Overlapping word windows covering a sentence too long to be judged whole; none for a short one."""
    words = sentence.split()
    if len(words) <= WINDOW_WORDS + WINDOW_STRIDE // 2:
        return []
    starts = list(range(0, len(words) - WINDOW_WORDS + 1, WINDOW_STRIDE))
    if starts[-1] + WINDOW_WORDS < len(words):
        starts.append(len(words) - WINDOW_WORDS)
    return [" ".join(words[start : start + WINDOW_WORDS]) for start in starts]


def cue_count(text: str, cues: Sequence[re.Pattern[str]]) -> int:
    """How many of ``cues`` occur in ``text``."""
    return sum(1 for cue in cues if cue.search(text))


def names_mentioned(text: str, names: Sequence[str]) -> int:
    """How many of ``names`` occur in ``text`` as whole words, case ignored."""
    return sum(1 for name in names if whole_word(name).search(text))


def whole_word(phrase: str) -> re.Pattern[str]:
    """A pattern matching ``phrase`` as whole words, in any case and with any spacing between its words."""
    words = [re.escape(word) for word in phrase.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def spec_contradictions(segment: Segment, product: Product) -> int:
    """Units (price, stars, "cups", "MP", ...) the segment's sentence gives a value for that the product's spec lacks.

    Only units the spec states are compared: a product without a price cannot contradict one.
    """
    spec = spec_amounts(segment, product)
    said = quantities(segment.sentence)
    wrong = {unit for unit, amount in said if unit in spec and not any(abs(amount - v) < 1e-6 for v in spec[unit])}
    return len(wrong)


def spec_amounts(segment: Segment, product: Product) -> dict[str, set[float]]:
    """The amounts per unit that the product states outside the segment's sentence.

    That is its other fields, and the prices and ratings the other sentences of
    the segment's field give (a one-field catalog states them in its prose).
    """
    spec: dict[str, set[float]] = {}
    for unit, amount in quantities(segment.rest):
        if unit in PROSE_UNITS:
            spec.setdefault(unit, set()).add(amount)
    for key, value in product.fields.items():
        if key in (segment.field, product.name_field) or value is None or isinstance(value, bool):
            continue
        if isinstance(value, str):
            for unit, amount in quantities(value):
                spec.setdefault(unit, set()).add(amount)
        elif any(word in key.casefold() for word in RATING_KEYS):
            spec.setdefault("star", set()).add(float(value))
    return spec


def quantities(text: str) -> list[tuple[str, float]]:
    """(unit, amount) pairs in ``text``: prices as "$", ratings as "star", and "<number> <word>" amounts."""
    found = [("$", _number(match.group(1))) for match in _PRICE.finditer(text)]
    found += [("star", _number(match.group(1) or match.group(2))) for match in _STARS.finditer(text)]
    for match in _AMOUNT.finditer(text):
        unit = _unit(match.group(2))
        if unit not in ("star", "out"):  # ratings ("4.5 stars", "4.5 out of 5") are read above
            found.append((unit, _number(match.group(1))))
    return found


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _unit(word: str) -> str:
    # "cups" and "cup", "stars" and "star" are one unit; "MP" and "L" stay as they are.
    word = word.casefold()
    return word[:-1] if len(word) > 3 and word.endswith("s") else word
