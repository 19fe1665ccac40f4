"""The invariants of DESIGN §5, asserted after every integration test that touches stock."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    CompanyBalance,
    Order,
    OrderLine,
    PoLineLink,
    Product,
    ProductBackorders,
    PurchaseOrderLine,
    Stock,
    StockMovement,
)


def assert_invariants() -> None:
    db.session.rollback()  # read the committed state, not a stale snapshot
    problems: list[str] = []
    movements = dict(db.session.execute(
        select(StockMovement.product_id, func.sum(StockMovement.quantity))
        .group_by(StockMovement.product_id)).all())
    on_hand: dict[int, int] = defaultdict(int)
    allocated: dict[int, int] = defaultdict(int)
    for stock in db.session.scalars(select(Stock)):
        on_hand[stock.product_id] += stock.on_hand
        allocated[stock.product_id] += stock.allocated
        if not 0 <= stock.allocated <= stock.on_hand:
            problems.append(f"stock {stock.id}: allocated {stock.allocated} vs on hand {stock.on_hand}")
    for product_id, total in on_hand.items():
        if total != (movements.get(product_id) or 0):
            problems.append(f"product {product_id}: on hand {total} != movements {movements.get(product_id)}")
    line_allocated = dict(db.session.execute(
        select(OrderLine.product_id, func.sum(OrderLine.allocated))
        .join(Order).where(Order.status != "cancelled").group_by(OrderLine.product_id)).all())
    for product_id in set(allocated) | set(line_allocated):
        if allocated.get(product_id, 0) != (line_allocated.get(product_id) or 0):
            problems.append(f"product {product_id}: stock allocated {allocated.get(product_id, 0)} != "
                            f"order lines {line_allocated.get(product_id)}")
    backordered = dict(db.session.execute(
        select(OrderLine.product_id, func.sum(OrderLine.backordered)).group_by(OrderLine.product_id)).all())
    for product in db.session.scalars(select(Product).where(Product.id.in_(list(backordered)))):
        units = backordered[product.id] or 0
        if product.backorder_policy == "block" and units:
            problems.append(f"{product.sku}: block product has {units} on backorder")
        if product.backorder_policy == "allow_up_to" and units > (product.backorder_cap or 0):
            problems.append(f"{product.sku}: {units} on backorder over cap {product.backorder_cap}")
    for line in db.session.scalars(select(OrderLine)):
        parts = line.allocated + line.backordered + line.shipped + line.cancelled
        if parts != line.quantity or min(line.allocated, line.backordered, line.shipped, line.cancelled) < 0:
            problems.append(f"order line {line.id}: parts {parts} != ordered {line.quantity}")
    problems += _purchase_order_problems()
    problems += _balance_problems()
    assert not problems, "invariants broken:\n" + "\n".join(problems)


def _purchase_order_problems() -> list[str]:
    """A PO line's linked quantity never exceeds its open quantity; received never exceeds ordered unless
    the over-receipt was accepted; an order line's links never exceed its backordered units."""
    problems = []
    linked_po = dict(db.session.execute(
        select(PoLineLink.po_line_id, func.sum(PoLineLink.quantity)).group_by(PoLineLink.po_line_id)).all())
    for line in db.session.scalars(select(PurchaseOrderLine)):
        linked = linked_po.get(line.id) or 0
        if linked > line.open_quantity:
            problems.append(f"PO line {line.id}: linked {linked} > open {line.open_quantity}")
        if line.quantity_received > line.quantity_ordered and not line.over_receipt_accepted:
            problems.append(f"PO line {line.id}: received {line.quantity_received} > ordered "
                            f"{line.quantity_ordered} without an accepted over-receipt")
    linked_order = dict(db.session.execute(
        select(PoLineLink.order_line_id, func.sum(PoLineLink.quantity))
        .group_by(PoLineLink.order_line_id)).all())
    if linked_order:
        for line in db.session.scalars(select(OrderLine).where(OrderLine.id.in_(list(linked_order)))):
            if linked_order[line.id] > line.backordered:
                problems.append(f"order line {line.id}: linked {linked_order[line.id]} > backordered "
                                f"{line.backordered}")
    return problems


def _balance_problems() -> list[str]:
    """Every kept sum equals what it sums (``portal.services.balances``): a company's uninvoiced amount,
    a product's units on backorder."""
    from portal.services import billing

    problems = []
    units = dict(db.session.execute(
        select(OrderLine.product_id, func.sum(OrderLine.backordered)).group_by(OrderLine.product_id)).all())
    for kept in db.session.scalars(select(ProductBackorders).where(ProductBackorders.units.is_not(None))):
        if kept.units != (units.get(kept.product_id) or 0):
            problems.append(f"product {kept.product_id}: kept {kept.units} on backorder != "
                            f"{units.get(kept.product_id) or 0}")
    for balance in db.session.scalars(select(CompanyBalance).where(CompanyBalance.uninvoiced.is_not(None))):
        summed = billing.uninvoiced_total(balance.company_id)
        if balance.uninvoiced != summed:
            problems.append(f"company {balance.company_id}: kept uninvoiced {balance.uninvoiced} != {summed}")
    return problems
