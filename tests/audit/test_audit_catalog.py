"""Catalogs: the shipped files load, and every kind of bad file fails with one line naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrec.audit.catalog import CatalogError, load_catalog
from agentrec.core.errors import AgentrecError, DataError
from tests.audit.conftest import CATALOGS


@pytest.mark.parametrize("name", ["coffee_machines", "books", "cameras", "backpacks"])
def test_shipped_catalogs_load(name: str) -> None:
    catalog = load_catalog(CATALOGS / f"{name}.jsonl")
    assert catalog.name == name
    assert len(catalog.products) == 10
    assert len(set(catalog.names)) == 10


def test_key_order_and_json_line_are_kept() -> None:
    coffee = load_catalog(CATALOGS / "coffee_machines.jsonl")
    product = coffee.product("coldbrew master")  # case-insensitive lookup
    assert product.name == "ColdBrew Master"
    assert list(product.fields)[-1] == "Ideal For"
    assert product.json_line().startswith('{"Name": "ColdBrew Master", "Description": ')


def test_paper_catalogs_carry_their_licence_and_attribution() -> None:
    readme = (CATALOGS / "README.md").read_text()
    assert "Manipulating Large Language Models to Increase Product Visibility" in readme
    assert "MIT" in readme
    assert "Aounon Kumar" in (CATALOGS / "LICENSE-sts-catalogs").read_text()


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "shop.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = '{"Name": "A", "Description": "first"}'


@pytest.mark.parametrize(
    ("lines", "fragments"),
    [
        ((GOOD, '{"Name": "B", "Description": '), (":2:", "malformed JSON")),
        ((GOOD, '["Name", "B"]'), (":2:", "must be a JSON object")),
        ((GOOD, '{"Description": "no name"}'), (":2:", 'missing or empty "Name"')),
        ((GOOD, '{"Name": "  ", "Description": "blank"}'), (":2:", 'missing or empty "Name"')),
        ((GOOD, '{"Name": "a ", "Description": "again"}'), (":2:", "duplicate product", "first on line 1")),
        ((GOOD, '{"Name": "B", "Specs": {"w": 1}}'), (":2:", "field 'Specs'")),
        (("", "  "), ("holds no products",)),
    ],
)
def test_bad_catalogs_fail_with_one_line(tmp_path: Path, lines: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    path = write(tmp_path, *lines)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert isinstance(caught.value, DataError) and isinstance(caught.value, AgentrecError)


def test_missing_file_and_unknown_target(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="catalog file not found"):
        load_catalog(tmp_path / "nope.jsonl")
    catalog = load_catalog(write(tmp_path, GOOD, '{"Name": "B"}'))
    with pytest.raises(CatalogError, match=r"target 'Z' is not in catalog .*shop.jsonl; products: A, B"):
        catalog.index_of("Z")


def test_blank_lines_are_skipped_but_line_numbers_stay_true(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "", "{oops")
    with pytest.raises(CatalogError, match=r"shop.jsonl:3: malformed JSON"):
        load_catalog(path)


def test_orders_must_be_permutations(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, GOOD, '{"Name": "B"}'))
    assert [p.name for p in catalog.ordered((1, 0))] == ["B", "A"]
    with pytest.raises(ValueError, match="not a permutation"):
        catalog.ordered((0, 0))


def test_the_name_field_is_guessed_or_given(tmp_path: Path) -> None:
    geobench = load_catalog(
        write(tmp_path, '{"Name": "Cam A", "Natural": "a camera"}', '{"Name": "Cam B", "Natural": "b"}')
    )
    assert geobench.names == ["Cam A", "Cam B"]
    titled = load_catalog(write(tmp_path, '{"title": "Drill", "text": "drills"}', '{"title": "Saw", "text": "saws"}'))
    assert titled.names == ["Drill", "Saw"] and titled.products[0].name_field == "title"
    assert titled.products[0].with_field("text", "new").name == "Drill"
    given = load_catalog(write(tmp_path, '{"title": "x", "model": "M1"}', '{"title": "y", "model": "M2"}'), "model")
    assert given.names == ["M1", "M2"]
    with pytest.raises(CatalogError, match=r":1: no name field .*fields: sku, text; name it with --name-field"):
        load_catalog(write(tmp_path, '{"sku": "1", "text": "t"}'))
    with pytest.raises(CatalogError, match=r':2: missing or empty "model"'):
        load_catalog(write(tmp_path, '{"model": "M1"}', '{"title": "no model"}'), "model")
