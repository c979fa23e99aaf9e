"""EASE in float32 against float64: the same metrics to three digits, and how much faster.

    AGENTREC_DATA_HOME=../shared/data python bench/ease_precision.py --datasets ml-1m-implicit,ml-100k

Both fits run in this process, one after the other, on the same split and history
(each dataset's default protocol, as ``agentrec eval`` runs it), with BLAS pinned to
the threads ``agentrec`` pins. Fit and ranking time are wall and process CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from agentrec.data.protocols import make_split, resolve_protocol
from agentrec.data.store import open_dataset
from agentrec.eval.metrics import accuracy_per_user, mean_metrics
from agentrec.eval.offline import test_set
from agentrec.recsys.ease import EASE
from agentrec.recsys.threads import pin_threads

METRICS = ("recall@20", "ndcg@20", "recall@10", "ndcg@10", "hit@10")


def measure(dataset: str, l2: float, k: int) -> dict[str, dict[str, float]]:
    store = open_dataset(dataset)
    protocol = resolve_protocol(store, "auto")
    split = make_split(store, protocol, 0)
    tests = test_set(split)
    fit_on = split.train_and_valid() if protocol == "given" else split.train
    rows: dict[str, dict[str, float]] = {}
    for dtype in ("float64", "float32"):
        wall, cpu = time.perf_counter(), time.process_time()
        model = EASE(l2=l2, dtype=dtype).fit(fit_on)
        fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        model.set_history(tests.history)
        recommended = model.recommend_many(tests.users, k)
        rank_wall, rank_cpu = time.perf_counter() - wall, time.process_time() - cpu
        metrics = mean_metrics(accuracy_per_user(recommended, tests.relevant, k))
        if k != 10:
            metrics |= mean_metrics(accuracy_per_user(recommended[:, :10], tests.relevant, 10))
        rows[dtype] = {m: metrics[m] for m in METRICS if m in metrics} | {
            "fit_s": fit_wall, "fit_cpu_s": fit_cpu, "rank_s": rank_wall, "rank_cpu_s": rank_cpu,
        }  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="ml-1m-implicit,ml-100k")
    parser.add_argument("--l2", type=float, default=500.0)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/out/ease_precision.json"))
    args = parser.parse_args(argv)
    pin_threads()
    results = {name: measure(name, args.l2, args.k) for name in args.datasets.split(",")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print("| dataset | dtype | " + " | ".join(METRICS) + " | fit s | fit CPU s | rank s | rank CPU s |")
    print("|---|---|" + "---|" * (len(METRICS) + 4))
    for name, rows in results.items():
        for dtype, row in rows.items():
            cells = [f"{row[m]:.4f}" if m in row else "-" for m in METRICS]
            times = [f"{row[t]:.2f}" for t in ("fit_s", "fit_cpu_s", "rank_s", "rank_cpu_s")]
            print(f"| {name} | {dtype} | " + " | ".join(cells + times) + " |")
        same = all(
            round(rows["float32"][m], 3) == round(rows["float64"][m], 3) for m in METRICS if m in rows["float32"]
        )
        print(f"| {name} | equal to 3 digits | {'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
