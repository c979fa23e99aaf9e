"""The memory budget: how much RAM one step may plan to use, and the up-front refusal when it would not fit.

A step that knows its footprint before allocating (EASE's item x item matrices) checks it
here, so a run that cannot fit stops in a second with one line instead of being killed by
the kernel after minutes. The budget is 75% of physical RAM, or ``AGENTREC_MEMORY_GB``.
"""

from __future__ import annotations

import os

from agentrec.core.errors import ConfigError

BUDGET_ENV = "AGENTREC_MEMORY_GB"
SHARE_OF_RAM = 0.75
GB = 1024**3


def physical_memory_bytes() -> int:
    """Total RAM of this machine (what ``sysconf`` reports; 8 GB where it cannot say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * GB


def memory_budget_bytes() -> int:
    """``AGENTREC_MEMORY_GB`` when set (a positive number), else 75% of physical RAM."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return int(physical_memory_bytes() * SHARE_OF_RAM)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"{BUDGET_ENV} must be a positive number of gigabytes, got {raw!r}")
    return int(value * GB)


def readable_size(size: float) -> str:
    """Bytes as GB (one decimal) from 1 GB up, else as MB."""
    return f"{size / GB:.1f} GB" if size >= GB else f"{size / 1024**2:.1f} MB"


def describe_budget() -> str:
    if os.environ.get(BUDGET_ENV, "").strip():
        return f"{readable_size(memory_budget_bytes())} ({BUDGET_ENV})"
    return f"{readable_size(memory_budget_bytes())} (75% of RAM; {BUDGET_ENV} changes it)"


def require_within_budget(what: str, needed_bytes: int, remedy: str) -> None:
    """``ConfigError`` naming the need, the budget and ``remedy`` when ``needed_bytes`` exceeds the budget."""
    if needed_bytes > memory_budget_bytes():
        raise ConfigError(
            f"{what} needs {readable_size(needed_bytes)}, over the memory budget of {describe_budget()}; {remedy}"
        )
