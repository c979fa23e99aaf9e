"""SASRec trained with full softmax cross-entropy, one causal forward pass per sequence window.

Every position of a user's sequence predicts its next item in the same forward pass
(the causal mask keeps it from seeing the future), instead of one forward pass per
prefix as RecBole does: the same training signal for a fraction of the compute.
Early stopping uses full-ranking validation NDCG@k with seen items masked.
"""

from __future__ import annotations

import copy
import io
import itertools
import logging
import math
from pathlib import Path
from typing import Self

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from agentrec.data.interactions import Interactions
from agentrec.recsys.base import FloatArray, IntArray, ModelConfig, Recommender
from agentrec.recsys.early_stopping import (
    EpochRecord,
    StoppingRule,
    curve_array,
    curve_from_array,
    train_with_early_stopping,
)
from agentrec.recsys.faiss_index import l2_normalise
from agentrec.recsys.sasrec_net import SASRecNet
from agentrec.recsys.selection import validation_ndcg

logger = logging.getLogger(__name__)
WEIGHTS_FILE = "sasrec.pt"


class SASRecConfig(ModelConfig):
    """Network size, optimiser and stopping rule. ``time_budget_s`` caps training wall time.

    ``feedforward`` equal to ``hidden`` is the original SASRec's point-wise layer (RecBole
    uses 4x); ``batch_size`` counts sequence windows, so small batches still mean thousands
    of targets per step and enough optimiser steps per epoch.

    The loss is the full softmax over every item up to ``full_softmax_items``. Beyond it,
    each batch shares ``negatives`` items drawn uniformly (a sampled softmax with its log-Q
    correction): the full softmax's cost grows as windows x items, so an epoch on ML-25M's
    62k items would take over three hours on two cores (bench/README.md, "Issue 22").
    """

    hidden: int = 64
    layers: int = 2
    heads: int = 2
    feedforward: int = 64
    dropout: float = 0.2
    max_len: int = 50
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    max_epochs: int = 200
    patience: int = 10
    eval_k: int = 10
    seed: int = 0
    time_budget_s: float | None = None
    num_threads: int | None = None
    full_softmax_items: int = Field(default=20_000, ge=1)
    negatives: int = Field(default=4_096, ge=1)


class SASRec(Recommender):
    """Self-attentive sequential recommendation over each user's time-ordered history."""

    name = "sasrec"
    Config = SASRecConfig
    config: SASRecConfig

    def __init__(self, config: SASRecConfig | None = None, **params: object) -> None:
        super().__init__(config, **params)
        self.learning_curve: list[EpochRecord] = []
        self.best_epoch = 0
        self._sequences: list[IntArray] = []
        self.net: SASRecNet | None = None

    # ----- training ----------------------------------------------------------------
    def _fit(self, train: Interactions, valid: Interactions | None) -> None:
        cfg = self.config
        if cfg.num_threads is not None:
            torch.set_num_threads(cfg.num_threads)
        torch.manual_seed(cfg.seed)
        self._sequences = train.sequences()
        self.net = self._new_net()
        windows = training_windows(self._sequences, cfg.max_len)
        optimiser = torch.optim.Adam(self.net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        self._train_loop(windows, optimiser, valid)

    def _train_loop(
        self, windows: list[IntArray], optimiser: torch.optim.Optimizer, valid: Interactions | None
    ) -> None:
        cfg = self.config
        net = self.net
        assert net is not None
        generator = np.random.default_rng(cfg.seed)

        def log_epoch(record: EpochRecord) -> None:
            logger.info("sasrec epoch %d loss %.4f val ndcg %.4f", record.epoch, record.train_loss, record.val_ndcg)

        outcome = train_with_early_stopping(
            StoppingRule(cfg.max_epochs, cfg.patience, cfg.time_budget_s),
            train_epoch=lambda: self._train_epoch(windows, optimiser, generator),
            validate=(lambda: validation_ndcg(self, valid, cfg.eval_k)) if valid is not None else None,
            snapshot=lambda: copy.deepcopy(net.state_dict()),
            on_epoch=log_epoch,
        )
        self.learning_curve, self.best_epoch = outcome.curve, outcome.best_epoch
        net.load_state_dict(outcome.best_state)
        net.eval()

    def _train_epoch(
        self,
        windows: list[IntArray],
        optimiser: torch.optim.Optimizer,
        generator: np.random.Generator,
    ) -> float:
        assert self.net is not None
        self.net.train()
        total, count = 0.0, 0
        for batch in length_bucketed_batches(windows, self.config.batch_size, generator):
            tokens = torch.from_numpy(left_pad([w[:-1] + 1 for w in batch]))
            targets = torch.from_numpy(left_pad([w[1:] + 1 for w in batch]))
            real = targets > 0
            hidden = self.net(tokens)[real]
            if self.n_items <= self.config.full_softmax_items:
                loss = F.cross_entropy(self.net.item_logits(hidden), targets[real] - 1)
            else:
                items = self.net.item_embedding.weight[1:]  # row 0 is padding
                loss = sampled_softmax_loss(hidden, targets[real] - 1, items, self.config.negatives)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            n_targets = int(real.sum())
            total += loss.item() * n_targets
            count += n_targets
        return total / max(count, 1)

    # ----- scoring -----------------------------------------------------------------
    def _score(self, users: IntArray) -> FloatArray:
        assert self.net is not None, "SASRec is not fitted"
        scores = np.zeros((len(users), self.n_items), dtype=np.float32)
        histories = [self._sequences[u][-self.config.max_len :] for u in users]
        active = [row for row, seq in enumerate(histories) if len(seq) > 0]
        if not active:
            return scores
        self.net.eval()
        with torch.no_grad():
            for start in range(0, len(active), 512):
                rows = active[start : start + 512]
                tokens = torch.from_numpy(left_pad([histories[r] + 1 for r in rows]))
                last_hidden = self.net(tokens)[:, -1, :]
                scores[rows] = self.net.item_logits(last_hidden).numpy()
        return scores

    def _history_changed(self, history: Interactions) -> None:
        self._sequences = history.sequences()

    def _item_similarity(self, item: int) -> FloatArray:
        # cosine of the item embeddings, which also score the next item (so alike items score alike)
        unit = self._unit_item_embeddings()
        return np.asarray(unit @ unit[item], dtype=np.float32)

    def _unit_item_embeddings(self) -> FloatArray:
        """The item embeddings scaled to unit length, computed once per set of weights.

        The interest clusters ask for up to 50 similarity rows a user; normalising
        every embedding for each row cost more than the rows themselves.
        """
        assert self.net is not None, "SASRec is not fitted"
        weight = self.net.item_embedding.weight
        version = (id(weight), weight._version)  # a refit or a load makes new weights
        cached = getattr(self, "_unit_cache", None)
        if cached is None or cached[0] != version:
            with torch.no_grad():
                embeddings = weight[1:].numpy()  # row 0 is padding
            cached = self._unit_cache = (version, l2_normalise(embeddings))
        return cached[1]

    # ----- persistence -------------------------------------------------------------
    def _new_net(self) -> SASRecNet:
        cfg = self.config
        return SASRecNet(self.n_items, cfg.hidden, cfg.layers, cfg.heads, cfg.dropout, cfg.max_len, cfg.feedforward)

    def _state(self) -> dict[str, np.ndarray]:
        lengths = np.array([len(s) for s in self._sequences], dtype=np.int64)
        flat = np.concatenate(self._sequences) if self._sequences else np.empty(0, np.int64)
        return {
            "sequence_items": flat,
            "sequence_lengths": lengths,
            "learning_curve": curve_array(self.learning_curve),
            "best_epoch": np.array(self.best_epoch),
        }

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        bounds = np.concatenate([[0], np.cumsum(state["sequence_lengths"])])
        flat = state["sequence_items"].astype(np.int64)
        self._sequences = [flat[a:b] for a, b in itertools.pairwise(bounds)]
        self.learning_curve = curve_from_array(state["learning_curve"])
        self.best_epoch = int(state["best_epoch"])

    def save(self, folder: Path) -> None:
        """Config, histories and learning curve (npz) plus the network's ``state_dict``."""
        super().save(folder)
        assert self.net is not None
        buffer = io.BytesIO()
        torch.save(self.net.state_dict(), buffer)
        (folder / WEIGHTS_FILE).write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Rebuild a fitted SASRec written by ``save``."""
        model = super().load(folder)
        model.net = model._new_net()
        state = torch.load(folder / WEIGHTS_FILE, weights_only=True)
        model.net.load_state_dict(state)
        model.net.eval()
        return model


def sampled_softmax_loss(
    hidden: torch.Tensor, targets: torch.Tensor, items: torch.Tensor, negatives: int
) -> torch.Tensor:
    """Cross-entropy of each target against ``negatives`` items shared by the batch, drawn uniformly.

    Each negative's logit gets ``log(n_items / negatives)``, the log-Q correction for a uniform
    draw, so the sampled partition function estimates the full one. A negative that is the
    row's own target is masked out.
    """
    drawn = torch.randint(0, items.shape[0], (negatives,))
    positive = (hidden * items.index_select(0, targets)).sum(dim=-1, keepdim=True)
    negative = hidden @ items.index_select(0, drawn).T + math.log(items.shape[0] / negatives)
    negative = negative.masked_fill(drawn[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([positive, negative], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long))


def training_windows(sequences: list[IntArray], max_len: int) -> list[IntArray]:
    """Chunks of each sequence (``max_len + 1`` items, overlapping by one) from the newest end.

    Window ``w`` trains positions ``w[:-1]`` to predict ``w[1:]``; together the windows
    cover every (item, next item) pair of every sequence exactly once.
    """
    windows: list[IntArray] = []
    for sequence in sequences:
        end = len(sequence)
        while end >= 2:
            start = max(0, end - max_len - 1)
            windows.append(np.asarray(sequence[start:end], dtype=np.int64))
            end = start + 1
    return windows


def length_bucketed_batches(
    windows: list[IntArray], batch_size: int, generator: np.random.Generator
) -> list[list[IntArray]]:
    """Batches of similar-length windows (less padding), in random order."""
    jitter = generator.random(len(windows))
    order = np.lexsort((jitter, np.array([len(w) for w in windows])))
    batches = [[windows[i] for i in order[start : start + batch_size]] for start in range(0, len(order), batch_size)]
    return [batches[i] for i in generator.permutation(len(batches))]


def left_pad(rows: list[IntArray]) -> np.ndarray:
    """Rows right-aligned in a zero-filled int64 matrix as wide as the longest row."""
    width = max(len(row) for row in rows)
    matrix = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        if len(row):
            matrix[i, width - len(row) :] = row
    return matrix
