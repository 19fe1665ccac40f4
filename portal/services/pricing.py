"""Prices for one company: turns price lists and breaks into the domain's values (few queries)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import String, bindparam, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from portal.domain.pricing import Break, PriceTier, company_unit_price, price_table
from portal.extensions import db
from portal.models import Company, PriceBreak, PriceList, PriceListItem, Product

_items, _breaks = PriceListItem.__table__.c, PriceBreak.__table__.c
#: Built once (Core statements on the tables: checkout and the ordering API run them on every order).
_FIXED_PRICES = select(_items.product_id, _items.price).where(
    _items.price_list_id == bindparam("price_list_id"),
    _items.product_id.in_(bindparam("ids", expanding=True)))
_BREAKS = (select(_breaks.product_id, _breaks.min_quantity, _breaks.percent_off)
           .where(_breaks.product_id.in_(bindparam("ids", expanding=True))).order_by(_breaks.id))


class BreaksJson(FunctionElement):
    """A product's price breaks as one JSON text column (a list of [min_quantity, percent_off as text]),
    for a statement that reads products anyway: ``BreaksJson(products.c.id)``; read it with
    :func:`breaks_from`. A function element, so statements using it stay in the compiled cache."""

    type = String()
    name = "breaks_json"
    inherit_cache = True


@compiles(BreaksJson, "postgresql")
def _breaks_json_postgresql(element, compiler, **kw) -> str:
    product_id = compiler.process(element.clauses, **kw)  # a compiled column, not input
    return ("(SELECT coalesce(json_agg(json_build_array(min_quantity, percent_off::text)), '[]')::text "  # noqa: S608
            f"FROM price_breaks WHERE price_breaks.product_id = {product_id})")


@compiles(BreaksJson, "sqlite")
def _breaks_json_sqlite(element, compiler, **kw) -> str:
    product_id = compiler.process(element.clauses, **kw)  # a compiled column, not input
    return ("(SELECT coalesce(json_group_array(json_array(min_quantity, CAST(percent_off AS TEXT))), '[]') "  # noqa: S608
            f"FROM price_breaks WHERE price_breaks.product_id = {product_id})")


def breaks_from(text: str) -> list[Break]:
    """A :class:`BreaksJson` column as the domain's breaks, in quantity order (as ``price_table`` uses
    them), percentages to the hundredth as the column holds them."""
    return sorted((Break(min_quantity, Decimal(str(percent)).quantize(Decimal("0.01")))
                   for min_quantity, percent in json.loads(text)), key=lambda b: b.min_quantity)


class PriceBook:
    """A company's prices (or list prices for staff browsing without a company)."""

    def __init__(self, price_list: PriceList | None):
        self.price_list = price_list

    @classmethod
    def for_company(cls, company: Company | None) -> PriceBook:
        return cls(company.price_list if company is not None else None)

    @property
    def percent_off(self) -> Decimal:
        return self.price_list.discount_percent if self.price_list else Decimal(0)

    def unit_prices(self, products: Iterable[Product],
                    fixed: dict[int, Decimal | None] | None = None) -> dict[int, Decimal]:
        """Each product's unit price before breaks. ``fixed``: the list's fixed prices of these products
        (None where it has none), when read already (the API reads them with its products)."""
        products = list(products)
        if fixed is None and self.price_list is not None and products:
            fixed = dict(db.session.execute(_FIXED_PRICES, {"price_list_id": self.price_list.id,
                                                            "ids": [p.id for p in products]}).all())
        fixed = fixed or {}
        return {p.id: company_unit_price(p.price, self.percent_off, fixed.get(p.id)) for p in products}

    def breaks(self, product_ids: Iterable[int]) -> dict[int, list[Break]]:
        ids = list(product_ids)
        found: dict[int, list[Break]] = defaultdict(list)
        if ids:
            for product_id, min_quantity, percent_off in db.session.execute(_BREAKS, {"ids": ids}):
                found[product_id].append(Break(min_quantity, percent_off))
        return found

    def table(self, product: Product) -> list[PriceTier]:
        unit = self.unit_prices([product])[product.id]
        return price_table(unit, self.breaks([product.id]).get(product.id, []))
