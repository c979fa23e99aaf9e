"""Usage accounting: every LLM call is recorded, and a run sums them.

A ``UsageMeter`` is a plain object passed to the models that should report to
it. The CLI uses the process-wide ``run_usage()`` meter, which the factory
attaches by default, so every command can print one summary line at its end.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from agentrec.llm.records import AssistantTurn


@dataclass(frozen=True)
class CallRecord:
    """One finished call as the meter saw it."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cost_usd: float
    retries: int
    cached: bool


@dataclass
class UsageMeter:
    """Sums calls, tokens, latency, cost, cache hits and retries over a run."""

    records: list[CallRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, turn: AssistantTurn) -> None:
        """Add one turn. A cached turn costs nothing and took no backend time.

        (The cached turn keeps the latency of its original call, so a replay
        returns it unchanged; the meter counts what this run spent.)
        """
        entry = CallRecord(
            model=turn.model,
            prompt_tokens=turn.usage.prompt_tokens,
            completion_tokens=turn.usage.completion_tokens,
            latency_s=0.0 if turn.cached else turn.latency_s,
            cost_usd=0.0 if turn.cached else turn.cost_usd,
            retries=turn.usage.retries,
            cached=turn.cached,
        )
        with self._lock:
            self.records.append(entry)

    def add(self, records: list[CallRecord]) -> None:
        """Add calls another meter recorded (a worker process's, sent back with its result)."""
        with self._lock:
            self.records.extend(records)

    @property
    def calls(self) -> int:
        """Number of calls, cached ones included."""
        return len(self.records)

    @property
    def cache_hits(self) -> int:
        """Calls answered by the response cache."""
        return sum(r.cached for r in self.records)

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens over all calls."""
        return sum(r.prompt_tokens for r in self.records)

    @property
    def completion_tokens(self) -> int:
        """Completion tokens over all calls."""
        return sum(r.completion_tokens for r in self.records)

    @property
    def latency_s(self) -> float:
        """Wall time spent waiting for answers."""
        return sum(r.latency_s for r in self.records)

    @property
    def cost_usd(self) -> float:
        """Money spent (cached calls are free)."""
        return sum(r.cost_usd for r in self.records)

    @property
    def retries(self) -> int:
        """Transport retries over all calls."""
        return sum(r.retries for r in self.records)

    def as_dict(self) -> dict[str, float | int]:
        """The totals, for ``--json`` outputs."""
        return {
            "llm_calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.prompt_tokens + self.completion_tokens,
            "seconds": round(self.latency_s, 4),
            "cost_usd": round(self.cost_usd, 6),
            "cache_hits": self.cache_hits,
            "retries": self.retries,
        }

    def summary(self) -> str:
        """One line for the end of a CLI command."""
        return (
            f"LLM usage: {self.calls} calls ({self.cache_hits} cached), "
            f"{self.prompt_tokens}+{self.completion_tokens} tokens, "
            f"{self.latency_s:.2f} s, ${self.cost_usd:.4f}, {self.retries} retries"
        )

    def reset(self) -> None:
        """Forget every record."""
        with self._lock:
            self.records.clear()


_RUN_METER = UsageMeter()


def run_usage() -> UsageMeter:
    """The process-wide meter the CLI prints at the end of a command."""
    return _RUN_METER
