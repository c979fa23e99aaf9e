"""A fitted model that cannot be read is derived data: one warning line, then it is refitted (issue 16, 12)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from agentrec.data.interactions import Interactions
from agentrec.recsys.model_store import ModelKey, ModelStore
from tests.recsys.conftest import MODEL_FACTORIES

# (model, the file its save writes the fitted state to)
STATE_FILES = [("ease", "state.npz"), ("sasrec", "sasrec.pt")]


def _damage(path: Path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(b"\x00not a model\xff" * 64)
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("how", ["garbage", "truncated"])
@pytest.mark.parametrize(("name", "state_file"), STATE_FILES)
def test_an_unreadable_fitted_model_is_refitted_with_one_warning(
    name: str, state_file: str, how: str, blocks: Interactions, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ModelStore(tmp_path)
    model, loaded = store.fit_or_load(MODEL_FACTORIES[name](), blocks, None, "blocks-v1", "full")
    assert not loaded
    expected = model.score(np.arange(5))
    key = ModelKey.for_model(model, "blocks-v1", "full")
    state = store.path(key) / state_file
    assert state.is_file()
    _damage(state, how)

    with caplog.at_level(logging.WARNING, logger="agentrec.recsys.model_store"):
        refitted, loaded = store.fit_or_load(MODEL_FACTORIES[name](), blocks, None, "blocks-v1", "full")
    assert not loaded
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "refitting" in warnings[0].getMessage()
    assert str(store.path(key)) in warnings[0].getMessage()
    np.testing.assert_allclose(refitted.score(np.arange(5)), expected, rtol=1e-4, atol=1e-5)
    # the refit replaced the damaged file: the next run loads it
    _, loaded_again = store.fit_or_load(MODEL_FACTORIES[name](), blocks, None, "blocks-v1", "full")
    assert loaded_again
