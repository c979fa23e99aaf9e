"""``gcg`` on the real embedded model, loaded through transformers, with a tiny budget.

A four-product catalog keeps the prompt short, so the whole file runs in
seconds of compute after the model loads. What is checked: the loss is
-log P("1. <target>") on the right tokens (against an uncached forward pass
and against llama.cpp), the best loss never increases, and the result's
token ids decode to the returned text, which tokenises back to the same ids
in the prompt llama.cpp sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("transformers", reason="gcg needs the gcg extra: pip install -e '.[gcg]'")
pytest.importorskip("gguf", reason="loading a GGUF in transformers needs the gcg extra: pip install -e '.[gcg]'")

import torch

from agentrec.audit.gcg import GcgConfig, GcgOptimizer, build_optimizer
from agentrec.audit.gcg_model import TorchChatLM, torch_model_path
from agentrec.audit.gcg_prompt import PromptLayout, build_layout, initial_sts_ids
from agentrec.audit.gcg_torch import candidate_losses, prefix_state, sample_swaps, token_gradients
from agentrec.audit.optimizers import OptimizerSettings, StsProblem
from agentrec.core.errors import ConfigError
from agentrec.llm.local import LocalChatModel, bundled_gguf_path
from agentrec.llm.scripted import ScriptedChatModel


def test_layout_cuts_the_prompt_llama_cpp_sees(
    problem: StsProblem, lm: TorchChatLM, layout: PromptLayout, local_model: LocalChatModel
) -> None:
    assert layout.lead == " " and layout.prefix_text.endswith('"Ideal For": "Cold brew lovers')
    assert layout.suffix_text.startswith('"}') and layout.suffix_text.endswith("<|im_start|>assistant\n1.")
    assert lm.decode(list(layout.target_ids)) == " ColdBrew Master" == layout.continuation
    ids = initial_sts_ids(layout, lm, "", 6)
    sts = layout.sts_text(lm, ids)
    assert sts == "x x x x x x"
    messages = problem.messages(layout.order, sts)
    assert local_model.render_prompt(messages) == layout.prompt_text(sts)
    assert local_model._tokens(layout.prompt_text(sts) + layout.continuation) == layout.expected_ids(ids)


def test_loss_is_minus_logprob_of_the_target(
    problem: StsProblem, lm: TorchChatLM, layout: PromptLayout, local_model: LocalChatModel
) -> None:
    ids = initial_sts_ids(layout, lm, "", 6)
    state = prefix_state(lm, layout)
    cached = float(candidate_losses(lm, layout, state, torch.tensor([ids]), 1)[0])
    # The same quantity from one uncached forward over the whole prompt.
    full = torch.tensor([layout.expected_ids(ids)])
    with torch.no_grad():
        log_probs = torch.log_softmax(lm.model(input_ids=full).logits[0].float(), dim=-1)
    start = full.shape[1] - len(layout.target_ids)
    expected = -sum(float(log_probs[start + j - 1, t]) for j, t in enumerate(layout.target_ids))
    assert cached == pytest.approx(expected, abs=1e-3)
    grad, loss = token_gradients(lm, layout, state, ids)
    assert loss == pytest.approx(expected, abs=1e-3)
    assert grad.shape == (len(ids), lm.vocab_size) and bool(torch.isfinite(grad).all())
    # llama.cpp runs the same weights quantised: close, not equal.
    llama = local_model.logprob(problem.messages(layout.order, layout.sts_text(lm, ids) or ""), layout.continuation)
    assert -cached == pytest.approx(llama, abs=0.5)


def test_swaps_change_one_allowed_token(lm: TorchChatLM, layout: PromptLayout) -> None:
    from agentrec.audit.gcg_model import token_filter

    ids = initial_sts_ids(layout, lm, "", 5)
    allowed = token_filter(lm, layout.lead).for_positions(len(ids))
    grad = torch.randn(len(ids), lm.vocab_size, generator=torch.Generator().manual_seed(0))
    swaps = sample_swaps(grad, ids, allowed, 16, 20, torch.Generator().manual_seed(1))
    assert 0 < swaps.shape[0] <= 20
    changed = swaps != torch.tensor(ids)
    assert bool((changed.sum(dim=1) == 1).all())
    rows, cols = changed.nonzero(as_tuple=True)
    assert bool(allowed[cols, swaps[rows, cols]].all())
    texts = [lm.decode(row) for row in swaps.tolist()]
    assert all(t.isascii() and '"' not in t and "\\" not in t for t in texts)


def test_two_steps_keep_the_best_and_return_consistent_text(
    problem: StsProblem, lm: TorchChatLM, local_model: LocalChatModel
) -> None:
    config = GcgConfig(length=4, candidates=6, top_k=32, batch_size=6, val_orders=1)
    steps: list[Any] = []
    result = GcgOptimizer(config).optimize(problem, budget=2, seed=0, progress=steps.append)
    assert len(result.history) == len(steps) == 2
    best = [step.best_score for step in result.history]
    assert best == sorted(best)
    assert result.extra["torch_logprob_after"] >= result.extra["torch_logprob_before"]
    assert result.score_kind == "logprob" and np.isfinite(result.best_score)
    ids = result.extra["best_token_ids"]
    assert len(ids) == 4 and lm.decode(ids) == " " + result.best_sts
    order = tuple(result.extra["validation_orders"][0])
    layout = build_layout(problem, order, local_model.render_prompt, lm)
    assert layout.consistent(lm, [ids]) == [True]
    planted = local_model.render_prompt(problem.messages(order, result.best_sts))
    assert local_model._tokens(planted + layout.continuation) == layout.expected_ids(ids)
    for record in result.extra["steps"]:
        assert record["seconds"] > 0 and record["candidates_valid"] <= record["candidates_sampled"] <= 6


def test_options_are_validated() -> None:
    optimizer = build_optimizer(OptimizerSettings(options={"length": "30", "candidates": "512"}))
    assert optimizer.config.length == 30 and optimizer.config.candidates == 512
    with pytest.raises(ConfigError, match="gcg option 'topk'"):
        build_optimizer(OptimizerSettings(options={"topk": "8"}))


def test_the_torch_model_is_the_named_file_else_the_recommenders_own_else_the_embedded_one(
    local_model: LocalChatModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert torch_model_path(None, local_model, "gcg") == local_model.path
    named = tmp_path / "other.gguf"
    named.write_bytes(b"GGUF")
    assert torch_model_path(str(named), local_model, "gcg") == named
    with pytest.raises(ConfigError, match="stealth model file not found"):
        torch_model_path(str(tmp_path / "missing.gguf"), local_model, "stealth")
    with caplog.at_level("WARNING"):
        assert torch_model_path(None, ScriptedChatModel([]), "stealth") == bundled_gguf_path()
    assert "stealth optimises on the embedded model and transfers" in caplog.text


def test_random_start_is_seeded_allowed_text_that_fits_the_prompt(lm: TorchChatLM, layout: PromptLayout) -> None:
    from agentrec.audit.gcg_model import random_sts, token_filter

    allowed = token_filter(lm, layout.lead)
    first = random_sts(lm, allowed, 8, np.random.default_rng(3))
    assert first == random_sts(lm, allowed, 8, np.random.default_rng(3))
    assert first != random_sts(lm, allowed, 8, np.random.default_rng(4))
    assert first.isascii() and '"' not in first and first == first.strip()
    assert first.replace(" ", "") != "x" * 8


def test_random_init_option_starts_away_from_the_x_sequence(problem: StsProblem) -> None:
    config = GcgConfig(length=4, candidates=2, top_k=8, batch_size=2, val_orders=1, init="random")
    result = GcgOptimizer(config).optimize(problem, budget=1, seed=0, progress=lambda _: None)
    assert result.extra["initial_sts"].split() != ["x"] * 4
    with pytest.raises(ConfigError, match="gcg option 'init'"):
        build_optimizer(OptimizerSettings(options={"init": "zeros"}))
