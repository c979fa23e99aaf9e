"""The JSON record of a paired comparison, shared by agent-eval, simulate and audit."""

from __future__ import annotations

from typing import Self

from agentrec.core.json_records import JsonFloat, JsonRecord
from agentrec.eval.bootstrap import PairedComparison


class PairedDifference(JsonRecord):
    """``diff`` = b minus a on the same units, its bootstrap interval ``[low, high]`` and p-value."""

    diff: JsonFloat
    low: JsonFloat
    high: JsonFloat
    p_value: JsonFloat

    @classmethod
    def of(cls, comparison: PairedComparison, digits: int | None = None, **more: object) -> Self:
        """The record of ``comparison``, rounded to ``digits`` when given (``more``: a subclass's fields)."""
        values = (comparison.diff, comparison.low, comparison.high, comparison.p_value)
        diff, low, high, p_value = (round(v, digits) for v in values) if digits is not None else values
        return cls(diff=diff, low=low, high=high, p_value=p_value, **more)

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of 0."""
        return self.low > 0 or self.high < 0
