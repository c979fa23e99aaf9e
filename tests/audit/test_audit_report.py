"""The report folder: JSON, two PNG charts and a Markdown summary, from a known set of pairs."""

from __future__ import annotations

import json
from pathlib import Path

from agentrec.audit.paired_run import PairOutcome
from agentrec.audit.placement import StsPlacement
from agentrec.audit.report import write_report
from agentrec.audit.results import AuditReport, AuditTiming, DefenceResult
from agentrec.audit.statistics import summarise_pairs


def known_report(outcomes: list[PairOutcome]) -> AuditReport:
    summary = summarise_pairs(outcomes, n_products=3)
    return AuditReport(
        catalog="catalogs/shop.jsonl", target="B", optimizer="random", sts="zz", evals=3, **dict(summary),
        defences={"sandwich": DefenceResult(**dict(summary), details={"prompt_style": "sandwich"})},
        llm="local/x.gguf", request="r?", prefill="1.", placement=StsPlacement(), seed=0, products=3,
        optimization=None, pairs=[],
        timing=AuditTiming(eval_seconds=2.0, pairs=3, llm_calls=12, backend_calls=12, calls_per_s=6.0,
                           computed_calls_per_s=6.0, seconds_per_pair=0.667),
    )  # fmt: skip


def test_report_folder(tmp_path: Path) -> None:
    outcomes = [PairOutcome((0, 1, 2), b, a, -5.0, -4.0, "1. A", "1. B") for b, a in [(4, 1), (2, 2), (1, 3)]]
    report = known_report(outcomes)
    folder = write_report(report, tmp_path / "report", outcomes)
    assert json.loads((folder / "audit.json").read_text())["advantage"]["improved"] == round(1 / 3, 4)
    for chart in ("rank_distribution.png", "advantage.png"):
        assert (folder / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary_text = (folder / "summary.md").read_text()
    assert "| before (clean) | 0.333" in summary_text and "### Defence: sandwich" in summary_text
    assert len((folder / "replies.jsonl").read_text().splitlines()) == 3
