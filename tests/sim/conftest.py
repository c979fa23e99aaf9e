"""Scenario files for simulator tests, written into a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

STATISTICAL = """
name = "{name}"
dataset = "{dataset}"
seed = 3
rounds = {rounds}
pages = {pages}

[users]
count = {users}
choice_model = "statistical"

[fidelity]
temporal = false

[[arms]]
name = "ease"
recommender = "ease"
retrain = true

[[arms]]
name = "pop"
recommender = "mostpop"
"""


def write_scenario(folder: Path, name: str, dataset: Path, users: int, rounds: int = 2, pages: int = 3) -> Path:
    """A two-arm statistical scenario (EASE retrained between rounds vs MostPop)."""
    path = folder / f"{name}.toml"
    text = STATISTICAL.format(name=name, dataset=dataset, users=users, rounds=rounds, pages=pages)
    path.write_text(text)
    return path


@pytest.fixture
def scenario_file() -> Callable[..., Path]:
    """``write_scenario`` for tests (conftest modules are not importable)."""
    return write_scenario
