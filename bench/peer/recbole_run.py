"""Run the peer library RecBole on agentrec's benchmark datasets and write one JSON.

Runs inside RecBole's own venv (``bench/peer/setup_recbole.sh``), never the project's:

    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 $PEER_VENV/bin/python bench/peer/recbole_run.py \
        --dataset ml-100k --models Pop,ItemKNN,EASE,BPR,SASRec --out bench/out/recbole_ml-100k.json

It has no dependency on agentrec: it reads the MovieLens files from the data home
(``--data-home``, default ``$AGENTREC_DATA_HOME``, else ``$AGENTREC_HOME/data``, else
``~/.cache/agentrec/data``), writes RecBole atomic files into a work folder outside the
repository (``--work-dir``, default ``~/.cache/agentrec/peer-work``) and runs there, so
RecBole's ``log/``, ``log_tensorboard/`` and ``saved/`` folders land in the work folder.

Protocols
---------
ml-100k (leave-one-out by time, full ranking, @10)
    Atomic ``.inter`` from ``u.data``; every rating counts as an interaction (no rating
    threshold, no k-core filter). ``eval_args: {split: {LS: valid_and_test}, order: TO,
    mode: full, group_by: user}``: per user, the last interaction (by timestamp; ties keep
    the order of ``u.data``, RecBole's sort is stable) is test, the one before is valid,
    the rest is train. Timestamps are written as dense ranks (see ``write_ml100k``) so
    that float32 rounding cannot reorder them. Models are fit on train only (RecBole's protocol), early-stopped on
    valid, tested on test with train+valid items masked.

ml-1m-implicit (the given 70/10/20 split, full ranking, @20)
    The published protocol fits on train+valid and tests on test. Writing train+valid
    into RecBole's ``.train.inter`` and valid into ``.valid.inter`` would leak: valid
    items are then both trained on and *not* masked at validation (RecBole masks
    ``used - positives``), so validation scores are inflated and early stopping follows
    memorisation. We therefore run two stages per model:
      1. select: train = train.txt, valid = valid.txt, test = test.txt; fit with early
         stopping on valid NDCG@20 (clean). Gives ``valid_metrics`` and the best epoch.
      2. final: train = train.txt + valid.txt, test = test.txt; refit for exactly the
         number of epochs chosen in stage 1 with no validation at all, then test with
         train+valid items masked. Gives ``metrics`` and the timings.
    Pop, ItemKNN and EASE are closed-form in RecBole (one pass), so stage 1 only gives
    their clean valid metrics.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

# Threads and torch's load behaviour must be set before torch is imported.
_THREADS = "2"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _THREADS = sys.argv[_i + 1]
    elif _a.startswith("--threads="):
        _THREADS = _a.split("=", 1)[1]
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = _THREADS
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

_T_IMPORT0 = time.perf_counter()
import warnings  # noqa: E402

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(_THREADS))

import recbole  # noqa: E402
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.utils import get_model, get_trainer, init_logger, init_seed  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _T_IMPORT0
KNOWN_MODELS = ("Pop", "ItemKNN", "EASE", "BPR", "SASRec")
DATASETS = ("ml-100k", "ml-1m-implicit")


class BudgetReached(Exception):
    """Raised from the epoch callback to stop training at the wall-clock budget."""


def default_data_home() -> Path:
    configured = os.environ.get("AGENTREC_DATA_HOME")
    if configured:
        return Path(configured).expanduser().resolve()
    state = os.environ.get("AGENTREC_HOME")
    root = Path(state).expanduser() if state else Path.home() / ".cache" / "agentrec"
    return root / "data"


# ---------------------------------------------------------------------------
# atomic files


def write_ml100k(data_home: Path, work: Path) -> str:
    """``u.data`` -> ``<work>/ml100k_udata/ml100k_udata.inter``, timestamps as dense ranks.

    The dataset must not be named ``ml-100k``: RecBole then ignores ``data_path`` and
    silently reads the copy bundled in its package (identical to u.data, md5-checked,
    but we want the data home's file to be what is measured).

    RecBole loads ``timestamp:float`` into float32, which steps by 64 s near 8.8e8: raw
    timestamps up to a minute apart would tie, and its stable sort would then make the
    last *file line* of a tied group "last by time", moving the test item of 149 users.
    The dense rank of the timestamp (49,282 distinct values, exact in float32) keeps
    every user's time order, and exact ties keep the file order as in agentrec's
    leave-one-out split, so both libraries hold out the same items.
    """
    src = data_home / "ml-100k" / "u.data"
    if not src.is_file():
        raise SystemExit(f"recbole_run: {src} not found (set --data-home or AGENTREC_DATA_HOME)")
    name = "ml100k_udata"
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    with src.open() as fh:
        rows = [parts for parts in (line.split() for line in fh) if len(parts) == 4]
    rank = {ts: r for r, ts in enumerate(sorted({int(parts[3]) for parts in rows}))}
    if len(rank) >= 2**24:
        raise SystemExit("recbole_run: too many distinct timestamps for exact float32 ranks")
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    lines += ["\t".join([*parts[:3], str(rank[int(parts[3])])]) for parts in rows]
    (folder / f"{name}.inter").write_text("\n".join(lines) + "\n")
    return name


def _read_adjacency(path: Path) -> list[tuple[str, str]]:
    pairs = []
    with path.open() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2:
                continue
            user = parts[0]
            pairs.extend((user, item) for item in parts[1:])
    return pairs


def _write_pairs(path: Path, pairs: list[tuple[str, str]]) -> None:
    with path.open("w") as fh:
        fh.write("user_id:token\titem_id:token\n")
        fh.writelines(f"{u}\t{i}\n" for u, i in pairs)


def write_ml1m_implicit(data_home: Path, work: Path) -> tuple[str, str, dict]:
    src = data_home / "ml-1m-implicit"
    files = {s: src / f"{s}.txt" for s in ("train", "valid", "test")}
    for f in files.values():
        if not f.is_file():
            raise SystemExit(f"recbole_run: {f} not found (set --data-home or AGENTREC_DATA_HOME)")
    pairs = {s: _read_adjacency(f) for s, f in files.items()}
    sel, full = "ml1m_implicit_select", "ml1m_implicit_final"
    for name in (sel, full):
        (work / name).mkdir(parents=True, exist_ok=True)
    _write_pairs(work / sel / f"{sel}.train.inter", pairs["train"])
    _write_pairs(work / sel / f"{sel}.valid.inter", pairs["valid"])
    _write_pairs(work / sel / f"{sel}.test.inter", pairs["test"])
    _write_pairs(work / full / f"{full}.train.inter", pairs["train"] + pairs["valid"])
    # RecBole needs three files; the final stage never evaluates on this one.
    _write_pairs(work / full / f"{full}.valid.inter", pairs["valid"])
    _write_pairs(work / full / f"{full}.test.inter", pairs["test"])
    sizes = {s: len(p) for s, p in pairs.items()}
    return sel, full, sizes


# ---------------------------------------------------------------------------
# config


def base_config(work: Path, k: int, valid_metric: str, seed: int, eval_batch_size: int) -> dict:
    return {
        "data_path": str(work),
        "checkpoint_dir": str(work / "saved"),
        "use_gpu": False,
        "device": "cpu",
        "seed": seed,
        "reproducibility": True,
        "show_progress": False,
        "state": "INFO",
        "worker": 0,
        "metrics": ["Recall", "NDCG", "Hit", "MRR", "Precision"],
        "topk": [k],
        "valid_metric": valid_metric,
        # RecBole's full-ranking loader packs eval_batch_size // n_items users per batch:
        # its default 4096 means ONE user per batch on ml-1m-implicit (3.6k items) and a
        # 36 s evaluation for MostPop. 2**20 score cells (~290 users of ml-1m, all 943
        # of ml-100k for SASRec) is a fair setting for a speed comparison.
        "eval_batch_size": eval_batch_size,
        # no filtering of any kind: every line is an interaction
        "user_inter_num_interval": None,
        "item_inter_num_interval": None,
        "val_interval": None,
        "rm_dup_inter": None,
        "normalize_all": False,
    }


def model_config(model: str, dataset: str, args) -> dict:
    cfg: dict = {}
    if model == "EASE":
        cfg["reg_weight"] = 250.0 if dataset == "ml-100k" else args.ease_reg_1m
    if model == "SASRec":
        # RecBole defaults (2 layers, 2 heads, hidden 64, inner 256, dropout 0.5,
        # max length 50, batch 2048, lr 1e-3) with full-softmax cross-entropy.
        cfg.update({"loss_type": "CE", "train_neg_sample_args": None, "MAX_ITEM_LIST_LENGTH": 50})
    return cfg


def ml100k_config() -> dict:
    return {
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "RATING_FIELD": "rating",
        "TIME_FIELD": "timestamp",
        "eval_args": {
            "split": {"LS": "valid_and_test"},
            "order": "TO",
            "mode": "full",
            "group_by": "user",
        },
        # repeatable=False for general models (RecBole's default); sequential models
        # require True, which RecBole's sequential quick-start config sets.
    }


def ml1m_config() -> dict:
    return {
        "load_col": {"inter": ["user_id", "item_id"]},
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "benchmark_filename": ["train", "valid", "test"],
        "eval_args": {"split": None, "order": "RO", "mode": "full", "group_by": "user"},
    }


# ---------------------------------------------------------------------------
# one RecBole run


def _metrics(result, k: int) -> dict:
    if not result:
        return {}
    return {str(key).lower(): round(float(v), 6) for key, v in dict(result).items()}


def run_once(
    model: str,
    dataset_name: str,
    config_dict: dict,
    *,
    k: int,
    epochs: int | None,
    validate: bool,
    budget_seconds: float | None,
    log,
) -> dict:
    """Load data, build the model, fit, evaluate on test. Every phase timed."""
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    c0 = time.process_time()
    cfg = dict(config_dict)
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    # RecBole's Config also reads `--key=value` from sys.argv (e.g. `--dataset=...`
    # would override the dataset); hide our own arguments from it.
    saved_argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        config = Config(model=model, dataset=dataset_name, config_dict=cfg)
    finally:
        sys.argv = saved_argv
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    t_loaded = time.perf_counter()
    split_digest = _test_split_sha1(dataset, test_data)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    t_fit0 = time.perf_counter()
    c_fit0 = time.process_time()
    model_obj = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    t_built = time.perf_counter()
    c_built = time.process_time()
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model_obj)
    t_trainer = time.perf_counter()  # RecBole overhead (tensorboard writer etc.), not fit
    c_trainer = time.process_time()

    epoch_log: list[dict] = []
    orig_train_epoch = trainer._train_epoch
    orig_valid_epoch = trainer._valid_epoch

    # Wall-clock budget (SASRec): RecBole has none, so the train dataloader is wrapped
    # and stops yielding batches once fit time + the last validation's duration would
    # pass the budget. A cut epoch is still validated (and checkpointed if best), then
    # training stops; the test uses the best checkpoint by validation NDCG.
    state = {"last_valid": 0.0, "cut": False, "batches": 0, "batch_sum": 0.0, "batch_n": 0}

    class BudgetedLoader:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def __len__(self):
            return len(self._inner)

        def __iter__(self):
            n = 0
            t_prev = time.perf_counter()
            for batch in self._inner:
                now = time.perf_counter()
                if n > 0:
                    # running mean of one batch (data + forward/backward), to stop
                    # *before* a batch that would end past the budget
                    state["batch_sum"] += now - t_prev
                    state["batch_n"] += 1
                    mean_batch = state["batch_sum"] / state["batch_n"]
                    if now - t_fit0 + mean_batch + state["last_valid"] > budget_seconds:
                        state["cut"] = True
                        break
                t_prev = now
                n += 1
                yield batch
            state["batches"] = n

    def timed_train_epoch(train_data_, epoch_idx, *a, **kw):
        s = time.perf_counter()
        loader = BudgetedLoader(train_data_) if budget_seconds is not None else train_data_
        loss = orig_train_epoch(loader, epoch_idx, *a, **kw)
        loss_val = float(sum(loss)) if isinstance(loss, tuple) else float(loss)
        entry = {"epoch": epoch_idx, "train_seconds": round(time.perf_counter() - s, 3), "loss": loss_val}
        if budget_seconds is not None:
            entry["batches"] = state["batches"]
            entry["batches_per_epoch"] = len(train_data_)
        epoch_log.append(entry)
        return loss

    def timed_valid_epoch(*a, **kw):
        s = time.perf_counter()
        score, result = orig_valid_epoch(*a, **kw)
        state["last_valid"] = time.perf_counter() - s
        if epoch_log:
            epoch_log[-1]["valid_seconds"] = round(time.perf_counter() - s, 3)
            epoch_log[-1]["valid_score"] = round(float(score), 6)
        return score, result

    trainer._train_epoch = timed_train_epoch
    trainer._valid_epoch = timed_valid_epoch

    budget_stop = False

    def callback(epoch_idx, valid_score):
        nonlocal budget_stop
        if budget_seconds is None:
            return
        if state["cut"] or time.perf_counter() - t_fit0 + state["last_valid"] >= budget_seconds:
            budget_stop = True
            raise BudgetReached

    try:
        trainer.fit(
            train_data,
            valid_data if validate else None,
            # checkpoints only serve to reload the best epoch; a refit without
            # validation tests its last epoch in memory, so it writes none
            saved=validate,
            show_progress=False,
            callback_fn=callback,
        )
    except BudgetReached:
        log(f"  budget of {budget_seconds:.0f}s reached after {len(epoch_log)} epochs")
    t_fit1 = time.perf_counter()
    c_fit1 = time.process_time()

    # With validation the best checkpoint (by valid metric) is reloaded; without it the
    # last epoch's model is tested.
    test_result = trainer.evaluate(test_data, load_best_model=validate, show_progress=False)
    t_eval = time.perf_counter()
    c_eval = time.process_time()

    best_epoch = None
    if validate and epoch_log and any("valid_score" in e for e in epoch_log):
        # RecBole keeps the *last* epoch among equal best scores (`value >= best` on
        # the score rounded to 4 decimals); follow it so the refit matches its checkpoint.
        best_score = -np.inf
        for e in epoch_log:
            if "valid_score" in e and e["valid_score"] >= best_score:
                best_score, best_epoch = e["valid_score"], e["epoch"]
    # seconds per epoch: full epochs only (a budget-cut epoch is scaled to a full one
    # only if no full epoch exists)
    full = [e for e in epoch_log if e.get("batches", 1) == e.get("batches_per_epoch", 1)]
    if full:
        train_secs = [e["train_seconds"] for e in full]
    else:
        train_secs = [e["train_seconds"] * e["batches_per_epoch"] / max(e["batches"], 1) for e in epoch_log]
    epochs_done = sum(e.get("batches", 1) / e.get("batches_per_epoch", 1) for e in epoch_log)
    valid_secs = [e.get("valid_seconds", 0.0) for e in epoch_log]
    return {
        "metrics": _metrics(test_result, k),
        "valid_metrics": _metrics(trainer.best_valid_result, k) if validate else {},
        "load_seconds": round(t_loaded - t0, 3),
        "build_seconds": round(t_built - t_fit0, 3),
        "trainer_init_seconds": round(t_trainer - t_built, 3),
        # fit = model construction (Pop/ItemKNN/EASE compute their model here) + trainer.fit
        # (epochs, validation used for early stopping, checkpointing)
        "fit_seconds": round((t_fit1 - t_fit0) - (t_trainer - t_built), 3),
        "eval_seconds": round(t_eval - t_fit1, 3),
        "total_seconds": round(t_eval - t0, 3),
        # CPU seconds of this process (all threads); with T threads and an idle machine
        # cpu ~= T * wall. Other jobs on the machine show as loadavg > threads.
        "total_cpu_seconds": round(time.process_time() - c0, 3),
        # CPU time of this process: far less sensitive than wall time to other jobs on the
        # machine (with 1 thread, cpu ~= wall on an idle machine); cf_peer.py compares both
        "fit_cpu_seconds": round((c_fit1 - c_fit0) - (c_trainer - c_built), 3),
        "eval_cpu_seconds": round(c_eval - c_fit1, 3),
        "fit_cpu_seconds_upto_fit_end": round(c_fit1 - c0, 3),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "epochs": round(epochs_done, 3),
        "epochs_started": len(epoch_log),
        "best_epoch": best_epoch,
        "seconds_per_epoch": round(float(np.mean(train_secs)), 3) if train_secs else None,
        "valid_seconds_in_fit": round(float(np.sum(valid_secs)), 3),
        "budget_stop": budget_stop,
        "epoch_log": epoch_log,
        "n_users": int(dataset.user_num - 1),
        "n_items": int(dataset.item_num - 1),
        "n_train": len(train_data._dataset),
        "test_split_sha1": split_digest,
    }


def _test_split_sha1(dataset, test_data) -> str:
    """sha1 of the sorted "user<TAB>item" test pairs (cf_peer.py hashes agentrec's split the same way)."""
    inter = test_data._dataset.inter_feat
    users = dataset.id2token(dataset.uid_field, inter[dataset.uid_field].numpy())
    items = dataset.id2token(dataset.iid_field, inter[dataset.iid_field].numpy())
    pairs = sorted(f"{u}\t{i}" for u, i in zip(users.tolist(), items.tolist(), strict=True))
    return hashlib.sha1("\n".join(pairs).encode()).hexdigest()


# ---------------------------------------------------------------------------


def result_line(model: str, res: dict) -> str:
    return (
        f"  {model}: {json.dumps(res['metrics'])} fit {res['fit_seconds']}s eval {res['eval_seconds']}s "
        f"total {res['total_seconds']}s epochs {res['epochs']}"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--models", default="Pop,ItemKNN,EASE,BPR,SASRec")
    p.add_argument("--out", required=True)
    p.add_argument("--sasrec-budget-seconds", type=float, default=600.0)
    p.add_argument("--data-home", default=None)
    p.add_argument("--work-dir", default=str(Path.home() / ".cache" / "agentrec" / "peer-work"))
    p.add_argument("--threads", type=int, default=int(_THREADS))
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--ease-reg-1m", type=float, default=500.0)
    p.add_argument("--eval-batch-size", type=int, default=2**20, help="RecBole default: 4096")
    p.add_argument("--max-epochs", type=int, default=300, help="RecBole default: 300")
    args = p.parse_args(argv)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    by_lower = {m.lower(): m for m in KNOWN_MODELS}
    bad = [m for m in models if m.lower() not in by_lower]
    if bad or not models:
        print(f"recbole_run: unknown model(s) {bad}; choose from {','.join(KNOWN_MODELS)}", file=sys.stderr)
        return 2
    models = [by_lower[m.lower()] for m in models]

    data_home = Path(args.data_home).expanduser().resolve() if args.data_home else default_data_home()
    work = Path(args.work_dir).expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)  # RecBole writes log/, log_tensorboard/ relative to the cwd

    def log(msg: str) -> None:
        print(f"[recbole_run {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    k = 10 if args.dataset == "ml-100k" else 20
    out = {
        "peer": "recbole",
        "version": recbole.__version__,
        "torch": torch.__version__,
        "dataset": args.dataset,
        "k": k,
        "threads": args.threads,
        "import_seconds": round(IMPORT_SECONDS, 3),
        "timing_note": (
            "total_seconds = data load (atomic file -> RecBole dataset + dataloaders) + "
            "trainer init + fit + test evaluation, per model, in one process; "
            "excludes interpreter start and imports (import_seconds)"
        ),
        "seed": args.seed,
        "eval_batch_size": args.eval_batch_size,
        "data_home": str(data_home),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "models": {},
    }
    out_path = Path(args.out).expanduser()
    if not out_path.is_absolute():
        out_path = Path(os.environ.get("PWD", ".")) / out_path
    out_path.parent.mkdir(parents=True, exist_ok=True)

    def save():
        out_path.write_text(json.dumps(out, indent=2) + "\n")

    if args.dataset == "ml-100k":
        name = write_ml100k(data_home, work)
        out["protocol"] = (
            "leave-one-out by time (RecBole LS valid_and_test, order TO, group_by user), "
            "every rating is an interaction (no threshold, no filtering); fit on train, "
            "early stopping on valid, test with train+valid masked; full ranking"
        )
        for m in models:
            valid_metric = f"NDCG@{k}"
            cfg = {
                **base_config(work, k, valid_metric, args.seed, args.eval_batch_size),
                **ml100k_config(),
                **model_config(m, args.dataset, args),
            }
            budget = args.sasrec_budget_seconds if m == "SASRec" else None
            log(f"{m} on {args.dataset} (budget {budget})")
            try:
                res = run_once(m, name, cfg, k=k, epochs=args.max_epochs, validate=True, budget_seconds=budget, log=log)
            except Exception as exc:  # keep the other models' results
                log(f"  {m} failed: {type(exc).__name__}: {exc}")
                out["models"][m] = {"error": f"{type(exc).__name__}: {exc}"}
                save()
                continue
            if m == "SASRec":
                res["budget_seconds"] = args.sasrec_budget_seconds
            out["models"][m] = res
            log(result_line(m, res))
            save()
    else:
        sel, full, sizes = write_ml1m_implicit(data_home, work)
        out["protocol"] = (
            "given split (train/valid/test.txt); stage 1 fits on train with early stopping on "
            "valid NDCG@20 to pick the epoch count (iterative models only); stage 2 refits on "
            "train+valid for that many epochs without validation and tests on test with "
            "train+valid masked; full ranking"
        )
        out["split_sizes"] = sizes
        for m in models:
            if m == "SASRec":
                log("SASRec skipped on ml-1m-implicit: the adjacency layout has no sequence order")
                out["models"][m] = {"skipped": "no sequence order in the adjacency layout"}
                save()
                continue
            valid_metric = f"NDCG@{k}"
            base = {
                **base_config(work, k, valid_metric, args.seed, args.eval_batch_size),
                **ml1m_config(),
                **model_config(m, args.dataset, args),
            }
            try:
                log(f"{m} on {args.dataset}: stage 1 (select: fit train, validate on valid)")
                s1 = run_once(m, sel, base, k=k, epochs=args.max_epochs, validate=True, budget_seconds=None, log=log)
                n_epochs = (s1["best_epoch"] + 1) if s1["best_epoch"] is not None else s1["epochs"]
                log(
                    f"  stage 1: valid {json.dumps(s1['valid_metrics'])} best epoch {s1['best_epoch']} "
                    f"({s1['epochs']} run) in {s1['total_seconds']}s"
                )
                log(f"{m} on {args.dataset}: stage 2 (final: fit train+valid for {n_epochs} epochs, test)")
                s2 = run_once(m, full, base, k=k, epochs=n_epochs, validate=False, budget_seconds=None, log=log)
            except Exception as exc:
                log(f"  {m} failed: {type(exc).__name__}: {exc}")
                out["models"][m] = {"error": f"{type(exc).__name__}: {exc}"}
                save()
                continue
            res = dict(s2)
            res["valid_metrics"] = s1["valid_metrics"]
            res["train_only_test_metrics"] = s1["metrics"]
            res["selection"] = {
                k_: s1[k_]
                for k_ in (
                    "fit_seconds", "eval_seconds", "total_seconds", "epochs", "best_epoch",
                    "seconds_per_epoch", "valid_seconds_in_fit", "epoch_log",
                )
            }
            res["total_seconds_with_selection"] = round(s1["total_seconds"] + s2["total_seconds"], 3)
            out["models"][m] = res
            log(result_line(m, res))
            save()

    out["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save()
    log(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
