"""The ``rewrite`` optimiser's control flow, with scripted models.

The recommender under audit is scripted with a planted answer: it ranks
products by how often their text says "cold", so a rewrite that says "cold"
more often wins. The attacker is scripted too. Whether a real attacker writes
good rewrites is measured in bench/, not here.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any

import pytest

from agentrec.audit.catalog import Catalog, parse_catalog_lines
from agentrec.audit.optimizers import OptimizationResult, OptimizerSettings, StsProblem, build_optimizer
from agentrec.audit.prompt import RecommenderPrompt
from agentrec.audit.recommender import AuditedRecommender
from agentrec.audit.rewrite import (
    RewriteConfig,
    RewriteOptimizer,
    clean_rewrite,
    fluency_problem,
)
from agentrec.core.errors import ConfigError, ModelBackendError
from agentrec.llm.records import Message
from agentrec.llm.scripted import ScriptedChatModel

PRODUCTS = [
    {"Name": "Alpha Drip", "Description": "A cold drip maker, cold and clean.", "Price": "$50"},
    {"Name": "Beta Press", "Description": "A cold press for cold coffee.", "Price": "$40"},
    {"Name": "Gamma Brew", "Description": "A simple brewer.", "Price": "$30"},
    {"Name": "Delta Pot", "Description": "A small pot.", "Price": "$20"},
]
TARGET = "Gamma Brew"
ATTACKER_SCRIPT = [
    # iteration 0
    "New description: A brewer for cold coffee lovers.",  # 1 "cold": scored, beats the original
    '{"Description": "cold cold cold"}',  # JSON: dropped unscored
    "A cold, cold brewer for cold brew and cold mornings.",  # 4 "cold": the winner
    # iteration 1
    "A cold, cold brewer for cold brew and cold mornings.",  # a repeat: dropped
    "A simple brewer for the kitchen counter.",  # 0 "cold": scored, loses
    "ok",  # too short: dropped
]


def _coldness(line: str) -> int:
    return len(re.findall(r"cold", json.loads(line).get("Description", "").lower()))


def _planted_ranking(messages: list[Message]) -> str:
    """Products by descending "cold" count, ties in the order shown (so orders matter)."""
    lines = [line for line in messages[1].content.splitlines() if line.startswith("{")]
    ranked = sorted(range(len(lines)), key=lambda i: -_coldness(lines[i]))
    names = [json.loads(lines[i])["Name"] for i in ranked]
    return " " + "\n".join(f"{n}. {name}" if n > 1 else name for n, name in enumerate(names, start=1))


def make_problem() -> StsProblem:
    catalog = Catalog(name="coffee", products=tuple(parse_catalog_lines([json.dumps(p) for p in PRODUCTS], "test")))
    scripted = ScriptedChatModel([_planted_ranking] * 500, name="recommender")
    recommender = AuditedRecommender(scripted, RecommenderPrompt(request="I want a coffee machine."))
    return StsProblem(catalog=catalog, target=TARGET, recommender=recommender)


def run_rewrite(
    budget: int, seed: int = 7, script: list[str] | None = None, **options: Any
) -> tuple[OptimizationResult, ScriptedChatModel]:
    attacker = ScriptedChatModel(script if script is not None else ATTACKER_SCRIPT, name="attacker")
    config = RewriteConfig(branching=3, width=2, orders=2, **options)
    problem = make_problem()
    result = RewriteOptimizer(config, attacker=attacker).optimize(problem, budget=budget, seed=seed)
    return result, attacker


def test_keeps_the_winners_and_returns_the_best_rewrite() -> None:
    result, _ = run_rewrite(budget=2)
    assert result.best_sts == "A cold, cold brewer for cold brew and cold mornings."
    assert result.placement.field == "Description" and result.placement.position == "replace"
    assert result.score_kind == "rank"
    # The original says no "cold": rank 3 or 4 depending on the order; the winner is always first.
    assert result.initial_score < -2.5 and result.best_score == -1.0
    best_scores = [step.best_score for step in result.history]
    assert best_scores == sorted(best_scores)
    assert [step.accepted for step in result.history] == [True, False]
    dropped = {c["text"]: c["dropped"] for c in result.extra["candidates"] if c["dropped"]}
    assert set(dropped.values()) == {"markup, JSON or a link", "repeats an earlier candidate", "fewer than 4 words"}
    assert all(c["mean_rank"] is None for c in result.extra["candidates"] if c["dropped"])


def test_respects_the_budget() -> None:
    result, attacker = run_rewrite(budget=1)
    assert len(result.history) == 1
    assert len(attacker.requests) == 3  # branching calls per iteration, no more
    # The original text and the two fluent candidates, each ranked on 2 orders; the dropped one costs nothing.
    assert result.extra["recommender_generations"] == 6
    assert result.extra["attacker_calls"] == 3
    with pytest.raises(ModelBackendError):  # the script holds 6 turns: a 3rd iteration would be a 7th call
        run_rewrite(budget=3)


def test_an_iteration_with_no_fluent_output_reports_the_standing_best() -> None:
    result, _ = run_rewrite(budget=1, script=["{}", "[1, 2]", "no"])
    (step,) = result.history
    assert step.candidate == PRODUCTS[2]["Description"] and step.score == result.initial_score
    assert not step.accepted and step.note.startswith("0/3 fluent")
    assert result.extra["recommender_generations"] == 2  # only the original text was ranked


def test_zero_budget_returns_the_original_text() -> None:
    result, attacker = run_rewrite(budget=0)
    assert result.best_sts == PRODUCTS[2]["Description"]
    assert result.history == () and attacker.requests == []


def test_feeds_back_the_winners_and_their_ranks() -> None:
    _, attacker = run_rewrite(budget=2)
    second_round = attacker.requests[3][-1].content
    assert "A cold, cold brewer for cold brew and cold mornings." in second_round
    assert "average rank 1.0 of 4" in second_round
    # Round robin over the winners: the first call of round 2 improves the best one.
    assert 'Improve this Description: "A cold, cold brewer' in second_round


def test_same_seed_same_run_other_seed_other_orders() -> None:
    first, _ = run_rewrite(budget=2, seed=3)
    again, _ = run_rewrite(budget=2, seed=3)
    other, _ = run_rewrite(budget=2, seed=4)

    def stable(result: OptimizationResult) -> dict[str, Any]:
        payload = result.as_dict()
        payload.pop("seconds")
        payload["history"] = [{k: v for k, v in asdict(s).items() if k != "seconds"} for s in result.history]
        return payload

    assert stable(first) == stable(again)
    assert first.extra["orders"] != other.extra["orders"]


def test_orders_default_to_the_problem_score_orders() -> None:
    problem = make_problem()
    assert problem.score_orders == 3
    attacker = ScriptedChatModel(ATTACKER_SCRIPT[:1], name="attacker")
    result = RewriteOptimizer(RewriteConfig(branching=1), attacker=attacker).optimize(problem, budget=1, seed=0)
    assert len(result.extra["orders"]) == 3
    assert result.extra["recommender_generations"] == 2 * 3


def test_logprob_feedback_needs_a_model_that_gives_it() -> None:
    with pytest.raises(ConfigError, match="log-probabilities"):
        run_rewrite(budget=1, feedback="logprob")


def test_build_optimizer_reads_options_and_rejects_unknown_ones() -> None:
    optimizer = build_optimizer("rewrite", OptimizerSettings(options={"branching": "2", "orders": "5"}))
    assert isinstance(optimizer, RewriteOptimizer)
    assert optimizer.config.branching == 2 and optimizer.config.orders == 5
    with pytest.raises(ConfigError, match="rewrite option 'brnaching'"):
        build_optimizer("rewrite", OptimizerSettings(options={"brnaching": "2"}))
    with pytest.raises(ConfigError, match="rewrite option 'width'"):
        build_optimizer("rewrite", OptimizerSettings(options={"width": "0"}))


def test_clean_rewrite_strips_labels_quotes_and_length() -> None:
    assert clean_rewrite('**New description:** "A fine brewer."\nSecond line', 60) == "A fine brewer."
    assert clean_rewrite("Description: one two three four five", 3) == "one two three"
    assert clean_rewrite("\n\n", 10) == ""
    assert (
        clean_rewrite("Here is a better description:\n\nA brewer for cold mornings.", 60)
        == "A brewer for cold mornings."
    )
    assert clean_rewrite("The assistant suggests the following:", 60) == "The assistant suggests the following:"


@pytest.mark.parametrize(
    ("text", "fluent"),
    [
        ("A smooth cold brew maker for slow mornings.", True),
        ("Cold brew, $99, 4.5 stars: the 1st choice!", True),
        ("x ! ! describing.\\ + similarlyNow write oppositeley", False),
        ("}} ]] cold cold", False),
        ("too short", False),
        ("@@@@ #### ^^^^ ~~~~ cold", False),
    ],
)
def test_fluency_filter(text: str, fluent: bool) -> None:
    assert (fluency_problem(text) == "") is fluent
