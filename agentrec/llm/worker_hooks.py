"""Worker processes that may run an LLM: their share of the cores, and their usage sent home.

``core.worker_pool`` runs the processes; these hooks, passed in by the batch jobs
that start a pool (agent-eval, audit pairs, simulation), make each worker:

- take its share of the cores for llama.cpp (threads stall when they share a
  core) and one thread for BLAS, faiss and LightGBM, since the workers already
  share the cores between them;
- send back, with each result, the LLM calls it metered for that item, which
  join the parent's ``run_usage()``: a command's usage line counts its workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from agentrec.core.worker_pool import WorkerHooks
from agentrec.llm.usage import CallRecord, run_usage
from agentrec.recsys.threads import ThreadPlan, pin_threads

Item = TypeVar("Item")
Result = TypeVar("Result")


class LlmWorkerHooks(WorkerHooks):
    """Core share and usage metering for workers that may call an LLM."""

    def prepare(self, workers: int) -> None:
        os.environ.setdefault("AGENTREC_LLM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        pin_threads(ThreadPlan.uniform(1))

    def measure(self, work: Callable[[Item], Result], item: Item) -> tuple[Result, list[CallRecord]]:
        meter = run_usage()
        before = len(meter.records)
        result = work(item)
        return result, meter.records[before:]

    def receive(self, metered: list[CallRecord]) -> None:
        run_usage().add(metered)


LLM_WORKERS = LlmWorkerHooks()
