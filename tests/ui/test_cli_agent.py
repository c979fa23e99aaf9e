"""``agentrec recommend`` and ``agentrec agent-eval`` as a user runs them, on the planted catalog.

The planted folder is found by its store name (``planted``) in a tool pack under
``AGENTREC_TOOLS``: EASE behind retrieve, ItemKNN behind similar, no text model.
Bad input must end with exit status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

POLICY_KEYS = {"metrics", "usage", "rates"}


@pytest.fixture(scope="module")
def tools_env(planted_pack_folder: Path) -> dict[str, str]:
    return {"AGENTREC_TOOLS": str(planted_pack_folder)}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentrec.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def interactions(folder: Path) -> dict[str, list[str]]:
    """Each user's items in time order, read from the planted CSV."""
    with (folder / "interactions.csv").open() as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: (row["user_id"], int(row["timestamp"])))
    per_user: dict[str, list[str]] = {}
    for row in rows:
        per_user.setdefault(row["user_id"], []).append(row["item_id"])
    return per_user


def assert_grounded(items: list[str], folder: Path, user: str, k: int) -> None:
    """k distinct catalog items, none from the history the command used (all but the held-out last item)."""
    with (folder / "items.csv").open() as handle:
        catalog = {row["item_id"] for row in csv.DictReader(handle)}
    seen = set(interactions(folder)[user][:-1])
    assert len(items) == k and len(set(items)) == k, items
    assert set(items) <= catalog and not set(items) & seen, items


@pytest.mark.parametrize("policy", ["backbone", "heuristic"])
def test_recommend_gives_a_grounded_list_with_provenance(
    policy: str, planted_folder: Path, tools_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "run.json"
    result = run(
        "recommend", str(planted_folder), "--user", "cu1", "--policy", policy, "--backbone", "ease",
        "--k", "5", "--json", str(out), env=tools_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "held-out next item" in result.stdout
    recorded = json.loads(out.read_text())
    assert recorded["policy"] == policy and recorded["user_id"] == "cu1"
    items = [item["item_id"] for item in recorded["items"]]
    assert_grounded(items, planted_folder, "cu1", 5)
    if policy == "backbone":
        # The planted answer: a comedy watcher's unseen comedies outrank everything else.
        assert all(item.startswith("c") for item in items), items
    else:
        assert all(item["source"] for item in recorded["items"]) and recorded["steps"]


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["--user", "nobody", "--policy", "backbone"], "unknown user id 'nobody'"),
        # bounds and choices are typer's usage errors now: tests/ui/test_cli_edges.py
        (["--user", "cu1", "--policy", "backbone", "--k", "100"], "--k must be at most the catalog's"),
    ],
)
def test_recommend_rejects_bad_input_in_one_line(
    arguments: list[str], fragment: str, planted_folder: Path, tools_env: dict[str, str]
) -> None:
    result = run("recommend", str(planted_folder), "--backbone", "ease", *arguments, env=tools_env)
    assert_one_line_error(result, fragment)


def test_recommend_on_a_missing_dataset_folder_is_one_line() -> None:
    result = run("recommend", "/nonexistent/planted", "--user", "cu1", "--policy", "backbone")
    assert_one_line_error(result, "no such folder")


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["--policy", "backbone,bogus"], "unknown policy"),  # --users 0, --workers 0: test_cli_edges.py
    ],
)
def test_agent_eval_rejects_bad_input_in_one_line(
    arguments: list[str], fragment: str, planted_folder: Path, tools_env: dict[str, str]
) -> None:
    result = run("agent-eval", str(planted_folder), *arguments, env=tools_env)
    assert_one_line_error(result, fragment)


def agent_eval(folder: Path, out: Path, env: dict[str, str], *options: str) -> dict[str, Any]:
    result = run("agent-eval", str(folder), "--json", str(out), *options, env=env)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    return report


EVAL_OPTIONS = ("--users", "5", "--policy", "backbone,heuristic")


@pytest.fixture(scope="module")
def first_eval(
    planted_folder: Path, tools_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return agent_eval(planted_folder, tmp_path_factory.mktemp("eval") / "first.json", tools_env, *EVAL_OPTIONS)


def test_agent_eval_json_has_the_stable_keys(first_eval: dict[str, Any], planted_folder: Path) -> None:
    report = first_eval
    assert report["dataset"] == "planted" and report["k"] == 10 and report["users_evaluated"] == 5
    assert set(report["policies"]) == {"backbone", "heuristic"}
    for entry in report["policies"].values():
        assert set(entry) >= POLICY_KEYS
        assert {"recall@10", "ndcg@10", "mrr@10", "hit@10", "precision@10"} <= set(entry["metrics"])
        assert set(entry["usage"]) >= {"llm_calls", "tokens", "seconds", "cost_usd"}
        assert set(entry["rates"]) >= {"reask", "skipped_step", "fallback"}
        assert entry["usage"]["llm_calls"] == 0  # neither policy calls an LLM
    assert "ndcg@10" in report["policies"]["heuristic"]["ci_vs_backbone"]
    assert "ci_vs_backbone" not in report["policies"]["backbone"]
    rows = report["per_user"]
    assert len(rows) == 10 and {row["policy"] for row in rows} == {"backbone", "heuristic"}
    for row in rows:
        assert {"user", "policy", "items", "target", "trace_id"} <= set(row)
        assert_grounded(row["items"], planted_folder, row["user"], 10)
        assert row["target"] == interactions(planted_folder)[row["user"]][-1]


def test_agent_eval_resumes_from_the_saved_runs(
    first_eval: dict[str, Any], planted_folder: Path, tools_env: dict[str, str], tmp_path: Path
) -> None:
    again = agent_eval(planted_folder, tmp_path / "again.json", tools_env, *EVAL_OPTIONS)

    def traces(report: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(row["policy"], row["user"], row["trace_id"]) for row in report["per_user"]]

    assert traces(again) == traces(first_eval)
    assert again["policies"]["heuristic"]["metrics"] == first_eval["policies"]["heuristic"]["metrics"]


def test_agent_eval_replays_the_agent_exactly_from_the_cache(
    planted_folder: Path, tools_env: dict[str, str], tmp_path: Path
) -> None:
    options = ("--users", "2", "--policy", "agent", "--max-steps", "3")
    live = agent_eval(planted_folder, tmp_path / "live.json", tools_env, *options, "--cache", "on")
    replayed = agent_eval(planted_folder, tmp_path / "replay.json", tools_env, *options, "--cache", "replay")
    assert live["policies"]["agent"]["usage"]["llm_calls"] >= 2

    def lists(report: dict[str, Any]) -> list[tuple[str, list[str]]]:
        return [(row["user"], row["items"]) for row in report["per_user"]]

    assert lists(replayed) == lists(live)
    assert replayed["policies"]["agent"]["metrics"] == live["policies"]["agent"]["metrics"]
    for row in live["per_user"]:
        assert_grounded(row["items"], planted_folder, row["user"], 10)


def test_llm_logits_on_a_provider_without_log_probabilities_is_one_line(
    planted_folder: Path, tools_env: dict[str, str]
) -> None:
    env = {**tools_env, "ANTHROPIC_API_KEY": "sk-test-never-sent"}
    arguments = ["--fusion", "llm-logits", "--policy", "heuristic", "--llm", "anthropic/claude-3-5-haiku-latest"]
    result = run("agent-eval", str(planted_folder), "--users", "3", *arguments, env=env)
    assert_one_line_error(result, "anthropic/claude-3-5-haiku-latest", "next-token log-probabilities")
    assert "sk-test-never-sent" not in result.stderr


def test_an_interest_count_below_one_is_one_line(planted_folder: Path, tools_env: dict[str, str]) -> None:
    result = run("recommend", str(planted_folder), "--user", "cu1", "--policy", "heuristic", "--interests", "0",
                 env=tools_env)  # fmt: skip
    assert_one_line_error(result, "number of interests must be from 1 to 8, got 0")
