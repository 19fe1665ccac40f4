"""Sums kept beside the rows they add up, so that placing an order reads one row instead of many.

Two sums are read on every order, under its locks, and would otherwise cost time in proportion to
history:

- a company's **uninvoiced on-account amount** (``company_balances``): the part of its live on-account
  orders no invoice has billed yet (``billing.uninvoiced_total``), for the credit check (DESIGN §7) —
  summing lines, goodwill and invoices took 2.6 ms at 140 live orders, 9 ms at 1,000;
- a product's **units on backorder** (``product_backorders``): what an ``allow_up_to`` cap counts against
  and where a new backorder joins the ETA queue (``stock_facts.backordered_open_by_product``) — about
  1 ms per read at 3,700 backordered lines of one product, read twice per order.

How each is kept:

- **placing** an order adds to them (:func:`add_placed`) in the placing transaction, after its stock
  locks. Placements that read a sum are serialised by the lock they read it under: the company row for
  the credit check, the product rows for backorders;
- **anything else** that can change them — order lines, goodwill, invoices, shipments, an order's status
  or payment method — marks them unknown (NULL) and bumps ``generation`` when its transaction commits. A
  session hook sees the changes made through the ORM (``_track``); services that write those tables with
  Core statements call :func:`forget`;
- a **reader** uses a known value, or sums an unknown one from the tables. A reader holding the
  serialising lock (placing: ``locked=True``) has it stored when its transaction commits (``_settle``):
  summed again there, its own order included, and stored only if no change committed since the
  generation was read.

Why this holds under concurrency: a change and its "unknown" commit together, and the mark is written at
commit, after the change; a sum stored before that commit is wiped by it, and a sum read after it
includes the change (READ COMMITTED: each statement sees what committed before it started; SQLite runs
one writer at a time). Adding to an unknown sum leaves it unknown; only holders of the serialising lock
store, so no placement can be missed between a sum and its store.

Lock order: these rows are written last — by placing after its company, product and stock locks, and at
commit after everything the service locked — companies before products, each in id order, so they add no
cycle. tests/invariants.py checks every known sum against the tables after every integration test.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import Table, bindparam, case, event, func, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal import fast_sql
from portal.database import in_write_transaction
from portal.domain import billing as billing_rules
from portal.extensions import db
from portal.models import (
    CompanyBalance,
    Invoice,
    Order,
    OrderAdjustment,
    OrderLine,
    Product,
    ProductBackorders,
    Shipment,
)

_ORDERS, _COMPANIES, _PRODUCTS, _PLACED = ("balances.orders", "balances.companies", "balances.products",
                                           "balances.placed")
#: Sums read unknown under the lock that serialises their placements, to store at commit.
_STORE_COMPANIES, _STORE_PRODUCTS = "balances.store_companies", "balances.store_products"

#: The attributes whose change can change what is left to invoice (an insert or a delete always can).
#: An invoice's ``amount_paid`` is not here: paying an invoice changes the open invoice balances, which
#: the credit check sums every time, not the uninvoiced part.
_MONEY: dict[type, tuple[str, ...]] = {
    Order: ("status", "payment_method", "company_id"),
    OrderLine: ("order_id", "quantity", "cancelled", "unit_price", "line_total"),
    OrderAdjustment: ("order_id", "order_line_id", "status", "amount"),
    Invoice: ("order_id", "company_id", "status", "total"),
    Shipment: ("order_id",),
}
_BACKORDERS = ("product_id", "backordered")


class _Kept:
    """The statements of one kept sum (table, key column, value column), built once; those that differ by
    dialect ("insert ... on conflict") by dialect name."""

    def __init__(self, table: Table, key: str, value: str):
        key_column, amount, generation = table.c[key], table.c[value], table.c.generation
        given = bindparam("v", type_=amount.type)
        self.mark_unknown, self.store_new = {}, {}
        for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite)):
            insert = dialect.insert(table)
            self.mark_unknown[name] = (
                insert.values({key: bindparam("k"), value: None, "generation": 1})
                .on_conflict_do_update(index_elements=[key],
                                       set_={value: None, "generation": generation + 1}))
            self.store_new[name] = (insert.values({key: bindparam("k"), "generation": 0, value: given})
                                    .on_conflict_do_nothing(index_elements=[key]))
        self.add = update(table).where(key_column == bindparam("k")).values({value: amount + given})
        self.store = (update(table)
                      .where(key_column == bindparam("k"), generation == bindparam("seen"), amount.is_(None))
                      .values({value: given}))


_COMPANY = _Kept(CompanyBalance.__table__, "company_id", "uninvoiced")
_PRODUCT = _Kept(ProductBackorders.__table__, "product_id", "units")


# --- the session hook: what a transaction changed ---------------------------------------------------


def _changed(obj, attributes: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in attributes)


def _note(session: Session, key: str, value) -> None:
    session.info.setdefault(key, set()).add(value)


@event.listens_for(Session, "after_flush")
def _track(session: Session, _context) -> None:
    """Note the orders, companies and products whose kept sums this flush may have changed."""
    new, deleted = session.new, session.deleted
    for obj in (*new, *deleted, *session.dirty):
        kind = type(obj)
        if kind not in _MONEY:
            continue
        inserted_or_deleted = obj in deleted or obj in new
        if kind is OrderLine and (inserted_or_deleted or _changed(obj, _BACKORDERS)):
            for product_id in (obj.product_id, *inspect(obj).attrs.product_id.history.deleted):
                _note(session, _PRODUCTS, (obj.order_id, product_id))
        if not inserted_or_deleted and not _changed(obj, _MONEY[kind]):
            continue
        if kind is Invoice or (kind is Order and obj in deleted):
            _note(session, _COMPANIES, obj.company_id)
            continue
        order_id = obj.id if kind is Order else obj.order_id
        if order_id is not None:
            _note(session, _ORDERS, order_id)


@event.listens_for(Session, "before_commit")
def _settle(session: Session) -> None:
    """At commit, after everything the service locked: store the sums it read unknown under their lock,
    and mark unknown the sums its changes touched (a change wins over a store). Companies before
    products, each in id order: one lock order among committing services."""
    if session.new or session.dirty or session.deleted:
        session.flush()  # what the commit would flush: its changes count too
    placed = session.info.get(_PLACED, set())
    orders = session.info.pop(_ORDERS, set()) - placed
    companies = session.info.pop(_COMPANIES, set())
    products = {product_id for order_id, product_id in session.info.pop(_PRODUCTS, set())
                if order_id not in placed and product_id is not None}
    store_companies = session.info.pop(_STORE_COMPANIES, set())
    store_products = session.info.pop(_STORE_PRODUCTS, set())
    if not (orders or companies or products or store_companies or store_products):
        return
    if orders:
        companies |= set(session.scalars(select(Order.company_id).where(Order.id.in_(sorted(orders)))))
    dialect = session.get_bind().dialect.name
    for company_id in sorted(companies | store_companies):
        if company_id in companies:
            session.execute(_COMPANY.mark_unknown[dialect], {"k": company_id})
        else:
            _store_company(session, company_id)
    run: list[int] = []  # stores in a row go in one batch, still in id order
    for product_id in sorted(products | store_products):
        if product_id in products:
            _store_products(session, run)
            run = []
            session.execute(_PRODUCT.mark_unknown[dialect], {"k": product_id})
        else:
            run.append(product_id)
    _store_products(session, run)


def _clear(session: Session, *_args) -> None:
    for key in (_ORDERS, _COMPANIES, _PRODUCTS, _PLACED, _STORE_COMPANIES, _STORE_PRODUCTS):
        session.info.pop(key, None)


event.listen(Session, "after_commit", _clear)
event.listen(Session, "after_rollback", _clear)


def forget(session: Session, *, companies: Iterable[int] = (), orders: Iterable[int] = ()) -> None:
    """For services that write invoices, shipments or order lines with Core statements (the session hook
    sees only ORM changes): mark the balances of these companies, and of these orders' companies, unknown
    when the transaction commits."""
    session.info.setdefault(_COMPANIES, set()).update(companies)
    session.info.setdefault(_ORDERS, set()).update(orders)


# --- placing --------------------------------------------------------------------------------------------


def placed_value(subtotal: Decimal, adjustments_total: Decimal) -> Decimal:
    """What a new order (nothing cancelled, invoiced or shipped) adds: all of it, never below zero."""
    return billing_rules.billable([subtotal, adjustments_total], Decimal("0.00"))


def add_placed(session: Session, company_id: int, order_id: int, amount: Decimal | None,
               backordered: dict[int, int], conn=None) -> None:
    """Count an order placed in this transaction: ``amount`` (on account: :func:`placed_value`; None for a
    card order, which owes nothing on account) to its company's balance and ``backordered`` (units by
    product) to the products'. Call it after the order's stock locks. The order's own rows are then left
    out of the commit hook."""
    _note(session, _PLACED, order_id)
    conn = conn or session.connection()
    if amount is not None:
        fast_sql.execute(conn, _COMPANY.add, {"k": company_id, "v": amount})
    backorders = [{"k": product_id, "v": units} for product_id, units in sorted(backordered.items()) if units]
    if backorders:
        fast_sql.execute(conn, _PRODUCT.add, backorders)


# --- reading --------------------------------------------------------------------------------------------


_company_generation = CompanyBalance.__table__.c


def _store_company(session: Session, company_id: int) -> None:
    """Sum the company's uninvoiced amount (this transaction's own orders included) and store it, unless a
    change committed since the generation was read: the generation first, then the sum, in statements
    of their own (READ COMMITTED: the sum is at least as new as the generation)."""
    from portal.services import billing

    generation = session.scalar(select(_company_generation.generation)
                                .where(_company_generation.company_id == company_id))
    amount = billing.uninvoiced_total(company_id)
    if generation is None:
        session.execute(_COMPANY.store_new[session.get_bind().dialect.name], {"k": company_id, "v": amount})
    else:
        session.execute(_COMPANY.store, {"k": company_id, "seen": generation, "v": amount})


def uninvoiced(company_id: int, kept: Decimal | None, locked: bool) -> Decimal:
    """The company's uninvoiced amount: ``kept`` (read with the credit check's other balances) when
    known, else summed from the tables. ``locked``: the caller holds the company row's lock in a write
    transaction, so the sum is stored when it commits (only placements under that lock add to it)."""
    if kept is not None:
        return Decimal(kept)
    from portal.services import billing

    if locked and in_write_transaction():
        _note(db.session(), _STORE_COMPANIES, company_id)
    return billing.uninvoiced_total(company_id)


_lines, _kept_units = OrderLine.__table__.c, ProductBackorders.__table__.c
#: Per product: the kept units and generation, and — only where they are unknown — the sum from the order
#: lines, read in the same statement (so the sum is as new as the generation it is stored against).
_UNITS = (
    select(Product.__table__.c.id, _kept_units.units, _kept_units.generation,
           case((_kept_units.units.is_(None),
                 select(func.coalesce(func.sum(_lines.backordered), 0))
                 .where(_lines.product_id == Product.__table__.c.id, _lines.backordered > 0)
                 .scalar_subquery())).label("summed"))
    .select_from(Product.__table__)
    .outerjoin(ProductBackorders.__table__, _kept_units.product_id == Product.__table__.c.id)
    .where(fast_sql.OneOf(Product.__table__.c.id, "ids")))


def _store_products(session: Session, product_ids: list[int]) -> None:
    """Sum the units on backorder of products whose kept figure is unknown (this transaction's own lines
    included) and store them, each against the generation read in the same statement."""
    if not product_ids:
        return
    new, seen = [], []
    for product_id, units, generation, summed in session.execute(_UNITS, {"ids": product_ids}):
        if units is None and generation is None:
            new.append({"k": product_id, "v": int(summed or 0)})
        elif units is None:
            seen.append({"k": product_id, "v": int(summed or 0), "seen": generation})
    if new:
        session.execute(_PRODUCT.store_new[session.get_bind().dialect.name], new)
    if seen:
        session.execute(_PRODUCT.store, seen)


def backordered_units(product_ids: list[int], locked: bool = False) -> dict[int, int]:
    """Units on backorder per product (products with none are left out): the kept figure, or the order
    lines' sum where it is unknown. ``locked``: the caller holds these products' row locks in a write
    transaction, so unknown figures are stored when it commits (only placements under those locks add to
    them)."""
    found: dict[int, int] = {}
    unknown = []
    for product_id, units, _generation, summed in fast_sql.all(db.session.connection(), _UNITS,
                                                               {"ids": product_ids}):
        if units is None:
            units = int(summed or 0)
            unknown.append(product_id)
        if units:
            found[product_id] = units
    if unknown and locked and in_write_transaction():
        db.session().info.setdefault(_STORE_PRODUCTS, set()).update(unknown)
    return found
