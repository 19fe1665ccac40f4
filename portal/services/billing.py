"""What on-account orders are worth to bill, what is left to invoice, and what each invoice is made of
(DESIGN §7). Reads only; the rules are in :mod:`portal.domain.billing`.

Cancelled units are never invoiced (only shipped units are), so cancelling them lowers what is left to
invoice and nothing else: the credit exposure (``credit.exposure``) counts each live order's part not yet
invoiced, and the statement lists those orders. A credit note exists only for money already invoiced
(``refunds.settle_cancellation``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, bindparam, case, func, or_, select

from portal.domain import billing as rules
from portal.extensions import db
from portal.models import (
    CreditNote,
    Invoice,
    Order,
    OrderAdjustment,
    OrderLine,
    Shipment,
    ShipmentLine,
)

ZERO = Decimal("0.00")


def _goodwill_by_line(order_ids: list[int]) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """Approved goodwill per order line, and per order for order-level goodwill (amounts negative)."""
    by_line: dict[int, Decimal] = defaultdict(lambda: ZERO)
    by_order: dict[int, Decimal] = defaultdict(lambda: ZERO)
    if not order_ids:
        return by_line, by_order
    rows = db.session.execute(select(OrderAdjustment.order_id, OrderAdjustment.order_line_id,
                                     OrderAdjustment.amount)
                              .where(OrderAdjustment.order_id.in_(order_ids),
                                     OrderAdjustment.status == "approved"))
    for order_id, line_id, amount in rows:
        if line_id is None:
            by_order[order_id] += amount
        else:
            by_line[line_id] += amount
    return by_line, by_order


def _sum_by_order(column, order_ids: list[int], *where) -> dict[int, Decimal]:
    if not order_ids:
        return {}
    owner = column.class_.order_id
    rows = db.session.execute(select(owner, func.sum(column)).where(owner.in_(order_ids), *where)
                              .group_by(owner))
    return {order_id: Decimal(total) for order_id, total in rows}


def billable_values(order_ids: list[int]) -> dict[int, Decimal]:
    """What each order bills in all once its units still open ship: every unit not cancelled, at its
    value (line goodwill included), less the order's own goodwill."""
    if not order_ids:
        return {}
    # Plain rows, not ORM objects: a company's exposure reads every line of its live orders.
    lines = db.session.execute(select(OrderLine.id, OrderLine.order_id, OrderLine.line_total,
                                      OrderLine.quantity, OrderLine.cancelled)
                               .where(OrderLine.order_id.in_(order_ids)))
    by_line, by_order = _goodwill_by_line(order_ids)
    values: dict[int, list[Decimal]] = {order_id: [] for order_id in order_ids}
    for line in lines:
        values[line.order_id].append(rules.unit_share(line.line_total + by_line[line.id], line.quantity,
                                                      line.quantity - line.cancelled))
    return {order_id: rules.billable(found, by_order[order_id]) for order_id, found in values.items()}


def invoiced_totals(order_ids: list[int]) -> dict[int, Decimal]:
    return _sum_by_order(Invoice.total, order_ids, Invoice.status != "void")


def credited_totals(order_ids: list[int]) -> dict[int, Decimal]:
    return _sum_by_order(CreditNote.amount, order_ids)


@dataclass(frozen=True)
class Uninvoiced:
    order_id: int
    number: str
    amount: Decimal


def uninvoiced_orders(company_id: int) -> list[Uninvoiced]:
    """The company's on-account orders with a part not invoiced yet, and that part.

    Orders still open or partly shipped, and shipped orders with fewer invoices than shipments (a crash
    between shipping and invoicing); a cancelled order has nothing left, and a shipped order's shipments
    invoiced all of it.

    One row per order, its sums made by the database (:func:`_live_orders`); only lines with cancelled
    units need :func:`portal.domain.billing.unit_share`'s rounding, so only those are read one by one."""
    rows = db.session.execute(_LIVE_ORDERS, {"company_id": company_id}).all()
    cut_values = _cancelled_lines_values([order_id for order_id, *_, cut_lines in rows if cut_lines])
    found = []
    for order_id, number, whole_value, goodwill_value, billed_value, _ in rows:
        worth = rules.billable([_cents(whole_value), _cents(goodwill_value), cut_values.get(order_id, ZERO)],
                               ZERO)
        found.append(Uninvoiced(order_id, number, rules.left_to_invoice(worth, _cents(billed_value))))
    return [item for item in found if item.amount > 0]


def _live_orders():
    """The live on-account orders of the company ``:company_id``: id, number, the value of their lines
    with nothing cancelled (``whole``), their approved goodwill on those lines and on the order
    (``goodwill``), what their invoices billed (``billed``) and how many lines have cancelled units
    (``cut``). Set-based (each table read once, grouped by order, joined), built once: a busy account
    has many live orders."""
    invoices_of = select(func.count(Invoice.id)).where(Invoice.order_id == Order.id).scalar_subquery()
    shipments_of = select(func.count(Shipment.id)).where(Shipment.order_id == Order.id).scalar_subquery()
    live = (select(Order.id, Order.number)
            .where(Order.company_id == bindparam("company_id"), Order.payment_method == "on_account",
                   or_(Order.status.in_(("open", "partially_shipped")),
                       and_(Order.status == "shipped", invoices_of < shipments_of)))
            .cte("live"))
    lines = (select(OrderLine.order_id,
                    func.sum(case((OrderLine.cancelled == 0, OrderLine.line_total), else_=0)).label("whole"),
                    func.count(case((OrderLine.cancelled > 0, 1))).label("cut"))
             .join(live, live.c.id == OrderLine.order_id).group_by(OrderLine.order_id).subquery("lines"))
    goodwill = (select(OrderAdjustment.order_id, func.sum(OrderAdjustment.amount).label("amount"))
                .join(live, live.c.id == OrderAdjustment.order_id)
                .outerjoin(OrderLine, OrderLine.id == OrderAdjustment.order_line_id)
                .where(OrderAdjustment.status == "approved",
                       or_(OrderAdjustment.order_line_id.is_(None), OrderLine.cancelled == 0))
                .group_by(OrderAdjustment.order_id).subquery("goodwill"))
    billed = (select(Invoice.order_id, func.sum(Invoice.total).label("amount"))
              .join(live, live.c.id == Invoice.order_id).where(Invoice.status != "void")
              .group_by(Invoice.order_id).subquery("billed"))
    return (select(live.c.id, live.c.number, func.coalesce(lines.c.whole, 0).label("whole"),
                   func.coalesce(goodwill.c.amount, 0).label("goodwill"),
                   func.coalesce(billed.c.amount, 0).label("billed"),
                   func.coalesce(lines.c.cut, 0).label("cut"))
            .select_from(live)
            .outerjoin(lines, lines.c.order_id == live.c.id)
            .outerjoin(goodwill, goodwill.c.order_id == live.c.id)
            .outerjoin(billed, billed.c.order_id == live.c.id))


_LIVE_ORDERS = _live_orders().order_by("id")
_live = _live_orders().subquery("live_orders")
_worth = case((_live.c.whole + _live.c.goodwill > 0, _live.c.whole + _live.c.goodwill), else_=0)
#: In one pass: the uninvoiced part of the live orders without cancelled units (``simple``), and how
#: many live orders have cancelled units (``with_cuts``).
_UNINVOICED = select(
    func.coalesce(func.sum(case((and_(_live.c.cut == 0, _worth > _live.c.billed), _worth - _live.c.billed),
                                else_=0)), 0).label("simple"),
    func.count(case((_live.c.cut > 0, 1))).label("with_cuts"))
_CUT_ORDERS = select(_live.c.id, _live.c.whole, _live.c.goodwill, _live.c.billed).where(_live.c.cut > 0)


def uninvoiced_total(company_id: int) -> Decimal:
    """The sum of :func:`uninvoiced_orders`, with the orders that have no cancelled units added up by
    the database (one row, not one per live order). The credit check reads it from the company's kept
    balance (``portal.services.balances``), which this sums when it is unknown."""
    bound = {"company_id": company_id}
    simple, with_cuts = db.session.execute(_UNINVOICED, bound).one()
    total = _cents(simple)
    if with_cuts:
        cut_orders = db.session.execute(_CUT_ORDERS, bound).all()
        cut_values = _cancelled_lines_values([row.id for row in cut_orders])
        for order_id, whole_value, goodwill_value, billed_value in cut_orders:
            worth = rules.billable([_cents(whole_value), _cents(goodwill_value), cut_values[order_id]], ZERO)
            total += rules.left_to_invoice(worth, _cents(billed_value))
    return total


def _cents(value) -> Decimal:
    """A database sum as money (SQLite sums NUMERIC columns as floats)."""
    return Decimal(str(value)).quantize(rules.CENT)


def _cancelled_lines_values(order_ids: list[int]) -> dict[int, Decimal]:
    """The value still billed by each order's lines with cancelled units (their goodwill included)."""
    values: dict[int, Decimal] = defaultdict(lambda: ZERO)
    if not order_ids:
        return values
    by_line, _ = _goodwill_by_line(order_ids)
    for line in db.session.execute(select(OrderLine.id, OrderLine.order_id, OrderLine.line_total,
                                          OrderLine.quantity, OrderLine.cancelled)
                                   .where(OrderLine.order_id.in_(order_ids), OrderLine.cancelled > 0)):
        values[line.order_id] += rules.unit_share(line.line_total + by_line[line.id], line.quantity,
                                                  line.quantity - line.cancelled)
    return values


def cancelled_value(order_id: int) -> Decimal:
    """What the order's cancelled units were worth (line goodwill included)."""
    lines = list(db.session.scalars(select(OrderLine).where(OrderLine.order_id == order_id,
                                                            OrderLine.cancelled > 0)))
    by_line, _ = _goodwill_by_line([order_id])
    return sum((rules.unit_share(line.line_total + by_line[line.id], line.quantity, line.cancelled)
                for line in lines), ZERO)


def credit_notes_of_company(company_id: int) -> list[tuple[CreditNote, str]]:
    """The company's credit notes with their order numbers, newest first."""
    rows = db.session.execute(select(CreditNote, Order.number).join(Order, Order.id == CreditNote.order_id)
                              .where(CreditNote.company_id == company_id)
                              .order_by(CreditNote.created_at.desc(), CreditNote.id.desc()).limit(500))
    return [(note, number) for note, number in rows.all()]


# --- one invoice, line by line --------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceDocument:
    shipment_number: str | None
    breakdown: rules.InvoiceBreakdown
    #: The order's own goodwill in all (zero or negative), to explain the credit line.
    order_credit_total: Decimal


def invoice_document(invoice: Invoice) -> InvoiceDocument:
    """The invoice's shipment, line by line: SKU, name, units, unit price, value and goodwill on those
    units, the share of order-level goodwill it uses, and any correction, adding up to its total."""
    shipment = db.session.get(Shipment, invoice.shipment_id) if invoice.shipment_id else None
    by_line, by_order = _goodwill_by_line([invoice.order_id])
    if shipment is None:  # an invoice with no shipment behind it: its total is all it says
        breakdown = rules.InvoiceBreakdown((), ZERO, invoice.total, invoice.total)
        return InvoiceDocument(None, breakdown, by_order[invoice.order_id])
    lines = {line.id: line for line in db.session.scalars(
        select(OrderLine).where(OrderLine.order_id == invoice.order_id))}
    earlier: dict[int, int] = defaultdict(int)
    now: dict[int, int] = defaultdict(int)
    rows = db.session.execute(select(ShipmentLine.order_line_id, ShipmentLine.shipment_id,
                                     ShipmentLine.quantity)
                              .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
                              .where(Shipment.order_id == invoice.order_id, Shipment.id <= shipment.id))
    for line_id, shipment_id, quantity in rows:
        (now if shipment_id == shipment.id else earlier)[line_id] += quantity
    value_before = sum((rules.unit_share(line.line_total + by_line[line.id], line.quantity, earlier[line.id])
                        for line in lines.values()), ZERO)
    shipped = [rules.ShippedLine(line.sku, line.name, line.unit_price, line.quantity, line.line_total,
                                 by_line[line.id], earlier[line.id], now[line.id])
               for line_id, line in sorted(lines.items()) if now[line_id]]
    breakdown = rules.invoice_breakdown(shipped, value_before, by_order[invoice.order_id], invoice.total)
    return InvoiceDocument(shipment.number, breakdown, by_order[invoice.order_id])
