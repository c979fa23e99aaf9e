"""The recommender's prompt for one product order, cut around the STS, as token ids.

GCG optimises token ids, but the audit evaluates text: the STS is planted by
``StsPlacement`` into a JSON line, the chat is rendered by llama.cpp's chat
template, and llama.cpp tokenises the result. A sequence transfers only if the
text of its tokens, planted and rendered, tokenises back to the same ids. So
the prompt is rendered here by the embedded model's own ``render_prompt``,
with a marker where the STS goes, and every candidate is checked by
re-tokenising the whole prompt (``PromptLayout.consistent``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentrec.audit.catalog import ProductOrder
from agentrec.audit.gcg_model import TorchChatLM
from agentrec.audit.optimizers import StsProblem
from agentrec.core.errors import ConfigError
from agentrec.llm.records import Message

# Letters only: it survives JSON escaping and the placement's strip() unchanged.
STS_MARKER = "QQSTSMARKERQQ"
PromptRenderer = Callable[[list[Message]], str]


@dataclass(frozen=True)
class PromptLayout:
    """prefix | lead + STS | suffix (the rest of the prompt, prefill included) | target continuation.

    ``lead`` is the space the placement puts between the field's text and the
    STS. It belongs to the STS's first token, because the tokenizer attaches a
    space to the word after it.
    """

    order: ProductOrder
    prefix_text: str
    lead: str
    suffix_text: str
    continuation: str
    prefix_ids: tuple[int, ...]
    suffix_ids: tuple[int, ...]
    target_ids: tuple[int, ...]

    def prompt_text(self, sts: str) -> str:
        """The rendered prompt with ``sts`` planted (no continuation)."""
        return f"{self.prefix_text}{self.lead}{sts}{self.suffix_text}"

    def sts_text(self, lm: TorchChatLM, sts_ids: Sequence[int]) -> str | None:
        """The STS whose slot decodes from ``sts_ids``; ``None`` if the lead is missing or it would be stripped."""
        slot = lm.decode(list(sts_ids))
        if not slot.startswith(self.lead):
            return None
        sts = slot[len(self.lead) :]
        return sts if sts and sts == sts.strip() else None

    def expected_ids(self, sts_ids: Sequence[int]) -> list[int]:
        """The token ids of prompt plus continuation when ``sts_ids`` tokenise as themselves."""
        return [*self.prefix_ids, *sts_ids, *self.suffix_ids, *self.target_ids]

    def consistent(self, lm: TorchChatLM, candidates: Sequence[Sequence[int]]) -> list[bool]:
        """For each candidate: does its text, planted and re-tokenised, give back exactly these ids?"""
        texts: list[str | None] = [self.sts_text(lm, ids) for ids in candidates]
        checked = [i for i, text in enumerate(texts) if text is not None]
        full = [f"{self.prompt_text(texts[i] or '')}{self.continuation}" for i in checked]
        verdict = [False] * len(candidates)
        for i, ids in zip(checked, lm.encode_batch(full), strict=True):
            verdict[i] = ids == self.expected_ids(candidates[i])
        return verdict


def build_layout(problem: StsProblem, order: ProductOrder, render: PromptRenderer, lm: TorchChatLM) -> PromptLayout:
    """Render the prompt for ``order`` with a marker for the STS, and cut it into token ids."""
    text = render(problem.messages(order, STS_MARKER))
    if text.count(STS_MARKER) != 1:
        raise ConfigError("gcg could not locate the STS in the rendered prompt (is it paraphrased or dropped?)")
    prefix_text, suffix_text = text.split(STS_MARKER)
    lead = ""
    if prefix_text.endswith(" "):
        prefix_text, lead = prefix_text[:-1], " "
    continuation = problem.recommender.prompt.first_place_text(problem.target)
    # Split suffix and target as LocalChatModel.logprob does: tokens past the shared prefix are the target.
    context_ids = lm.encode(suffix_text)
    full_ids = lm.encode(suffix_text + continuation)
    shared = _common_prefix(context_ids, full_ids)
    if shared == len(full_ids):
        raise ConfigError(f"the continuation {continuation!r} adds no tokens to the prompt")
    return PromptLayout(
        order=order,
        prefix_text=prefix_text,
        lead=lead,
        suffix_text=suffix_text,
        continuation=continuation,
        prefix_ids=tuple(lm.encode(prefix_text)),
        suffix_ids=tuple(full_ids[:shared]),
        target_ids=tuple(full_ids[shared:]),
    )


def initial_sts_ids(layout: PromptLayout, lm: TorchChatLM, initial_sts: str, length: int) -> list[int]:
    """Start ids: ``initial_sts`` if given, else ``length`` words "x" (paper: "! ! !", which merges with '"}')."""
    text = initial_sts.strip() or " ".join(["x"] * length)
    ids = lm.encode(layout.lead + text)
    if not layout.consistent(lm, [ids])[0]:
        raise ConfigError(f"the initial STS {text!r} does not tokenise the same inside the prompt; choose another")
    return ids


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared
