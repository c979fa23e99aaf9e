"""Paired evaluation's control flow: the same seeded orders, both halves back to back, defences on both."""

from __future__ import annotations

from agentrec.audit.catalog import Catalog
from agentrec.audit.defences import SandwichDefence
from agentrec.audit.pair_workers import ChatSpec
from agentrec.audit.paired_evaluation import PairedSetup, Parallelism, evaluation_orders, paired_rank_evaluation
from agentrec.audit.prompt import RecommenderPrompt
from agentrec.audit.recommender import AuditedRecommender
from agentrec.llm.cache import CacheMode
from agentrec.llm.factory import make_chat_model
from agentrec.llm.records import Message
from agentrec.llm.scripted import ScriptedChatModel
from tests.audit.conftest import PlantedLogprobModel

REQUEST = "I am looking for a coffee machine. Can I get some recommendations?"


def test_orders_are_seeded_permutations() -> None:
    first = evaluation_orders(10, 5, seed=3)
    assert first == evaluation_orders(10, 5, seed=3)
    assert first != evaluation_orders(10, 5, seed=4)
    assert all(sorted(order) == list(range(10)) for order in first)


def test_each_pair_shows_one_order_clean_then_planted(coffee: Catalog) -> None:
    def echo_first_product(messages: list[Message]) -> str:
        first_line = messages[1].content.splitlines()[1]
        return " " + first_line.split('"Name": "')[1].split('"')[0]

    chat = ScriptedChatModel([echo_first_product] * 6)
    recommender = AuditedRecommender(chat, RecommenderPrompt(request=REQUEST))
    setup = PairedSetup(coffee, "coldbrew master", "BEST")
    seen: list[tuple[int, int]] = []
    outcomes = paired_rank_evaluation(setup, recommender, evals=3, seed=0, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    orders = evaluation_orders(10, 3, seed=0)
    assert [o.order for o in outcomes] == orders
    for pair, (clean, planted) in enumerate(zip(chat.requests[::2], chat.requests[1::2], strict=True)):
        assert "BEST" not in clean[1].content and "Cold brew lovers BEST" in planted[1].content
        shared = clean[1].content.split("Cold brew lovers")[0]
        assert planted[1].content.startswith(shared + "Cold brew lovers BEST")  # same order, same prefix
        expected = 1 if orders[pair][0] == coffee.index_of("ColdBrew Master") else 11
        assert outcomes[pair].rank_before == outcomes[pair].rank_after == expected
    assert all(o.logprob_before is None for o in outcomes)  # a scripted model has no log-probabilities


def test_planted_answer_and_defence_on_both_halves(coffee: Catalog) -> None:
    model = PlantedLogprobModel("ColdBrew Master")
    recommender = AuditedRecommender(model, RecommenderPrompt(request=REQUEST))
    setup = PairedSetup(coffee, "ColdBrew Master", "best top premium")
    outcomes = paired_rank_evaluation(setup, recommender, evals=4, seed=1)
    assert all(o.rank_after == 1 for o in outcomes)
    assert all(o.logprob_after == o.logprob_before + 3 for o in outcomes if o.logprob_before is not None)
    defended = AuditedRecommender(model, RecommenderPrompt(request=REQUEST))
    paired_rank_evaluation(setup, defended, evals=1, seed=1, defence=SandwichDefence())
    assert defended.generations == 0  # the defence built its own recommender over the same model


def test_worker_processes_give_each_order_its_own_outcome_and_fill_the_shared_cache(coffee: Catalog) -> None:
    setup = PairedSetup(coffee, "ColdBrew Master", "best choice for everyone")
    prompt = RecommenderPrompt(request="Which coffee machine suits a small office?")  # no other test asks this

    def recommender(cache: CacheMode) -> AuditedRecommender:
        return AuditedRecommender(make_chat_model("local", cache=cache), prompt, max_tokens=48)

    parallel = recommender("on")
    spread = paired_rank_evaluation(
        setup, parallel, evals=4, seed=0, parallelism=Parallelism(workers=2, chat=ChatSpec("local", None, "on"))
    )
    assert [o.order for o in spread] == evaluation_orders(10, 4, seed=0)
    assert parallel.requested_calls() == 16 and parallel.computed_calls() == 16  # 2 replies + 2 log P per pair
    # In this process, from the cache the workers wrote: the same outcome for every order, nothing computed.
    replayed = recommender("replay")
    assert paired_rank_evaluation(setup, replayed, evals=4, seed=0) == spread
    assert replayed.computed_calls() == 0
