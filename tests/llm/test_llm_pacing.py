"""The provider gate: limits checked, the spending cap kept, in-flight limit adapting, buckets pacing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from agentrec.core.errors import ConfigError
from agentrec.llm.pacing import (
    BudgetExhausted,
    ProviderGate,
    ProviderLimits,
    TokenBucket,
    forget_gates,
    process_snapshot,
    provider_usage,
    shared_gate,
)


@pytest.mark.parametrize(
    "limits",
    [
        {"rpm": -1.0},
        {"tpm": 0.0},
        {"max_cost_usd": -0.5},
        {"max_cost_usd": float("nan")},
        {"price_in_per_m": 1.0},
        {"concurrency": 0},
    ],
)
def test_impossible_limits_are_refused_with_the_flag_named(limits: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="--"):
        ProviderLimits(**limits)  # type: ignore[arg-type]


def test_the_cap_is_never_crossed_by_requests_in_flight() -> None:
    gate = ProviderGate(ProviderLimits(max_cost_usd=1.0))
    with gate.admitted(prompt_chars=30, max_tokens=10, max_cost=0.4) as first:
        with gate.admitted(prompt_chars=30, max_tokens=10, max_cost=0.4) as second:
            # 0.8 set aside: a third request that could cost 0.4 would cross 1.0.
            refused = pytest.raises(BudgetExhausted, match="stopped before the --max-cost cap")
            with refused, gate.admitted(prompt_chars=30, max_tokens=10, max_cost=0.4):
                pass
            gate.settle(second, prompt_tokens=10, completion_tokens=5, cost=0.1)
        gate.settle(first, prompt_tokens=10, completion_tokens=5, cost=0.1)
    # Settled at their true cost (0.2 in all), so 0.8 more fits now.
    with gate.admitted(prompt_chars=30, max_tokens=10, max_cost=0.8) as third:
        gate.settle(third, prompt_tokens=10, completion_tokens=5, cost=0.8)
    snapshot = gate.snapshot()
    assert snapshot.cost_usd == pytest.approx(1.0)
    assert snapshot.calls == 3


def test_an_unsettled_failure_costs_nothing_and_counts_as_failed() -> None:
    gate = ProviderGate(ProviderLimits(max_cost_usd=1.0))
    with pytest.raises(RuntimeError), gate.admitted(prompt_chars=10, max_tokens=10, max_cost=0.9):
        raise RuntimeError("connection reset")
    snapshot = gate.snapshot()
    assert (snapshot.cost_usd, snapshot.failed_calls, snapshot.in_flight) == (0.0, 1, 0)


def test_throttling_halves_the_in_flight_limit_and_success_grows_it_back() -> None:
    gate = ProviderGate(ProviderLimits(concurrency=8))
    assert gate.snapshot().limit == 8
    with gate.admitted(prompt_chars=0, max_tokens=1, max_cost=0.0) as slot:
        gate.settle(slot, 0, 0, 0.0, failed=True, throttled=True)
    assert gate.snapshot().limit == 4
    with gate.admitted(prompt_chars=0, max_tokens=1, max_cost=0.0) as slot:
        # A second 429 from the same overload (within the cooldown) is not a second signal.
        gate.settle(slot, 0, 0, 0.0, failed=True, throttled=True)
    assert gate.snapshot().limit == 4
    for _ in range(40):
        with gate.admitted(prompt_chars=0, max_tokens=1, max_cost=0.0) as slot:
            gate.settle(slot, 1, 1, 0.0)
    assert gate.snapshot().limit == 8  # back to the ceiling, never past it
    assert gate.snapshot().throttled == 2


def test_no_more_than_the_limit_are_ever_in_flight() -> None:
    gate = ProviderGate(ProviderLimits(concurrency=3))
    seen: list[int] = []
    lock = threading.Lock()

    def request() -> None:
        with gate.admitted(prompt_chars=0, max_tokens=1, max_cost=0.0) as slot:
            with lock:
                seen.append(gate.snapshot().in_flight)
            time.sleep(0.01)
            gate.settle(slot, 1, 1, 0.0)

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(seen) <= 3
    assert gate.snapshot().max_in_flight <= 3
    assert gate.snapshot().calls == 12


def test_a_bucket_paces_to_its_rate_and_lets_a_large_request_through_in_debt() -> None:
    bucket = TokenBucket(per_minute=60)  # one a second
    now = time.monotonic()
    assert bucket.wait_needed(1, now) == 0.0
    bucket.take(1)
    assert bucket.wait_needed(1, now) == pytest.approx(1.0, abs=0.01)
    tokens = TokenBucket(per_minute=600)  # ten a second, so at most ten at once
    assert tokens.wait_needed(50, now) == 0.0  # more than a second's worth waits only for a full bucket
    tokens.take(50)
    assert tokens.wait_needed(1, now) == pytest.approx(4.1, abs=0.05)  # 40 in debt, then one more


def test_models_with_the_same_limits_share_one_gate_until_forgotten() -> None:
    forget_gates()
    limits = ProviderLimits(rpm=100.0)
    assert shared_gate(limits) is shared_gate(ProviderLimits(rpm=100.0))
    assert shared_gate(limits) is not shared_gate(ProviderLimits(rpm=50.0))
    assert provider_usage(process_snapshot()) is None  # nothing was sent
    forget_gates()


def test_limits_split_over_worker_processes() -> None:
    limits = ProviderLimits(rpm=100.0, tpm=1000.0, max_cost_usd=2.0).shared_by(4)
    assert (limits.rpm, limits.tpm, limits.max_cost_usd) == (25.0, 250.0, 0.5)
    priced = ProviderLimits(price_in_per_m=2.0, price_out_per_m=8.0)
    assert priced.price(1_000_000, 500_000) == pytest.approx(6.0)


def _remote(start_load_provider: Callable[..., str], limits: ProviderLimits, **provider: float) -> tuple[object, str]:
    from agentrec.llm.remote import LiteLLMChatModel

    base = start_load_provider(**provider)
    return LiteLLMChatModel("openai/load-test", api_base=base, limits=limits), base


def test_a_loopback_server_needs_prices_before_a_cap_can_be_kept(start_load_provider: Callable[..., str]) -> None:
    with pytest.raises(ConfigError, match="--price-in and --price-out"):
        _remote(start_load_provider, ProviderLimits(max_cost_usd=1.0))


def test_requests_are_priced_by_the_runs_own_prices(start_load_provider: Callable[..., str]) -> None:
    from agentrec.llm.records import Message

    forget_gates()
    limits = ProviderLimits(price_in_per_m=1.0, price_out_per_m=2.0, max_cost_usd=10.0)
    model, _ = _remote(start_load_provider, limits)
    turn = model.complete([Message(role="user", content="hello")])  # type: ignore[attr-defined]
    expected = (turn.usage.prompt_tokens * 1.0 + turn.usage.completion_tokens * 2.0) / 1e6
    assert turn.cost_usd == pytest.approx(expected)
    assert shared_gate(limits).snapshot().cost_usd == pytest.approx(expected)
    forget_gates()
