"""The ``stealth`` optimiser's trade-off: log P gain against the planted product's perplexity, per fluency weight.

For each fluency weight, ``agentrec audit --optimizer stealth`` runs on the
catalog's target (default ``catalogs/coffee_machines.jsonl``, "ColdBrew
Master") and the sequence found is evaluated on ``--pairs`` held-out paired
orders (the audit's own evaluation, llama.cpp). Reported per weight: torch
log P("1. <target>") before/after on the optimiser's validation orders, the
llama.cpp paired log P gain and rank change with bootstrap CIs, and the
perplexity of the planted product line under the perplexity defence's
measure, beside the clean products' median perplexity (this catalog's, and
every catalog's), the clean target's, and the defence's calibrated threshold. Writes a JSON and a PNG plot (log P
gain against perplexity). The reference point: GCG from a random start gained
+0.510 [+0.435, +0.585] on 100 pairs with a planted perplexity far above the
threshold (bench/README.md).

    AGENTREC_DATA_HOME=/work/shared/data python bench/audit_stealth.py --iters 20 --pairs 100 \\
        --weights 0,0.3,1 --workers 2 --threads 1

Extra optimiser options go through ``--option key=value`` (as on the CLI).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentrec.audit.catalog import load_catalog
from agentrec.audit.perplexity import PerplexityScorer, calibrate_threshold
from agentrec.audit.run import AuditOptions, run_audit
from agentrec.llm.local import LocalChatModel

CATALOGS = Path("catalogs")
OUT = Path("bench/out")
GCG_RANDOM_START_GAIN = 0.510  # bench/README.md, "GCG from a random start", 100 held-out pairs


def _options(text: list[str]) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in text]
    if any(len(pair) != 2 for pair in pairs):
        raise SystemExit("--option takes key=value")
    return {key: value for key, value in pairs}


def _run_weight(args: argparse.Namespace, weight: float, scorer: PerplexityScorer) -> dict[str, Any]:
    options = {**_options(args.option), "fluency": str(weight)}
    if args.threads:
        options["threads"] = str(args.threads)
    audit = AuditOptions(
        catalog=args.catalog,
        target=args.target,
        optimizer="stealth",
        iters=args.iters,
        evals=args.pairs,
        seed=args.seed,
        workers=args.workers,
        optimizer_options=options,
    )
    started = time.perf_counter()
    result = run_audit(audit)
    report, optimization = result.report, result.optimization
    assert optimization is not None  # an optimiser ran: no --sts
    extra = optimization.extra
    planted = load_catalog(args.catalog)
    line = optimization.placement.insert(planted.product(report.target), report.sts).json_line()
    paired = report.paired
    return {
        "fluency": weight,
        "sts": report.sts,
        "initial_sts": extra["initial_sts"],
        "torch_logprob_before": extra["torch_logprob_before"],
        "torch_logprob_after": extra["torch_logprob_after"],
        "llama_validation_before": optimization.initial_score,
        "llama_validation_after": optimization.best_score,
        "logprob_gain": paired["mean_logprob"].model_dump(),
        "mean_rank_change": paired["mean_rank"].model_dump(),
        "not_recommended": [report.before.not_recommended_rate, report.after.not_recommended_rate],
        "improved": report.advantage.improved,
        "worsened": report.advantage.worsened,
        "perplexity": scorer.perplexity(line),
        "optimiser_seconds": optimization.seconds,
        "seconds_per_step": extra["seconds_per_step"],
        "evaluation_seconds": report.timing.eval_seconds if report.timing else None,
        "seconds": time.perf_counter() - started,
        "optimization": optimization.as_dict(),
    }


def _plot(rows: list[dict[str, Any]], reference: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    x = [row["perplexity"] for row in rows]
    y = [row["logprob_gain"]["diff"] for row in rows]
    low = [row["logprob_gain"]["diff"] - row["logprob_gain"]["low"] for row in rows]
    high = [row["logprob_gain"]["high"] - row["logprob_gain"]["diff"] for row in rows]
    axes.errorbar(x, y, yerr=[low, high], fmt="o-", capsize=3, label="stealth (95% CI)")
    for row in rows:
        point = (row["perplexity"], row["logprob_gain"]["diff"])
        axes.annotate(f"fluency {row['fluency']:g}", point, xytext=(5, 5), textcoords="offset points", fontsize=8)
    axes.axvline(reference["clean_median"], color="grey", linestyle="--", label="clean products' median")
    axes.axvline(reference["clean_target"], color="grey", linestyle=":", label="clean target")
    axes.axvline(reference["threshold"], color="red", linestyle="--", label="perplexity defence threshold")
    axes.axhline(GCG_RANDOM_START_GAIN, color="black", linestyle="-.", label="gcg, random start")
    axes.axhline(0.0, color="black", linewidth=0.5)
    axes.set_xlabel("planted product perplexity (embedded model)")
    axes.set_ylabel('paired log P("1. target") gain')
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=20, help="Langevin steps per run")
    parser.add_argument("--pairs", type=int, default=100, help="held-out paired orders per evaluation")
    parser.add_argument("--weights", default="0,0.3,1", help="fluency weights, comma-separated")
    parser.add_argument("--catalog", type=Path, default=CATALOGS / "coffee_machines.jsonl")
    parser.add_argument("--target", default="ColdBrew Master")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes for the paired evaluation")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the optimiser")
    parser.add_argument("--option", action="append", default=[], help="optimiser option key=value (repeatable)")
    parser.add_argument("--json", type=Path, default=OUT / "audit_stealth.json")
    parser.add_argument("--plot", type=Path, default=OUT / "audit_stealth.png")
    args = parser.parse_args()
    weights = [float(value) for value in args.weights.split(",") if value.strip()]

    scorer = PerplexityScorer(LocalChatModel())
    catalog = load_catalog(args.catalog)
    clean = [scorer.perplexity(product.json_line()) for product in catalog.products]
    calibration = calibrate_threshold(scorer, [load_catalog(path) for path in sorted(CATALOGS.glob("*.jsonl"))])
    everywhere = [value for values in calibration.clean_perplexity.values() for value in values]
    reference = {
        "clean_median": float(np.median(clean)),
        "clean_median_all_catalogs": float(np.median(everywhere)),
        "clean_target": scorer.perplexity(catalog.product(args.target).json_line()),
        # The defence judges perplexity over the catalog's median: its threshold on this catalog's scale.
        "threshold": calibration.threshold * (float(np.median(clean)) if calibration.relative else 1.0),
    }
    rows = []
    for weight in weights:
        rows.append(_run_weight(args, weight, scorer))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"catalog": str(args.catalog), "target": args.target, "iters": args.iters, "pairs": args.pairs}
        args.json.write_text(json.dumps({**payload, "reference": reference, "runs": rows}, indent=2))
        _print_row(rows[-1], reference)
    _plot(rows, reference, args.plot)
    print(f"wrote {args.json} and {args.plot}")


def _print_row(row: dict[str, Any], reference: dict[str, float]) -> None:
    gain, rank = row["logprob_gain"], row["mean_rank_change"]
    print(
        f"fluency {row['fluency']:g}: log P gain {gain['diff']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}], "
        f"mean rank {rank['diff']:+.3f} [{rank['low']:+.3f}, {rank['high']:+.3f}], "
        f"perplexity {row['perplexity']:.1f} (clean median {reference['clean_median']:.1f}, "
        f"threshold {reference['threshold']:.1f}), torch log P {row['torch_logprob_before']:.3f} -> "
        f"{row['torch_logprob_after']:.3f}, {row['seconds_per_step']:.1f} s/step\n  STS: {row['sts']!r}",
        flush=True,
    )


if __name__ == "__main__":
    main()
