"""Argument edges of ``simulate`` (issue 16, 13): an empty --resume, more users than the data has."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agentrec.core.errors import InvalidParameter
from agentrec.data.interactions import Vocabulary
from agentrec.sim.run import RunOptions, prepare_run, select_users
from agentrec.sim.scenario import Scenario


def test_an_empty_resume_is_refused_not_a_new_run(tmp_path: Path) -> None:
    scenario = Scenario.model_validate({"dataset": "ml-100k", "arms": [{"name": "pop", "recommender": "mostpop"}]})
    with pytest.raises(InvalidParameter) as caught:
        prepare_run(scenario, RunOptions(resume="", runs_root=tmp_path))
    assert caught.value.parameter == "resume"
    assert list(tmp_path.iterdir()) == []  # no run folder was made


def test_more_users_than_the_data_has_runs_them_all_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    scenario = Scenario.model_validate({"dataset": "tiny", "arms": [{"name": "pop", "recommender": "mostpop"}]})
    users = Vocabulary(("a", "b", "c"))
    with caplog.at_level(logging.WARNING, logger="agentrec.sim.run"):
        chosen = select_users(scenario, users, {0, 1, 2}, 100_000)
    assert chosen == ("a", "b", "c")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "asked for 100,000" in warnings[0] and "all 3" in warnings[0]
