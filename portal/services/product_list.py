"""The admins' product list: filters over the whole catalog (active or not) and one page of rows.

A page costs a fixed number of queries whatever it shows: the count, the page's ids, the products with
their vendors, their stock sums and their waiting backorders. The same filtered selection drives the
bulk edit ("all N products matching the current filters").
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, exists, func, not_, or_, select
from sqlalchemy.orm import selectinload

from portal.domain.availability import available
from portal.extensions import db
from portal.models import OrderLine, Product, Stock
from portal.models.catalog import BACKORDER_POLICIES, BACKORDER_VISIBILITIES, STOCK_DISPLAYS
from portal.services.catalog import _with_text, in_stock_clause, search_terms
from portal.services.stock_facts import backordered_open_by_product

PER_PAGE = 50
MAX_PAGE = 10_000
STOCK_STATES = {
    "out": "Out of stock",
    "low": "Low stock",
    "out_backorderable": "Out of stock, accepting backorders",
    "backordered": "On backorder (orders waiting)",
}


@dataclass(frozen=True)
class ProductFilter:
    text: str = ""
    category_id: int | None = None
    vendor_id: int | None = None
    policy: str = ""
    visibility: str = ""
    stock: str = ""
    page: int = 1

    def __post_init__(self) -> None:
        # Unknown values filter nothing rather than everything: a stale link still shows a list.
        for name, allowed in (("policy", BACKORDER_POLICIES), ("visibility", BACKORDER_VISIBILITIES),
                              ("stock", tuple(STOCK_STATES))):
            if getattr(self, name) not in allowed:
                object.__setattr__(self, name, "")
        object.__setattr__(self, "text", (self.text or "")[:200])
        object.__setattr__(self, "page", min(max(self.page or 1, 1), MAX_PAGE))

    def args(self) -> dict[str, object]:
        """The filter as query-string arguments (empty ones left out)."""
        values = {"q": self.text, "category": self.category_id, "vendor": self.vendor_id,
                  "policy": self.policy, "visibility": self.visibility, "stock": self.stock}
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class Row:
    product: Product
    on_hand: int
    allocated: int
    #: Units waiting on backorder across open orders.
    backordered: int = 0

    @property
    def available(self) -> int:
        return available(self.on_hand, self.allocated)


@dataclass
class ProductPage:
    rows: list[Row]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def _available_expr():
    """Units free to promise, summed over warehouses (correlated; 0 without stock rows)."""
    return (select(func.coalesce(func.sum(Stock.on_hand - Stock.allocated), 0))
            .where(Stock.product_id == Product.id).correlate(Product).scalar_subquery())


def _backorderable_clause():
    return or_(Product.backorder_policy == "allow",
               and_(Product.backorder_policy == "allow_up_to", Product.backorder_cap > 0))


def _stock_clause(state: str):
    if state == "out":
        return not_(in_stock_clause())
    if state == "out_backorderable":
        return and_(not_(in_stock_clause()), _backorderable_clause())
    if state == "backordered":
        return exists().where(OrderLine.product_id == Product.id, OrderLine.backordered > 0)
    # Low: some stock left, but under the product's own threshold (none left is "out", not "low").
    avail = _available_expr()
    return and_(avail > 0, avail < Product.low_stock_threshold)


def selection(f: ProductFilter) -> Select:
    """``select(Product.id)`` of every product matching the filter (no order, no page)."""
    stmt = select(Product.id)
    terms = search_terms(f.text)
    if terms:
        stmt, _rank = _with_text(stmt, terms, [])
    if f.category_id:
        stmt = stmt.where(Product.category_id == f.category_id)
    if f.vendor_id:
        stmt = stmt.where(Product.vendor_id == f.vendor_id)
    if f.policy:
        stmt = stmt.where(Product.backorder_policy == f.policy)
    if f.visibility:
        stmt = stmt.where(Product.backorder_visibility == f.visibility)
    if f.stock:
        stmt = stmt.where(_stock_clause(f.stock))
    return stmt


def by_ids(product_ids: list[int]) -> Select:
    """``select(Product.id)`` of the given products (unknown ids simply match nothing)."""
    return select(Product.id).where(Product.id.in_(product_ids))


def count(f: ProductFilter) -> int:
    return db.session.scalar(select(func.count()).select_from(selection(f).subquery())) or 0


def stock_totals(product_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(on hand, allocated) summed over warehouses, per product, in one query."""
    if not product_ids:
        return {}
    rows = db.session.execute(
        select(Stock.product_id, func.sum(Stock.on_hand), func.sum(Stock.allocated))
        .where(Stock.product_id.in_(product_ids)).group_by(Stock.product_id))
    return {pid: (int(on_hand or 0), int(allocated or 0)) for pid, on_hand, allocated in rows}


def list_products(f: ProductFilter) -> ProductPage:
    total = count(f)
    ids = list(db.session.scalars(
        selection(f).order_by(Product.sku).limit(PER_PAGE).offset((f.page - 1) * PER_PAGE)))
    products = {p.id: p for p in db.session.scalars(
        select(Product).where(Product.id.in_(ids)).options(selectinload(Product.vendor)))} if ids else {}
    totals = stock_totals(ids)
    waiting = backordered_open_by_product(ids)
    rows = [Row(products[i], *totals.get(i, (0, 0)), backordered=waiting.get(i, 0))
            for i in ids if i in products]
    return ProductPage(rows=rows, total=total, page=f.page)


def display_labels() -> dict[str, dict[str, str]]:
    return {
        "policy": {"block": "Block", "allow": "Allow", "allow_up_to": "Allow up to"},
        "visibility": {"show": "Show", "hide": "Hide"},
        "display": {d: d.capitalize() for d in STOCK_DISPLAYS},
    }
