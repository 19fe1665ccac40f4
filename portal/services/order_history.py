"""Reading placed orders: the order list with its filters, and one order as its reader sees it.

Reads only. Who may see which company's orders is :mod:`portal.services.scope`'s job; what a buyer is told
about a line (hidden backorders read "Available") is :mod:`portal.domain.order_status`'s. The list's
"backordered" filter follows the same rule, so a buyer's filter never reveals a hidden backorder.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import selectinload

from portal.domain.goodwill import describe
from portal.domain.order_status import PlacedLine, PlacedLineView, placed_line_view
from portal.extensions import db
from portal.models import Company, GoodwillRule, Order, OrderLine, User
from portal.services.scope import company_filter

#: Filter name -> label, in the order the list offers them.
FILTERS = {"": "All", "open": "Open", "backordered": "Backordered", "shipped": "Shipped"}
STATUS_LABELS = {"open": "Open", "partially_shipped": "Partly shipped", "shipped": "Shipped",
                 "cancelled": "Cancelled"}
SHIPPING_LABELS = {"ship_partial": "Ship what is available now, the rest when it arrives",
                   "ship_complete": "Ship complete (everything together)"}
PAYMENT_LABELS = {"on_account": "On account", "card": "Card"}
PER_PAGE = 25
MAX_PAGE = 10_000


def visible_backorder(staff: bool):
    """EXISTS clause: the order has a backordered line its reader is told about. Buyers are not told of
    a hidden backorder unless it misses their deadline."""
    condition = OrderLine.backordered > 0
    if not staff:
        late = and_(OrderLine.eta.is_not(None), OrderLine.need_by.is_not(None),
                    OrderLine.eta > OrderLine.need_by)
        condition = and_(condition, or_(OrderLine.backorder_hidden.is_(False), late))
    return exists().where(OrderLine.order_id == Order.id, condition)


@dataclass(frozen=True)
class OrderRow:
    order: Order
    company_name: str
    line_count: int
    #: The reader is told of units on backorder.
    backordered: bool


@dataclass(frozen=True)
class OrderPage:
    rows: list[OrderRow]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def list_orders(user: User, status: str = "", page: int = 1, company_id: int | None = None) -> OrderPage:
    """The orders ``user`` may see, newest first, one page of them; ``status`` is a key of FILTERS."""
    backorder = visible_backorder(user.is_staff)
    where = [company_filter(user, Order.company_id)]
    if company_id is not None:
        where.append(Order.company_id == company_id)
    if status == "open":
        where.append(Order.status.in_(("open", "partially_shipped")))
    elif status == "backordered":
        where += [Order.status != "cancelled", backorder]
    elif status == "shipped":
        where.append(Order.status == "shipped")
    page = min(max(page, 1), MAX_PAGE)
    total = db.session.scalar(select(func.count(Order.id)).where(*where)) or 0
    lines = (select(func.count(OrderLine.id)).where(OrderLine.order_id == Order.id)
             .correlate(Order).scalar_subquery())
    rows = db.session.execute(
        select(Order, Company.name, lines, backorder.label("backordered"))
        .join(Company, Company.id == Order.company_id).where(*where)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return OrderPage([OrderRow(o, name, count, bool(b)) for o, name, count, b in rows], total, page, PER_PAGE)


@dataclass(frozen=True)
class LineRow:
    line: OrderLine
    view: PlacedLineView


@dataclass(frozen=True)
class AdjustmentRow:
    description: str
    #: What the automatic rule does, in words (None for manual goodwill or a deleted rule).
    rule_text: str | None
    #: The SKU of the line it applies to (None: the whole order).
    sku: str | None
    amount: Decimal
    #: Why staff granted manual goodwill.
    reason: str = ""
    #: approved, or (staff only) pending / rejected manual goodwill; only approved counts in totals.
    status: str = "approved"


@dataclass(frozen=True)
class OrderDetail:
    order: Order
    lines: list[LineRow]
    adjustments: list[AdjustmentRow]

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.order.status, self.order.status)

    @property
    def shipping_label(self) -> str:
        return SHIPPING_LABELS.get(self.order.shipping_preference, self.order.shipping_preference)

    @property
    def payment_label(self) -> str:
        return PAYMENT_LABELS.get(self.order.payment_method, self.order.payment_method)

    @property
    def backordered(self) -> bool:
        return any(row.view.backordered for row in self.lines)


def unsold_skus(order: Order) -> list[str]:
    """SKUs of the order's products that are no longer sold ("order again" skips them)."""
    return sorted({line.sku for line in order.lines if not line.product.active})


def placed_line(line: OrderLine) -> PlacedLine:
    return PlacedLine(quantity=line.quantity, allocated=line.allocated, backordered=line.backordered,
                      shipped=line.shipped, cancelled=line.cancelled, eta_date=line.eta,
                      eta_estimated=line.eta_estimated, need_by=line.need_by,
                      accepted_late=line.accepted_late, backorder_hidden=line.backorder_hidden)


def order_detail(order: Order, *, staff: bool, money=str) -> OrderDetail:
    """``order`` (already scoped to its reader) with each line's view and each adjustment explained."""
    order = db.session.scalar(
        select(Order).where(Order.id == order.id)
        .options(selectinload(Order.lines), selectinload(Order.adjustments),
                 selectinload(Order.company).selectinload(Company.addresses), selectinload(Order.placed_by)))
    lines = [LineRow(line, placed_line_view(placed_line(line), staff=staff)) for line in order.lines]
    rule_ids = {a.rule_id for a in order.adjustments if a.rule_id is not None}
    rules = {r.id: r for r in db.session.scalars(select(GoodwillRule).where(GoodwillRule.id.in_(rule_ids)))}
    skus = {line.id: line.sku for line in order.lines}
    adjustments = []
    for adjustment in order.adjustments:
        if adjustment.status != "approved" and not staff:
            continue
        rule = rules.get(adjustment.rule_id) if adjustment.rule_id else None
        text = describe(rule.kind, rule.days, rule.percent, rule.amount, money) if rule else None
        adjustments.append(AdjustmentRow(adjustment.description, text, skus.get(adjustment.order_line_id),
                                         adjustment.amount, adjustment.reason, adjustment.status))
    return OrderDetail(order, lines, adjustments)
