"""``agentrec quickstart`` end to end at small sizes: all three uses run and their reports are written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_quickstart_runs_agent_simulation_and_audit_and_says_where_the_reports_are(ml100k: Path) -> None:
    arguments = ["--dataset", str(ml100k), "--agent-users", "2", "--sim-users", "6", "--audit-pairs", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "agentrec.cli", "quickstart", *arguments, "--workers", "1"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=1200,  # cold: the store, three models, MiniLM and the fusion ranker are built first
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for heading in ("the agent", "agent-eval", "simulation", "STS audit"):
        assert heading in out
    assert "ColdBrew Master" in out and "mostpop" in out and "ease" in out
    reports = [Path(line.strip()) for line in out.split("reports:")[-1].splitlines() if line.strip()]
    assert len(reports) == 4 and all(path.exists() for path in reports)
    audit_folder = next(path for path in reports if path.name == "quickstart-audit")
    assert {"audit.json", "rank_distribution.png", "advantage.png", "summary.md"} <= {
        p.name for p in audit_folder.iterdir()
    }
    assert re.search(r"finished in [0-9.]+ s", out)
