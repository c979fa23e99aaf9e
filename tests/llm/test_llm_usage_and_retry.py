"""Usage accounting and the retry policy, without any backend."""

from __future__ import annotations

import pytest

from agentrec.core.errors import ModelBackendError
from agentrec.llm import AssistantTurn, Usage, UsageMeter
from agentrec.llm.retrying import RetryPolicy, TransientBackendError, call_with_retries

FAST = RetryPolicy(max_attempts=3, initial_wait_s=0.01, max_wait_s=0.02, jitter_s=0.0)


def test_the_meter_sums_calls_and_treats_cached_calls_as_free() -> None:
    meter = UsageMeter()
    meter.record(
        AssistantTurn(
            usage=Usage(prompt_tokens=10, completion_tokens=5, retries=1),
            cost_usd=0.5,
            latency_s=1.0,
        )
    )
    meter.record(AssistantTurn(usage=Usage(prompt_tokens=10, completion_tokens=5), cost_usd=0.5, cached=True))
    assert meter.calls == 2 and meter.cache_hits == 1 and meter.retries == 1
    assert meter.prompt_tokens == 20 and meter.completion_tokens == 10
    assert meter.cost_usd == pytest.approx(0.5)
    assert meter.summary().startswith("LLM usage: 2 calls (1 cached), 20+10 tokens")
    assert meter.as_dict()["tokens"] == 30


def test_transient_failures_are_retried_and_counted() -> None:
    outcomes = [
        TransientBackendError("503"),
        TransientBackendError("429", retry_after_s=0.01),
        "ok",
    ]

    def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert call_with_retries(flaky, FAST, "test") == ("ok", 2)


def test_exhausted_retries_raise_model_backend_error() -> None:
    calls = []

    def always_down() -> None:
        calls.append(1)
        raise TransientBackendError("connection refused")

    with pytest.raises(ModelBackendError, match="3 attempt"):
        call_with_retries(always_down, FAST, "test")
    assert len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        call_with_retries(broken, FAST, "test")
    assert len(calls) == 1
