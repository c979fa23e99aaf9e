"""The recommender under audit on the embedded model: log P("1. <target>") is real, deterministic and cached."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from agentrec.audit.catalog import Catalog
from agentrec.audit.prompt import RecommenderPrompt, default_request
from agentrec.audit.ranking import rank_of
from agentrec.audit.recommender import AuditedRecommender
from agentrec.llm.cache import CachedChatModel
from agentrec.llm.records import AssistantTurn, GenerationSettings, Message
from agentrec.llm.response_store import ResponseStore
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
    assert recommender.computed_calls() == 1 and recommender.logprob_requests == 2
    # A new recommender over the same store computes nothing: reruns of an audit are free.
    again = AuditedRecommender(CachedChatModel(local_model, store=ResponseStore(store.path)), prompt)
    assert again.first_place_logprob(products, "ColdBrew Master") == first
    assert again.computed_calls() == 0
    # Teacher forcing, no sampling: the model gives exactly the same number again, though llama.cpp
    # now reuses the prompt it evaluated for the first call.
    direct = local_model.logprob(prompt.messages(products), prompt.first_place_text("ColdBrew Master"))
    assert direct == first


class StreamingModel:
    """Streams a fixed listing piece by piece and counts how many pieces were taken."""

    def __init__(self, listing: str) -> None:
        self.pieces = [piece for line in listing.splitlines(keepends=True) for piece in (line[:6], line[6:])]
        self.taken = 0

    @property
    def model_id(self) -> str:
        return "streaming/fixed"

    def complete(self, *args: object, **kwargs: object) -> AssistantTurn:
        return AssistantTurn(text="".join(self.pieces))

    def stream_text(self, messages: list[Message], settings: GenerationSettings | None = None) -> Iterator[str]:
        for piece in self.pieces:
            self.taken += 1
            yield piece


def test_streaming_stops_at_the_end_of_the_targets_line_and_is_stored(coffee: Catalog, tmp_path: Path) -> None:
    backend = StreamingModel(" LatteArt Pro - milk.\n2. ColdBrew Master - cold.\n3. CafePro Elite - fast.\n")
    chat = CachedChatModel(backend, store=ResponseStore(tmp_path / "cache.duckdb"))
    recommender = AuditedRecommender(chat, RecommenderPrompt(request=default_request(coffee.name)))
    rank, reply = recommender.rank(coffee.products, "ColdBrew Master")
    assert rank == 2 and reply == "1. LatteArt Pro - milk.\n2. ColdBrew Master - cold.\n"
    assert backend.taken == 4  # the third line was never generated
    assert recommender.rank(coffee.products, "ColdBrew Master") == (rank, reply)
    assert backend.taken == 4 and recommender.computed_calls() == 1  # the second answer came from the store
    unmentioned, whole = recommender.rank(coffee.products, "QuickBrew Express")
    assert unmentioned == len(coffee.products) + 1 and whole.count("\n") == 3  # read to the end


def test_the_embedded_reply_up_to_the_target_is_a_prefix_of_the_whole_reply(
    coffee: Catalog, local_model: LocalChatModel
) -> None:
    prompt = RecommenderPrompt(request=default_request(coffee.name))
    products = coffee.ordered(tuple(range(10)))
    streamed = AuditedRecommender(local_model, prompt)
    whole = streamed.reply(products)
    names = [p.name for p in products]
    for target in names[:3]:
        rank, reply = streamed.rank(products, target)
        assert whole.startswith(reply)
        assert rank == rank_of(whole, names, names.index(target))
