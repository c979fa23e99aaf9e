"""The audit's LLM usage line counts every call it made, streamed replies and log-probabilities included;
a defence asking for a capability the backend lacks ends in one line and exit 2."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentrec import cli
from agentrec.audit import run as audit_run
from agentrec.llm import AssistantTurn, CachedChatModel, GenerationSettings, Message, ResponseStore, run_usage


def listed_names(messages: list[Message]) -> list[str]:
    lines = [line for line in messages[1].content.splitlines() if line.startswith("{")]
    return [line.split('"Name": "')[1].split('"')[0] for line in lines]


class ListingModel:
    """Lists the products in the order shown (the prompt's prefill says "1.")."""

    def __init__(self) -> None:
        self.completions = 0

    @property
    def model_id(self) -> str:
        return "fake/listing"

    def listing(self, messages: list[Message]) -> list[str]:
        return [f" {name}\n" if i == 1 else f"{i}. {name}\n" for i, name in enumerate(listed_names(messages), 1)]

    def complete(self, messages: list[Message], *args: object, **kwargs: object) -> AssistantTurn:
        self.completions += 1
        return AssistantTurn(text="".join(self.listing(messages)))


class StreamingScoringModel(ListingModel):
    """The listing streamed line by line, and a log-probability for the first place."""

    def __init__(self) -> None:
        super().__init__()
        self.streams = 0
        self.scores = 0

    def stream_text(self, messages: list[Message], settings: GenerationSettings | None = None) -> Iterator[str]:
        self.streams += 1
        yield from self.listing(messages)

    def logprob(self, messages: list[Message], continuation: str) -> float:
        self.scores += 1
        return -float(listed_names(messages).index(continuation.removeprefix("1. ").strip()) + 1)


def use_backend(monkeypatch: pytest.MonkeyPatch, backend: object, store: ResponseStore) -> None:
    """The audit's chat model is ``backend`` behind the cache and the run's meter, as ``--llm`` would build it."""

    def make_chat_model(spec: str, api_base: str | None = None, cache: str = "on") -> CachedChatModel:
        return CachedChatModel(backend, mode=cache, store=store, meter=run_usage())  # type: ignore[arg-type]

    monkeypatch.setattr(audit_run, "make_chat_model", make_chat_model)


def audit_args(coffee_path: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "audit", str(coffee_path), "--target", "ColdBrew Master", "--sts", "x x x", "--evals", "2",
        "--report", str(tmp_path / "report"), *extra,
    ]  # fmt: skip


def test_the_usage_line_counts_every_call_the_audit_made(
    coffee_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = StreamingScoringModel()
    use_backend(monkeypatch, backend, ResponseStore(tmp_path / "cache.duckdb"))
    for run, cached in (("live", 0), ("rerun", 8)):
        run_usage().reset()
        out = tmp_path / f"{run}.json"
        result = CliRunner().invoke(cli.app, audit_args(coffee_path, tmp_path, "--json", str(out)))
        assert result.exit_code == 0, result.output
        timing = json.loads(out.read_text())["timing"]
        usage = re.search(r"LLM usage: (\d+) calls \((\d+) cached\)", result.output)
        assert usage is not None, result.output
        # Two pairs, each two streamed replies and two log-probabilities: every one on the usage line.
        assert (int(usage[1]), int(usage[2])) == (timing["llm_calls"], cached) == (8, cached)
        assert run_usage().calls - run_usage().cache_hits == timing["backend_calls"] == 8 - cached
    assert (backend.streams, backend.scores, backend.completions) == (4, 4, 0)  # the rerun computed nothing


def test_a_defence_needing_log_probabilities_on_a_backend_without_them_is_one_line(
    coffee_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_backend(monkeypatch, ListingModel(), ResponseStore(tmp_path / "cache.duckdb"))
    monkeypatch.setattr(sys, "argv", ["agentrec", *audit_args(coffee_path, tmp_path, "--defence", "perplexity")])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        "agentrec: error: the LLM backend fake/listing cannot give log-probabilities, which the perplexity "
        "defence needs (it does not implement ScoresText)"
    ]
