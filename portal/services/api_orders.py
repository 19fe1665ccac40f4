"""Orders placed by a buyer's own system through the JSON API: one request, one transaction.

The same rules as the checkout (``portal.services.ordering``), from the same pure planning code
(``portal.domain.checkout``, ``goodwill``, ``eta``): products and stock rows are locked in product-id
order, every rule is checked against live stock, available units are allocated and the rest backordered
where the policy allows, with ETAs, deadlines, prices, goodwill and the credit limit, and the confirmation
is queued in the outbox — all committed once. There is no review page, so a line whose ETA misses its
deadline is refused unless the request accepts it (``accept_late``), and every problem is reported.

Built for throughput (issue 4's target is measured on this path, ``bench/bench_checkout.py``): plain
rows and Core statements instead of ORM objects, a fixed number of statements whatever the line count,
the product reads before the product locks, and those locks held only for the plan, the stock writes and
the commit.

The request's ``Idempotency-Key`` becomes the order's one-time checkout token (per user), claimed with
"insert ... on conflict do nothing": a repeated request returns the order the first one made. The
optimistic path claims once its plan holds, writing the order row whole (one statement); any problem
sends the order to the careful path, which claims first (a repeat whose stock has gone since still
finds its order).
"""

from __future__ import annotations

import functools
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, String, and_, bindparam, case, cast, func, literal, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from portal import fast_sql
from portal.database import write_transaction
from portal.domain.checkout import LineRequest, PlanLine, blocking_problems
from portal.domain.checkout import plan as plan_lines
from portal.domain.display import order_split
from portal.domain.goodwill import Adjustment, adjustments_for
from portal.domain.order_request import OrderRequest, Problem, parse_order_request
from portal.extensions import db
from portal.models import (
    Address,
    ApiKey,
    Company,
    Order,
    OrderAdjustment,
    OrderLine,
    PriceList,
    PriceListItem,
    Product,
    ProductBackorders,
    Stock,
    User,
    Vendor,
)
from portal.models.base import utcnow
from portal.services import ServiceError, balances, credit, notifications
from portal.services import settings as settings_service
from portal.services.ordering import (
    ActiveRulesJson,
    confirmation_payload,
    goodwill_rules_from,
    order_totals,
    placeholder_number,
    product_states,
)
from portal.services.pricing import BreaksJson, PriceBook, breaks_from
from portal.services.stock_facts import OpenPoLinesJson, open_po_lines_from


@dataclass(frozen=True, slots=True)
class ApiBuyer:
    """Who the API key belongs to (read with the key in one query)."""

    user_id: int
    email: str
    name: str
    company_id: int
    company_name: str


class OrderRefused(ServiceError):
    """The order breaks a rule as things stand; nothing was written. ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]):
        super().__init__("The order was not placed.")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class LineView:
    sku: str
    name: str
    quantity: int
    allocated: int
    backordered: int
    eta: date | None
    eta_estimated: bool
    need_by: date | None
    hidden: bool
    unit_price: Decimal
    line_total: Decimal
    shipped: int = 0
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as the API returns it (built from the plan just placed, or read back from the tables)."""

    number: str
    status: str
    placed_at: datetime
    po_reference: str
    need_by: date | None
    shipping_preference: str
    ship_to: str
    lines: tuple[LineView, ...]
    adjustments: tuple[tuple[str | None, str, Decimal], ...]
    subtotal: Decimal
    adjustments_total: Decimal
    total: Decimal

    def as_json(self) -> dict:
        lines = []
        for line in self.lines:
            split = order_split(line.allocated, line.backordered, line.eta, line.eta_estimated, line.need_by,
                                line.hidden)
            lines.append({
                "sku": line.sku, "name": line.name, "quantity": line.quantity,
                "ships_now": split.ships_now, "backordered": split.backordered, "eta": _iso(split.eta_date),
                "eta_estimated": split.eta_estimated, "need_by": _iso(line.need_by), "late": split.late,
                "shipped": line.shipped, "cancelled": line.cancelled, "unit_price": str(line.unit_price),
                "line_total": str(line.line_total),
            })
        return {
            "number": self.number, "status": self.status, "placed_at": _utc(self.placed_at).isoformat(),
            "po_reference": self.po_reference, "need_by": _iso(self.need_by),
            "shipping_preference": self.shipping_preference, "ship_to": self.ship_to, "lines": lines,
            "adjustments": [{"sku": sku, "description": text, "amount": str(amount)}
                            for sku, text, amount in self.adjustments],
            "subtotal": str(self.subtotal), "adjustments_total": str(self.adjustments_total),
            "total": str(self.total),
        }


def _utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; every stored moment is UTC (``utcnow``)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def checkout_token(user_id: int, idempotency_key: str) -> str:
    """The order's one-time token for a client's key: per user, so two buyers' keys never collide."""
    digest = hashlib.sha256(f"{user_id}:{idempotency_key}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"api-{digest[:60]}"


# --- statements (built once; Core statements on the tables, plain rows) ---------------------------------

_products, _vendors, _stock = Product.__table__.c, Vendor.__table__.c, Stock.__table__.c
_companies, _lists, _addresses = Company.__table__.c, PriceList.__table__.c, Address.__table__.c
_orders = Order.__table__

_kept_units, _items = ProductBackorders.__table__.c, PriceListItem.__table__.c
#: The products asked for, with all the first plan needs of them in one statement (no locks): their fixed
#: price on the company's price list, price breaks, available units (summed over the stock rows, as
#: ``locked_plan`` sums the locked ones), kept units on backorder (NULL where unknown), open PO lines.
_AVAILABLE = (select(func.coalesce(func.sum(_stock.on_hand - _stock.allocated), 0))
              .where(_stock.product_id == _products.id).scalar_subquery())
_FIXED_PRICE = (select(_items.price)
                .where(_items.price_list_id == bindparam("price_list_id"), _items.product_id == _products.id)
                .scalar_subquery())
_PRODUCTS = (
    select(_products.id, _products.sku, _products.name, _products.price, _products.active,
           _products.backorder_policy, _products.backorder_cap, _products.backorder_visibility,
           _products.stock_display, _products.low_stock_threshold, _products.order_minimum,
           _products.order_multiple, _products.lead_time_days,
           _vendors.lead_time_days.label("vendor_lead_time_days"), BreaksJson(_products.id).label("breaks"),
           _AVAILABLE.label("available"), _kept_units.units.label("backordered_units"),
           OpenPoLinesJson(_products.id).label("po_lines"), _FIXED_PRICE.label("fixed_price"))
    .join_from(Product.__table__, Vendor.__table__, _vendors.id == _products.vendor_id)
    .outerjoin(ProductBackorders.__table__, _kept_units.product_id == _products.id)
    .where(fast_sql.OneOf(_products.sku, "skus"))
)
_ADDRESS_COLUMNS = (_addresses.id.label("address_id"), _addresses.label, _addresses.line1, _addresses.line2,
                    _addresses.city, _addresses.region, _addresses.postal_code, _addresses.country)


_users, _keys = User.__table__.c, ApiKey.__table__.c
#: Who a key belongs to, judged by :func:`_buyer_of`: its user and the user's company (an outer join: a
#: user without a company is a key that may not order, not an unknown key).
_BUYER_COLUMNS = (_users.id.label("user_id"), _users.email, _users.name, _users.role, _users.active,
                  _companies.id.label("company_id"), _companies.name.label("company_name"),
                  _companies.active.label("company_active"))


def _of_key(*columns, company_required: bool = False):
    """``columns`` of a valid (not revoked) key's user and the user's company (``company_required``: only
    a user with one)."""
    return (select(*columns)
            .join_from(ApiKey.__table__, User.__table__, _users.id == _keys.user_id)
            .join_from(User.__table__, Company.__table__, _companies.id == _users.company_id,
                       isouter=not company_required)
            .where(_keys.key_hash == bindparam("key_hash"), _keys.revoked_at.is_(None)))


_BUYER_OF_KEY = _of_key(*_BUYER_COLUMNS)


def _buyer_and_company_statement(chosen_address: bool):
    """The key's buyer with all an order needs of its company, in one statement: credit terms, price
    list, the ship-to address (the one asked for if it is the company's, else none; by default the
    first by ``is_default_shipping``), the ``auto_add_backorders`` setting and the active goodwill rules
    (``ordering.ActiveRulesJson``). ``id`` is the company's: the row stands for the company
    (``credit.check_against``, ``Address.one_line``).

    It also takes the company's row lock, the first lock of every placing (companies before products):
    the order's claim and its exposure, read after it, see every order of the company committed before.
    A key whose user has no company finds no row here (``_BUYER_OF_KEY`` tells why)."""
    address_of = _addresses.company_id == _companies.id
    if chosen_address:
        address_of = and_(address_of, _addresses.id == bindparam("address_id"))
    return (_of_key(*_BUYER_COLUMNS, _companies.id, _companies.credit_limit, _companies.payment_terms,
                    _lists.id.label("price_list_id"), _lists.discount_percent, *_ADDRESS_COLUMNS,
                    settings_service.column("auto_add_backorders"), ActiveRulesJson().label("goodwill_rules"),
                    company_required=True)
            .outerjoin(PriceList.__table__, _lists.id == _companies.price_list_id)
            .outerjoin(Address.__table__, address_of)
            .order_by(_addresses.is_default_shipping.desc(), _addresses.id).limit(1)
            .with_for_update(of=Company.__table__, key_share=True))


_BUYER_AND_COMPANY = _buyer_and_company_statement(False)
_BUYER_COMPANY_AND_CHOSEN_ADDRESS = _buyer_and_company_statement(True)
_LOCK_PRODUCTS = (select(_products.id).where(fast_sql.OneOf(_products.id, "ids"))
                  .order_by(_products.id).with_for_update(key_share=True))
#: Each product row, then its stock rows, in product-id order: one round trip for the locks. Every
#: transaction that locks both takes a product's row before its stock rows and products in id order, so
#: this order (P1, S1, P2, S2) and the checkout's (P1, P2, S1, S2) cannot wait on each other in a cycle.
_LOCK_PRODUCTS_AND_STOCK = (
    select(_stock.id, _stock.product_id, _stock.on_hand, _stock.allocated)
    .join_from(Product.__table__, Stock.__table__, _stock.product_id == _products.id)
    .where(fast_sql.OneOf(_products.id, "ids"))
    .order_by(_products.id, _stock.warehouse_id).with_for_update(key_share=True))
_STOCK_ALLOCATED = (update(Stock.__table__).where(_stock.id == bindparam("stock_id"))
                    .values(allocated=bindparam("new_allocated")))
_ORDER_PLACED = (update(_orders).where(_orders.c.id == bindparam("order_id"))
                 .values(number=bindparam("number"), ship_to_text=bindparam("ship_to"),
                         subtotal=bindparam("subtotal"), adjustments_total=bindparam("adjusted"),
                         total=bindparam("total")))
_order_lines = OrderLine.__table__
_LINE_COLUMNS = ("order_id", "product_id", "sku", "name", "quantity", "allocated", "backordered", "shipped",
                 "cancelled", "unit_price", "line_total", "eta", "eta_estimated", "need_by", "accepted_late",
                 "backorder_hidden", "priority")
#: On PostgreSQL, orders of up to this many lines insert them with a statement built once for their count
#: (through ``fast_sql``); others with SQLAlchemy's "insertmanyvalues" (one statement too; SQLAlchemy
#: would insert SQLite's rows one by one if asked to keep their order, and cannot cache a multi-row
#: VALUES statement).
_PREBUILT_LINES = 20
_LINE_INSERT = _order_lines.insert().returning(_order_lines.c.id, _order_lines.c.product_id)


class _Bool(Boolean):
    """Boolean without SQLAlchemy's check of each value (ours are bools): a statement with no bind
    processor can go through the driver directly (``fast_sql``)."""

    cache_ok = True

    def bind_processor(self, dialect):
        return None


@functools.cache
def _lines_insert(count: int):
    """INSERT of ``count`` order lines in one statement (parameters ``<column>_<n>``), returning their
    ids with their products (rows are matched back by product, so their order does not matter)."""
    def kind(name: str):
        column_type = _order_lines.c[name].type
        return _Bool() if isinstance(column_type, Boolean) else column_type

    rows = [{name: bindparam(f"{name}_{n}", type_=kind(name)) for name in _LINE_COLUMNS}
            for n in range(count)]
    return _order_lines.insert().values(rows).returning(_order_lines.c.id, _order_lines.c.product_id)


def _claim_statement(dialect):
    return (dialect.insert(_orders)
            .values(number=bindparam("number"), checkout_token=bindparam("token"),
                    company_id=bindparam("company_id"), placed_by_id=bindparam("user_id"),
                    placed_at=bindparam("placed_at"), status="open", po_reference=bindparam("po_reference"),
                    need_by=bindparam("need_by"), shipping_preference=bindparam("shipping_preference"),
                    payment_method="on_account", ship_to_text="", subtotal=0, adjustments_total=0, total=0)
            .on_conflict_do_nothing(index_elements=["checkout_token"]).returning(_orders.c.id))


_CLAIM = {"postgresql": _claim_statement(postgresql), "sqlite": _claim_statement(sqlite)}


def _claim_placed_statement(dialect):
    """The optimistic path's claim: the order row with its number, ship-to and totals in one statement
    (no placeholder to update later). The id is taken first — PostgreSQL's sequence, SQLite's next rowid
    (one writer at a time there) — so the number "SO-00042" is made from it in the same statement."""
    if dialect is postgresql:
        next_id = select(func.nextval(func.pg_get_serial_sequence("orders", "id")).label("id")).subquery("n")
        text_id = cast(next_id.c.id, String)
        digits = case((next_id.c.id < 100000, func.lpad(text_id, 5, "0")), else_=text_id)
    else:
        next_id = select((func.coalesce(func.max(_orders.c.id), 0) + 1).label("id")).subquery("n")
        digits = func.printf("%05d", next_id.c.id)
    c = _orders.c
    values = {
        "id": next_id.c.id, "number": literal("SO-", String) + digits,
        "checkout_token": bindparam("token", type_=c.checkout_token.type),
        "company_id": bindparam("company_id", type_=c.company_id.type),
        "placed_by_id": bindparam("user_id", type_=c.placed_by_id.type),
        "placed_at": bindparam("placed_at", type_=c.placed_at.type), "status": literal("open", String),
        "po_reference": bindparam("po_reference", type_=c.po_reference.type),
        "need_by": bindparam("need_by", type_=c.need_by.type),
        "shipping_preference": bindparam("shipping_preference", type_=c.shipping_preference.type),
        "payment_method": literal("on_account", String),
        "ship_to_text": bindparam("ship_to", type_=c.ship_to_text.type),
        "subtotal": bindparam("subtotal", type_=c.subtotal.type),
        "adjustments_total": bindparam("adjusted", type_=c.adjustments_total.type),
        "total": bindparam("total", type_=c.total.type)}
    return (dialect.insert(_orders)
            .from_select(list(values), select(*values.values()).select_from(next_id).where(true()))
            .on_conflict_do_nothing(index_elements=["checkout_token"])
            .returning(_orders.c.id, _orders.c.number))


_CLAIM_PLACED = {"postgresql": _claim_placed_statement(postgresql),
                 "sqlite": _claim_placed_statement(sqlite)}


def _claim(conn, buyer: ApiBuyer, token: str, request: OrderRequest, placed_at: datetime) -> int | None:
    return conn.execute(_CLAIM[conn.dialect.name], {
        "number": placeholder_number(), "token": token, "company_id": buyer.company_id,
        "user_id": buyer.user_id,
        "placed_at": placed_at, "po_reference": request.po_reference, "need_by": request.need_by,
        "shipping_preference": request.shipping_preference}).scalar_one_or_none()


def _line_problems(lines: list[PlanLine], number_of: dict[int, int]) -> list[Problem]:
    """Every line's problems, and for a late line not accepted, what to send instead (there is no
    review page to choose on)."""
    found = []
    for line in lines:
        where = number_of[line.product_id], line.sku
        found += [Problem(problem, *where) for problem in line.problems]
        if line.needs_decision:
            found.append(Problem(
                f"Arrives {line.eta.date.isoformat()}, after its need-by date {line.need_by.isoformat()}: "
                "send accept_late: true to keep it with the later date, or leave the line out.", *where))
    return found


class KeyRefused(ServiceError):
    """The API key is unknown or revoked (``why == "unknown"``), or its user may not order ("forbidden")."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


class RequestInvalid(ServiceError):
    """The body is not an order request (shape, types, dates); ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]):
        super().__init__("The order was not placed: the request is not valid.")
        self.problems = problems


#: psycopg prepares a statement server-side from its second run on a connection while an API order is
#: placed (the app turns preparing off elsewhere: ``config._engine_options``). Without it PostgreSQL
#: parses and plans each of the order's statements every time, about half of its CPU per order.
PREPARE_THRESHOLD = 2


@contextmanager
def _prepared_statements(conn):
    raw = conn.connection.driver_connection
    if not hasattr(raw, "prepare_threshold"):  # SQLite
        yield
        return
    before, raw.prepare_threshold = raw.prepare_threshold, PREPARE_THRESHOLD
    try:
        yield
    finally:
        raw.prepare_threshold = before


def place(key_hash: str, idempotency_key: str, body: object, today: date) -> tuple[OrderView, bool]:
    """Place the order the JSON ``body`` asks for, as the buyer of the API key whose hash is given.

    Returns (the order, True) — or (the order the idempotency key made before, False). Raises
    KeyRefused, RequestInvalid, or OrderRefused with every problem; nothing is written then. The key is
    checked in the order's own transaction: one connection and one commit per request."""
    request, problems = parse_order_request(body, today)  # pure; told only once the key is accepted
    try:
        return _attempt(key_hash, idempotency_key, request, problems, today, optimistic=True)
    except _Recheck:
        return _attempt(key_hash, idempotency_key, request, problems, today, optimistic=False)


class _Recheck(Exception):
    """The optimistic plan did not hold (or found a problem): start again, planning under the locks."""


def _attempt(key_hash: str, idempotency_key: str, request: OrderRequest | None, problems: list[Problem],
             today: date, optimistic: bool) -> tuple[OrderView, bool]:
    with write_transaction() as session:
        conn = session.connection()  # Core statements skip the ORM session's execution layer
        with _prepared_statements(conn):
            address_id = request.ship_to_address_id if request is not None else None
            statement = _BUYER_COMPANY_AND_CHOSEN_ADDRESS if address_id else _BUYER_AND_COMPANY
            company = fast_sql.first(conn, statement, {"key_hash": key_hash, "address_id": address_id})
            buyer, why = _buyer_of(company) if company is not None else (None, None)
            if buyer is None:  # an unknown or forbidden key is told so before anything about the body
                if company is None:  # no valid key, or its user has no company: which?
                    why = _buyer_of(fast_sql.first(conn, _BUYER_OF_KEY, {"key_hash": key_hash}))[1]
                raise KeyRefused(why or "forbidden")
            if request is None:
                raise RequestInvalid(problems)
            return _place(session, conn, buyer, company, idempotency_key, request, today, optimistic)


def _decided(line: PlanLine) -> tuple:
    """What the order records of a planned line: it must be the same when planned again under lock."""
    return line.fingerprint(), bool(line.eta and line.eta.estimated), line.hidden


def _lock_stock(conn, ids: list[int]) -> list:
    """Lock the products and their stock rows in product-id order; returns the stock rows."""
    if not ids:
        return []
    stock_rows = fast_sql.all(conn, _LOCK_PRODUCTS_AND_STOCK, {"ids": ids})
    if len({row.product_id for row in stock_rows}) < len(ids):  # products with no stock row
        fast_sql.execute(conn, _LOCK_PRODUCTS, {"ids": ids})
    return stock_rows


def _place(session, conn, buyer: ApiBuyer, company, idempotency_key: str, request: OrderRequest,
           today: date, optimistic: bool) -> tuple[OrderView, bool]:
    """:func:`place` for a known buyer and a valid request; ``company`` is the row read (and locked) with
    the key (``_BUYER_AND_COMPANY``).

    Reads that decide nothing under contention on products (their prices, stock, open PO lines) come
    before the product locks; the company's exposure is read under its lock, then products and stock rows
    are locked in product-id order — the order every service that locks both uses.

    ``optimistic``: plan from stock read without locks, write the order, and only then lock the
    products and stock rows, plan again from the locked rows and allocate if nothing differs — so a hot
    product's rows are held for one plan, the stock update and the commit, not for every write. Any
    difference, and any problem at all, raises _Recheck: the caller starts again with ``optimistic``
    off, planning under the locks as the checkout does, which decides and words every refusal."""
    token = checkout_token(buyer.user_id, idempotency_key)
    placed_at = utcnow()
    if not optimistic:  # claimed first, so that a repeat finds its order whatever stock says now
        order_id = _claim(conn, buyer, token, request, placed_at)
        if order_id is None:
            return _existing(session, token)
    number_of = {line.sku: n for n, line in enumerate(request.lines, start=1)}
    found = {row.sku: row for row in fast_sql.all(conn, _PRODUCTS, {"skus": list(number_of),
                                                                     "price_list_id": company.price_list_id})}
    problems = [Problem(f"Unknown SKU {sku}: check it against the catalog.", n, sku)
                for sku, n in number_of.items() if sku not in found]
    products = sorted(found.values(), key=lambda row: row.id)
    ids = [p.id for p in products]
    book = PriceBook(_ListRef(company.price_list_id, company.discount_percent)
                     if company.price_list_id else None)
    if company.address_id is None:
        problems.append(Problem("ship_to_address_id is not one of your addresses."
                                if request.ship_to_address_id else
                                "Your company has no shipping address: add one under My company."))
    rules = goodwill_rules_from(company.goodwill_rules)  # read with the key
    priced = (book.unit_prices(products, {p.id: p.fixed_price for p in products}),  # read with them
              {p.id: breaks_from(p.breaks) for p in products})
    on_account = company.payment_terms != "card_only"
    if not on_account:
        problems.append(Problem("Your account pays by card, and the API places orders on account only: "
                                "order on the website, or ask your sales rep about terms."))
    by_sku = {line.sku: line for line in request.lines}
    wanted = {p.id: by_sku[p.sku].quantity for p in products}
    requests = [LineRequest(p.id, by_sku[p.sku].quantity, by_sku[p.sku].need_by or request.need_by,
                            by_sku[p.sku].accept_late) for p in products]

    # Read with the products; the plan under the locks reuses them (careful path: its first plan).
    po_lines = {p.id: open_po_lines_from(p.po_lines, today) for p in products}

    def plan_from(available: dict[int, int], locked: bool, waiting: dict | None = None) -> list[PlanLine]:
        return plan_lines(requests, product_states(products, wanted, available, book, today, priced,
                                                   locked=locked, po_lines=po_lines, waiting=waiting))

    def locked_plan(stock_rows: list) -> list[PlanLine]:
        available: dict[int, int] = {}
        for row in stock_rows:
            available[row.product_id] = available.get(row.product_id, 0) + row.on_hand - row.allocated
        return plan_from(available, locked=True)

    ship_to = f"{company.label}: {Address.one_line(company)}" if company.address_id is not None else ""
    if optimistic:
        lines = plan_from({p.id: p.available for p in products}, locked=False,
                          waiting={p.id: p.backordered_units for p in products})
        problems += _line_problems(lines, {p.id: number_of[p.sku] for p in products})
        if problems:  # a repeat of an order placed earlier is found by the path that claims first
            raise _Recheck()
        adjustments = adjustments_for(lines, rules, today)
        subtotal, adjusted, total = order_totals(lines, adjustments)
        claimed = fast_sql.first(conn, _CLAIM_PLACED[conn.dialect.name], {
            "token": token, "company_id": buyer.company_id, "user_id": buyer.user_id, "placed_at": placed_at,
            "po_reference": request.po_reference, "need_by": request.need_by,
            "shipping_preference": request.shipping_preference, "ship_to": ship_to, "subtotal": subtotal,
            "adjusted": adjusted, "total": total})
        if claimed is None:
            return _existing(session, token)
        order_id, number = claimed
    # The company row is locked (read with the key); its exposure, a statement of its own after the lock,
    # sees every order committed before. Then products and stock rows, in product-id order.
    exposure = credit.exposure(buyer.company_id, locked=True) if on_account and not problems else None
    if not optimistic:
        stock_rows = _lock_stock(conn, ids)
        lines = locked_plan(stock_rows)
        problems += _line_problems(lines, {p.id: number_of[p.sku] for p in products})
        adjustments = adjustments_for(lines, rules, today)
        subtotal, adjusted, total = order_totals(lines, adjustments)
    check = None
    if exposure is not None and not problems:
        check = credit.check_against(company, exposure, total)
        if not check.allowed:
            if optimistic:
                raise _Recheck()
            problems.append(Problem(credit.over_limit_message(check)))
    if problems:
        raise OrderRefused(sorted(problems, key=lambda p: (p.line or 0)))
    if not optimistic:
        number = f"SO-{order_id:05d}"
        conn.execute(_ORDER_PLACED, {"order_id": order_id, "number": number, "ship_to": ship_to,
                                     "subtotal": subtotal, "adjusted": adjusted, "total": total})
    line_ids = _write_lines(conn, order_id, lines)
    _write_adjustments(conn, order_id, line_ids, adjustments)
    if check is not None and check.exception_id is not None and check.over_by > 0:
        credit.use_exception(session, _Actor(buyer.user_id), check.exception_id, order_id)
    payload = confirmation_payload(number, buyer.company_name, total, lines)
    notifications.notify_many(session, [(_Recipient(buyer.user_id, buyer.email), "order_confirmed",
                                         {**payload, "placed_by": buyer.name})])
    if optimistic:  # now the hot rows: lock, plan again from them, and go on only if nothing differs
        stock_rows = _lock_stock(conn, ids)
        replanned = locked_plan(stock_rows)
        if blocking_problems(replanned) or list(map(_decided, replanned)) != list(map(_decided, lines)):
            raise _Recheck()
    _allocate(conn, stock_rows, lines)
    # Last, after the stock locks (the lock order): the kept sums this order adds to.
    balances.add_placed(session, buyer.company_id, order_id, balances.placed_value(subtotal, adjusted),
                        {line.product_id: line.backorder for line in lines}, conn)
    backordered = [line.product_id for line in lines if line.backorder]
    if backordered:
        from portal.services.purchasing import add_backorders_to_drafts

        add_backorders_to_drafts(session, backordered, today,
                                 enabled=settings_service.is_on(company.auto_add_backorders))
    view = OrderView(number, "open", placed_at, request.po_reference, request.need_by,
                     request.shipping_preference, ship_to, tuple(_line_view(line) for line in lines),
                     tuple((_sku_of(lines, a), a.description, a.amount) for a in adjustments),
                     subtotal, adjusted, total)
    return view, True


def _existing(session, token: str) -> tuple[OrderView, bool]:
    """The order an earlier request with the same key made."""
    return view_of(session.scalar(select(Order).where(Order.checkout_token == token))), False


@dataclass(frozen=True, slots=True)
class _Recipient:
    id: int
    email: str


@dataclass(frozen=True, slots=True)
class _ListRef:
    """What ``PriceBook`` needs of a price list."""

    id: int
    discount_percent: Decimal


@dataclass(frozen=True, slots=True)
class _Actor:
    id: int


def _sku_of(lines: list[PlanLine], adjustment: Adjustment) -> str:
    return next(line.sku for line in lines if line.product_id == adjustment.product_id)


def _line_view(line: PlanLine) -> LineView:
    return LineView(line.sku, line.name, line.quantity, line.allocate, line.backorder,
                    line.eta.date if line.eta and line.backorder else None,
                    bool(line.eta and line.backorder and line.eta.estimated), line.need_by, line.hidden,
                    line.unit_price, line.line_total)


def _write_lines(conn, order_id: int, lines: list[PlanLine]) -> dict[int, int]:
    """Insert the order lines in one statement; returns their ids by product."""
    rows = [(order_id, line.product_id, line.sku, line.name, line.quantity, line.allocate, line.backorder,
             0, 0, line.unit_price, line.line_total, line.eta.date if line.eta and line.backorder else None,
             bool(line.eta and line.backorder and line.eta.estimated), line.need_by,
             bool(line.late and line.accept_late), bool(line.hidden), 0)
            for line in lines]
    if conn.dialect.name == "postgresql" and len(rows) <= _PREBUILT_LINES:
        params = {f"{name}_{n}": value for n, row in enumerate(rows)
                  for name, value in zip(_LINE_COLUMNS, row, strict=True)}
        inserted = fast_sql.all(conn, _lines_insert(len(rows)), params)
    else:
        inserted = conn.execute(_LINE_INSERT, [dict(zip(_LINE_COLUMNS, row, strict=True)) for row in rows])
    return {product_id: line_id for line_id, product_id in inserted}


def _allocate(conn, stock_rows: list, lines: list[PlanLine]) -> None:
    """Promise each line's allocated units from its product's stock rows, warehouse by warehouse: one
    executemany over the rows that change."""
    need = {line.product_id: line.allocate for line in lines}
    changes = []
    for row in stock_rows:
        take = min(need.get(row.product_id, 0), row.on_hand - row.allocated)
        if take > 0:
            changes.append({"stock_id": row.id, "new_allocated": row.allocated + take})
            need[row.product_id] -= take
    assert not any(need.values()), "allocation exceeded the locked stock"  # the plan used the same rows
    if changes:
        fast_sql.execute(conn, _STOCK_ALLOCATED, changes)


def _write_adjustments(conn, order_id: int, line_ids: dict[int, int],
                       adjustments: list[Adjustment]) -> None:
    if adjustments:
        conn.execute(OrderAdjustment.__table__.insert(), [
            {"order_id": order_id, "order_line_id": line_ids[a.product_id], "kind": "goodwill_rule",
             "rule_id": a.rule_id, "description": a.description, "amount": a.amount, "reason": "",
             "status": "approved", "created_at": utcnow()} for a in adjustments])


# --- reading -----------------------------------------------------------------------------------------

def view_of(order: Order) -> OrderView:
    """An order read back from the tables (a repeated request, or GET /api/v1/orders/<number>)."""
    sku_of_line = {line.id: line.sku for line in order.lines}
    return OrderView(
        order.number, order.status, order.placed_at, order.po_reference, order.need_by,
        order.shipping_preference, order.ship_to_text,
        tuple(LineView(line.sku, line.name, line.quantity, line.allocated, line.backordered, line.eta,
                       line.eta_estimated, line.need_by, line.backorder_hidden, line.unit_price,
                       line.line_total, line.shipped, line.cancelled) for line in order.lines),
        tuple((sku_of_line.get(a.order_line_id), a.description, a.amount) for a in order.adjustments
              if a.status == "approved"),
        order.subtotal, order.adjustments_total, order.total)


def order_of_company(company_id: int, number: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.company_id == company_id, Order.number == number))


def buyer_for_key(key_hash: str) -> tuple[ApiBuyer | None, str | None]:
    """The buyer an API key belongs to: (buyer, None), or (None, why not) — "unknown" for a key that is
    not (or no longer) valid, "forbidden" for a key whose user may not order."""
    return _buyer_of(db.session.execute(_BUYER_OF_KEY, {"key_hash": key_hash}).first())


def _buyer_of(row) -> tuple[ApiBuyer | None, str | None]:
    """:func:`buyer_for_key` of a row with ``_BUYER_COLUMNS`` (None: no valid key)."""
    if row is None:
        return None, "unknown"
    if not row.active or row.role != "buyer" or row.company_id is None or not row.company_active:
        return None, "forbidden"
    return ApiBuyer(row.user_id, row.email, row.name, row.company_id, row.company_name), None
