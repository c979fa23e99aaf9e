"""Scenario files: the shipped ones load; bad ones are one ConfigError line (and exit 2 in the CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentrec.core.errors import ConfigError
from agentrec.sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["ab_ease_vs_agent", "filter_bubble"])
def test_shipped_scenarios_load(name: str) -> None:
    scenario = load_scenario(ROOT / "simulations" / f"{name}.toml")
    assert scenario.name == name
    assert scenario.page_size == 4
    assert len(scenario.arms) == 2


def test_filter_bubble_retrains_for_five_rounds() -> None:
    scenario = load_scenario(ROOT / "simulations" / "filter_bubble.toml")
    assert scenario.rounds == 5
    assert any(arm.retrain for arm in scenario.arms)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('dataset = "x"\nbogus = 1\n[[arms]]\nname = "a"\nrecommender = "ease"\n', "unknown key 'bogus'"),
        ('dataset = "x"\n[users]\ncolour = "red"\n[[arms]]\nname = "a"\nrecommender = "ease"\n', "users.colour"),
        ('[[arms]]\nname = "a"\nrecommender = "ease"\n', "missing key 'dataset'"),
        ('dataset = "x"\n', "arms"),
        ('dataset = "x"\npages = 0\n[[arms]]\nname = "a"\nrecommender = "ease"\n', "pages"),
        ('dataset = "x"\n[users]\nchoice_model = "psychic"\n[[arms]]\nname = "a"\nrecommender = "e"\n', "choice_model"),
        ("dataset = \n", "not valid TOML"),
    ],
)
def test_bad_scenarios_name_the_problem(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as caught:
        load_scenario(path)
    assert fragment in str(caught.value)


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentrec.cli", "simulate", *args],
        capture_output=True, text=True, env=dict(os.environ), timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (None, "no such scenario file"),
        ('dataset = "ml-100k"\nbogus = 1\n[[arms]]\nname = "a"\nrecommender = "ease"\n', "unknown key 'bogus'"),
        ('dataset = "ml-100k"\n[[arms]]\nname = "a"\nrecommender = "nosuch"\n', "unknown recommender 'nosuch'"),
        ('dataset = "ml-100k"\n[[arms]]\nname = "a"\nrecommender = "ease"\nparams = {l2 = "big"}\n', "l2"),
        ('dataset = "ml-100k"\nrounds = -2\n[[arms]]\nname = "a"\nrecommender = "ease"\n', "rounds"),
        ('dataset = "ml-100k"\n[fidelity]\nratios = [0, 3]\n[[arms]]\nname = "a"\nrecommender = "ease"\n', "ratios"),
        ('dataset = "ml-100k"\n[[arms]]\nname = "a"\nrecommender = "thompson"\nparams = {explore = 1}\n', "explore"),
        ('dataset = "ml-100k"\n[[arms]]\nname = "a"\nrecommender = "reloop"\nparams = {base = "nosuch"}\n', "nosuch"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, text: str | None, fragment: str) -> None:
    path = tmp_path / "scenario.toml"
    if text is not None:
        path.write_text(text)
    result = run_cli(str(path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert fragment in lines[0]


def test_cli_rejects_unknown_backend(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text('dataset = "ml-100k"\n[[arms]]\nname = "a"\nrecommender = "ease"\n')
    result = run_cli(str(path), "--backend", "slurm")
    assert result.returncode == 2
    assert "Invalid value for '--backend'" in " ".join(result.stderr.replace("│", " ").split())
