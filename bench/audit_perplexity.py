"""How often the perplexity filter flags optimised sequences, and its false positives on clean products.

The threshold is calibrated exactly as ``agentrec audit --defence perplexity``
does (the largest clean perplexity over every catalog in ``catalogs/``, false
positives leave-one-catalog-out). Sequences come from three sources:

* ``gcg``: every sequence in GCG progress logs (JSON lines with an ``sts`` key);
* ``<optimizer>-history``: every candidate in the optimisation history of audit JSONs,
  grouped by the optimiser that ran (``random-history``, ``gcg-history``, ...);
* ``random-fresh``: fresh sequences drawn the way ``random`` starts and mutates,
  20 tokens of the embedded model's printable vocabulary, seeded.

Each is planted at the end of the target's last field, as in an audit.

    python bench/audit_perplexity.py --gcg bench/out/audit_gcg_coldbrew_progress.jsonl \
        --audits bench/out/audit_quickbrew_random_200.json [--fresh 100] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from agentrec.audit.catalog import load_catalog
from agentrec.audit.defences import PerplexityDefence
from agentrec.audit.perplexity import PerplexityScorer, calibrate_threshold
from agentrec.audit.placement import StsPlacement, catalog_with_sts
from agentrec.audit.random_search import DEFAULT_LENGTH, token_vocabulary
from agentrec.llm.local import LocalChatModel

CATALOGS = Path("catalogs")


def _gcg_sequences(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                found.append(json.loads(line)["sts"])
    return list(dict.fromkeys(found))


def _history_sequences(paths: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        optimization = json.loads(path.read_text()).get("optimization") or {}
        name = f"{optimization.get('optimizer', 'unknown')}-history"
        found.setdefault(name, []).extend(step["candidate"] for step in optimization.get("history", []))
    return {name: list(dict.fromkeys(sequences)) for name, sequences in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gcg", type=Path, nargs="*", default=[])
    parser.add_argument("--audits", type=Path, nargs="*", default=[])
    parser.add_argument("--fresh", type=int, default=100)
    parser.add_argument("--catalog", type=Path, default=CATALOGS / "coffee_machines.jsonl")
    parser.add_argument("--target", default="ColdBrew Master")
    parser.add_argument("--json", type=Path, default=Path("bench/out/audit_perplexity.json"))
    args = parser.parse_args()

    model = LocalChatModel()
    scorer = PerplexityScorer(model)
    catalogs = [load_catalog(path) for path in sorted(CATALOGS.glob("*.jsonl"))]
    calibration = calibrate_threshold(scorer, catalogs)
    catalog = load_catalog(args.catalog)
    defence, index = PerplexityDefence(scorer, calibration), catalog.index_of(args.target)
    vocabulary = token_vocabulary(model)
    assert vocabulary is not None
    rng = np.random.default_rng(0)
    fresh = [vocabulary.join([str(u) for u in rng.choice(vocabulary.units, DEFAULT_LENGTH)]) for _ in range(args.fresh)]
    sources = {"gcg": _gcg_sequences(args.gcg), **_history_sequences(args.audits), "random-fresh": fresh}
    placement = StsPlacement()
    rows: dict[str, Any] = {}
    for name, sequences in sources.items():
        if not sequences:
            continue
        planted = [catalog_with_sts(catalog, args.target, sts, placement) for sts in sequences]
        scores = [scorer.perplexity(one.product(args.target).json_line()) for one in planted]
        flagged = sum(defence.flags(one)[index] for one in planted)
        rows[name] = {
            "sequences": len(sequences),
            "flagged": flagged,
            "flag_rate": flagged / len(sequences),
            "perplexity_median": float(np.median(scores)),
            "perplexity_min": float(min(scores)),
        }
    result = {"model": model.model_id, "calibration": calibration.as_dict(), "sources": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(
        f"threshold {calibration.threshold:.2f}; clean false positives {calibration.false_positives}/"
        f"{calibration.clean_products} ({calibration.false_positive_rate:.1%}, leave-one-catalog-out)"
    )
    print("| sequences | n | flagged | flag rate | median perplexity | min perplexity |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['sequences']} | {row['flagged']} | {row['flag_rate']:.1%} | "
            f"{row['perplexity_median']:.1f} | {row['perplexity_min']:.1f} |"
        )


if __name__ == "__main__":
    main()
