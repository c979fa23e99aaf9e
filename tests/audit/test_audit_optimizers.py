"""The optimiser contract and the ``random`` optimiser, on a model whose best sequence is planted."""

from __future__ import annotations

import itertools
import json

import pytest

from agentrec.audit import optimizers
from agentrec.audit.catalog import Catalog, CatalogError
from agentrec.audit.optimizers import OptimizationStep, OptimizerSettings, StsProblem, build_optimizer
from agentrec.audit.prompt import RecommenderPrompt
from agentrec.audit.random_search import RandomSearchOptimizer
from agentrec.audit.recommender import AuditedRecommender
from agentrec.core.errors import ConfigError
from agentrec.llm.scripted import ScriptedChatModel
from tests.audit.conftest import PLANTED_WORDS, PlantedLogprobModel

REQUEST = "I am looking for a coffee machine. Can I get some recommendations?"


def problem_for(model: object, coffee: Catalog, **changes: object) -> StsProblem:
    recommender = AuditedRecommender(model, RecommenderPrompt(request=REQUEST))  # type: ignore[arg-type]
    return StsProblem(coffee, "coldbrew master", recommender, **changes)  # type: ignore[arg-type]


def test_problem_normalises_the_target_and_scores(coffee: Catalog, planted_model: PlantedLogprobModel) -> None:
    problem = problem_for(planted_model, coffee, score_orders=2)
    assert problem.target == "ColdBrew Master"
    assert problem.score_kind == "logprob"
    orders = [tuple(range(10))]
    assert problem.score("premium best", orders) == problem.score("", orders) + 2
    assert "premium best" in problem.messages(orders[0], "premium best")[1].content
    with pytest.raises(CatalogError, match="not in catalog"):
        StsProblem(coffee, "Moka Pot", problem.recommender)


def test_rank_feedback_without_logprobs(coffee: Catalog) -> None:
    chat = ScriptedChatModel([" ColdBrew Master\n2. LatteArt Pro", " LatteArt Pro"])
    problem = problem_for(chat, coffee)
    assert problem.score_kind == "rank"
    assert problem.score("x", [tuple(range(10)), tuple(range(10))]) == pytest.approx(-(1 + 11) / 2)


def test_random_search_finds_the_planted_words(coffee: Catalog, planted_model: PlantedLogprobModel) -> None:
    problem = problem_for(planted_model, coffee, score_orders=1)
    steps: list[OptimizationStep] = []
    optimizer = RandomSearchOptimizer(length=6, candidates=4, units="words")
    result = optimizer.optimize(problem, budget=25, seed=0, progress=steps.append)
    assert [s.iteration for s in steps] == list(range(1, 26))
    assert result.history == tuple(steps)
    assert result.best_score > result.initial_score
    planted = sum(w in PLANTED_WORDS for w in result.best_sts.split())
    assert result.best_score == -10 + planted and planted >= 3
    # initial, (incumbent + 4 mutations) per iteration, then the best again on the initial's validation orders
    assert planted_model.logprob_calls == 1 + 25 * 5 + 1
    assert result.extra["initial"] != result.best_sts
    assert all(later.best_score >= earlier.best_score for earlier, later in itertools.pairwise(steps))
    json.dumps(result.as_dict())  # the saved history is plain JSON
    again = RandomSearchOptimizer(length=6, candidates=4, units="words").optimize(problem, budget=25, seed=0)
    assert again.best_sts == result.best_sts  # reproducible for a seed


def test_fixed_orders_climb_monotonically(coffee: Catalog, planted_model: PlantedLogprobModel) -> None:
    problem = problem_for(planted_model, coffee, score_orders=2)
    settings = OptimizerSettings(options={"reshuffle": "0", "length": "5", "units": "words"})
    optimizer = build_optimizer("random", settings)
    result = optimizer.optimize(problem, budget=10, seed=1)
    assert result.extra["reshuffle"] is False
    assert all(b.best_score >= a.best_score for a, b in itertools.pairwise(result.history))
    assert result.best_score == result.history[-1].best_score >= result.initial_score


def test_word_units_without_a_local_model(coffee: Catalog, planted_model: PlantedLogprobModel) -> None:
    problem = problem_for(planted_model, coffee)
    assert RandomSearchOptimizer(units="auto").vocabulary(problem).kind == "words"
    with pytest.raises(ConfigError, match="needs a local GGUF model"):
        RandomSearchOptimizer(units="tokens").vocabulary(problem)


def test_registry_builds_optimisers_lazily_and_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_optimizer("random", OptimizerSettings(options={"length": "7", "candidates": "2"}))
    assert isinstance(built, RandomSearchOptimizer) and (built.length, built.candidates) == (7, 2)
    with pytest.raises(ConfigError, match="unknown random optimizer option"):
        build_optimizer("random", OptimizerSettings(options={"colour": "red"}))
    with pytest.raises(ConfigError, match="unknown optimizer 'annealing'"):
        build_optimizer("annealing")
    monkeypatch.setitem(optimizers.OPTIMIZER_MODULES, "later", "agentrec.audit.not_written_yet")
    with pytest.raises(ConfigError, match=r"optimizer 'later' is not available: agentrec/audit/not_written_yet.py"):
        build_optimizer("later")
