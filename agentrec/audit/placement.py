"""Where the strategic text sequence (STS) goes inside the target product.

The paper appends the STS to the target's last field; here the default is the
last field holding text (the same field in the paper's catalogs, and never a
price or a rating). ``StsPlacement`` makes the field (``--text-field``) and the
position configurable (``replace`` lets a fluent rewrite stand in for the whole
field).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from agentrec.audit.catalog import Catalog, CatalogError, Product

StsPosition = Literal["end", "start", "replace"]
STS_POSITIONS: tuple[StsPosition, ...] = ("end", "start", "replace")


class StsPlacement(BaseModel):
    """The target field (``None``: the last one) and where in it the STS goes."""

    model_config = ConfigDict(frozen=True)

    field: str | None = None
    position: StsPosition = "end"

    def field_of(self, product: Product) -> str:
        """The field of ``product`` the STS goes into: the one named, else its last text field."""
        if self.field is None:
            texts = product.text_fields()
            if not texts:
                fields = ", ".join(product.fields)
                raise CatalogError(
                    f"product {product.name!r} has no text field besides its name (fields: {fields});"
                    " name one with --text-field"
                )
            return texts[-1]
        if self.field not in product.fields:
            fields = ", ".join(product.fields)
            raise CatalogError(f"unknown --text-field {self.field!r}: product {product.name!r} has {fields}")
        return self.field

    def insert(self, product: Product, sts: str) -> Product:
        """``product`` with ``sts`` placed in its field; an empty STS leaves it unchanged."""
        if not sts:
            return product
        key = self.field_of(product)
        current = product.fields[key]
        original = "" if current is None else str(current)
        if self.position == "replace":
            return product.with_field(key, sts)
        joined = f"{original} {sts}" if self.position == "end" else f"{sts} {original}"
        return product.with_field(key, joined.strip())


def catalog_with_sts(catalog: Catalog, target: str, sts: str, placement: StsPlacement | None = None) -> Catalog:
    """``catalog`` with ``sts`` planted in the product called ``target``."""
    index = catalog.index_of(target)
    planted = (placement or StsPlacement()).insert(catalog.products[index], sts)
    return catalog.replace(index, planted)
