"""The JSON ordering API (portal/api): one request places an order with the checkout's rules."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.clock import today
from portal.database import write_transaction
from portal.extensions import db
from portal.models import ApiKey, Order, OrderLine, OutboxMessage
from portal.services.api_keys import KEY_PREFIX, hash_key
from tests.factories import make_address, make_company, make_product, make_user, make_vendor, set_stock


def api_key(user) -> str:
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    with write_transaction() as session:
        session.add(ApiKey(user_id=user.id, name="test", prefix=raw[:12], key_hash=hash_key(raw)))
    return raw


def api_buyer(**company):
    company = make_company(**company)
    make_address(company, is_default_shipping=True)
    user = make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com", password=None)
    return user, company, api_key(user)


def post_order(client, key: str, body: dict, idempotency_key: str | None = None):
    return client.post("/api/v1/orders", json=body, headers={
        "Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key or uuid.uuid4().hex})


def test_an_order_ships_what_is_in_stock_and_backorders_the_rest(any_app):
    client = any_app.test_client()
    _, _, key = api_buyer()
    in_stock = make_product(sku="API-IN", price="10.00")
    partly = make_product(sku="API-PART", policy="allow", price="5.00",
                          vendor=make_vendor(lead_time_days=10))
    set_stock(in_stock, 50)
    set_stock(partly, 3)
    response = post_order(client, key, {"lines": [{"sku": "api-in", "quantity": 4},
                                                   {"sku": "API-PART", "quantity": 5}],
                                        "po_reference": "ERP-1"})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["number"].startswith("SO-") and response.headers["Location"].endswith(body["number"])
    by_sku = {line["sku"]: line for line in body["lines"]}
    assert (by_sku["API-IN"]["ships_now"], by_sku["API-IN"]["backordered"]) == (4, 0)
    assert (by_sku["API-PART"]["ships_now"], by_sku["API-PART"]["backordered"]) == (3, 2)
    with any_app.app_context():
        eta = date.fromisoformat(by_sku["API-PART"]["eta"])
        assert eta == today() + timedelta(days=10)
    assert (body["subtotal"], body["total"], body["po_reference"]) == ("65.00", "65.00", "ERP-1")
    db.session.rollback()
    assert db.session.scalar(select(func.count(OutboxMessage.id))
                             .where(OutboxMessage.topic == "order_confirmed")) == 1
    again = client.get(f"/api/v1/orders/{body['number']}", headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 200 and again.json["lines"] == body["lines"]


def test_the_same_idempotency_key_returns_the_same_order(any_app):
    client = any_app.test_client()
    _, _, key = api_buyer()
    set_stock(make_product(sku="API-ONCE"), 10)
    first = post_order(client, key, {"lines": [{"sku": "API-ONCE", "quantity": 1}]}, "erp-42")
    second = post_order(client, key, {"lines": [{"sku": "API-ONCE", "quantity": 1}]}, "erp-42")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json["number"] == second.json["number"]
    db.session.rollback()
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert db.session.scalar(select(func.sum(OrderLine.allocated))) == 1


def test_every_problem_is_reported_and_nothing_is_written(any_app):
    client = any_app.test_client()
    _, _, key = api_buyer()
    set_stock(make_product(sku="API-BLOCK"), 2)
    response = post_order(client, key, {"lines": [{"sku": "NOPE", "quantity": 1},
                                                   {"sku": "API-BLOCK", "quantity": 3}]})
    assert response.status_code == 422, response.json
    messages = [(p["line"], p["message"]) for p in response.json["problems"]]
    assert messages[0][0] == 1 and "Unknown SKU" in messages[0][1]
    assert messages[1][0] == 2 and "Only 2 in stock" in messages[1][1]
    db.session.rollback()
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_a_late_line_needs_accept_late(any_app):
    client = any_app.test_client()
    _, _, key = api_buyer()
    set_stock(make_product(sku="API-LATE", policy="allow", vendor=make_vendor(lead_time_days=30)), 0)
    with any_app.app_context():
        need_by = (today() + timedelta(days=5)).isoformat()
    refused = post_order(client, key, {"lines": [{"sku": "API-LATE", "quantity": 2, "need_by": need_by}]})
    assert refused.status_code == 422 and "accept_late" in refused.json["problems"][0]["message"]
    placed = post_order(client, key, {"lines": [{"sku": "API-LATE", "quantity": 2, "need_by": need_by,
                                                 "accept_late": True}]})
    assert placed.status_code == 201 and placed.json["lines"][0]["late"] is True


def test_a_missing_or_revoked_key_is_refused(any_app):
    client = any_app.test_client()
    assert client.post("/api/v1/orders", json={"lines": []}).status_code == 401
    bad = post_order(client, KEY_PREFIX + "x" * 43, {"lines": [{"sku": "A", "quantity": 1}]})
    assert bad.status_code == 401 and bad.headers["WWW-Authenticate"].startswith("Bearer")
    assert bad.json["error"]


# PostgreSQL only: on SQLite, BEGIN IMMEDIATE serialises the whole order, so nothing can move meanwhile.
@pytest.mark.parametrize("any_app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_an_order_planned_before_the_locks_is_planned_again_when_stock_moved_meanwhile(any_app, monkeypatch):
    """The optimistic path writes the order before locking the hot rows; when another order takes the
    stock in between, the plan under the locks differs and the order is planned again under them."""
    import threading

    from portal.services import api_orders

    client = any_app.test_client()
    _, _, mine = api_buyer()
    _, _, theirs = api_buyer()
    set_stock(make_product(sku="API-RACE", policy="allow", vendor=make_vendor(lead_time_days=9)), 3)
    real_lock, attempts = api_orders._lock_stock, []

    def lock_after_someone_else_ordered(conn, ids):
        attempts.append(ids)
        if len(attempts) == 1:  # between our optimistic plan and our locks, another buyer takes all 3
            other = threading.Thread(target=lambda: attempts.append(
                post_order(any_app.test_client(), theirs, {"lines": [{"sku": "API-RACE", "quantity": 3}]})
                .status_code))
            other.start()
            other.join(timeout=30)
        return real_lock(conn, ids)

    monkeypatch.setattr(api_orders, "_lock_stock", lock_after_someone_else_ordered)
    response = post_order(client, mine, {"lines": [{"sku": "API-RACE", "quantity": 3}]})
    assert response.status_code == 201, response.json
    line = response.json["lines"][0]
    assert (line["ships_now"], line["backordered"]) == (0, 3)  # the other order got the shelf
    assert 201 in attempts
    db.session.rollback()
    assert db.session.scalar(select(func.count(Order.id))) == 2
