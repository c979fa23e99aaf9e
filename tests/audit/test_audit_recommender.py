"""The recommender under audit on the embedded model: log P("1. <target>") is real, deterministic and cached."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from agentrec.audit.catalog import Catalog
from agentrec.audit.prompt import RecommenderPrompt, default_request
from agentrec.audit.recommender import AuditedRecommender
from agentrec.llm.cache import CachedChatModel, ResponseStore
from agentrec.llm.scripted import ScriptedChatModel

if TYPE_CHECKING:
    from agentrec.llm.local import LocalChatModel


def test_rank_parses_the_reply_after_the_prefill(coffee: Catalog) -> None:
    chat = ScriptedChatModel([" LatteArt Pro - milk.\n2. ColdBrew Master - cold."])
    recommender = AuditedRecommender(chat, RecommenderPrompt(request=default_request(coffee.name)))
    rank, reply = recommender.rank(coffee.products, "ColdBrew Master")
    assert (rank, reply.splitlines()[0]) == (2, "1. LatteArt Pro - milk.")
    assert not recommender.supports_logprob
    assert recommender.first_place_logprob(coffee.products, "ColdBrew Master") is None


def test_first_place_logprob_is_cached_in_memory_and_on_disk(
    coffee: Catalog, local_model: LocalChatModel, tmp_path: Path
) -> None:
    store = ResponseStore(tmp_path / "cache.duckdb")
    prompt = RecommenderPrompt(request=default_request(coffee.name))
    recommender = AuditedRecommender(CachedChatModel(local_model, store=store), prompt)
    assert recommender.supports_logprob
    products = coffee.ordered(tuple(range(9, -1, -1)))
    first = recommender.first_place_logprob(products, "ColdBrew Master")
    assert first is not None and -40.0 < first < 0.0
    assert recommender.first_place_logprob(products, "ColdBrew Master") == first
    assert recommender.logprob_calls == 1 and recommender.logprob_requests == 2
    # A new recommender over the same store computes nothing: reruns of an audit are free.
    again = AuditedRecommender(CachedChatModel(local_model, store=ResponseStore(store.path)), prompt)
    assert again.first_place_logprob(products, "ColdBrew Master") == first
    assert again.logprob_calls == 0
    # Teacher forcing, no sampling: the model gives the same number again, up to llama.cpp evaluating a
    # reused KV prefix in other batch shapes (measured here: differences of about 0.01 nat).
    direct = local_model.logprob(prompt.messages(products), prompt.first_place_text("ColdBrew Master"))
    assert direct == pytest.approx(first, abs=0.05)
