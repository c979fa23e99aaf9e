"""``agentrec llm ping|bench`` on the embedded model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentrec.core.errors import ConfigError
from agentrec.ui.llm_commands import app


def test_ping_shows_the_reply_and_writes_json(tmp_path) -> None:
    out = tmp_path / "ping.json"
    result = CliRunner().invoke(app, ["ping", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "llama.cpp in-process" in result.output and "tokens/s" in result.output
    payload = json.loads(out.read_text())
    assert payload["backend"] == "llama.cpp in-process"
    assert payload["completion_tokens"] > 0 and payload["model"].startswith("local/")
    assert "LLM usage: " in result.output


def test_bench_reports_throughput_and_the_raw_baseline(tmp_path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--repeats", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["tokens_per_s"] > 0
    assert payload["time_to_first_token_s"] > 0
    assert payload["against_raw_llama_cpp"]["raw_llama_cpp_tokens_per_s"] > 0


def test_a_missing_model_file_is_a_config_error(tmp_path) -> None:
    result = CliRunner().invoke(app, ["ping", "--llm", str(tmp_path / "nope.gguf")])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)


@pytest.mark.parametrize("command", ["ping", "bench"])
def test_help_lists_the_options(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "--llm" in result.output and "--api-base" in result.output
