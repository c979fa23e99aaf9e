"""The tensor work of one GCG step: the loss, its gradient on a one-hot STS, and batched candidate losses.

The loss is the paper's: the cross-entropy of "1. <target>" after the prompt,
summed over its tokens, so it is exactly -log P("1. <target>"). Everything up
to the STS is the same for every candidate of a step, so its key/value cache is
computed once (``PrefixState``) and each candidate runs only STS + suffix +
target tokens; only the target positions go through the output layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from agentrec.audit.gcg_model import TorchChatLM
from agentrec.audit.gcg_prompt import PromptLayout


@dataclass(frozen=True)
class PrefixState:
    """Per-layer (keys, values) of the prompt before the STS, batch size 1."""

    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    length: int


def prefix_state(lm: TorchChatLM, layout: PromptLayout) -> PrefixState:
    """Run the prefix once and keep its cache."""
    return prefix_state_and_next_logits(lm, layout)[0]


def prefix_state_and_next_logits(lm: TorchChatLM, layout: PromptLayout) -> tuple[PrefixState, torch.Tensor]:
    """``prefix_state``, and the logits with which the prefix predicts the STS's first token (vocabulary-long)."""
    with torch.no_grad():
        # Only the last position goes through the output layer: the cache is all the rest is for.
        output = lm.model(input_ids=torch.tensor([layout.prefix_ids]), use_cache=True, logits_to_keep=1)
    cache = getattr(output, "cache", None) or output.past_key_values
    layers = tuple((item[0], item[1]) for item in cache)
    next_logits: torch.Tensor = output.logits[0, -1]
    return PrefixState(layers=layers, length=len(layout.prefix_ids)), next_logits


def fresh_cache(state: PrefixState, batch: int) -> Any:
    """A cache holding the prefix for ``batch`` rows; a forward given it appends to it, so each needs its own."""
    from transformers import DynamicCache

    # expand() shares the prefix's memory between rows and calls.
    return DynamicCache([(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in state.layers])


def cached_logits(
    lm: TorchChatLM,
    state: PrefixState,
    keep: int | torch.Tensor,
    input_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits of a forward pass after the cached prefix, batch x kept positions x vocabulary.

    ``keep`` is transformers' ``logits_to_keep``: a count of last positions, or a 1-D tensor of positions.
    """
    batch = int((input_ids if input_ids is not None else inputs_embeds).shape[0])  # type: ignore[union-attr]
    output = lm.model(
        input_ids=input_ids,
        inputs_embeds=inputs_embeds,
        use_cache=True,
        logits_to_keep=keep,
        **{lm.cache_keyword: fresh_cache(state, batch)},
    )
    logits: torch.Tensor = output.logits
    return logits


def _target_logits(
    lm: TorchChatLM,
    state: PrefixState,
    layout: PromptLayout,
    input_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits that predict the target tokens, batch x target length x vocabulary."""
    keep = len(layout.target_ids) + 1
    return cached_logits(lm, state, keep, input_ids, inputs_embeds)[:, :-1, :]


def target_nll(logits: torch.Tensor, target_ids: Sequence[int]) -> torch.Tensor:
    """-log P(target) per batch row, summed over the target tokens."""
    target = torch.tensor(target_ids).expand(logits.shape[0], -1)
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    return -log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1).sum(dim=-1)


def token_gradients(
    lm: TorchChatLM, layout: PromptLayout, state: PrefixState, sts_ids: Sequence[int]
) -> tuple[torch.Tensor, float]:
    """The gradient of the loss on a one-hot encoding of ``sts_ids`` (length x vocabulary), and the loss."""
    weights = lm.embedding_matrix
    one_hot = torch.zeros(len(sts_ids), weights.shape[0], dtype=weights.dtype)
    one_hot[torch.arange(len(sts_ids)), torch.tensor(sts_ids)] = 1.0
    one_hot.requires_grad_(True)
    rest = weights[torch.tensor([*layout.suffix_ids, *layout.target_ids])]
    embeds = torch.cat([one_hot @ weights, rest]).unsqueeze(0)
    loss = target_nll(_target_logits(lm, state, layout, inputs_embeds=embeds), layout.target_ids)[0]
    loss.backward()  # type: ignore[no-untyped-call]
    grad = one_hot.grad
    assert grad is not None  # one_hot requires grad and the loss depends on it
    return grad, float(loss.detach())


def candidate_losses(
    lm: TorchChatLM, layout: PromptLayout, state: PrefixState, candidates: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """-log P("1. <target>") for each row of ``candidates`` (STS token ids), in batches."""
    rest = torch.tensor([*layout.suffix_ids, *layout.target_ids])
    losses = []
    with torch.no_grad():
        for chunk in torch.split(candidates, batch_size):
            ids = torch.cat([chunk, rest.expand(chunk.shape[0], -1)], dim=1)
            losses.append(target_nll(_target_logits(lm, state, layout, input_ids=ids), layout.target_ids))
    return torch.cat(losses) if losses else torch.empty(0)


def sample_swaps(
    grad: torch.Tensor,
    sts_ids: Sequence[int],
    allowed: torch.Tensor,
    top_k: int,
    count: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """``count`` distinct single-token swaps of ``sts_ids``: a random position, a token from its top-k of -gradient.

    The current sequence itself is never among them.
    """
    scores = (-grad).masked_fill(~allowed, float("-inf"))
    k = max(1, min(top_k, int(allowed.sum(dim=1).min())))
    top = scores.topk(k, dim=1).indices
    positions = torch.randint(len(sts_ids), (count,), generator=generator)
    choices = torch.randint(k, (count,), generator=generator)
    current = torch.tensor(sts_ids)
    candidates = current.repeat(count, 1)
    candidates[torch.arange(count), positions] = top[positions, choices]
    changed = (candidates != current).any(dim=1)
    # unique() sorts rows; that order is fixed by the draws, so runs stay reproducible.
    distinct: torch.Tensor = torch.unique(candidates[changed], dim=0)
    return distinct
