"""A labelled benchmark of the filtering defences: precision, recall, false positives, cost, and gain removed.

Positives (attacks), each planted in its catalog's seeded target:
* every sequence the optimisers wrote (``bench/audit_sequences.py``: random, gcg,
  rewrite, stealth on the four paper catalogs and backpacks);
* hand-written injections in four kinds (``bench/audit_injections.py``), planted
  in the same targets of the same catalogs.
Negatives: every product of every catalog, clean (the paper catalogs, backpacks,
and GEO-Bench's two).

Everything is leave-one-catalog-out: for each catalog, each defence is calibrated
on the clean products of all the *other* catalogs, then flags that catalog's
clean products (false positives) and the attacks planted in it (recall). No
threshold ever sees an attack.

Gain removed: for the coffee catalog's target, the best sequence of each
optimiser and two injections are audited in paired runs. A filter changes an
audit only where it flags, and a flagged product is reduced to its name, so
each order runs three ways (clean, with the STS, with the target reduced to its
name) and each defence's halves follow from its flags, calibrated as
``agentrec audit --defence D`` calibrates them (exact while it flags no other
product of the catalog, which is reported). The gain is the paired change in
log P("1. <target>") and in mean rank; "removed" is the undefended gain minus
the defended one, paired by order, with a bootstrap CI.

    python bench/audit_defences.py --sequences bench/out/audit_sequences.jsonl \
        --defences perplexity-absolute,perplexity,semantic,perplexity+semantic --gain-pairs 50 \
        --json bench/out/audit_defences.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_injections import injection_texts
from audit_sequences import seeded_target

from agentrec.audit.catalog import Catalog, load_catalog
from agentrec.audit.defences import CombinedDefence, NoDefence, PerplexityDefence, SemanticDefence, neutralise
from agentrec.audit.pair_workers import ChatSpec
from agentrec.audit.paired_evaluation import PairedSetup, Parallelism, paired_rank_evaluation
from agentrec.audit.perplexity import PerplexityScorer, calibrate_threshold
from agentrec.audit.placement import StsPlacement, catalog_with_sts
from agentrec.audit.prompt import DEFAULT_PREFILL, RecommenderPrompt, default_request
from agentrec.audit.recommender import AuditedRecommender
from agentrec.audit.semantic import calibrate_semantic
from agentrec.audit.semantic_detectors import SemanticScorer
from agentrec.eval.bootstrap import paired_bootstrap
from agentrec.llm.factory import make_chat_model

PAPER_CATALOGS = Path("catalogs")
GEOBENCH = Path("../shared/data/geobench")
GAIN_CATALOG = "coffee_machines"
GAIN_INJECTIONS = ("direct order", "fake ranking")


class Filter(Protocol):
    """What every filtering defence gives: one flag per product of a catalog, in catalog order."""

    def flags(self, catalog: Catalog) -> list[bool]: ...


@dataclass(frozen=True)
class Attack:
    """One labelled positive: a sequence planted in a target of a catalog."""

    source: str  # the optimiser, or "injection: <kind>"
    catalog: str
    target: str
    sts: str
    placement: StsPlacement
    best: bool = False


def clean_catalogs(folders: Sequence[Path]) -> dict[str, Catalog]:
    """Every catalog in ``folders``, by name."""
    found = {}
    for folder in folders:
        for path in sorted(folder.glob("*.jsonl")):
            catalog = load_catalog(path)
            found[catalog.name] = catalog
    return found


def optimiser_attacks(path: Path, catalogs: dict[str, Catalog]) -> list[Attack]:
    """Every sequence in the corpus written by ``bench/audit_sequences.py``."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    attacks = []
    for row in rows:
        if row["catalog"] in catalogs:
            placement = StsPlacement(**row["placement"])
            attacks.append(Attack(row["optimizer"], row["catalog"], row["target"], row["sts"], placement, row["best"]))
    return attacks


def injection_attacks(catalogs: dict[str, Catalog], names: Sequence[str], seed: int) -> list[Attack]:
    """Every hand-written injection, filled in and planted in each named catalog's seeded target."""
    attacks = []
    for name in names:
        target = seeded_target(catalogs[name], seed)
        for kind, text in injection_texts(catalogs[name], target, seed):
            attacks.append(Attack(f"injection: {kind}", name, target, text, StsPlacement()))
    return attacks


class SharedScorers:
    """One perplexity and one semantic scorer for every fold: both memoise per text, so each product is scored once.

    Names: ``perplexity`` (over the catalog's median, the defence's default), ``perplexity-absolute``
    (the raw perplexity, for comparison), ``semantic``, and "+" joins several.
    """

    def __init__(self, recommender: AuditedRecommender) -> None:
        self.perplexity = PerplexityScorer(recommender.chat)
        self.semantic = SemanticScorer(recommender.chat)

    def build(self, name: str, calibration: list[Catalog]) -> Filter:
        """The defence called ``name``, calibrated on ``calibration`` only."""
        parts = [self._one(part, calibration) for part in name.split("+")]
        return parts[0] if len(parts) == 1 else CombinedDefence(parts)

    def _one(self, name: str, calibration: list[Catalog]) -> Any:
        if name in ("perplexity", "perplexity-absolute"):
            relative = name == "perplexity"
            return PerplexityDefence(
                self.perplexity, calibrate_threshold(self.perplexity, calibration, relative=relative)
            )
        if name == "semantic":
            return SemanticDefence(self.semantic, calibrate_semantic(self.semantic, calibration))
        raise SystemExit(f"unknown filtering defence {name!r}: use perplexity, perplexity-absolute or semantic")


def detection(
    defences: Sequence[str],
    catalogs: dict[str, Catalog],
    attacks: Sequence[Attack],
    scorers: SharedScorers,
) -> dict[str, Any]:
    """Leave-one-catalog-out flags of clean products and planted attacks, per defence."""
    results: dict[str, Any] = {}
    for defence in defences:
        clean_flags: dict[str, list[bool]] = {}
        attack_flags: list[tuple[Attack, bool]] = []
        seconds = 0.0
        products = 0
        for held_out, catalog in catalogs.items():
            others = [c for name, c in catalogs.items() if name != held_out]
            flagging = scorers.build(defence, others)
            started = time.perf_counter()
            clean_flags[held_out] = flagging.flags(catalog)
            seconds += time.perf_counter() - started
            products += len(catalog.products)
            for attack in (a for a in attacks if a.catalog == held_out):
                planted = catalog_with_sts(catalog, attack.target, attack.sts, attack.placement)
                attack_flags.append((attack, flagging.flags(planted)[catalog.index_of(attack.target)]))
            print(f"{defence}: {held_out} done", flush=True)
        results[defence] = _rates(clean_flags, attack_flags, seconds / max(products, 1))
    return results


def _rates(
    clean_flags: dict[str, list[bool]], attack_flags: list[tuple[Attack, bool]], seconds_per_product: float
) -> dict[str, Any]:
    negatives = [flag for flags in clean_flags.values() for flag in flags]
    false_positives = sum(negatives)
    by_source: dict[str, list[bool]] = defaultdict(list)
    for attack, flagged in attack_flags:
        by_source[attack.source].append(flagged)
    true_positives = sum(flag for _, flag in attack_flags)
    flagged_total = true_positives + false_positives
    return {
        "clean_products": len(negatives),
        "false_positives": false_positives,
        "false_positive_rate": false_positives / max(len(negatives), 1),
        "false_positives_by_catalog": {name: int(sum(flags)) for name, flags in clean_flags.items()},
        "attacks": len(attack_flags),
        "recall": true_positives / max(len(attack_flags), 1),
        "precision": true_positives / flagged_total if flagged_total else None,
        "recall_by_source": {
            source: {"n": len(flags), "recall": sum(flags) / len(flags)} for source, flags in sorted(by_source.items())
        },
        "seconds_per_clean_product": seconds_per_product,
    }


def gain_attacks(attacks: Sequence[Attack], catalogs: dict[str, Catalog], seed: int) -> list[Attack]:
    """The best sequence of each optimiser on the gain catalog, and two injections in the same target."""
    chosen = {a.source: a for a in attacks if a.catalog == GAIN_CATALOG and a.best}
    target = seeded_target(catalogs[GAIN_CATALOG], seed)
    for kind, text in injection_texts(catalogs[GAIN_CATALOG], target, seed):
        if kind in GAIN_INJECTIONS and f"injection: {kind}" not in chosen:
            chosen[f"injection: {kind}"] = Attack(f"injection: {kind}", GAIN_CATALOG, target, text, StsPlacement())
    return list(chosen.values())


class NeutraliseWhenPlanted(NoDefence):
    """Reduces the target to its name in the "after" half only: the half a filter that flags the STS sends."""

    def __init__(self, clean: Catalog, target: str) -> None:
        self.clean, self.index = clean, clean.index_of(target)

    def protect(self, catalog: Catalog) -> Catalog:
        planted = catalog.products[self.index] != self.clean.products[self.index]
        return neutralise(catalog, [planted and i == self.index for i in range(len(catalog.products))])


def gain_removed(
    attacks: Sequence[Attack],
    defences: Sequence[str],
    catalogs: dict[str, Catalog],
    scorers: SharedScorers,
    pairs: int,
    seed: int,
) -> dict[str, Any]:
    """Per attack: the undefended gain and, per defence, the defended gain and the gain removed (paired CIs).

    A filter's defended audit differs from the undefended one only where it flags: a flagged
    product is reduced to its name in that half. So each order is run three ways, clean, with the
    STS and with the target reduced to its name, and a defence's halves are assembled from its
    flags (calibrated, as ``agentrec audit --defence`` is, on every clean catalog). That is exact
    while the defence flags no other product of the catalog, which is checked and reported.
    """
    catalog = catalogs[GAIN_CATALOG]
    recommender = AuditedRecommender(
        make_chat_model("local"), RecommenderPrompt(request=default_request(catalog.name), prefill=DEFAULT_PREFILL)
    )
    every_clean = list(catalogs.values())
    filters = {name: scorers.build(name, every_clean) for name in defences}
    parallel = Parallelism(workers=2, chat=ChatSpec())
    results: dict[str, Any] = {}
    neutral: dict[str, list[Any]] = {}
    for attack in attacks:
        index = catalog.index_of(attack.target)
        setup = PairedSetup(catalog, attack.target, attack.sts, attack.placement)
        if attack.target not in neutral:
            named = PairedSetup(catalog, attack.target, "(planted)", StsPlacement())
            guard = NeutraliseWhenPlanted(catalog, attack.target)
            neutral[attack.target] = paired_rank_evaluation(named, recommender, pairs, seed, guard, None, parallel)
        attacked = paired_rank_evaluation(setup, recommender, pairs, seed, None, None, parallel)
        reduced = neutral[attack.target]
        undefended = _changes(attacked)
        row: dict[str, Any] = {"target": attack.target, "sts": attack.sts, "undefended": _summary(undefended, seed)}
        planted = setup.planted_catalog()
        for name, flagging in filters.items():
            clean_flags, planted_flags = flagging.flags(catalog), flagging.flags(planted)
            others = [i for i, flag in enumerate(clean_flags) if flag and i != index]
            halves = [
                (
                    reduced[k].rank_after if clean_flags[index] else attacked[k].rank_before,
                    reduced[k].rank_after if planted_flags[index] else attacked[k].rank_after,
                    reduced[k].logprob_after if clean_flags[index] else attacked[k].logprob_before,
                    reduced[k].logprob_after if planted_flags[index] else attacked[k].logprob_after,
                )
                for k in range(len(attacked))
            ]
            defended = {
                "logprob": np.asarray([_gain(before, after) for _, _, before, after in halves], dtype=np.float64),
                "rank": np.asarray([before - after for before, after, _, _ in halves], dtype=np.float64),
            }
            row[name] = {
                "flags_sts": planted_flags[index],
                "flags_clean_target": clean_flags[index],
                "exact": not others,
                "defended": _summary(defended, seed),
                "removed": {
                    metric: _paired(defended[metric], undefended[metric], seed) for metric in ("logprob", "rank")
                },
            }
        print(f"gain: {attack.source} done", flush=True)
        results[attack.source] = row
    return results


def _gain(before: float | None, after: float | None) -> float:
    """The change in log P; NaN where the model gave none (a provider without log-probabilities)."""
    return float("nan") if before is None or after is None else after - before


def _changes(outcomes: Sequence[Any]) -> dict[str, np.ndarray]:
    """Per pair: the gain in log P (after - before) and in rank (before - after: positive is better)."""
    return {
        "logprob": np.asarray([o.logprob_after - o.logprob_before for o in outcomes]),
        "rank": np.asarray([o.rank_before - o.rank_after for o in outcomes], dtype=np.float64),
    }


def _paired(a: np.ndarray, b: np.ndarray, seed: int) -> dict[str, float]:
    comparison = paired_bootstrap(a, b, n_resamples=2000, seed=seed)
    return {"diff": comparison.diff, "low": comparison.low, "high": comparison.high}


def _summary(changes: dict[str, np.ndarray], seed: int) -> dict[str, dict[str, float]]:
    zeros = {name: np.zeros_like(values) for name, values in changes.items()}
    return {name: _paired(zeros[name], values, seed) for name, values in changes.items()}


def markdown(report: dict[str, Any]) -> str:
    """The tables for bench/README.md."""
    lines = [
        "| defence | clean FPR (LOO) | precision | recall, all | " + " | ".join(report["sources"]) + " | s/product |",
        "|---|---|---|---|" + "---|" * len(report["sources"]) + "---|",
    ]
    for name, rates in report["detection"].items():
        per_source = [rates["recall_by_source"].get(source, {}).get("recall") for source in report["sources"]]
        cells = ["-" if value is None else f"{value:.2f}" for value in per_source]
        precision = "-" if rates["precision"] is None else f"{rates['precision']:.3f}"
        lines.append(
            f"| {name} | {rates['false_positive_rate']:.3f} ({rates['false_positives']}/{rates['clean_products']}) "
            f"| {precision} | {rates['recall']:.3f} | "
            + " | ".join(cells)
            + f" | {rates['seconds_per_clean_product']:.3f} |"
        )
    if report.get("gain"):
        lines += ["", "| attack | undefended log P gain | " + " | ".join(report["defences"]) + " |"]
        lines.append("|---|---|" + "---|" * len(report["defences"]))
        for source, row in report["gain"].items():
            base = row["undefended"]["logprob"]
            cells = []
            for defence in report["defences"]:
                removed = row[defence]["removed"]["logprob"]
                cells.append(f"{removed['diff']:+.3f} [{removed['low']:+.3f}, {removed['high']:+.3f}]")
            lines.append(
                f"| {source} | {base['diff']:+.3f} [{base['low']:+.3f}, {base['high']:+.3f}] | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=Path, default=Path("bench/out/audit_sequences.jsonl"))
    parser.add_argument(
        "--defences", default="perplexity-absolute,perplexity,semantic,perplexity+semantic", help="'+' combines"
    )
    parser.add_argument("--catalogs", type=Path, nargs="+", default=[PAPER_CATALOGS, GEOBENCH])
    parser.add_argument("--gain-pairs", type=int, default=50, help="paired runs per gain audit (0: skip)")
    parser.add_argument("--gain-only", action="store_true", help="skip the detection rates (run them separately)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("bench/out/audit_defences.json"))
    args = parser.parse_args(argv)
    defences = [name.strip() for name in args.defences.split(",") if name.strip()]
    catalogs = clean_catalogs(args.catalogs)
    paper = [load_catalog(path).name for path in sorted(PAPER_CATALOGS.glob("*.jsonl"))]
    attacks = optimiser_attacks(args.sequences, catalogs) + injection_attacks(catalogs, paper, args.seed)
    chat = make_chat_model("local")
    recommender = AuditedRecommender(
        chat, RecommenderPrompt(request=default_request("products"), prefill=DEFAULT_PREFILL)
    )
    scorers = SharedScorers(recommender)
    report: dict[str, Any] = {
        "defences": defences,
        "catalogs": list(catalogs),
        "sources": sorted({a.source for a in attacks}),
        "detection": detection(defences, catalogs, attacks, scorers) if not args.gain_only else {},
    }
    if args.gain_pairs > 0:
        chosen = gain_attacks(attacks, catalogs, args.seed)
        report["gain"] = gain_removed(chosen, defences, catalogs, scorers, args.gain_pairs, args.seed)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
