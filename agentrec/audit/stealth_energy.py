"""The tensor work of ``stealth``: an energy on soft STS tokens, and guided decoding back to token ids.

A soft STS is one logit vector per position (length x vocabulary). Its
softmax, over the tokens the STS may use (``TokenFilter``), is a distribution
per position; the model reads the matching mixture of embedding rows. The
energy has three terms, each a plain number a caller weighs:

* ranking: -log P("1. <target>") after the prompt with the soft STS planted,
  the quantity gcg minimises (equal to it for one-hot distributions);
* fluency: the language model's expected negative log-likelihood of the soft
  tokens, nats per token: at each position, the cross-entropy of the soft
  distribution under the model's next-token distribution given the product
  text before it and the soft tokens so far;
* repetition: the expected number of repeated n-grams, a pair of positions
  counting the chance that their n-grams are the same tokens.

Ranking and fluency come from one forward pass per product order: the STS
positions and the target positions are the only ones sent through the
output layer. Decoding is guided by the model, as in COLD decoding: left to
right, among the model's top-k next tokens after the decoded prefix, the one
the soft logits favour, so the text stays what the model would plausibly write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from agentrec.audit.gcg_model import TorchChatLM
from agentrec.audit.gcg_prompt import PromptLayout
from agentrec.audit.gcg_torch import (
    PrefixState,
    cached_logits,
    fresh_cache,
    prefix_state_and_next_logits,
    target_nll,
)


@dataclass(frozen=True)
class OrderContext:
    """One product order prepared for the energy: the prompt's cut, its prefix cache, and what the prefix predicts."""

    layout: PromptLayout
    state: PrefixState
    next_logits: torch.Tensor  # vocabulary-long: the model's logits for the STS's first token


def prepare_order(lm: TorchChatLM, layout: PromptLayout) -> OrderContext:
    """Run the prompt up to the STS once for ``layout``."""
    state, next_logits = prefix_state_and_next_logits(lm, layout)
    return OrderContext(layout=layout, state=state, next_logits=next_logits)


@dataclass(frozen=True)
class EnergyTerms:
    """The three energy terms as floats (see the module docstring for their units)."""

    ranking: float
    fluency: float
    repetition: float

    def total(self, fluency_weight: float, repetition_weight: float) -> float:
        """The weighted energy the Langevin steps descend."""
        return self.ranking + fluency_weight * self.fluency + repetition_weight * self.repetition


def soft_distribution(soft_logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Per position, the softmax of ``soft_logits`` over the ``allowed`` tokens (the others get 0)."""
    return torch.softmax(soft_logits.masked_fill(~allowed, float("-inf")), dim=-1)


def order_energy(lm: TorchChatLM, context: OrderContext, probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ranking and fluency terms of the soft STS ``probs`` (length x vocabulary) on one order, differentiable."""
    layout, weights = context.layout, lm.embedding_matrix
    length, target_length = probs.shape[0], len(layout.target_ids)
    rest = weights[torch.tensor([*layout.suffix_ids, *layout.target_ids])]
    embeds = torch.cat([probs @ weights, rest]).unsqueeze(0)
    total = embeds.shape[1]
    # Position i predicts token i + 1: the first length - 1 predict the STS's tokens after its first,
    # the target_length before the last predict the target.
    keep = torch.cat([torch.arange(length - 1), torch.arange(total - target_length - 1, total - 1)])
    logits = cached_logits(lm, context.state, keep, inputs_embeds=embeds)[0]
    ranking = target_nll(logits[length - 1 :].unsqueeze(0), layout.target_ids)[0]
    predicted = torch.cat([context.next_logits.unsqueeze(0), logits[: length - 1]])
    fluency = -(probs * torch.log_softmax(predicted.float(), dim=-1)).sum(dim=-1).mean()
    return ranking, fluency


def repetition_penalty(probs: torch.Tensor, ngram: int) -> torch.Tensor:
    """The expected number of pairs of positions whose ``ngram``-grams are the same tokens.

    Positions are treated as independent, so two soft tokens match with probability ``p_s . p_t``;
    for one-hot rows this counts the repeated n-gram pairs exactly.
    """
    windows = probs.shape[0] - ngram + 1
    if windows < 2:
        return probs.sum() * 0.0  # keeps the graph: a zero with a gradient
    overlap = probs @ probs.T
    match = torch.ones(windows, windows, dtype=probs.dtype)
    for shift in range(ngram):
        match = match * overlap[shift : shift + windows, shift : shift + windows]
    return match.triu(diagonal=1).sum()


def energy_and_gradient(
    lm: TorchChatLM,
    contexts: list[OrderContext],
    soft_logits: torch.Tensor,
    allowed: torch.Tensor,
    weights: tuple[float, float],
    ngram: int,
) -> tuple[EnergyTerms, torch.Tensor]:
    """The energy terms (ranking and fluency averaged over ``contexts``) and the weighted energy's gradient.

    The gradient is taken on the soft distributions, not on the logits (length x vocabulary): a
    softmax passes almost no gradient to tokens without mass, while this one scores every token,
    as gcg's one-hot gradient does. Subtracting it from the logits is a mirror-descent step on the
    distributions. ``weights`` are (fluency, repetition). One backward pass per order keeps one
    graph in memory at a time.
    """
    fluency_weight, repetition_weight = weights
    probs = soft_distribution(soft_logits.detach(), allowed).requires_grad_(True)
    ranking_sum = fluency_sum = 0.0
    for context in contexts:
        ranking, fluency = order_energy(lm, context, probs)
        ((ranking + fluency_weight * fluency) / len(contexts)).backward()  # type: ignore[no-untyped-call]
        ranking_sum, fluency_sum = ranking_sum + float(ranking.detach()), fluency_sum + float(fluency.detach())
    repetition = repetition_penalty(probs, ngram)
    (repetition_weight * repetition).backward()  # type: ignore[no-untyped-call]
    grad = probs.grad
    assert grad is not None  # the ranking term always depends on the soft tokens
    terms = EnergyTerms(ranking_sum / len(contexts), fluency_sum / len(contexts), float(repetition.detach()))
    return terms, grad


def langevin_step(
    soft_logits: torch.Tensor,
    grad: torch.Tensor,
    allowed: torch.Tensor,
    schedule: tuple[float, float, int],
    generator: torch.Generator,
) -> torch.Tensor:
    """Soft logits after one Langevin step: the gradient, standardised per position, plus Gaussian noise.

    ``schedule`` is (step size, noise standard deviation, top-k). Only the ``top_k`` tokens a
    position favours can be decoded, so the gradient is standardised by its spread over them: a
    step moves those candidates against each other by about ``step size`` logits, whatever the
    position's gradient scale (the first tokens after the product text move the ranking by orders
    of magnitude more than the last).
    """
    step_size, noise, top_k = schedule
    plausible = soft_logits.masked_fill(~allowed, float("-inf")).topk(top_k, dim=1).indices
    candidates = grad.gather(1, plausible)
    mean = candidates.mean(dim=1, keepdim=True)
    spread = candidates.std(dim=1, keepdim=True) if top_k > 1 else torch.ones_like(mean)
    step = (grad - mean) / spread.clamp_min(1e-12)
    return soft_logits - step_size * step + noise * torch.randn(soft_logits.shape, generator=generator)


def initial_soft_logits(
    lm: TorchChatLM, context: OrderContext, seed_ids: list[int], allowed: torch.Tensor, bonus: float
) -> torch.Tensor:
    """Soft logits that start at ``seed_ids``: the model's log-probabilities, the seed token ``bonus`` above the top.

    The model's own distribution ranks the plausible alternatives at each position, so the
    first steps trade the seed against what the model would write instead; the seed leads by
    ``bonus`` even where the model finds it unlikely (a planted name, say).
    """
    with torch.no_grad():
        logits = cached_logits(lm, context.state, len(seed_ids), input_ids=torch.tensor([seed_ids]))[0]
    predicted = torch.cat([context.next_logits.unsqueeze(0), logits[:-1]])
    log_probs = torch.log_softmax(predicted.float(), dim=-1).masked_fill(~allowed, -1e4)
    log_probs[torch.arange(len(seed_ids)), torch.tensor(seed_ids)] = log_probs.max(dim=-1).values + bonus
    return log_probs


@dataclass(frozen=True)
class DecodedSts:
    """Token ids decoded from soft logits, and their negative log-likelihood where they were decoded."""

    ids: tuple[int, ...]
    nll: float  # mean -log p per token under the model, in the decoding order's prompt


def guided_decode(
    lm: TorchChatLM,
    context: OrderContext,
    soft_logits: torch.Tensor | None,
    allowed: torch.Tensor,
    top_k: int,
    sampling: tuple[float, torch.Generator] | None = None,
    forced: Sequence[int] = (),
    anchor: Sequence[int] = (),
) -> DecodedSts | None:
    """Left to right: among the model's ``top_k`` allowed next tokens, the one with the highest soft logit.

    ``soft_logits=None`` decodes the model's own greedy continuation. With ``sampling``
    (temperature, generator) the token is drawn from the softmax of the soft logits over those
    ``top_k`` instead: a sample of the Langevin state rather than its mode. A token is taken only
    if the text so far still tokenises as the ids chosen, and the last one only if the whole prompt
    does (``PromptLayout.consistent``: '!' and the closing quote merge, say); ``None`` if no
    candidate at some position fits. The first positions take the ``forced`` ids, unchecked;
    ``anchor[i]`` (the sequence the chain started from) is a candidate at position i besides the
    model's top-k, so a decoding can keep any of its tokens, likely or not.
    """
    cache = fresh_cache(context.state, 1)
    next_logits, nll = context.next_logits, 0.0
    ids: list[int] = []
    length = allowed.shape[0]
    with torch.no_grad():
        for position in range(length):
            log_probs = torch.log_softmax(next_logits.float(), dim=-1)
            candidates = log_probs.masked_fill(~allowed[position], float("-inf")).topk(top_k).indices
            candidates = candidates[allowed[position, candidates]]  # a row may allow fewer than top_k
            if position < len(anchor) and not bool((candidates == anchor[position]).any()):
                candidates = torch.cat([candidates, torch.tensor([anchor[position]])])
            if position < len(forced):
                candidates = torch.tensor([forced[position]])
            elif soft_logits is not None:
                candidates = _preferred_first(candidates, soft_logits[position, candidates], sampling)
            last = position == length - 1
            token = next((int(c) for c in candidates if _fits(lm, context.layout, [*ids, int(c)], last)), None)
            if token is None:
                return None
            ids.append(token)
            nll -= float(log_probs[token])
            if position < length - 1:
                output = lm.model(
                    input_ids=torch.tensor([[token]]), use_cache=True, logits_to_keep=1, **{lm.cache_keyword: cache}
                )
                next_logits = output.logits[0, -1]
    return DecodedSts(ids=tuple(ids), nll=nll / length)


def _preferred_first(
    candidates: torch.Tensor, scores: torch.Tensor, sampling: tuple[float, torch.Generator] | None
) -> torch.Tensor:
    """``candidates`` by descending score, or in a random order drawn by their softmax(score / temperature)."""
    if sampling is None:
        return candidates[scores.argsort(descending=True, stable=True)]
    temperature, generator = sampling
    weights = torch.softmax(scores.float() / temperature, dim=-1)
    return candidates[torch.multinomial(weights, len(candidates), replacement=False, generator=generator)]


def _fits(lm: TorchChatLM, layout: PromptLayout, ids: list[int], last: bool) -> bool:
    if last:
        return layout.consistent(lm, [ids])[0]
    return lm.encode(lm.decode(ids)) == ids
