"""Stock adjustments on SQLite and PostgreSQL: the ledger stays the truth, limits hold, and concurrent
adjustments of one row never lose an update (DESIGN §5, §6)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Stock, StockMovement, User
from portal.services import NotFound
from portal.services.inventory import AdjustmentRefused, adjust_stock
from tests.factories import make_product, make_user, make_warehouse, set_stock


def _stock(product_id: int, warehouse_id: int) -> Stock | None:
    db.session.rollback()  # a fresh snapshot: see what other transactions committed
    return db.session.scalar(select(Stock).where(Stock.product_id == product_id,
                                                 Stock.warehouse_id == warehouse_id))


def _ledger_sum(product_id: int, warehouse_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
        StockMovement.product_id == product_id, StockMovement.warehouse_id == warehouse_id))


@pytest.fixture
def shelf(any_app):
    warehouse = make_warehouse("MAIN")
    product = make_product()
    set_stock(product, 10, warehouse)
    return make_user("admin"), product.id, warehouse.id


def test_an_adjustment_writes_the_ledger_and_on_hand_equals_the_sum_of_movements(shelf):
    admin, product_id, warehouse_id = shelf
    adjust_stock(admin, product_id, warehouse_id, 5, "Found in returns cage")
    adjust_stock(admin, product_id, warehouse_id, -3, "Damaged")
    assert _stock(product_id, warehouse_id).on_hand == 12
    assert _ledger_sum(product_id, warehouse_id) == 12
    latest = db.session.scalar(select(StockMovement).order_by(StockMovement.id.desc()).limit(1))
    assert (latest.kind, latest.quantity, latest.reason) == ("adjustment", -3, "Damaged")
    assert latest.actor_id == admin.id


def test_the_first_adjustment_creates_the_missing_stock_row(any_app):
    admin, product, warehouse = make_user("admin"), make_product(), make_warehouse("EAST")
    adjust_stock(admin, product.id, warehouse.id, 7, "Opening count")
    stock = _stock(product.id, warehouse.id)
    assert (stock.on_hand, stock.allocated) == (7, 0)
    assert _ledger_sum(product.id, warehouse.id) == 7


def test_stock_cannot_go_below_zero(shelf):
    admin, product_id, warehouse_id = shelf
    with pytest.raises(AdjustmentRefused, match="Only 10 on hand: removing 11 would leave -1"):
        adjust_stock(admin, product_id, warehouse_id, -11, "Count")
    assert _stock(product_id, warehouse_id).on_hand == 10
    assert db.session.scalar(select(func.count()).select_from(StockMovement)
                             .where(StockMovement.kind == "adjustment")) == 0


@pytest.mark.no_invariants  # sets `allocated` directly instead of placing an order for 8 units
def test_stock_cannot_go_below_what_is_allocated(shelf):
    admin, product_id, warehouse_id = shelf
    with write_transaction() as session:
        session.scalar(select(Stock).where(Stock.product_id == product_id)).allocated = 8
    with pytest.raises(AdjustmentRefused, match="8 units are allocated"):
        adjust_stock(admin, product_id, warehouse_id, -3, "Count")
    adjust_stock(admin, product_id, warehouse_id, -2, "Count")
    assert _stock(product_id, warehouse_id).on_hand == 8 == _ledger_sum(product_id, warehouse_id)


@pytest.mark.parametrize(("delta", "reason", "message"), [
    (0, "Count", "other than 0"),
    (5, "", "Give a reason"),
    (5, "   ", "Give a reason"),
    (5, "x" * 256, "at most 255 characters"),
    (10_000_001, "Count", "at most 1,000,000 units"),
])
def test_an_adjustment_needs_a_change_and_a_reason(shelf, delta, reason, message):
    admin, product_id, warehouse_id = shelf
    with pytest.raises(AdjustmentRefused, match=message):
        adjust_stock(admin, product_id, warehouse_id, delta, reason)
    assert _stock(product_id, warehouse_id).on_hand == 10


def test_unknown_products_and_warehouses_are_refused(shelf):
    admin, product_id, warehouse_id = shelf
    with pytest.raises(NotFound):
        adjust_stock(admin, 999_999, warehouse_id, 1, "Count")
    with pytest.raises(NotFound):
        adjust_stock(admin, product_id, 999_999, 1, "Count")


def _run_concurrently(app, count: int, work) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        with app.app_context():
            try:
                barrier.wait()
                work()
            except BaseException as exc:  # noqa: BLE001 - collected and asserted by the caller
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_twenty_concurrent_adjustments_of_one_row_all_apply(any_app, shelf):
    admin, product_id, warehouse_id = shelf
    admin_id = admin.id

    def add_one() -> None:
        adjust_stock(db.session.get(User, admin_id), product_id, warehouse_id, 1, "Concurrent count")

    assert _run_concurrently(any_app, 20, add_one) == []
    assert _stock(product_id, warehouse_id).on_hand == 30
    assert _ledger_sum(product_id, warehouse_id) == 30


def test_twenty_concurrent_first_adjustments_create_one_row_and_lose_nothing(any_app):
    admin, product, warehouse = make_user("admin"), make_product(), make_warehouse("NEW")
    admin_id, product_id, warehouse_id = admin.id, product.id, warehouse.id

    def add_two() -> None:
        adjust_stock(db.session.get(User, admin_id), product_id, warehouse_id, 2, "Opening count")

    assert _run_concurrently(any_app, 20, add_two) == []
    db.session.rollback()
    rows = db.session.scalars(select(Stock).where(Stock.product_id == product_id)).all()
    assert [r.on_hand for r in rows] == [40]
    assert _ledger_sum(product_id, warehouse_id) == 40


def test_concurrent_removals_never_take_stock_below_zero(any_app, shelf):
    """Fifteen threads each remove one unit from ten on hand: exactly ten succeed, five are refused."""
    admin, product_id, warehouse_id = shelf
    admin_id = admin.id

    def take_one() -> None:
        adjust_stock(db.session.get(User, admin_id), product_id, warehouse_id, -1, "Picked")

    errors = _run_concurrently(any_app, 15, take_one)
    assert len(errors) == 5 and all(isinstance(e, AdjustmentRefused) for e in errors)
    assert _stock(product_id, warehouse_id).on_hand == 0 == _ledger_sum(product_id, warehouse_id)
