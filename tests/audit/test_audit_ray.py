"""Paired runs on Ray actors give the local worker processes' outcomes, pair for pair, and count the same calls."""

from __future__ import annotations

import pytest

from agentrec.audit.catalog import Catalog
from agentrec.audit.pair_workers import ChatSpec
from agentrec.audit.paired_evaluation import PairedSetup, Parallelism, evaluation_orders, paired_rank_evaluation
from agentrec.audit.prompt import RecommenderPrompt
from agentrec.audit.recommender import AuditedRecommender
from agentrec.llm.factory import make_chat_model


@pytest.mark.slow
def test_ray_actors_give_the_local_workers_outcomes(coffee: Catalog) -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed")
    setup = PairedSetup(coffee, "ColdBrew Master", "best choice for everyone")
    prompt = RecommenderPrompt(request="Which coffee machine suits a small office?")
    outcomes, calls = {}, {}
    for backend in ("local", "ray"):  # no cache: each backend computes every reply itself
        recommender = AuditedRecommender(make_chat_model("local", cache="off"), prompt, max_tokens=24)
        parallelism = Parallelism(workers=2, chat=ChatSpec("local", None, "off"), backend=backend)
        outcomes[backend] = paired_rank_evaluation(setup, recommender, evals=2, seed=0, parallelism=parallelism)
        calls[backend] = (recommender.requested_calls(), recommender.computed_calls())
    assert outcomes["ray"] == outcomes["local"]
    assert [o.order for o in outcomes["ray"]] == evaluation_orders(10, 2, seed=0)
    assert calls["ray"] == calls["local"] == (8, 8)  # two replies and two log-probabilities a pair
