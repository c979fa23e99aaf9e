"""The PyTorch BPR: planted blocks, negative sampling, early stopping and the refit rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from agentrec.data.interactions import Interactions
from agentrec.recsys.bpr import BPR, TrainingPairs
from agentrec.recsys.model_store import ModelKey, ModelStore
from agentrec.recsys.selection import validation_ndcg


def _split_last(data: Interactions) -> tuple[Interactions, Interactions]:
    """(all but each user's last row, each user's last row) by row order."""
    last = np.zeros(len(data), dtype=bool)
    last[np.flatnonzero(np.r_[data.user[1:] != data.user[:-1], True])] = True
    return data.subset(~last), data.subset(last)


def _small_bpr(**params: object) -> BPR:
    # 200 interactions: small batches, a large step and some L2 so 60 epochs separate the blocks
    settings: dict[str, object] = {
        "factors": 8, "batch_size": 32, "learning_rate": 0.05, "weight_decay": 1e-2, "max_epochs": 60,
    }  # fmt: skip
    return BPR(**(settings | params))


def test_bpr_ranks_the_users_own_block_first(blocks: Interactions) -> None:
    model = _small_bpr().fit(blocks)
    for user in range(40):
        block = set(range(0, 10) if user < 20 else range(10, 20))
        unseen_in_block = len(block - set(model.seen_items(user).tolist()))
        top = [item for item, _ in model.recommend(user, unseen_in_block)]
        assert set(top) == block - set(model.seen_items(user).tolist()), (user, top)


def test_bpr_stops_early_and_keeps_the_best_epoch(blocks: Interactions) -> None:
    train, valid = _split_last(blocks)
    model = _small_bpr(max_epochs=200, patience=3).fit(train, valid)
    curve = model.learning_curve
    assert len(curve) < 200 and len(curve) - model.best_epoch == 3
    assert curve[model.best_epoch - 1].val_ndcg == max(r.val_ndcg for r in curve)
    # the kept factors are the best epoch's: scoring them reproduces its validation NDCG
    assert validation_ndcg(model, valid, 10) == curve[model.best_epoch - 1].val_ndcg


def test_without_validation_bpr_trains_exactly_max_epochs(blocks: Interactions) -> None:
    model = _small_bpr(max_epochs=7).fit(blocks)
    assert [r.epoch for r in model.learning_curve] == list(range(1, 8))
    assert model.best_epoch == 7
    losses = [r.train_loss for r in model.learning_curve]
    assert losses[-1] < losses[0] < np.log(2) + 0.01  # starts near chance, then learns


def test_negatives_are_unseen_and_cover_every_unseen_item(blocks: Interactions) -> None:
    history = blocks.to_csr(binary=True)
    pairs = TrainingPairs.from_history(history)
    users = np.repeat(np.arange(40), 200)
    negatives = pairs.sample_negatives(users, np.random.default_rng(0))
    dense = history.toarray().astype(bool)
    assert not dense[users, negatives].any()
    for user in (0, 25):
        assert set(negatives[users == user].tolist()) == set(np.flatnonzero(~dense[user]).tolist())


def test_a_user_who_saw_every_item_gets_no_triples() -> None:
    history = np.array([[1, 1, 1], [1, 0, 0]], dtype=np.float32)
    pairs = TrainingPairs.from_history(sp.csr_matrix(history))
    assert pairs.users.tolist() == [1] and pairs.items.tolist() == [0]
    assert set(pairs.sample_negatives(np.array([1] * 50), np.random.default_rng(1)).tolist()) == {1, 2}


def test_save_load_keeps_the_learning_curve(blocks: Interactions, tmp_path: Path) -> None:
    train, valid = _split_last(blocks)
    model = _small_bpr(max_epochs=5).fit(train, valid)
    store = ModelStore(tmp_path)
    key = ModelKey.for_model(model, "blocks-v1", "loo")
    store.save(model, key)
    loaded = store.load(key)
    assert isinstance(loaded, BPR)
    assert loaded.learning_curve == model.learning_curve and loaded.best_epoch == model.best_epoch
    np.testing.assert_array_equal(loaded.score(np.arange(40)), model.score(np.arange(40)))


def test_fused_adam_matches_torch_adam() -> None:
    import torch

    from agentrec.recsys.bpr import FusedAdam

    generator = torch.Generator().manual_seed(0)
    start = torch.randn(6, 3, generator=generator)
    grads = [torch.randn(6, 3, generator=generator) for _ in range(4)]
    ours, reference = start.clone(), start.clone().requires_grad_(True)
    mine = FusedAdam([ours], lr=0.01, weight_decay=0.001)
    theirs = torch.optim.Adam([reference], lr=0.01, weight_decay=0.001)
    for grad in grads:
        mine.step([grad])
        reference.grad = grad.clone()
        theirs.step()
    torch.testing.assert_close(ours, reference.detach(), rtol=1e-6, atol=1e-7)


def test_the_batch_grows_with_the_embedding_table_beyond_recboles_size() -> None:
    from agentrec.recsys.bpr import auto_batch_size

    assert auto_batch_size(943, 1682) == auto_batch_size(6040, 3628) == 2048  # ml-100k, ml-1m: RecBole's
    assert auto_batch_size(32_508, 18_669) == 8192
    assert auto_batch_size(162_540, 62_423) == 32_768  # ML-25M's shape
