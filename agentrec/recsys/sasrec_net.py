"""The SASRec network (Kang & McAuley, 2018): causal self-attention over item sequences.

Item ``i`` is token ``i + 1``; token 0 is padding. Sequences are left-padded so the
most recent item always sits at the last position, and positions are counted from
the right edge of a ``max_len`` window so a shorter batch reuses the same embeddings.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SASRecNet(nn.Module):
    """Item + position embeddings, a pre-norm causal transformer, tied output embeddings."""

    def __init__(
        self,
        n_items: int,
        hidden: int,
        layers: int,
        heads: int,
        dropout: float,
        max_len: int,
        feedforward: int,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.max_len = max_len
        self.scale = math.sqrt(hidden)
        self.item_embedding = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.position_embedding = nn.Embedding(max_len, hidden)
        self.input_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            hidden,
            heads,
            dim_feedforward=feedforward,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(hidden)
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Hidden states (batch, length, hidden) for left-padded ``tokens`` (batch, length)."""
        length = tokens.shape[1]
        positions = torch.arange(self.max_len - length, self.max_len, device=tokens.device)
        x = self.item_embedding(tokens) * self.scale + self.position_embedding(positions)
        x = self.input_dropout(x)
        hidden = self.encoder(x, mask=self._attention_mask(tokens))
        result: torch.Tensor = self.final_norm(hidden)
        return result

    def item_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every real item (padding excluded) for hidden states (..., hidden)."""
        return hidden @ self.item_embedding.weight[1:].T

    def _attention_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        """Boolean (batch*heads, L, L) mask, True = blocked: the future and padding keys.

        A padding query may still attend to itself, so no row is fully blocked
        (a fully blocked row makes softmax return NaN); its output is never used.
        """
        batch, length = tokens.shape
        future = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        padding_keys = (tokens == 0)[:, None, :].expand(batch, length, length)
        diagonal = torch.eye(length, dtype=torch.bool)[None, :, :]
        blocked = future[None, :, :] | (padding_keys & ~diagonal)
        return blocked.repeat_interleave(self.heads, dim=0)
