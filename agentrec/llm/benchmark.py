"""Throughput measurements behind ``agentrec llm bench`` and ``bench/llm.py``.

Tokens per second is completion tokens over wall time of the whole call, the
median of several runs (the best run, for the comparison with the raw baseline). The raw baseline is a separately loaded
``llama_cpp.Llama`` given the very prompt text our layer renders, with the same
settings, so the difference is exactly what this layer adds.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, cast

from agentrec.llm.capabilities import RunsGgufFile, StreamsText, supports
from agentrec.llm.records import ChatModel, GenerationSettings, Message

BENCH_MESSAGES = [
    Message.system("You are a helpful assistant."),
    Message.user("Describe, in a few sentences, why people enjoy science fiction films."),
]
BENCH_SETTINGS = GenerationSettings(temperature=0.0, max_tokens=128, seed=0)


def measure_model(model: ChatModel, repeats: int = 5) -> dict[str, Any]:
    """Tokens/s of ``model.complete`` and time to the first streamed token."""
    rates, latencies, tokens = [], [], 0
    for _ in range(repeats):
        turn = model.complete(BENCH_MESSAGES, settings=BENCH_SETTINGS)
        tokens = turn.usage.completion_tokens
        latencies.append(turn.latency_s)
        rates.append(tokens / turn.latency_s if turn.latency_s > 0 else 0.0)
    return {
        "model": model.model_id,
        "completion_tokens": tokens,
        "tokens_per_s": statistics.median(rates),
        "latency_s": statistics.median(latencies),
        "time_to_first_token_s": measure_first_token(model, repeats),
    }


def measure_first_token(model: ChatModel, repeats: int = 3) -> float | None:
    """Median seconds until the first streamed piece of the reply (None if the backend cannot stream)."""
    if not supports(model, StreamsText):
        return None
    streamer = cast(StreamsText, model)
    waits = []
    for _ in range(repeats):
        started = time.perf_counter()
        pieces = streamer.stream_text(BENCH_MESSAGES, BENCH_SETTINGS)
        next(iter(pieces), None)
        waits.append(time.perf_counter() - started)
        for _ in pieces:  # finish the stream so the model is free for the next run
            pass
    return statistics.median(waits)


def measure_against_raw_llama(model: ChatModel, repeats: int = 5) -> dict[str, Any] | None:
    """Interleaved runs of this layer and raw llama-cpp-python on the same prompt and settings.

    Returns None for backends that do not run a GGUF file in this process.
    """
    from agentrec.llm.local import LocalChatModel

    if not supports(model, RunsGgufFile):
        return None
    # Renders the prompt and sets the raw model's threads; it shares the file's loaded weights.
    local = LocalChatModel(cast(RunsGgufFile, model).gguf_path())
    from llama_cpp import Llama

    raw = Llama(
        model_path=str(local.path),
        n_ctx=local.n_ctx,
        n_threads=local.n_threads,
        n_threads_batch=local.n_threads,
        verbose=False,
    )
    prompt = local.render_prompt(BENCH_MESSAGES)
    stop = [local.loaded.eos_text]
    ours, theirs = [], []
    for _ in range(repeats):
        # Interleaving spreads any drift in machine load over both sides.
        turn = model.complete(BENCH_MESSAGES, settings=BENCH_SETTINGS)
        ours.append(turn.usage.completion_tokens / turn.latency_s)
        started = time.perf_counter()
        output: Any = raw.create_completion(
            prompt,
            max_tokens=BENCH_SETTINGS.max_tokens,
            temperature=BENCH_SETTINGS.temperature,
            seed=BENCH_SETTINGS.seed,
            stop=stop,
        )
        elapsed = time.perf_counter() - started
        theirs.append(output["usage"]["completion_tokens"] / elapsed)
    # On a shared machine other processes steal time from random runs; the best run of
    # each side is the least disturbed, so the ratio compares best with best.
    ours_best, raw_best = max(ours), max(theirs)
    return {
        "agentrec_tokens_per_s": ours_best,
        "raw_llama_cpp_tokens_per_s": raw_best,
        "ratio_vs_raw": ours_best / raw_best if raw_best else None,
        "agentrec_tokens_per_s_median": statistics.median(ours),
        "raw_llama_cpp_tokens_per_s_median": statistics.median(theirs),
        "ratio_of_medians": statistics.median(ours) / statistics.median(theirs),
        "agentrec_runs": [round(rate, 1) for rate in ours],
        "raw_runs": [round(rate, 1) for rate in theirs],
        "threads": local.n_threads,
        "repeats": repeats,
    }
