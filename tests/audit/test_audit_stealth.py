"""``stealth`` on the real embedded model, loaded through transformers, with a tiny budget.

The four-product catalog of the gcg tests keeps the prompt short. What is
checked: options fail as ``ConfigError`` naming the option; on one-hot
inputs the ranking term is gcg's loss, the fluency term the model's own NLL
and the repetition term the count of repeated n-gram pairs (planted: "x x x
x x x"); the best validation loss never increases; the returned text
tokenises back to the recorded ids in the prompt llama.cpp sees; and a seed
fixes the run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("transformers", reason="stealth needs the gcg extra: pip install -e '.[gcg]'")
pytest.importorskip("gguf", reason="loading a GGUF in transformers needs the gcg extra: pip install -e '.[gcg]'")

import torch

from agentrec.audit.gcg_model import TorchChatLM, token_filter
from agentrec.audit.gcg_prompt import PromptLayout, build_layout, initial_sts_ids
from agentrec.audit.gcg_torch import candidate_losses
from agentrec.audit.optimizers import OptimizationResult, OptimizerSettings, StsProblem
from agentrec.audit.optimizers import build_optimizer as build_named_optimizer
from agentrec.audit.stealth import StealthConfig, StealthOptimizer, StealthSearch, build_optimizer
from agentrec.audit.stealth_energy import (
    OrderContext,
    energy_and_gradient,
    guided_decode,
    initial_soft_logits,
    order_energy,
    prepare_order,
    repetition_penalty,
)
from agentrec.core.errors import ConfigError
from agentrec.llm.local import LocalChatModel
from agentrec.recsys.threads import torch_threads
from tests.audit.four_products import TARGET

# Cheap steps: one order to train on and one to validate on, two decoded samples, a decoding every step.
TINY = StealthConfig(
    length=4, top_k=4, samples=2, decode_every=1, orders_per_step=1, train_orders=1, val_orders=1, threads=1, init="lm"
)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread: two threads on a busy 2-core machine are several times slower."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def context(lm: TorchChatLM, layout: PromptLayout) -> OrderContext:
    return prepare_order(lm, layout)


@pytest.fixture(scope="module")
def tiny_run(problem: StsProblem) -> tuple[OptimizationResult, list[Any]]:
    steps: list[Any] = []
    result = StealthOptimizer(TINY).optimize(problem, budget=2, seed=0, progress=steps.append)
    return result, steps


def _one_hot(ids: list[int], vocab_size: int) -> torch.Tensor:
    probs = torch.zeros(len(ids), vocab_size)
    probs[torch.arange(len(ids)), torch.tensor(ids)] = 1.0
    return probs


def test_options_are_validated() -> None:
    optimizer = build_optimizer(OptimizerSettings(options={"fluency": "0.5", "top_k": "5", "init": "description"}))
    assert optimizer.config.fluency == 0.5 and optimizer.config.top_k == 5 and optimizer.config.init == "description"
    assert isinstance(build_named_optimizer("stealth"), StealthOptimizer)
    for options, name in [({"fluency": "-1"}, "fluency"), ({"topk": "8"}, "topk"), ({"init": "random"}, "init")]:
        with pytest.raises(ConfigError, match=f"stealth option '{name}'"):
            build_optimizer(OptimizerSettings(options=options))


def test_noise_decays_from_its_start_to_its_end() -> None:
    config = StealthConfig(noise=0.8, noise_final=0.02)
    schedule = [config.noise_at(step, 10) for step in range(10)]
    assert schedule[0] == pytest.approx(0.8) and schedule[-1] == pytest.approx(0.02)
    assert schedule == sorted(schedule, reverse=True)
    assert StealthConfig(noise=0.0).noise_at(3, 10) == 0.0


def test_one_hot_energy_is_gcg_loss_model_nll_and_repeated_pairs(
    lm: TorchChatLM, layout: PromptLayout, context: OrderContext
) -> None:
    ids = initial_sts_ids(layout, lm, "", 6)  # "x x x x x x"
    with torch.no_grad():
        ranking, fluency = order_energy(lm, context, _one_hot(ids, lm.vocab_size))
    exact = float(candidate_losses(lm, layout, context.state, torch.tensor([ids]), 1)[0])
    assert float(ranking) == pytest.approx(exact, abs=1e-3)
    # The model's own NLL of the STS after the prefix, from one uncached forward pass.
    full = torch.tensor([[*layout.prefix_ids, *ids]])
    with torch.no_grad():
        log_probs = torch.log_softmax(lm.model(input_ids=full).logits[0].float(), dim=-1)
    start = len(layout.prefix_ids)
    nll = -sum(float(log_probs[start + j - 1, token]) for j, token in enumerate(ids)) / len(ids)
    assert float(fluency) == pytest.approx(nll, abs=1e-3)
    # Six equal tokens: C(6, 2) = 15 repeated unigram pairs and C(5, 2) = 10 repeated bigram pairs.
    probs = _one_hot(ids, lm.vocab_size)
    assert float(repetition_penalty(probs, 1)) == pytest.approx(15.0)
    assert float(repetition_penalty(probs, 2)) == pytest.approx(10.0)
    assert float(repetition_penalty(probs[:1], 2)) == 0.0


def test_soft_energy_and_its_gradient_are_finite(lm: TorchChatLM, layout: PromptLayout, context: OrderContext) -> None:
    allowed = token_filter(lm, layout.lead).for_positions(5)
    seed = guided_decode(lm, context, None, allowed, top_k=1)
    assert seed is not None and layout.consistent(lm, [list(seed.ids)]) == [True]
    soft = initial_soft_logits(lm, context, list(seed.ids), allowed, bonus=3.0)
    terms, grad = energy_and_gradient(lm, [context], soft, allowed, (1.0, 1.0), 2)
    assert all(math.isfinite(value) for value in dataclasses.astuple(terms))
    assert terms.ranking > 0 and terms.fluency > 0 and terms.repetition >= 0
    assert grad.shape == soft.shape and bool(torch.isfinite(grad).all())
    # The greedy continuation's tokens are what the soft logits favour, so decoding by them gives it back.
    again = guided_decode(lm, context, soft, allowed, top_k=5)
    assert again is not None and again.ids == seed.ids and again.nll == pytest.approx(seed.nll, abs=1e-4)


def test_a_short_run_keeps_the_best_and_returns_text_that_fits_the_prompt(
    tiny_run: tuple[OptimizationResult, list[Any]],
    problem: StsProblem,
    lm: TorchChatLM,
    local_model: LocalChatModel,
) -> None:
    result, steps = tiny_run
    assert len(result.history) == len(steps) == 2
    best = [step.best_score for step in result.history]
    assert best == sorted(best)
    extra = result.extra
    assert extra["torch_logprob_after"] >= extra["torch_logprob_before"]
    assert result.score_kind == "logprob" and math.isfinite(result.best_score)
    assert all(len(extra["energy"][name]) == 2 for name in ("ranking", "fluency", "repetition"))
    assert all(math.isfinite(value) for values in extra["energy"].values() for value in values)
    assert [entry["iteration"] for entry in extra["decoded"]] == [0, 1]
    assert [step.candidate for step in steps] == [entry["sts"] for entry in extra["decoded"]]
    assert all(entry["ids"] and entry["nll"] > 0 and entry["perplexity"] > 1.0 for entry in extra["decoded"])
    assert extra["planted_perplexity_after"] > 1.0
    ids = extra["best_token_ids"]
    assert lm.decode(ids) == " " + result.best_sts
    order = tuple(extra["validation_orders"][0])
    layout = build_layout(problem, order, local_model.render_prompt, lm)
    assert layout.consistent(lm, [ids]) == [True]
    planted = local_model.render_prompt(problem.messages(order, result.best_sts))
    assert local_model._tokens(planted + layout.continuation) == layout.expected_ids(ids)


def test_a_seed_fixes_the_run(tiny_run: tuple[OptimizationResult, list[Any]], problem: StsProblem) -> None:
    first, _ = tiny_run
    again = StealthOptimizer(TINY).optimize(problem, budget=2, seed=0)
    assert again.best_sts == first.best_sts
    assert [step.candidate for step in again.history] == [step.candidate for step in first.history]
    assert again.extra["energy"] == first.extra["energy"]


def test_seeds_from_the_description_the_name_and_a_given_text(
    problem: StsProblem, lm: TorchChatLM, local_model: LocalChatModel
) -> None:
    config = TINY.model_copy(update={"init": "description", "length": 3})
    search = StealthSearch(problem, lm, local_model, config, seed=0)
    assert search.initial.sts == "Smooth cold brew" and len(search.initial.ids) == 3
    assert search.soft.shape == (3, lm.vocab_size)
    # The name is planted first and kept: its positions allow its own tokens only.
    named = StealthSearch(problem, lm, local_model, config.model_copy(update={"init": "name", "length": 5}), seed=0)
    name_ids = lm.encode(" " + TARGET)
    assert named.initial.sts.startswith(TARGET + " ") and len(named.initial.ids) == 5
    assert named.allowed[: len(name_ids)].sum(dim=1).tolist() == [1] * len(name_ids)
    assert bool(named.allowed[len(name_ids) :].sum(dim=1).gt(1000).all())
    given = StealthSearch(problem, lm, local_model, config.model_copy(update={"seed_text": "for iced coffee"}), seed=0)
    assert given.initial.sts == "for iced coffee" and given.initial.nll is None
