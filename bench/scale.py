"""Cost curves from 1M to 25M interactions: wall time, CPU time and peak RSS of every step.

    python bench/synthetic.py --scale 25 --out bench/out/synthetic-25m     # once per scale (1, 5, 25)
    python bench/scale.py --scales 1,5,25                                  # all steps, all scales
    python bench/scale.py --scales 25 --steps info,split                   # some steps again
    python bench/scale.py --render                                         # table and plot from the JSON

Each step runs as its own process (the ``agentrec`` command where there is one), and
``os.wait4`` gives that process's CPU time and peak resident memory. Every scale gets a
fresh state home (``bench/out/scale-home-<N>m``) at its first step, so ``data info`` builds
the store cold and each ``eval`` fits its model from scratch. Results are saved after
every step (``bench/out/scale.json``); a rerun skips the steps it already has unless
``--again``. A step over ``--timeout`` seconds is stopped and recorded as such.

Steps:

* ``info``: ``agentrec data info`` (the store build from the raw CSV);
* ``split``: opening the built store, loading the interactions, the leave-one-out split
  (each timed inside the process too);
* ``eval-<model>``: ``agentrec eval --models <model> --protocol loo`` for mostpop,
  itemknn, als and ease (fit + full-ranking evaluation of every user);
* ``epoch-bpr`` and ``epoch-sasrec``: seconds per training epoch. BPR trains one whole
  epoch; SASRec trains on a seeded sample of its windows (``--sasrec-windows``) and the
  time per window is scaled to the whole epoch (its full-softmax epoch takes hours at 25M);
* ``agent``: ``agentrec agent-eval --users 1000 --policy backbone,heuristic`` (opening the
  workspace fits its models and the fusion; per-user local work reported separately);
* ``simulate``: a statistical ``agentrec simulate`` of 1,000 users, most-popular against EASE.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agentrec.ui.quickstart_command import SIM_SCENARIO

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
EVAL_MODELS = ("mostpop", "itemknn", "als", "ease")
STEPS = ("info", "split", *(f"eval-{m}" for m in EVAL_MODELS), "epoch-bpr", "epoch-sasrec", "agent", "simulate")


def agentrec(*args: str) -> list[str]:
    return [sys.executable, "-m", "agentrec.cli", *args]


def command_for(step: str, dataset: Path, scale: str, args: argparse.Namespace) -> list[str]:
    step_json = str(OUT / f"scale-{scale}m-{step}.json")
    if step == "info":
        return agentrec("data", "info", str(dataset), "--json", step_json)
    if step == "split":
        return [sys.executable, __file__, "--measure", "split", "--dataset", str(dataset), "--json", step_json]
    if step.startswith("eval-"):
        return agentrec("eval", str(dataset), "--models", step[5:], "--protocol", "loo", "--json", step_json)
    if step.startswith("epoch-"):
        return [
            sys.executable, __file__, "--measure", step, "--dataset", str(dataset), "--json", step_json,
            "--sasrec-windows", str(args.sasrec_windows),
        ]  # fmt: skip
    if step == "agent":
        return agentrec(
            "agent-eval",
            str(dataset),
            "--users",
            str(args.users),
            "--policy",
            "backbone,heuristic",
            "--json",
            step_json,
        )
    if step == "simulate":
        scenario = OUT / f"scale-{scale}m.toml"
        # the quickstart's A/B of statistical users, most-popular against EASE, under this scale's name
        text = SIM_SCENARIO.format(dataset=dataset, users=args.users).replace('"quickstart_ab"', f'"scale_{scale}m"')
        scenario.write_text(text)
        return agentrec("simulate", str(scenario), "--json", step_json)
    raise ValueError(step)


def run_measured(command: list[str], env: dict[str, str], timeout: float, log: Path) -> dict[str, Any]:
    """Run ``command``; its wall seconds, CPU seconds (user + system) and peak RSS (GB) from ``wait4``."""
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                return {"status": "timeout", "wall_s": round(time.perf_counter() - started, 1), "log": str(log)}
            time.sleep(0.2)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "status": "ok" if process.returncode == 0 else f"exit {process.returncode}",
        "wall_s": round(time.perf_counter() - started, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_gb": round(usage.ru_maxrss / 1024**2, 3),  # ru_maxrss is in kilobytes on Linux
        "log": str(log),
    }


def details(step: str, scale: str) -> dict[str, Any]:
    """What the step's own JSON says that the curves need (interactions, per-user times...)."""
    path = OUT / f"scale-{scale}m-{step}.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if step == "info":
        return {k: data[k] for k in ("users", "items", "interactions", "open_seconds")}
    if step == "split" or step.startswith("epoch-"):
        return data
    if step.startswith("eval-"):
        model = next(iter(data["models"].values()))
        return {"fit_s": model["fit_seconds"], "rank_s": model["score_seconds"],
                "ndcg@10": round(model["metrics"]["ndcg@10"], 4), "users": data["users_evaluated"]}  # fmt: skip
    if step == "agent":
        wall = data["wall_seconds"]
        users = max(data["users_evaluated"], 1)
        return {
            "open_s": wall["open"],
            "backbone_ms_per_user": round(1000 * wall["backbone"] / users, 2),
            "heuristic_ms_per_user": round(1000 * wall["heuristic"] / users, 2),
            "ndcg@10": {p: round(v["metrics"]["ndcg@10"], 4) for p, v in data["policies"].items()},
        }
    if step == "simulate":
        return {"events": data.get("events"), "sessions": data.get("sessions")}
    return {}


def measure_split(dataset: str) -> dict[str, Any]:
    """Open the (built) store, load the interactions, split leave-one-out: each timed."""
    from agentrec.data.splits import leave_one_out
    from agentrec.data.store import open_dataset

    started = time.perf_counter()
    store = open_dataset(dataset)
    opened = time.perf_counter()
    data = store.interactions()
    loaded = time.perf_counter()
    split = leave_one_out(data)
    done = time.perf_counter()
    return {
        "open_s": round(opened - started, 2), "load_s": round(loaded - opened, 2), "split_s": round(done - loaded, 2),
        "train": len(split.train), "valid": len(split.valid), "test": len(split.test),
    }  # fmt: skip


def measure_epoch(model_name: str, dataset: str, sasrec_windows: int) -> dict[str, Any]:
    """Seconds per training epoch: BPR's whole first epoch, SASRec's from a sample of its windows."""
    import numpy as np
    import torch

    from agentrec.data.splits import leave_one_out
    from agentrec.data.store import open_dataset
    from agentrec.recsys.threads import pin_threads

    pin_threads()
    split = leave_one_out(open_dataset(dataset).interactions())
    if model_name == "bpr":
        from agentrec.recsys.bpr import BPR

        chosen = BPR(max_epochs=1).fit(split.train, split.valid)
        recbole = BPR(max_epochs=1, batch_size=2048, num_threads=1).fit(split.train, split.valid)
        first, peer = chosen.learning_curve[0], recbole.learning_curve[0]
        return {
            "epoch_s": round(first.seconds, 2), "batch_size": chosen.batch_size, "threads": chosen.threads,
            "val_ndcg_after_one_epoch": round(first.val_ndcg, 4),
            "epoch_s_batch_2048_1_thread": round(peer.seconds, 2),
            "val_ndcg_after_one_epoch_batch_2048": round(peer.val_ndcg, 4),
            "measured": "one whole epoch each, validation included, in the same process",
        }  # fmt: skip
    from agentrec.recsys.sasrec import SASRec, training_windows

    def seconds_per_window(model: SASRec, windows: list[Any]) -> float:
        model._history = split.train.to_csr(binary=True)
        model._sequences = sequences
        model.net = model._new_net()
        optimiser = torch.optim.Adam(model.net.parameters(), lr=model.config.learning_rate)
        started = time.perf_counter()
        model._train_epoch(windows, optimiser, generator)
        return (time.perf_counter() - started) / len(windows)

    sequences = split.train.sequences()
    chosen = SASRec()
    windows = training_windows(sequences, chosen.config.max_len)
    generator = np.random.default_rng(0)
    sample = [windows[i] for i in generator.choice(len(windows), min(sasrec_windows, len(windows)), replace=False)]
    per_window = seconds_per_window(chosen, sample)
    result: dict[str, Any] = {
        "epoch_s": round(per_window * len(windows), 1),
        "loss": "full softmax" if split.train.n_items <= chosen.config.full_softmax_items else
                f"sampled softmax, {chosen.config.negatives:,} negatives",
        "windows": len(windows),
        "sampled_windows": len(sample),
        "measured": f"{len(sample):,} of {len(windows):,} windows, scaled to the epoch; validation not included",
    }  # fmt: skip
    if split.train.n_items > chosen.config.full_softmax_items:  # what the full softmax would have cost
        full = SASRec(full_softmax_items=split.train.n_items)
        result["epoch_s_full_softmax"] = round(seconds_per_window(full, sample[: len(sample) // 4]) * len(windows), 1)
    return result


def slope(points: list[tuple[float, float]]) -> float | None:
    """The log-log slope between the smallest and the largest scale measured."""
    points = sorted(p for p in points if p[1] and p[1] > 0)
    if len(points) < 2:
        return None
    (x0, y0), (x1, y1) = points[0], points[-1]
    return math.log(y1 / y0) / math.log(x1 / x0)


def render(results: dict[str, Any], plot_path: Path) -> str:
    """A markdown table (one row per step, wall / CPU / RSS per scale, the slopes) and a log-log plot."""
    scales = sorted(results, key=float)
    sizes = {s: results[s].get("info", {}).get("details", {}).get("interactions", float(s) * 1e6) for s in scales}
    lines = [
        "| step | " + " | ".join(f"{s}M: wall s / CPU s / peak GB" for s in scales) + " | slope (wall) | slope (RSS) |",
        "|---|" + "---|" * (len(scales) + 2),
    ]
    curves: dict[str, list[tuple[float, float]]] = {}
    for step in STEPS:
        cells = []
        walls, rss = [], []
        for s in scales:
            row = results[s].get(step)
            if row is None:
                cells.append("-")
                continue
            if row["status"] != "ok":
                cells.append(f"{row['status']} after {row['wall_s']:.0f}")
                continue
            wall = row["details"].get("epoch_s", row["wall_s"]) if step.startswith("epoch-") else row["wall_s"]
            if step == "split":
                wall = row["details"].get("split_s", wall)
            cells.append(f"{wall:,.1f} / {row['cpu_s']:,.0f} / {row['peak_rss_gb']:.2f}")
            walls.append((sizes[s], wall))
            rss.append((sizes[s], row["peak_rss_gb"]))
        curves[step] = walls
        wall_slope, rss_slope = slope(walls), slope(rss)
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(f"| {step} | " + " | ".join(cells) + f" | {fmt(wall_slope)} | {fmt(rss_slope)} |")
    _plot(curves, plot_path)
    return "\n".join(lines)


def _plot(curves: dict[str, list[tuple[float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5.5))
    for step, points in curves.items():
        if len(points) >= 1:
            xs, ys = zip(*sorted(points), strict=True)
            axis.plot(xs, ys, marker="o", label=step)
    if curves:
        xs = sorted({x for points in curves.values() for x, _ in points})
        if xs:
            axis.plot(xs, [10 * x / xs[0] for x in xs], "k:", label="linear (slope 1)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("interactions")
    axis.set_ylabel("wall seconds (epoch steps: seconds per epoch; split: the split alone)")
    axis.set_title("agentrec cost curves on synthetic ML-25M-shaped data")
    axis.legend(fontsize=8, ncol=2)
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="1,5,25", help="millions of ratings; data from bench/synthetic.py")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"any of {','.join(STEPS)}")
    parser.add_argument("--data", default=str(OUT / "synthetic-{scale}m"), help="dataset folder per scale")
    parser.add_argument("--users", type=int, default=1000, help="users for agent-eval and simulate")
    parser.add_argument("--sasrec-windows", type=int, default=1024, help="SASRec windows trained to time an epoch")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before a step is stopped")
    parser.add_argument("--again", action="store_true", help="rerun steps already in the results")
    parser.add_argument("--out", type=Path, default=OUT / "scale.json")
    parser.add_argument("--render", action="store_true", help="only print the table and write the plot")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # a step's own process
        if args.measure == "split":
            result = measure_split(args.dataset)
        else:
            result = measure_epoch(args.measure.removeprefix("epoch-"), args.dataset, args.sasrec_windows)
        args.json.write_text(json.dumps(result, indent=2))
        print(json.dumps(result))
        return 0
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if not args.render:
        steps = [s.strip() for s in args.steps.split(",") if s.strip()]
        unknown = [s for s in steps if s not in STEPS]
        if unknown:
            print(f"scale: unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}", file=sys.stderr)
            return 2
        for scale in [s.strip() for s in args.scales.split(",")]:
            dataset = Path(args.data.format(scale=scale)).resolve()
            if not (dataset / "ratings.csv").is_file() and not any(dataset.glob("*")):
                print(
                    f"scale: {dataset} is missing; run bench/synthetic.py --scale {scale} --out {dataset}",
                    file=sys.stderr,
                )
                return 2
            home = OUT / f"scale-home-{scale}m"
            env = dict(os.environ, AGENTREC_HOME=str(home))
            done = results.setdefault(scale, {})
            for step in steps:
                if step in done and done[step]["status"] == "ok" and not args.again:
                    continue
                if step == "info":  # cold: a fresh state home, so the store is built from the CSV
                    shutil.rmtree(home, ignore_errors=True)
                print(f"[{time.strftime('%H:%M:%S')}] {scale}M {step} ...", flush=True)
                row = run_measured(
                    command_for(step, dataset, scale, args), env, args.timeout, OUT / f"scale-{scale}m-{step}.log"
                )
                row["details"] = details(step, scale) if row["status"] == "ok" else {}
                done[step] = row
                args.out.write_text(json.dumps(results, indent=2))
                print(f"    {json.dumps(row)}", flush=True)
    print(render(results, OUT / "scale.png"))
    print(f"plot: {OUT / 'scale.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
