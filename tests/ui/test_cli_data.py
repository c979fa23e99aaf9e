"""The CLI as a user runs it: ``agentrec data info`` and ``quickstart``, with exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentrec.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_data_info_json(ml100k: Path, tmp_path: Path) -> None:
    out = tmp_path / "info.json"
    result = run("data", "info", str(ml100k), "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "943" in result.stdout and "1,682" in result.stdout
    info = json.loads(out.read_text())
    assert (
        info["users"],
        info["items"],
        info["items_with_interactions"],
        info["interactions"],
    ) == (943, 1682, 1682, 100_000)
    assert info["rating_scale"] == {"min": 1.0, "max": 5.0, "distinct_values": 5}
    assert info["time_span"]["first"] == "1997-09-20"


def test_unknown_dataset_name(tmp_path: Path) -> None:
    result = run("data", "info", "netflix-prize", env={"AGENTREC_DATA_HOME": str(tmp_path)})
    assert_one_line_error(result, "unknown dataset 'netflix-prize'")


def test_missing_folder() -> None:
    assert_one_line_error(run("data", "info", "/nonexistent/dataset/folder"), "no such folder")


def test_malformed_row(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t1\t5\t881250949\n1\t2\n")
    (tmp_path / "u.item").write_text("")
    assert_one_line_error(
        run("data", "info", str(tmp_path)), f"{tmp_path / 'u.data'}:2", "too few fields"
    )


def test_offline_known_dataset(tmp_path: Path) -> None:
    result = run(
        "data",
        "info",
        "ml-1m",
        env={"AGENTREC_DATA_HOME": str(tmp_path), "AGENTREC_MOVIELENS_URL": "http://127.0.0.1:9"},
    )
    assert_one_line_error(result, str(tmp_path / "ml-1m"), "ratings.dat, movies.dat, users.dat")


def test_usage_error_exits_2() -> None:
    result = run("data", "info")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_help_lists_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "quickstart" in result.stdout and "data" in result.stdout
