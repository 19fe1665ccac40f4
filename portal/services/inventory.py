"""Stock use cases: adjustments written to the ledger (DESIGN §2, §5, §6).

Invariant kept here: a stock row's ``on_hand`` always equals the sum of its movements, and never drops
below zero or below what is allocated to open order lines. The row is locked before it is read for the
decision (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite ``write_transaction`` already holds the
write lock from ``BEGIN IMMEDIATE``), so concurrent adjustments never lose an update.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.database import is_sqlite, write_transaction
from portal.extensions import db
from portal.models import Product, Stock, StockMovement, User, Warehouse
from portal.services import NotFound, ServiceError, notifications

#: An adjustment larger than this is refused as a typo (a stock count is never this far off).
MAX_ADJUSTMENT = 1_000_000
MAX_REASON = 255


class AdjustmentRefused(ServiceError):
    pass


def _check_request(delta: int, reason: str) -> str:
    reason = (reason or "").strip()
    problems = []
    if delta == 0:
        problems.append("Enter a change other than 0.")
    elif abs(delta) > MAX_ADJUSTMENT:
        problems.append(f"An adjustment is at most {MAX_ADJUSTMENT:,} units either way.")
    if not reason:
        problems.append("Give a reason for the adjustment.")
    elif len(reason) > MAX_REASON:
        problems.append(f"The reason has at most {MAX_REASON} characters.")
    if problems:
        raise AdjustmentRefused(" ".join(problems))
    return reason


def _locked_stock_row(session: Session, product_id: int, warehouse_id: int) -> Stock:
    """The (product, warehouse) stock row, created empty if missing, locked for this transaction.

    Creation is "insert ... on conflict do nothing", so two first adjustments racing on a new row do
    not fail on the unique constraint; both then lock and read the one row.
    """
    dialect = sqlite if is_sqlite() else postgresql
    session.execute(
        dialect.insert(Stock).values(product_id=product_id, warehouse_id=warehouse_id, on_hand=0, allocated=0)
        .on_conflict_do_nothing(index_elements=["product_id", "warehouse_id"]))
    return session.scalars(
        select(Stock).where(Stock.product_id == product_id, Stock.warehouse_id == warehouse_id)
        .with_for_update().execution_options(populate_existing=True)).one()


def adjust_stock(actor: User, product_id: int, warehouse_id: int, delta: int, reason: str) -> StockMovement:
    """Change ``on_hand`` by ``delta`` with a reason: one ``adjustment`` movement, same transaction.

    Refused (nothing written) when the result would be negative or below the allocated units. Stock
    added to a product that had none available tells its "notify me" subscribers, same transaction.
    """
    reason = _check_request(delta, reason)
    with write_transaction() as session:
        if session.get(Product, product_id) is None:
            raise NotFound("That product does not exist.")
        if session.get(Warehouse, warehouse_id) is None:
            raise NotFound("That warehouse does not exist.")
        stock = _locked_stock_row(session, product_id, warehouse_id)
        result = stock.on_hand + delta
        if result < 0:
            raise AdjustmentRefused(
                f"Only {stock.on_hand} on hand: removing {-delta} would leave {result}.")
        if result < stock.allocated:
            raise AdjustmentRefused(
                f"{stock.allocated} units are allocated to orders: on hand cannot go below that "
                f"(this change would leave {result}).")
        stock.on_hand = result
        movement = StockMovement(product_id=product_id, warehouse_id=warehouse_id, quantity=delta,
                                 kind="adjustment", reason=reason, actor_id=actor.id if actor else None)
        session.add(movement)
        if delta > 0:
            session.flush()
            notifications.notify_back_in_stock(session, [product_id])
    return movement


def warehouses() -> list[Warehouse]:
    return list(db.session.scalars(select(Warehouse).order_by(Warehouse.code)))


def stock_rows(product_id: int) -> list[tuple[Warehouse, Stock | None]]:
    """Every warehouse with this product's stock row there (None where it has never been stocked)."""
    rows = db.session.execute(
        select(Warehouse, Stock)
        .join(Stock, (Stock.warehouse_id == Warehouse.id) & (Stock.product_id == product_id), isouter=True)
        .order_by(Warehouse.code)).all()
    return [(warehouse, stock) for warehouse, stock in rows]


def recent_movements(product_id: int, limit: int = 20) -> list[tuple[StockMovement, str, str | None]]:
    """The product's latest movements, newest first, with the warehouse code and the actor's name."""
    rows = db.session.execute(
        select(StockMovement, Warehouse.code, User.name)
        .join(Warehouse, Warehouse.id == StockMovement.warehouse_id)
        .join(User, User.id == StockMovement.actor_id, isouter=True)
        .where(StockMovement.product_id == product_id)
        .order_by(StockMovement.id.desc()).limit(limit)).all()
    return [(movement, code, name) for movement, code, name in rows]
