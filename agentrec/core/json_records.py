"""Base and field types of the records that the batch commands write as JSON.

Their numbers may be NaN in memory (a mean over nothing, a rate with no
denominator); standard JSON has no NaN, so the records write it as ``null``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, SerializerFunctionWrapHandler, model_serializer


def finite_or_none(value: float | None) -> float | None:
    """``value``, or ``None`` when it is missing, NaN or infinite."""
    return value if value is not None and math.isfinite(value) else None


def finite_tree(value: Any) -> Any:
    """``value`` with every non-finite float inside dicts, lists and tuples replaced by ``None``."""
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, dict):
        return {key: finite_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_tree(item) for item in value]
    return value


# A float written as null when it is NaN or infinite.
JsonFloat = Annotated[float, PlainSerializer(finite_or_none, return_type=float | None)]
# Free-form JSON data from a lower layer (optimiser history, defence details), NaN written as null.
JsonTree = Annotated[dict[str, Any], PlainSerializer(finite_tree, return_type=dict[str, Any])]


class JsonRecord(BaseModel):
    """A frozen record of a command's JSON output; ``json_data()`` is what ``--json`` writes.

    Unknown fields are refused, so a key added by a lower layer fails loudly instead of
    vanishing from the output.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    # Fields whose key is absent from the JSON (not null) when they are None.
    omitted_when_none: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _omit_missing(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self.omitted_when_none:
            if getattr(self, name) is None:  # the value, not its dump: a NaN is still written, as null
                data.pop(name, None)
        return data

    def json_data(self) -> dict[str, Any]:
        """The record as JSON-ready data (NaN as ``None``), keys as the CLI contract names them."""
        return self.model_dump(mode="json")
