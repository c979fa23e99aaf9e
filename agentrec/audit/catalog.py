"""Product catalogs for visibility audits: JSONL, one product per line, validated with pydantic.

A product is a flat JSON object with a non-empty ``"Name"``; every other field
is free (the paper's catalogs use Description, Price, Rating, Capacity, Ideal
For). Key order is kept, because the recommender under audit sees each
product as its JSON line and the STS goes into the *last* field by default.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from agentrec.core.errors import DataError

NAME_FIELD = "Name"
FieldValue = str | int | float | bool | None
ProductOrder = tuple[int, ...]  # a permutation of catalog positions, as shown to the recommender


class CatalogError(DataError):
    """A catalog file is malformed, or a product asked for is not in it."""


class Product(BaseModel):
    """One product: its fields in file order. ``fields["Name"]`` is a non-empty string."""

    model_config = ConfigDict(frozen=True)

    fields: dict[str, FieldValue]

    @field_validator("fields")
    @classmethod
    def _has_name(cls, fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
        name = fields.get(NAME_FIELD)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f'missing or empty "{NAME_FIELD}" (a non-empty string)')
        return fields

    @property
    def name(self) -> str:
        """The product name."""
        return str(self.fields[NAME_FIELD]).strip()

    def json_line(self) -> str:
        """The product as the recommender sees it: one JSON object on one line."""
        return json.dumps(self.fields, ensure_ascii=False)

    def text(self) -> str:
        """The product's field values as readable text (for perplexity and paraphrase)."""
        return " ".join(f"{key}: {value}." for key, value in self.fields.items() if value is not None)

    def with_field(self, key: str, value: FieldValue) -> Product:
        """A copy with ``key`` set to ``value`` (an existing key keeps its place)."""
        return Product(fields={**self.fields, key: value})


class Catalog(BaseModel):
    """The products of one catalog file, in file order."""

    model_config = ConfigDict(frozen=True)

    name: str
    products: tuple[Product, ...]
    source: str = ""

    @property
    def names(self) -> list[str]:
        """Product names in file order."""
        return [p.name for p in self.products]

    def index_of(self, target: str) -> int:
        """Position of the product called ``target`` (case and outer spaces ignored)."""
        wanted = " ".join(target.split()).casefold()
        for index, product in enumerate(self.products):
            if " ".join(product.name.split()).casefold() == wanted:
                return index
        listed = ", ".join(self.names)
        raise CatalogError(f"target {target!r} is not in catalog {self.source or self.name}; products: {listed}")

    def product(self, target: str) -> Product:
        """The product called ``target``; ``CatalogError`` if there is none."""
        return self.products[self.index_of(target)]

    def replace(self, index: int, product: Product) -> Catalog:
        """A copy with the product at ``index`` replaced."""
        products = list(self.products)
        products[index] = product
        return self.model_copy(update={"products": tuple(products)})

    def ordered(self, order: ProductOrder) -> list[Product]:
        """The products in ``order`` (a permutation of positions)."""
        if sorted(order) != list(range(len(self.products))):
            raise ValueError(f"order {order} is not a permutation of {len(self.products)} positions")
        return [self.products[i] for i in order]


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a JSONL catalog; every problem names the file and line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise CatalogError(f"{path}: not UTF-8 text ({error.reason})") from error
    products = parse_catalog_lines(lines, str(path))
    return Catalog(name=path.stem, products=tuple(products), source=str(path))


def parse_catalog_lines(lines: Sequence[str], source: str) -> list[Product]:
    """Products from JSONL ``lines``; blank lines are skipped, names must be unique."""
    products: list[Product] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        product = _parse_line(line, f"{source}:{number}")
        key = " ".join(product.name.split()).casefold()
        if key in seen:
            raise CatalogError(f"{source}:{number}: duplicate product {product.name!r} (first on line {seen[key]})")
        seen[key] = number
        products.append(product)
    if not products:
        raise CatalogError(f"{source}: the catalog holds no products")
    return products


def _parse_line(line: str, where: str) -> Product:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as error:
        raise CatalogError(f"{where}: malformed JSON ({error.msg} at column {error.colno})") from error
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: a product must be a JSON object, got {type(raw).__name__}")
    try:
        return Product(fields=raw)
    except ValidationError as error:
        first = error.errors()[0]
        location = str(first["loc"][1]) if len(first["loc"]) > 1 else NAME_FIELD
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] != "value_error":
            message = f"field {location!r}: {message} (values must be strings, numbers, booleans or null)"
        raise CatalogError(f"{where}: {message}") from error
