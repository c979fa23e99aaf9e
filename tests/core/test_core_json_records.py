"""The base of the JSON records: NaN is written as null, absent keys stay absent, unknown keys are refused."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from agentrec.core.json_records import JsonFloat, JsonRecord, JsonTree, finite_or_none, finite_tree

NAN = float("nan")


class Inner(JsonRecord):
    omitted_when_none = ("note", "spread")

    value: JsonFloat
    note: str | None = None
    spread: JsonFloat | None = None


class Outer(JsonRecord):
    mean: JsonFloat
    maybe: JsonFloat | None
    by_name: dict[str, JsonFloat]
    interval: tuple[JsonFloat, JsonFloat]
    inner: list[Inner]
    tree: JsonTree


def test_every_non_finite_float_is_written_as_null() -> None:
    record = Outer(
        mean=NAN, maybe=math.inf, by_name={"a": NAN, "b": 1.5}, interval=(NAN, 2.0),
        inner=[Inner(value=-math.inf)], tree={"deep": [NAN, {"x": NAN, "y": "text"}]},
    )  # fmt: skip
    data = record.json_data()
    assert data == {
        "mean": None, "maybe": None, "by_name": {"a": None, "b": 1.5}, "interval": [None, 2.0],
        "inner": [{"value": None}], "tree": {"deep": [None, {"x": None, "y": "text"}]},
    }  # fmt: skip
    json.dumps(data, allow_nan=False)  # standard JSON
    assert math.isnan(record.mean)  # in memory the value is kept


def test_a_field_omitted_when_none_has_no_key_but_is_written_when_set() -> None:
    assert Inner(value=1.0).json_data() == {"value": 1.0}
    assert Inner(value=1.0, note="n").json_data() == {"value": 1.0, "note": "n"}
    assert Inner(value=1.0, spread=NAN).json_data() == {"value": 1.0, "spread": None}  # measured, but NaN


def test_an_unknown_key_is_refused_and_a_record_is_frozen() -> None:
    with pytest.raises(ValidationError):
        Inner(value=1.0, extra=2)  # type: ignore[call-arg]
    record = Inner(value=1.0)
    with pytest.raises(ValidationError):
        record.value = 2.0


def test_helpers() -> None:
    assert finite_or_none(NAN) is None and finite_or_none(None) is None and finite_or_none(0.5) == 0.5
    assert finite_tree((1, NAN, "x")) == [1, None, "x"]
