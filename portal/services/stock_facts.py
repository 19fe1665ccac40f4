"""Live stock facts for a set of products, in a fixed number of queries whatever the set's size.

Turns rows into the domain's values: available units, units already on backorder (for caps), the ETA
a new backorder would get, and the product's rules. Pages call :func:`facts_for` once per page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import bindparam, func, select

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
        sent = line.sent_at.date() if line.sent_at else today
        lines[line.product_id].append(OpenPoLine(
            po_line_id=line.id, expected_date=line.expected_date or sent + timedelta(days=14),
            open_quantity=line.quantity_ordered - line.quantity_received))
    return lines


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
