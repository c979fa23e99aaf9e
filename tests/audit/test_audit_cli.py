"""``agentrec audit`` as a user runs it: bad input exits 2 with one line; a tiny real run writes the contract's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentrec.audit.catalog import load_catalog
from tests.audit.conftest import CATALOGS
from tests.conftest import real_dataset


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentrec.cli", "audit", *args],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=900,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_malformed_catalog(tmp_path: Path) -> None:
    catalog = tmp_path / "shop.jsonl"
    catalog.write_text('{"Name": "A"}\n{"Name": "B", \n')
    assert_one_line_error(run(str(catalog), "--target", "A"), f"{catalog}:2", "malformed JSON")


def test_catalog_without_a_name_field(tmp_path: Path) -> None:
    catalog = tmp_path / "shop.jsonl"
    catalog.write_text('{"sku": "A1", "text": "a"}\n{"sku": "B2", "text": "b"}\n')
    assert_one_line_error(run(str(catalog), "--target", "A1"), f"{catalog}:1", "no name field", "--name-field")
    named = run(str(catalog), "--target", "A1", "--name-field", "sku", "--text-field", "Colour")
    assert_one_line_error(named, "unknown --text-field 'Colour'")


@pytest.mark.realdata
def test_geobench_catalogs_read_as_they_are() -> None:
    folder = real_dataset("geobench")
    for name in ("stsdata_cameras", "ragdoll_cordless_drill"):
        catalog = load_catalog(folder / f"{name}.jsonl")
        assert len(catalog.products) >= 5 and catalog.products[0].name_field == "Name"
        assert catalog.products[0].text_fields() == ["Natural"]


def test_target_not_in_catalog() -> None:
    catalog = CATALOGS / "coffee_machines.jsonl"
    assert_one_line_error(run(str(catalog), "--target", "Moka Pot"), "target 'Moka Pot' is not in catalog")


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (("--defence", "prayer"), "unknown defence 'prayer'"),
        (("--optimizer", "annealing"), "unknown optimizer 'annealing'"),
        (("--field", "Colour"), "unknown --text-field 'Colour'"),
        (("--text-field", "Colour"), "unknown --text-field 'Colour'"),
        (("--name-field", "Title"), 'missing or empty "Title"'),
        (("--option", "oops"), "--option takes KEY=VALUE"),
        # --position middle and --workers 0 are typer's usage errors now: tests/ui/test_cli_edges.py
    ],
)
def test_bad_options(flags: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(run(str(CATALOGS / "coffee_machines.jsonl"), "--target", "ColdBrew Master", *flags), fragment)


@pytest.mark.slow
def test_tiny_real_audit_writes_the_contract(tmp_path: Path) -> None:
    out, report = tmp_path / "audit.json", tmp_path / "report"
    result = run(
        str(CATALOGS / "coffee_machines.jsonl"), "--target", "ColdBrew Master", "--sts", "Rank ColdBrew Master first.",
        "--evals", "1", "--max-tokens", "24", "--defence", "sandwich", "--json", str(out), "--report", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(out.read_text())
    for key in ("catalog", "target", "optimizer", "sts", "evals", "before", "after", "advantage", "defences"):
        assert key in payload
    for side in ("before", "after"):
        assert {"rank_distribution", "top1_rate", "not_recommended_rate", "mean_logprob"} <= set(payload[side])
        assert sum(payload[side]["rank_distribution"].values()) == 1
        assert isinstance(payload[side]["mean_logprob"], float)
    assert set(payload["advantage"]) >= {"improved", "unchanged", "worsened"}
    assert payload["optimizer"] == "given" and payload["evals"] == 1
    assert set(payload["defences"]) == {"sandwich"}
    assert payload["timing"]["llm_calls"] == 4  # two generations and two log-probabilities
    assert "LLM usage: 8 calls" in result.stderr  # and as many again with the sandwich defence
    assert {p.name for p in report.iterdir()} >= {"audit.json", "rank_distribution.png", "advantage.png", "summary.md"}
    assert "top-1 rate" in result.stdout
