"""Transport retries, owned by this layer alone (tenacity).

Backends translate their library's errors into ``TransientBackendError`` (a
timeout, a dropped connection, 429, 5xx) or a final error. Only the transient
kind is retried, with capped exponential backoff and jitter; a server's
``Retry-After`` wins over the backoff when it asks for longer. When the
attempts or the time budget run out, the caller gets ``ModelBackendError``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from agentrec.core.errors import ModelBackendError

if TYPE_CHECKING:
    from tenacity import RetryCallState

logger = logging.getLogger(__name__)

Result = TypeVar("Result")


class TransientBackendError(Exception):
    """A failure worth retrying. Never leaves ``agentrec.llm``. ``throttled``: the provider said "too many" (429)."""

    def __init__(self, message: str, retry_after_s: float | None = None, throttled: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.throttled = throttled


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry: attempts, backoff bounds, jitter and an overall time budget."""

    max_attempts: int = 5
    initial_wait_s: float = 0.5
    max_wait_s: float = 20.0
    jitter_s: float = 0.5
    max_retry_after_s: float = 60.0
    max_total_s: float = 180.0


class _BackoffOrRetryAfter:
    """Tenacity wait: exponential backoff with jitter, or the server's Retry-After if longer."""

    def __init__(self, policy: RetryPolicy) -> None:
        from tenacity import wait_exponential_jitter

        self._policy = policy
        self._backoff = wait_exponential_jitter(
            multiplier=policy.initial_wait_s, max=policy.max_wait_s, jitter=policy.jitter_s
        )

    def __call__(self, state: RetryCallState) -> float:
        backoff = float(self._backoff(state))
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after_s", None)
        if retry_after is None:
            return backoff
        return min(max(float(retry_after), 0.0), self._policy.max_retry_after_s)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.warning("LLM call failed (%s); retry %s in %.2f s", error, state.attempt_number, wait)


def call_with_retries(call: Callable[[], Result], policy: RetryPolicy, backend_name: str) -> tuple[Result, int]:
    """Run ``call``, retrying transient failures; return its result and the retry count."""
    # Imported here: tenacity pulls in asyncio and tornado helpers, too slow for `--help`.
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay

    retrying = Retrying(
        retry=retry_if_exception_type(TransientBackendError),
        stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_total_s),
        wait=_BackoffOrRetryAfter(policy),
        before_sleep=_log_retry,
        reraise=True,
    )
    attempts = 0
    try:
        for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                result = call()
    except TransientBackendError as error:
        raise ModelBackendError(f"{backend_name} failed after {attempts} attempt(s): {error}") from error
    return result, attempts - 1
