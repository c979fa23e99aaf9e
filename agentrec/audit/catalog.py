"""Product catalogs for visibility audits: JSONL, one product per line, validated with pydantic.

A product is a flat JSON object with a non-empty name field; every other field
is free (the paper's catalogs use Description, Price, Rating, Capacity, Ideal
For; GEO-Bench's use Name and Natural). The name field is ``"Name"``, or else
the first of the usual spellings the file's first product has (``NAME_GUESSES``),
or the one ``--name-field`` gives. Key order is kept, because the recommender
under audit sees each product as its JSON line and the STS goes into the last
text field by default (``placement``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from agentrec.core.errors import DataError

NAME_FIELD = "Name"
# Tried in this order (case-insensitively) when a catalog has no "Name" and none is given.
NAME_GUESSES = ("name", "title", "product_name", "productname", "product")
FieldValue = str | int | float | bool | None
ProductOrder = tuple[int, ...]  # a permutation of catalog positions, as shown to the recommender


class CatalogError(DataError):
    """A catalog file is malformed, or a product asked for is not in it."""


class Product(BaseModel):
    """One product: its fields in file order. ``fields[name_field]`` is a non-empty string."""

    model_config = ConfigDict(frozen=True)

    fields: dict[str, FieldValue]
    name_field: str = NAME_FIELD

    @model_validator(mode="after")
    def _has_name(self) -> Product:
        name = self.fields.get(self.name_field)
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f'missing or empty "{self.name_field}" (a non-empty string)')
        return self

    @property
    def name(self) -> str:
        """The product name."""
        return str(self.fields[self.name_field]).strip()

    def text_fields(self) -> list[str]:
        """The fields holding text, in file order, the name excepted."""
        return [key for key, value in self.fields.items() if key != self.name_field and isinstance(value, str)]

    def name_only(self) -> Product:
        """The product reduced to its name (what a defence leaves of a flagged product)."""
        return Product(fields={self.name_field: self.fields[self.name_field]}, name_field=self.name_field)

    def json_line(self) -> str:
        """The product as the recommender sees it: one JSON object on one line."""
        return json.dumps(self.fields, ensure_ascii=False)

    def text(self) -> str:
        """The product's field values as readable text (for perplexity and paraphrase)."""
        return " ".join(f"{key}: {value}." for key, value in self.fields.items() if value is not None)

    def with_field(self, key: str, value: FieldValue) -> Product:
        """A copy with ``key`` set to ``value`` (an existing key keeps its place)."""
        return Product(fields={**self.fields, key: value}, name_field=self.name_field)

    def with_fields(self, fields: dict[str, FieldValue]) -> Product:
        """A copy with these fields (the name field must stay among them)."""
        return Product(fields=fields, name_field=self.name_field)


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


def load_catalog(path: str | Path, name_field: str | None = None) -> Catalog:
    """Read and validate a JSONL catalog; every problem names the file and line.

    ``name_field`` names the products' name field; unset, it is guessed (``NAME_GUESSES``).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise CatalogError(f"{path}: not UTF-8 text ({error.reason})") from error
    products = parse_catalog_lines(lines, str(path), name_field)
    return Catalog(name=path.stem, products=tuple(products), source=str(path))


def parse_catalog_lines(lines: Sequence[str], source: str, name_field: str | None = None) -> list[Product]:
    """Products from JSONL ``lines``; blank lines are skipped, names must be unique.

    Without ``name_field``, the first product decides it: ``"Name"`` or the first of ``NAME_GUESSES``.
    """
    products: list[Product] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        raw = _json_object(line, f"{source}:{number}")
        if name_field is None:
            name_field = guess_name_field(raw, f"{source}:{number}")
        product = _product(raw, name_field, f"{source}:{number}")
        key = " ".join(product.name.split()).casefold()
        if key in seen:
            raise CatalogError(f"{source}:{number}: duplicate product {product.name!r} (first on line {seen[key]})")
        seen[key] = number
        products.append(product)
    if not products:
        raise CatalogError(f"{source}: the catalog holds no products")
    return products


def guess_name_field(raw: dict[str, object], where: str) -> str:
    """``"Name"`` if the product has it, else its first field spelled like a name; else a ``CatalogError``."""
    if NAME_FIELD in raw:
        return NAME_FIELD
    by_spelling = {key.casefold(): key for key in raw}
    for guess in NAME_GUESSES:
        if guess in by_spelling:
            return by_spelling[guess]
    raise CatalogError(
        f"{where}: no name field (looked for Name, {', '.join(NAME_GUESSES)}); fields: {', '.join(raw)}; "
        "name it with --name-field"
    )


def _json_object(line: str, where: str) -> dict[str, object]:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as error:
        raise CatalogError(f"{where}: malformed JSON ({error.msg} at column {error.colno})") from error
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: a product must be a JSON object, got {type(raw).__name__}")
    return raw


def _product(raw: dict[str, object], name_field: str, where: str) -> Product:
    try:
        return Product(fields=raw, name_field=name_field)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        location = str(first["loc"][1]) if len(first["loc"]) > 1 else name_field
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] != "value_error":
            message = f"field {location!r}: {message} (values must be strings, numbers, booleans or null)"
        raise CatalogError(f"{where}: {message}") from error
