"""Argument edges of the CLI (issue 16, points 5, 11 and 13): bounds, choices, protocol captions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentrec.ui import choices


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentrec.cli", *args], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )


def assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, no traceback, and one line on stderr: usage errors too (typer's own would be a boxed panel)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("agentrec: error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def write_adjacency(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text("0 0 1 2 3\n1 1 2 4 5\n2 0 3 5 6\n3 2 4 6 7\n")
    (folder / "test.txt").write_text("0 5 6\n1 7\n2 1\n3 0 3\n")
    return folder


def test_the_choices_are_the_library_names() -> None:
    from agentrec.agent.fusion import FUSIONS
    from agentrec.agent.policies import ALL_POLICIES
    from agentrec.audit.placement import STS_POSITIONS
    from agentrec.data.protocols import AUTO
    from agentrec.data.splits import PROTOCOLS
    from agentrec.llm.cache import CACHE_MODES
    from agentrec.sim.runners import BACKENDS

    assert {c.value for c in choices.CacheChoice} == set(CACHE_MODES)
    assert {c.value for c in choices.FusionChoice} == set(FUSIONS)
    assert {c.value for c in choices.ProtocolChoice} == {AUTO, *PROTOCOLS}
    assert {c.value for c in choices.PolicyChoice} == set(ALL_POLICIES)
    assert {c.value for c in choices.BackendChoice} == set(BACKENDS)
    assert {c.value for c in choices.PositionChoice} == set(STS_POSITIONS)


def test_eval_uses_the_datasets_own_split_and_says_so(tmp_path: Path) -> None:
    folder = write_adjacency(tmp_path / "tiny-implicit")
    out = tmp_path / "eval.json"
    result = run("eval", str(folder), "--models", "mostpop", "--k", "3", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "protocol given" in " ".join(result.stdout.split())
    assert json.loads(out.read_text())["protocol"] == "given"
    explicit = run("eval", str(folder), "--models", "mostpop", "--k", "3", "--protocol", "loo", "--json", str(out))
    assert explicit.returncode == 0, explicit.stderr
    assert "protocol loo" in " ".join(explicit.stdout.split())
    assert json.loads(out.read_text())["protocol"] == "loo"


def test_eval_on_three_interactions_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "three"
    folder.mkdir()
    (folder / "interactions.csv").write_text("user_id,item_id,timestamp\nu1,a,1\nu2,b,2\nu3,c,3\n")
    result = run("eval", str(folder), "--models", "mostpop")
    assert_refused(result, "no user has a held-out item")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_cutoff_beyond_the_catalog_names_the_flag(tmp_path: Path) -> None:
    result = run("eval", str(write_adjacency(tmp_path / "tiny")), "--models", "mostpop", "--k", "1000000000")
    assert_refused(result, "--k must be at most the catalog's 8 items")
    assert len(result.stderr.strip().splitlines()) == 1


def test_ease_over_the_memory_budget_is_refused_before_any_model_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTREC_MEMORY_GB", "0.0000001")
    out = tmp_path / "eval.json"
    folder = write_adjacency(tmp_path / "tiny")
    result = run("eval", str(folder), "--models", "mostpop,ease", "--k", "3", "--json", str(out))
    assert_refused(result, "ease on 8 items (float32) needs", "over the memory budget", "lower --max-items")
    assert not out.exists()
    monkeypatch.setenv("AGENTREC_MEMORY_GB", "4")
    capped = run("eval", str(folder), "--models", "ease", "--k", "3", "--max-items", "5", "--json", str(out))
    assert capped.returncode == 0, capped.stderr
    ease = json.loads(out.read_text())["models"]["ease"]
    assert ease["config"]["max_items"] == 5 and ease["dropped_items"] == 3


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["eval", "ml-100k", "--plot", "x.txt"], "--plot"),
        (["eval", "ml-100k", "--k", "0"], "--k"),
        (["eval", "ml-100k", "--protocol", "sideways"], "--protocol"),
        (["eval", "ml-100k", "--max-items", "0"], "--max-items"),
        (["recommend", "ml-100k", "--user", "1", "--policy", "backbone", "--cache", "bogus"], "--cache"),
        (["recommend", "ml-100k", "--user", "1", "--policy", "bogus"], "--policy"),
        (["recommend", "ml-100k", "--user", "1", "--k", "0"], "--k"),
        (["recommend", "ml-100k", "--user", "1", "--fusion", "bogus"], "--fusion"),
        (["recommend", "ml-100k", "--user", "1", "--max-steps", "0"], "--max-steps"),
        (["audit", "x.jsonl", "--target", "T", "--position", "middle"], "--position"),
        (["audit", "x.jsonl", "--target", "T", "--workers", "0"], "--workers"),
        (["audit", "x.jsonl", "--target", "T", "--concurrency", "0"], "--concurrency"),
        (["audit-agent", "ml-100k", "--target", "T", "--concurrency", "0"], "--concurrency"),
        (["simulate", "x.toml", "--concurrency", "0"], "--concurrency"),
        (["chat", "ml-100k", "--k", "0"], "--k"),
        (["agent-eval", "ml-100k", "--workers", "0"], "--workers"),
        (["agent-eval", "ml-100k", "--users", "0"], "--users"),
        (["agent-eval", "ml-100k", "--concurrency", "0"], "--concurrency"),
        (["agent-eval", "ml-100k", "--rpm", "-1"], "--rpm"),
        (["agent-eval", "ml-100k", "--tpm", "0"], "--tpm"),
        (["agent-eval", "ml-100k", "--max-cost", "abc"], "--max-cost"),
        (["agent-eval", "ml-100k", "--price-in", "-1", "--price-out", "1"], "--price-in"),
        (["simulate", "x.toml", "--resume", ""], "--resume"),
        (["simulate", "x.toml", "--backend", "slurm"], "--backend"),
        (["chat", "ml-100k", "--resume", ""], "--resume"),
        (["serve-mcp", "ml-100k", "--http", "70000"], "--http"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(arguments: list[str], fragment: str, tmp_path: Path) -> None:
    assert_refused(run(*arguments), f"Invalid value for '{fragment}'")


def test_an_unknown_agent_audit_fusion_is_one_line_naming_them_all() -> None:
    result = run("audit-agent", "ml-100k", "--target", "T", "--fusion", "lgbm,magic")
    assert_refused(result, "--fusion takes a comma-separated subset of lgbm, rrf, llm, llm-logits")


def test_a_price_without_its_pair_is_one_line() -> None:
    assert_refused(run("agent-eval", "ml-100k", "--price-in", "1"), "--price-in and --price-out go together")


def test_a_spending_cap_on_a_server_with_no_prices_is_one_line() -> None:
    # Checked when the model is built, before any user runs: a loopback server bills nothing litellm knows.
    result = run("agent-eval", "ml-100k", "--llm", "openai/x", "--api-base", "http://127.0.0.1:9/v1", "--max-cost", "1")
    assert_refused(result, "--max-cost needs prices")
