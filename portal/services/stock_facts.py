"""Live stock facts for a set of products, in a fixed number of queries whatever the set's size.

Turns rows into the domain's values: available units, units already on backorder (for caps), the ETA
a new backorder would get, and the product's rules. Pages call :func:`facts_for` once per page.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from portal import fast_sql
from portal.domain.availability import BackorderRules, backorder_room
from portal.domain.display import Badge, buyer_badge
from portal.domain.eta import Eta, OpenPoLine, WaitingBackorder, eta_for_new_backorder, lead_time_days
from portal.extensions import db
from portal.models import Order, OrderLine, Product, PurchaseOrder, PurchaseOrderLine, Stock
from portal.models.purchasing import OPEN_PO_STATUSES
from portal.services import balances


@dataclass(frozen=True, slots=True)
class StockFacts:
    available: int
    backordered_open: int
    rules: BackorderRules
    #: The ETA a new backorder of one unit would get (None when nothing can be backordered).
    eta: Eta | None

    def badge(self, staff: bool = False) -> Badge:
        return buyer_badge(self.available, self.rules, self.eta, backordered_open=self.backordered_open,
                           staff=staff)

    @property
    def room(self) -> int | None:
        """Units that may still go on backorder (None: unlimited)."""
        return backorder_room(self.rules, self.backordered_open)


def rules_of(product: Product) -> BackorderRules:
    return BackorderRules(policy=product.backorder_policy, cap=product.backorder_cap,
                          visibility=product.backorder_visibility, stock_display=product.stock_display,
                          low_stock_threshold=product.low_stock_threshold)


def available_by_product(product_ids: Iterable[int]) -> dict[int, int]:
    ids = list(product_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Stock.product_id, func.sum(Stock.on_hand - Stock.allocated))
        .where(Stock.product_id.in_(ids)).group_by(Stock.product_id))
    return {pid: max(int(total or 0), 0) for pid, total in rows}


def waiting_by_product(product_ids: Iterable[int]) -> dict[int, list[WaitingBackorder]]:
    """Waiting backorders per product in queue order (oldest order first, DESIGN §4)."""
    ids = list(product_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(OrderLine.id, OrderLine.product_id, OrderLine.backordered)
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.product_id.in_(ids), OrderLine.backordered > 0)
        .order_by(Order.placed_at, OrderLine.id))
    queues: dict[int, list[WaitingBackorder]] = defaultdict(list)
    for line_id, product_id, quantity in rows:
        queues[product_id].append(WaitingBackorder(backorder_id=line_id, quantity=quantity))
    return queues


def backordered_open_by_product(product_ids: Iterable[int], locked: bool = False) -> dict[int, int]:
    """Units on backorder across all open orders, per product (what a cap counts against): the totals
    kept in ``product_backorders`` (``portal.services.balances``), one statement. ``locked``: the caller
    holds these products' row locks in a write transaction (placing), so totals found unknown are
    stored when it commits."""
    ids = list(product_ids)
    if not ids:
        return {}
    return balances.backordered_units(ids, locked)


def open_po_lines_by_product(product_ids: Iterable[int], today: date) -> dict[int, list[OpenPoLine]]:
    """Open lines of sent POs. A line without a vendor-confirmed date counts from the PO's sending date
    plus the vendor's lead time (or today, if it was never sent)."""
    ids = list(product_ids)
    if not ids:
        return {}
    lines: dict[int, list[OpenPoLine]] = defaultdict(list)
    for line in fast_sql.all(db.session.connection(), _OPEN_PO_LINES, {"ids": ids}):
        lines[line.product_id].append(_open_po_line(
            line.id, line.expected_date, line.quantity_ordered - line.quantity_received,
            _utc_day(line.sent_at) if line.sent_at else None, today))
    return lines


def _utc_day(moment: datetime) -> date:
    """The UTC day of a stored moment (SQLite gives it back naive, already in UTC)."""
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def _open_po_line(line_id: int, expected: date | None, open_quantity: int, sent: date | None,
                  today: date) -> OpenPoLine:
    """An open PO line; without a vendor-confirmed date it is expected 14 days after the PO was sent
    (UTC day), or after today if it never was."""
    return OpenPoLine(po_line_id=line_id, expected_date=expected or (sent or today) + timedelta(days=14),
                      open_quantity=open_quantity)


class OpenPoLinesJson(FunctionElement):
    """A product's open PO lines (those :func:`open_po_lines_by_product` reads) as one JSON text column
    — a list of [id, expected date, open quantity, sent date (UTC)] — for a statement that reads
    products anyway: ``OpenPoLinesJson(products.c.id)``; read it with :func:`open_po_lines_from`. A
    function element, so statements using it stay in SQLAlchemy's compiled cache."""

    type = String()
    name = "open_po_lines_json"
    inherit_cache = True


_OPEN = ", ".join(f"'{status}'" for status in OPEN_PO_STATUSES)  # constants of the model, not input
#: Per dialect: the JSON list aggregate, the JSON array, the sent moment's UTC day, the text cast.
_JSON_SQL = {"postgresql": ("json_agg", "json_build_array", "(o.sent_at AT TIME ZONE 'UTC')::date", "::text"),
             "sqlite": ("json_group_array", "json_array", "date(o.sent_at)", "")}


@compiles(OpenPoLinesJson, "postgresql")
@compiles(OpenPoLinesJson, "sqlite")
def _open_po_lines_json(element, compiler, **kw) -> str:
    product_id = compiler.process(element.clauses, **kw)  # a compiled column, not input
    group, array, sent_day, as_text = _JSON_SQL[compiler.dialect.name]
    return (f"(SELECT coalesce({group}({array}(l.id, l.expected_date, "  # noqa: S608
            f"l.quantity_ordered - l.quantity_received, {sent_day})), '[]'){as_text} "
            "FROM purchase_order_lines l JOIN purchase_orders o ON o.id = l.purchase_order_id "
            f"WHERE l.product_id = {product_id} AND o.status IN ({_OPEN}) "
            "AND l.quantity_received < l.quantity_ordered)")


def open_po_lines_from(text: str, today: date) -> list[OpenPoLine]:
    """:func:`open_po_lines_by_product`'s lines of one product from an :class:`OpenPoLinesJson` column."""
    def day(value: str | None) -> date | None:
        return date.fromisoformat(value[:10]) if value else None

    return [_open_po_line(line_id, day(expected), open_quantity, day(sent), today)
            for line_id, expected, open_quantity, sent in json.loads(text)]


_po_lines, _pos = PurchaseOrderLine.__table__.c, PurchaseOrder.__table__.c
#: Plain rows, built once: placing reads these for every order that backorders.
_OPEN_PO_LINES = (
    select(_po_lines.id, _po_lines.product_id, _po_lines.expected_date, _po_lines.quantity_ordered,
           _po_lines.quantity_received, _pos.sent_at)
    .join_from(PurchaseOrderLine.__table__, PurchaseOrder.__table__, _pos.id == _po_lines.purchase_order_id)
    .where(_po_lines.product_id.in_(bindparam("ids", expanding=True)), _pos.status.in_(OPEN_PO_STATUSES),
           _po_lines.quantity_received < _po_lines.quantity_ordered))


def facts_for(products: Iterable[Product], today: date) -> dict[int, StockFacts]:
    """Stock facts for every product given: three queries (stock, waiting backorders, PO lines),
    however many products.

    Products must have their vendor loaded (or loadable) for the lead-time fallback."""
    products = list(products)
    ids = [p.id for p in products]
    available = available_by_product(ids)
    queues = waiting_by_product(ids)
    po_lines = open_po_lines_by_product(ids, today)
    facts: dict[int, StockFacts] = {}
    for product in products:
        rules = rules_of(product)
        queue = queues.get(product.id, [])
        open_units = sum(b.quantity for b in queue)
        room = backorder_room(rules, open_units)
        eta = None
        if room is None or room > 0:
            eta = eta_for_new_backorder(
                po_lines.get(product.id, []), queue, 1, today=today,
                lead_time_days=lead_time_days(product.lead_time_days, product.vendor.lead_time_days))
        facts[product.id] = StockFacts(available.get(product.id, 0), open_units, rules, eta)
    return facts
