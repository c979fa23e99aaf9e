"""No credential reaches the state home (issue 16, point 14): not a URL password, not an API key.

A scenario's ``[llm] api_base`` may carry ``user:password@``, and the environment
holds provider keys. After a whole ``agentrec simulate`` run, no file anywhere
under the state home (run.json, progress, events, stores, models, report, the
``--json`` output) may hold either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.realdata

PASSWORD = "s3cretpass"
API_KEY = "sk-fake-canary-123"
SCENARIO = """
name = "credentials"
dataset = "{dataset}"
seed = 1
rounds = 1
pages = 2

[users]
count = 4
choice_model = "statistical"

[llm]
api_base = "http://user:{password}@127.0.0.1:9/v1"

[fidelity]
temporal = false

[[arms]]
name = "pop"
recommender = "mostpop"
"""


def files_holding(folder: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [path for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_a_simulation_writes_no_url_password_and_no_api_key(ml100k: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    scenario = tmp_path / "credentials.toml"
    scenario.write_text(SCENARIO.format(dataset=ml100k, password=PASSWORD))
    env = {**os.environ, "AGENTREC_HOME": str(home), "OPENAI_API_KEY": API_KEY}
    command = [sys.executable, "-m", "agentrec.cli", "simulate", str(scenario), "--json", str(home / "out.json")]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr

    assert len(list(home.rglob("*"))) > 10  # the run wrote its whole state, not nothing
    assert files_holding(home, PASSWORD) == []
    assert files_holding(home, API_KEY) == []
    # The endpoint is still recorded, with its credentials masked.
    (run_file,) = home.glob("sim/runs/*/run.json")
    assert json.loads(run_file.read_text())["scenario"]["llm"]["api_base"] == "http://***@127.0.0.1:9/v1"
