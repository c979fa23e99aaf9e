"""Provider pacing: requests and tokens per minute, an adaptive in-flight limit, and a spending cap.

Every HTTP attempt a remote backend makes passes through one ``ProviderGate``,
shared by all the threads of a process that use the same limits, so that 64
users in flight still send at most ``--rpm`` requests a minute and spend at most
``--max-cost`` dollars. The in-flight limit follows the provider: it halves when
the provider throttles (HTTP 429) and grows back by about one request per round
trip when it stops (additive increase, multiplicative decrease, as TCP does).

The spending cap is kept by reservation: before a request is sent, its highest
possible price (the prompt's estimated tokens plus every allowed completion
token) is set aside, and the request is refused with ``BudgetExhausted`` when
that would cross the cap. So the cap is never crossed, even with many requests
in flight. Only this process's requests count: a resumed run is charged only
for what it asks anew (finished calls come from the run's own store or the
response cache).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace

from agentrec.core.errors import ConfigError, ModelBackendError
from agentrec.core.json_records import JsonFloat, JsonRecord

# A prompt's tokens are estimated from its characters before it is sent (English BPE runs near
# 4 characters a token; 3 overestimates, which errs towards keeping the cap and the TPM limit).
CHARS_PER_TOKEN = 3.0
# The in-flight limit halves at most once a while: a burst of 429s from one overload is one signal.
DECREASE_COOLDOWN_S = 1.0
# How a stop at the spending cap begins, so a command can tell it from an unreachable provider.
BUDGET_STOP = "stopped before the --max-cost cap"


class BudgetExhausted(ModelBackendError):
    """The next request could cross ``--max-cost``; nothing more is sent this run."""


@dataclass(frozen=True)
class ProviderLimits:
    """What a run may ask of its provider. ``None`` means no limit.

    ``concurrency`` is the most requests in flight (the adaptive limit's ceiling;
    ``None``: no in-flight limit, so nothing to adapt). Prices are USD per million
    tokens and override litellm's bundled price map.
    """

    concurrency: int | None = None
    rpm: float | None = None
    tpm: float | None = None
    max_cost_usd: float | None = None
    price_in_per_m: float | None = None
    price_out_per_m: float | None = None

    def __post_init__(self) -> None:
        if self.concurrency is not None and self.concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {self.concurrency}")
        for flag, value in (("--rpm", self.rpm), ("--tpm", self.tpm)):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{flag} must be a positive number, got {value}")
        for flag, value in (
            ("--max-cost", self.max_cost_usd),
            ("--price-in", self.price_in_per_m),
            ("--price-out", self.price_out_per_m),
        ):
            if value is not None and not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"{flag} must be a number of US dollars (0 or more), got {value}")
        if (self.price_in_per_m is None) != (self.price_out_per_m is None):
            raise ConfigError("--price-in and --price-out go together: give both, in USD per million tokens")

    def shared_by(self, processes: int) -> ProviderLimits:
        """Each of ``processes`` workers' share: a gate cannot span processes, so each keeps a fraction."""
        if processes <= 1:
            return self
        return replace(
            self,
            rpm=self.rpm / processes if self.rpm else None,
            tpm=self.tpm / processes if self.tpm else None,
            max_cost_usd=self.max_cost_usd / processes if self.max_cost_usd is not None else None,
        )

    def per_process(self, concurrency: int, processes: int) -> ProviderLimits:
        """The limits of each of ``processes`` processes calling the provider, each with ``concurrency`` in flight."""
        return replace(self, concurrency=concurrency).shared_by(processes)

    @property
    def counts_tokens(self) -> bool:
        """True when a request's tokens must be estimated before it is sent (--tpm, or a spending cap)."""
        return self.tpm is not None or self.max_cost_usd is not None

    @property
    def has_prices(self) -> bool:
        """True when the run names its own prices."""
        return self.price_in_per_m is not None and self.price_out_per_m is not None

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The run's own price of a call (0 without prices)."""
        if not self.has_prices:
            return 0.0
        assert self.price_in_per_m is not None and self.price_out_per_m is not None
        return (prompt_tokens * self.price_in_per_m + completion_tokens * self.price_out_per_m) / 1e6


@dataclass(frozen=True)
class GateSnapshot:
    """What the gate has seen so far, for progress bars and the usage JSON."""

    calls: int
    failed_calls: int
    throttled: int
    tokens: int
    cost_usd: float
    in_flight: int
    limit: int  # the adaptive in-flight limit now; 0 when there is none
    max_in_flight: int
    elapsed_s: float

    @property
    def calls_per_second(self) -> float:
        """Answered requests per second since the first one was sent."""
        return self.calls / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def tokens_per_second(self) -> float:
        """Prompt plus completion tokens per second since the first request."""
        return self.tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0


class TokenBucket:
    """``per_minute`` units a minute, at most one second's worth at once.

    A request larger than a second's worth waits for a full bucket and leaves it
    in debt, so a long prompt is never refused, only paced.
    """

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.updated = time.monotonic()

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + max(0.0, now - self.updated) * self.rate)
        self.updated = max(self.updated, now)

    def wait_needed(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` may be taken (0 when it may be taken now)."""
        self._refill(now)
        wanted = min(amount, self.capacity)
        return 0.0 if self.level >= wanted else (wanted - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount

    def give_back(self, amount: float) -> None:
        """Correct an estimate once the true count is known (negative to take more)."""
        self.level = min(self.capacity, self.level + amount)


@dataclass
class Slot:
    """One admitted request: what was set aside for it, settled when it ends."""

    reserved_tokens: int
    reserved_cost: float
    settled: bool = False


@dataclass
class ProviderGate:
    """Admits requests under the limits; thread-safe. One per process and limits (``shared_gate``)."""

    limits: ProviderLimits
    _lock: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _requests: TokenBucket | None = None
    _tokens: TokenBucket | None = None
    _limit: float = 1.0
    _in_flight: int = 0
    _max_in_flight: int = 0
    _calls: int = 0
    _failed: int = 0
    _throttled: int = 0
    _used_tokens: int = 0
    _spent: float = 0.0
    _reserved: float = 0.0
    _started: float | None = None
    _last_decrease: float = -math.inf

    def __post_init__(self) -> None:
        self._limit = float(self.limits.concurrency or math.inf)
        self._requests = TokenBucket(self.limits.rpm) if self.limits.rpm else None
        self._tokens = TokenBucket(self.limits.tpm) if self.limits.tpm else None

    @contextmanager
    def admitted(self, prompt_chars: int, max_tokens: int, max_cost: float) -> Iterator[Slot]:
        """Wait for room to send one request; the caller settles the slot when the answer is read.

        ``max_cost`` is the request's highest possible price. Raises ``BudgetExhausted``
        instead of waiting when that price could cross the cap.
        """
        tokens = int(prompt_chars / CHARS_PER_TOKEN) + max_tokens
        slot = self._enter(tokens, max_cost)
        try:
            yield slot
        finally:
            if not slot.settled:  # an error the caller did not settle: providers bill no failed request
                self.settle(slot, prompt_tokens=0, completion_tokens=0, cost=0.0, failed=True)

    def _enter(self, tokens: int, max_cost: float) -> Slot:
        with self._lock:
            while True:
                self._check_budget(max_cost)
                now = time.monotonic()
                wait = self._wait_needed(tokens, now)
                if wait == 0.0:
                    break
                self._lock.wait(timeout=wait if math.isfinite(wait) else None)
            if self._requests is not None:
                self._requests.take(1)
            if self._tokens is not None:
                self._tokens.take(tokens)
            self._reserved += max_cost
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if self._started is None:
                self._started = now
            return Slot(reserved_tokens=tokens, reserved_cost=max_cost)

    def _check_budget(self, max_cost: float) -> None:
        cap = self.limits.max_cost_usd
        if cap is not None and self._spent + self._reserved + max_cost > cap:
            raise BudgetExhausted(
                f"{BUDGET_STOP} of ${cap:.4f}: ${self._spent:.4f} spent, "
                f"the next request could cost up to ${max_cost:.4f}"
            )

    def _wait_needed(self, tokens: int, now: float) -> float:
        if math.isfinite(self._limit) and self._in_flight >= max(1, math.floor(self._limit)):
            return math.inf  # woken by the request that ends
        waits = [bucket.wait_needed(amount, now) for bucket, amount in ((self._requests, 1), (self._tokens, tokens))
                 if bucket is not None]  # fmt: skip
        return max(waits, default=0.0)

    def settle(
        self, slot: Slot, prompt_tokens: int, completion_tokens: int, cost: float, failed: bool = False,
        throttled: bool = False,
    ) -> None:  # fmt: skip
        """Record how a request ended: its true tokens and cost; a 429 halves the in-flight limit."""
        with self._lock:
            slot.settled = True
            self._in_flight -= 1
            self._reserved -= slot.reserved_cost
            self._spent += cost
            used = prompt_tokens + completion_tokens
            self._used_tokens += used
            if self._tokens is not None:  # a failed attempt used no tokens
                self._tokens.give_back(slot.reserved_tokens - used)
            if throttled:
                self._throttled += 1
                now = time.monotonic()
                if now - self._last_decrease >= DECREASE_COOLDOWN_S:
                    self._limit = max(1.0, self._limit / 2)
                    self._last_decrease = now
            elif failed:
                self._failed += 1
            else:
                self._calls += 1
                self._limit = min(float(self.limits.concurrency or math.inf), self._limit + 1.0 / self._limit)
            self._lock.notify_all()

    def snapshot(self) -> GateSnapshot:
        """The counts so far."""
        with self._lock:
            elapsed = time.monotonic() - self._started if self._started is not None else 0.0
            limit = max(1, int(self._limit)) if math.isfinite(self._limit) else 0
            return GateSnapshot(
                calls=self._calls, failed_calls=self._failed + self._throttled, throttled=self._throttled,
                tokens=self._used_tokens, cost_usd=self._spent, in_flight=self._in_flight,
                limit=limit, max_in_flight=self._max_in_flight, elapsed_s=elapsed,
            )  # fmt: skip


class ProviderUsage(JsonRecord):
    """What a batch command asked of its provider (the ``usage`` key of its JSON)."""

    llm_calls: int
    failed_calls: int
    throttled: int
    tokens: int
    cost_usd: JsonFloat
    max_concurrency: int
    calls_per_second: JsonFloat
    tokens_per_second: JsonFloat
    seconds: JsonFloat


def provider_usage(snapshot: GateSnapshot) -> ProviderUsage | None:
    """The JSON record of a gate's counts; None when nothing was sent (the embedded model, a replay)."""
    if snapshot.calls == 0 and snapshot.failed_calls == 0:
        return None
    return ProviderUsage(
        llm_calls=snapshot.calls, failed_calls=snapshot.failed_calls, throttled=snapshot.throttled,
        tokens=snapshot.tokens, cost_usd=round(snapshot.cost_usd, 6), max_concurrency=snapshot.max_in_flight,
        calls_per_second=round(snapshot.calls_per_second, 3), tokens_per_second=round(snapshot.tokens_per_second, 1),
        seconds=round(snapshot.elapsed_s, 2),
    )  # fmt: skip


# The limits of this command's run, for models built without explicit ones (a simulation's, an audit's).
# Kept in the environment so that worker processes, spawned or on Ray, inherit them.
_LIMITS_VARIABLE = "AGENTREC_PROVIDER_LIMITS"


@contextmanager
def limits_of_this_run(limits: ProviderLimits) -> Iterator[None]:
    """Within the block, ``limits`` are the default of every model this process, and the workers it
    starts, build (each run function starts its counts and budget from nothing)."""
    previous = os.environ.get(_LIMITS_VARIABLE)
    os.environ[_LIMITS_VARIABLE] = json.dumps(asdict(limits))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_LIMITS_VARIABLE, None)
        else:
            os.environ[_LIMITS_VARIABLE] = previous


def run_limits() -> ProviderLimits:
    """The limits set for this run (none when no command set them)."""
    encoded = os.environ.get(_LIMITS_VARIABLE)
    return ProviderLimits(**json.loads(encoded)) if encoded else ProviderLimits()


_GATES: dict[ProviderLimits, ProviderGate] = {}
_GATES_LOCK = threading.Lock()


def shared_gate(limits: ProviderLimits) -> ProviderGate:
    """This process's gate for ``limits``: every model built with the same limits shares it."""
    with _GATES_LOCK:
        gate = _GATES.get(limits)
        if gate is None:
            gate = _GATES[limits] = ProviderGate(limits)
        return gate


def process_snapshot() -> GateSnapshot:
    """Every gate of this process summed: what a progress bar shows."""
    with _GATES_LOCK:
        snapshots = [gate.snapshot() for gate in _GATES.values()]
    if not snapshots:
        return GateSnapshot(0, 0, 0, 0, 0.0, 0, 0, 0, 0.0)
    return GateSnapshot(
        calls=sum(s.calls for s in snapshots), failed_calls=sum(s.failed_calls for s in snapshots),
        throttled=sum(s.throttled for s in snapshots), tokens=sum(s.tokens for s in snapshots),
        cost_usd=sum(s.cost_usd for s in snapshots), in_flight=sum(s.in_flight for s in snapshots),
        limit=sum(s.limit for s in snapshots), max_in_flight=max(s.max_in_flight for s in snapshots),
        elapsed_s=max(s.elapsed_s for s in snapshots),
    )  # fmt: skip


def forget_gates() -> None:
    """Drop every gate (a new run in the same process starts with fresh counts)."""
    with _GATES_LOCK:
        _GATES.clear()
