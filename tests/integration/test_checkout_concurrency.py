"""Many buyers at once (DESIGN §6): no oversell, caps hold, no deadlocks, one order per token.

Each buyer reviews the cart, waits at a barrier with all the others, then places the order. A buyer
whose review went stale (someone else took the stock) reviews again and retries, as a person would.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Company, Order, OrderLine, Stock, User
from portal.services import carts, ordering
from tests.factories import make_address, make_company, make_product, make_user, set_stock
from tests.invariants import assert_invariants

TODAY = date(2026, 11, 23)
BUYERS = 50


def make_buyers(count: int) -> list[tuple[int, int]]:
    pairs = []
    for _ in range(max(count // 10, 1)):
        company = make_company(f"Buyer Co {uuid.uuid4().hex[:8]}")
        make_address(company, is_default_shipping=True)
        for _ in range(10 if count >= 10 else count):
            user = make_user(company=company, email=f"{uuid.uuid4().hex[:10]}@example.com", password=None)
            pairs.append((user.id, company.id))
    return pairs[:count]


def run_together(app, pairs, token_for=lambda i: uuid.uuid4().hex) -> list[tuple[str, object]]:
    barrier = threading.Barrier(len(pairs))
    results: list[tuple[str, object]] = [("not run", None)] * len(pairs)

    def buyer(index: int, user_id: int, company_id: int) -> None:
        with app.app_context():
            try:
                user, company = db.session.get(User, user_id), db.session.get(Company, company_id)
                review = ordering.review_cart(user, company, TODAY)
                db.session.rollback()
                barrier.wait()
                results[index] = _place_with_retries(user_id, company_id, review, token_for(index))
            except Exception as exc:  # noqa: BLE001 - every failure is reported by the assertions
                results[index] = ("error", repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=buyer, args=(i, u, c)) for i, (u, c) in enumerate(pairs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _place_with_retries(user_id: int, company_id: int, review, token: str) -> tuple[str, object]:
    for _ in range(BUYERS + 5):
        try:
            order = ordering.place_order(db.session.get(User, user_id), company_id, token, review.fingerprint,
                                         TODAY)
            return ("ordered", order.id)
        except ordering.ReviewOutdated:
            db.session.rollback()
            review = ordering.review_cart(db.session.get(User, user_id), db.session.get(Company, company_id),
                                          TODAY)
            db.session.rollback()
        except ordering.CheckoutRejected as exc:
            return ("rejected", str(exc))
    return ("gave up", None)


def outcomes(results) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind, _ in results:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def one_unit_each(policy: str, cap: int | None = None):
    product = make_product(sku="HOT", policy=policy, cap=cap)
    set_stock(product, 10)
    pairs = make_buyers(BUYERS)
    for user_id, company_id in pairs:
        carts.add_items(user_id, company_id, [(product.id, 1)])
    return product, pairs


def totals(product_id: int) -> tuple[int, int, int]:
    db.session.rollback()
    allocated = db.session.scalar(select(func.sum(OrderLine.allocated))
                                  .where(OrderLine.product_id == product_id))
    backordered = db.session.scalar(select(func.sum(OrderLine.backordered))
                                    .where(OrderLine.product_id == product_id))
    stock = db.session.scalar(select(Stock).where(Stock.product_id == product_id))
    return allocated or 0, backordered or 0, stock.on_hand - stock.allocated


@pytest.mark.parametrize(("policy", "cap", "orders", "backordered"), [
    ("block", None, 10, 0),
    ("allow", None, 50, 40),
    ("allow_up_to", 15, 25, 15),
])
def test_fifty_buyers_against_ten_units(any_app, policy, cap, orders, backordered):
    product, pairs = one_unit_each(policy, cap)
    results = run_together(any_app, pairs)
    counts = outcomes(results)
    assert counts.get("ordered") == orders, results
    assert counts.get("rejected", 0) == BUYERS - orders, results
    for kind, detail in results:
        if kind == "rejected":
            assert "Only" in str(detail) or "only" in str(detail), detail
    assert totals(product.id) == (10, backordered, 0)
    assert db.session.scalar(select(func.count(Order.id))) == orders
    assert_invariants()


def test_multi_product_carts_in_random_order_do_not_deadlock(any_app):
    rng = random.Random(7)
    products = [make_product(sku=f"MP-{i}", policy="allow") for i in range(8)]
    for product in products:
        set_stock(product, rng.randint(0, 20))
    pairs = make_buyers(30)
    for user_id, company_id in pairs:
        chosen = rng.sample(products, rng.randint(2, 5))
        rng.shuffle(chosen)
        carts.add_items(user_id, company_id, [(p.id, rng.randint(1, 4)) for p in chosen])
    results = run_together(any_app, pairs)
    assert outcomes(results) == {"ordered": 30}, results
    assert_invariants()


def test_twenty_submits_of_one_token_make_one_order(any_app):
    product = make_product()
    set_stock(product, 100)
    (user_id, company_id), = make_buyers(1)
    carts.add_items(user_id, company_id, [(product.id, 3)])
    results = run_together(any_app, [(user_id, company_id)] * 20, token_for=lambda i: "same-token")
    kinds = {kind for kind, _ in results}
    assert kinds == {"ordered"}, results
    assert len({order_id for _, order_id in results}) == 1
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert totals(product.id) == (3, 0, 97)
    assert_invariants()


def test_adding_to_carts_while_others_place_orders_does_not_deadlock(any_app):
    """Cart inserts take key-share locks on products (foreign keys) while orders lock the same products.

    The checkout benchmark saw DeadlockDetected under several gunicorn workers; this test has not
    reproduced it (it passes with plain FOR UPDATE too), so it guards the mix, not the exact cause."""
    products = [make_product(sku=f"DL-{i}", policy="allow") for i in range(3)]
    for product in products:
        set_stock(product, 50)
    placers, adders = make_buyers(10), make_buyers(10)
    for user_id, company_id in placers:
        carts.add_items(user_id, company_id, [(p.id, 1) for p in products])
    ids = [p.id for p in reversed(products)]
    errors: list[str] = []
    barrier = threading.Barrier(len(adders))

    def add(user_id: int, company_id: int) -> None:
        with any_app.app_context():
            try:
                barrier.wait()
                for _ in range(5):
                    carts.add_items(user_id, company_id, [(pid, 1) for pid in ids])
            except Exception as exc:  # noqa: BLE001 - reported by the assertion
                errors.append(repr(exc))
            finally:
                db.session.remove()

    adding = [threading.Thread(target=add, args=pair) for pair in adders]
    for thread in adding:
        thread.start()
    results = run_together(any_app, placers)
    for thread in adding:
        thread.join(timeout=120)
    assert errors == []
    assert outcomes(results) == {"ordered": 10}, results


@pytest.mark.parametrize("any_app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_concurrent_claims_of_one_token_never_deadlock(any_app):
    """Submits of one token race to insert the order row; "on conflict do nothing" arbitrates on the
    token. A placeholder number derived from the token was a second unique value they all shared, and
    PostgreSQL then deadlocked two inserts now and then (1 run in 4 of the twenty-submit test). Many
    rounds of eight claims at once, each claim held open a moment: one row per token, no error."""
    (user_id, company_id), = make_buyers(1)
    rounds, claims = 40, 8
    errors: list[str] = []
    created: list[int] = []

    def claim(barrier: threading.Barrier, token: str) -> None:
        with any_app.app_context():
            try:
                barrier.wait()
                with write_transaction() as session:
                    order_id, _ = ordering._claim_token(session, db.session.get(User, user_id), company_id,
                                                        token)
                    if order_id is not None:
                        created.append(order_id)
                        time.sleep(0.01)  # the winner holds its row while the others wait on it
            except Exception as exc:  # noqa: BLE001 - reported by the assertion
                errors.append(repr(exc))
            finally:
                db.session.remove()

    for _ in range(rounds):
        barrier, token = threading.Barrier(claims), uuid.uuid4().hex
        threads = [threading.Thread(target=claim, args=(barrier, token)) for _ in range(claims)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert len(created) == rounds
