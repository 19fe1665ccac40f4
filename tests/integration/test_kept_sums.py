"""The kept sums of ``portal.services.balances`` — each company's uninvoiced on-account amount, each
product's units on backorder: placing adds to them and the next order reads them instead of summing
history; every other change marks them unknown, and the next reader sums them again. Every known sum is
checked against the tables after every integration test (tests/invariants.py). SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Company, CompanyBalance, Order, OrderAdjustment, OrderLine, ProductBackorders, User
from portal.services import (
    backorders,
    billing,
    carts,
    credit,
    invoices,
    manual_goodwill,
    ordering,
    shipping,
    stock_facts,
)
from tests.factories import make_address, make_company, make_product, make_user, set_stock

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _backends(any_app):
    return any_app


def company_with_buyer(limit: str = "100000") -> tuple[User, Company]:
    company = make_company(f"Co {uuid.uuid4().hex[:6]}", credit_limit=Decimal(limit))
    make_address(company, is_default_shipping=True)
    return make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com", password=None), company


def place(user: User, company: Company, *items: tuple[object, int]) -> Order:
    carts.add_items(user.id, company.id, [(product.id, quantity) for product, quantity in items])
    db.session.rollback()
    me, mine = db.session.get(User, user.id), db.session.get(Company, company.id)
    review = ordering.review_cart(me, mine, TODAY)
    return ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)


def product(price: str, shelf: int = 100):
    made = make_product(price=price, policy="allow")
    set_stock(made, shelf)
    return made


def known(company_id: int) -> Decimal | None:
    """The kept uninvoiced amount of a company, None when unknown (or no row)."""
    return db.session.scalar(select(CompanyBalance.uninvoiced).where(CompanyBalance.company_id == company_id))


def kept(company: Company) -> Decimal | None:
    db.session.rollback()
    return known(company.id)


def staff() -> User:
    return make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")


def statements_during(action) -> list[str]:
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_placing_keeps_the_balance_and_the_next_check_reads_it_instead_of_summing_the_orders():
    user, company = company_with_buyer()
    first = place(user, company, (product("10.00"), 3))
    assert kept(company) == Decimal("30.00")  # the first check summed it (nothing), placing added 30.00
    place(user, company, (product("2.50"), 4))
    assert kept(company) == Decimal("40.00")
    sums = [s for s in statements_during(lambda: place(user, company, (product("1.00"), 1)))
            if "WITH live" in s or "live_orders" in s]
    assert sums == []  # the credit check read the kept row, not the live orders
    assert kept(company) == Decimal("41.00") == billing.uninvoiced_total(company.id)
    assert credit.exposure(company.id) == Decimal("41.00")
    assert first.number


def test_goodwill_on_a_placed_order_counts_at_its_value():
    """A goodwill rule's adjustment is part of the order's value when placed."""
    user, company = company_with_buyer()
    order = place(user, company, (product("10.00"), 2))
    db.session.rollback()
    assert kept(company) == db.session.get(Order, order.id).total == billing.uninvoiced_total(company.id)


def cancelled_line(company: Company, order: Order) -> None:
    line = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).first()
    backorders.cancel_and_settle(staff(), line.id, 1, "Not needed", TODAY)


def shipped(company: Company, order: Order) -> None:
    line = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).first()
    shipping.ship_order(staff(), order.id, uuid.uuid4().hex, {line.id: 1}, "TRK-1", today=TODAY)


def invoiced_ahead(company: Company, order: Order) -> None:
    invoices.invoice_shipment(order.id, None, Decimal("5.00"), TODAY)


def manual_goodwill_given(company: Company, order: Order) -> None:
    manual_goodwill.grant_goodwill(staff(), order.id, None, Decimal("10"), None, "Sorry for the wait")


def adjustment_written(company: Company, order: Order) -> None:
    with write_transaction() as session:
        session.add(OrderAdjustment(order_id=order.id, kind="manual_goodwill", description="Sorry",
                                    amount=Decimal("-1.00"), status="approved"))


@pytest.mark.parametrize("change", [cancelled_line, shipped, invoiced_ahead, manual_goodwill_given,
                                    adjustment_written])
def test_any_other_change_marks_the_balance_unknown_and_the_next_order_sums_it_again(change):
    user, company = company_with_buyer()
    order = place(user, company, (product("10.00"), 3))
    assert kept(company) == Decimal("30.00")
    change(company, order)
    assert kept(company) is None
    expected = billing.uninvoiced_total(company.id)
    place(user, company, (product("1.00"), 1))
    assert kept(company) == expected + Decimal("1.00") == billing.uninvoiced_total(company.id)


def test_changes_that_cannot_change_it_leave_it_known():
    """Receiving-style changes (allocated, backordered) and a reference edit are not money."""
    user, company = company_with_buyer()
    order = place(user, company, (product("10.00", shelf=1), 3))
    with write_transaction() as session:
        session.get(Order, order.id).po_reference = "PO-CHANGED"
    assert kept(company) == Decimal("30.00")


def test_only_a_reader_holding_the_company_lock_stores_the_sum_and_only_when_it_commits():
    _, company = company_with_buyer()
    assert kept(company) is None
    assert credit.exposure(company.id) == Decimal("0.00")  # a read transaction
    assert kept(company) is None
    with write_transaction():
        credit.exposure(company.id)  # a write transaction without the company lock
    assert kept(company) is None
    with write_transaction() as session:
        credit.lock_company(session, company.id)
        credit.exposure(company.id, locked=True)
        assert known(company.id) is None  # stored at commit, after every other lock
    assert kept(company) == Decimal("0.00")


def test_a_change_made_in_the_same_transaction_wins_over_a_store():
    user, company = company_with_buyer()
    order = place(user, company, (product("10.00"), 3))
    line = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).one()
    with write_transaction() as session:
        credit.lock_company(session, company.id)
        credit.exposure(company.id, locked=True)
        session.get(OrderLine, line.id).line_total = Decimal("20.00")
    assert kept(company) is None


@pytest.mark.parametrize("any_app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_sum_made_before_a_change_committed_is_not_stored(any_app, monkeypatch):
    """The store at commit reads the generation, then sums: a cancellation committing between the sum and
    the store bumps the generation, so the stale sum is not stored (PostgreSQL: SQLite runs one writer
    at a time, so the two cannot interleave there)."""
    user, company = company_with_buyer()
    order = place(user, company, (product("10.00"), 3))
    line_id = db.session.scalars(select(OrderLine.id).where(OrderLine.order_id == order.id)).one()
    cancelled_line(company, order)  # unknown now: 20.00 left
    admin_id = staff().id
    db.session.rollback()
    summing = billing.uninvoiced_total

    def sum_then_let_a_cancellation_commit(company_id: int, *args):
        amount = summing(company_id, *args)

        def cancel() -> None:
            with any_app.app_context():
                backorders.cancel_and_settle(db.session.get(User, admin_id), line_id, 1, "Fewer", TODAY)

        worker = threading.Thread(target=cancel)
        worker.start()
        worker.join()
        return amount

    with write_transaction() as session:
        credit.lock_company(session, company.id)
        assert credit.exposure(company.id, locked=True) == Decimal("20.00")
        monkeypatch.setattr(billing, "uninvoiced_total", sum_then_let_a_cancellation_commit)
    monkeypatch.undo()
    assert billing.uninvoiced_total(company.id) == Decimal("10.00")
    assert kept(company) is None  # not the stale 20.00


def test_orders_and_cancellations_of_one_company_at_once_keep_the_balance_right(any_app):
    """Six orders placed while six lines of earlier orders are cancelled, all of one company at once:
    the balance ends known and equal to the sum (or unknown), never a stale figure (the invariants check
    it again after the test)."""
    user, company = company_with_buyer()
    stock = product("5.00", shelf=1000)
    earlier = [place(user, company, (stock, 2)) for _ in range(6)]
    lines = [db.session.scalars(select(OrderLine.id).where(OrderLine.order_id == o.id)).one()
             for o in earlier]
    buyers = [make_user(company=db.session.get(Company, company.id),
                        email=f"{uuid.uuid4().hex[:8]}@example.com", password=None) for _ in range(6)]
    for buyer in buyers:
        carts.add_items(buyer.id, company.id, [(stock.id, 1)])
    admin_id = staff().id
    db.session.rollback()
    barrier = threading.Barrier(12)
    errors: list[BaseException] = []

    def placing(user_id: int) -> None:
        with any_app.app_context():
            try:
                me, mine = db.session.get(User, user_id), db.session.get(Company, company.id)
                review = ordering.review_cart(me, mine, TODAY)
                barrier.wait()
                ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

    def cancelling(line_id: int) -> None:
        with any_app.app_context():
            try:
                actor = db.session.get(User, admin_id)
                barrier.wait()
                backorders.cancel_and_settle(actor, line_id, 1, "Fewer needed", TODAY)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

    threads = [threading.Thread(target=placing, args=(b.id,)) for b in buyers]
    threads += [threading.Thread(target=cancelling, args=(line_id,)) for line_id in lines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = billing.uninvoiced_total(company.id)
    assert expected == Decimal("60.00") + Decimal("30.00") - Decimal("30.00")
    assert kept(company) in (None, expected)
    with write_transaction() as session:
        credit.lock_company(session, company.id)
        assert credit.exposure(company.id, locked=True) == expected
    assert kept(company) == expected


# --- units on backorder -----------------------------------------------------------------------------------


def kept_units(product) -> int | None:
    db.session.rollback()
    return db.session.scalar(select(ProductBackorders.units)
                             .where(ProductBackorders.product_id == product.id))


def test_placing_keeps_each_products_units_on_backorder():
    user, company = company_with_buyer()
    short = product("4.00", shelf=2)
    place(user, company, (short, 5))  # 2 ship, 3 wait: the first order found it unknown and summed it
    assert kept_units(short) == 3
    place(user, company, (short, 4), (product("1.00"), 1))
    assert kept_units(short) == 7
    assert stock_facts.backordered_open_by_product([short.id]) == {short.id: 7}


def test_a_cap_counts_against_the_kept_units():
    user, company = company_with_buyer()
    capped = make_product(price="2.00", policy="allow_up_to", cap=5)
    set_stock(capped, 0)
    place(user, company, (capped, 4))
    assert kept_units(capped) == 4
    with pytest.raises(ordering.CheckoutRejected) as refused:
        place(user, company, (capped, 2))
    assert "only 1 can be backordered" in str(refused.value.problems)
    assert kept_units(capped) == 4


def test_cancelling_backordered_units_marks_them_unknown_and_the_next_order_sums_again():
    user, company = company_with_buyer()
    short = product("4.00", shelf=0)
    order = place(user, company, (short, 5))
    line = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).one()
    backorders.cancel_and_settle(staff(), line.id, 2, "Fewer needed", TODAY)
    assert kept_units(short) is None
    assert stock_facts.backordered_open_by_product([short.id]) == {short.id: 3}  # summed, not stored (a read)
    assert kept_units(short) is None
    place(user, company, (short, 1))
    assert kept_units(short) == 4
