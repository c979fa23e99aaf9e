"""The agent audit's report folder: JSON, a before/after bar plot per fusion, and a Markdown summary."""

from __future__ import annotations

import json
from pathlib import Path

from agentrec.audit.agent_audit import AgentAuditReport


def write_agent_audit_report(report: AgentAuditReport, folder: Path) -> list[Path]:
    """Write ``report.json``, ``topk_by_fusion.png`` and ``summary.md`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "report.json", folder / "topk_by_fusion.png", folder / "summary.md"]
    paths[0].write_text(json.dumps(report.json_data(), indent=2) + "\n", encoding="utf-8")
    _plot_topk(report, paths[1])
    paths[2].write_text(summary_markdown(report), encoding="utf-8")
    return paths


def summary_markdown(report: AgentAuditReport) -> str:
    """A short summary a person can read: what was planted, and what each fusion did with it."""
    lines = [
        f"# Agent audit: {report.target_title} on {report.dataset}",
        "",
        f"Planted text: \u201c{report.sts}\u201d",
        "",
        f"Policy `{report.policy}`, top-{report.k}. {report.candidate_users} users for whom the target is a "
        f"candidate (of {report.users_scanned} scanned). Each user runs clean, then planted.",
        "",
        f"| fusion | top-{report.k} rate before | after | diff 95% CI | top-1 before | after | "
        "improved / unchanged / worsened |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in report.outcomes:
        lines.append(
            f"| {o.fusion} | {o.topk_rate_before:.3f} | {o.topk_rate_after:.3f} | "
            f"[{o.topk_diff_ci[0]:+.3f}, {o.topk_diff_ci[1]:+.3f}] | {o.top1_rate_before:.3f} | "
            f"{o.top1_rate_after:.3f} | {o.improved:.0%} / {o.unchanged:.0%} / {o.worsened:.0%} |"
        )
    lines += ["", "A CI that excludes 0 means the planted text moved the target for that fusion.", ""]
    return "\n".join(lines)


def _plot_topk(report: AgentAuditReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [o.fusion for o in report.outcomes]
    x = np.arange(len(names))
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.bar(x - 0.2, [o.topk_rate_before for o in report.outcomes], 0.4, label="clean", color="#9aa5b1")
    after = [o.topk_rate_after for o in report.outcomes]
    errors = np.array(
        [[max(0.0, o.topk_rate_after - (o.topk_rate_before + o.topk_diff_ci[0])) for o in report.outcomes],
         [max(0.0, o.topk_rate_before + o.topk_diff_ci[1] - o.topk_rate_after) for o in report.outcomes]]
    )  # fmt: skip
    axes.bar(x + 0.2, after, 0.4, yerr=errors, capsize=4, label="STS planted", color="#d1495b")
    axes.set_xticks(x, names)
    axes.set_ylabel(f"share of users with the target in top-{report.k}")
    axes.set_title(f"{report.target_title}: planted text by fusion mode", fontsize=10)
    axes.set_ylim(0, 1)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
