"""The JSON ordering API keeps the checkout's rules, on SQLite and PostgreSQL: goodwill is applied and
recorded with its rule, the credit limit and its exceptions hold, card-only accounts are refused, prices
are the company's, hidden backorders read as in stock unless late, the chosen address is the ship-to, the
buyer is told, backorders go onto draft POs when ``auto_add_backorders`` is on, an order placed on the
website reads the same through the API, and an Idempotency-Key belongs to one buyer and is spent only by
an order that was placed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import (
    AuditLog,
    Company,
    CreditException,
    GoodwillRule,
    Notification,
    Order,
    OrderLine,
    OutboxMessage,
    PoLineLink,
    PriceBreak,
    PriceList,
    PriceListItem,
    Product,
    ProductBackorders,
    PurchaseOrder,
    PurchaseOrderLine,
    User,
)
from portal.services import carts, credit, ordering, pricing, stock_facts
from portal.services import settings as settings_service
from tests.factories import make_address, make_company, make_product, make_user, make_vendor, set_stock
from tests.integration.test_api_orders import api_buyer, api_key, post_order
from tests.web.site import db_snapshot

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _frozen_today(any_app):
    """Every test runs on SQLite and PostgreSQL, on a fixed date (deadlines and ETAs are compared to it)."""
    any_app.config["TODAY"] = TODAY.isoformat()
    return any_app


@pytest.fixture
def client(any_app):
    return any_app.test_client()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def order_row(number: str) -> Order:
    db.session.rollback()
    return db.session.scalar(select(Order).where(Order.number == number))


def refused_without_writing(client, key: str, body: dict) -> list[dict]:
    before = db_snapshot()
    response = post_order(client, key, body)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["error"] == "The order was not placed."
    assert db_snapshot() == before, "a refused order wrote something"
    return response.json["problems"]


# --- goodwill ---------------------------------------------------------------------------------------------


def test_goodwill_rules_are_applied_answered_and_recorded_with_the_rule(client):
    with write_transaction() as session:
        late = GoodwillRule(name="5% off long waits", kind="percent_off_late_backorder", days=14,
                            percent=Decimal("5"))
        missed = GoodwillRule(name="Missed deadline credit", kind="credit_missed_deadline",
                              amount=Decimal("10.00"))
        session.add_all([late, missed])
    _, _, key = api_buyer()
    set_stock(make_product(sku="GW-1", policy="allow", price="20.00",
                           vendor=make_vendor(lead_time_days=30)), 0)

    response = post_order(client, key, {"lines": [
        {"sku": "GW-1", "quantity": 10, "need_by": day(7), "accept_late": True}]})

    assert response.status_code == 201, response.json
    body = response.json
    assert sorted(body["adjustments"], key=lambda a: a["description"]) == [
        {"sku": "GW-1", "description": "5% off long waits", "amount": "-10.00"},
        {"sku": "GW-1", "description": "Missed deadline credit", "amount": "-10.00"}]
    assert (body["subtotal"], body["adjustments_total"], body["total"]) == ("200.00", "-20.00", "180.00")
    order = order_row(body["number"])
    assert sorted((a.rule_id, a.kind, a.status, a.amount) for a in order.adjustments) == sorted([
        (late.id, "goodwill_rule", "approved", Decimal("-10.00")),
        (missed.id, "goodwill_rule", "approved", Decimal("-10.00"))])
    assert {a.order_line_id for a in order.adjustments} == {order.lines[0].id}
    assert (order.subtotal, order.adjustments_total, order.total) == (
        Decimal("200.00"), Decimal("-20.00"), Decimal("180.00"))
    read = client.get(f"/api/v1/orders/{body['number']}", headers={"Authorization": f"Bearer {key}"})
    assert read.json["adjustments"] == body["adjustments"] and read.json["total"] == "180.00"


# --- credit -------------------------------------------------------------------------------------------------


def test_an_order_over_the_credit_limit_is_refused_with_the_amount_over(client):
    _, _, key = api_buyer(credit_limit=Decimal("100.00"))
    set_stock(make_product(sku="CR-1", price="60.00"), 10)
    assert post_order(client, key, {"lines": [{"sku": "CR-1", "quantity": 1}]}).status_code == 201

    problems = refused_without_writing(client, key, {"lines": [{"sku": "CR-1", "quantity": 1}]})

    assert problems == [{"line": None, "sku": None, "message": (
        "This order is $20.00 over your credit limit of $100.00 ($60.00 is already on account). Pay by "
        "card, or ask your sales rep to approve a credit exception.")}]


def test_a_credit_exception_lets_one_order_over_and_is_marked_used_by_it(client):
    _, company, key = api_buyer(credit_limit=Decimal("100.00"))
    rep = make_user("sales_rep", password=None)
    credit.grant_exception(rep, company.id, Decimal("25.00"), "Seasonal stock-up, agreed by phone")
    set_stock(make_product(sku="CR-2", price="60.00"), 10)

    placed = post_order(client, key, {"lines": [{"sku": "CR-2", "quantity": 2}]})  # 20.00 over

    assert placed.status_code == 201, placed.json
    order = order_row(placed.json["number"])
    assert db.session.scalar(select(CreditException.used_by_order_id)) == order.id
    assert db.session.scalar(select(func.count(AuditLog.id))
                             .where(AuditLog.action == "credit_exception_used")) == 1
    spent = refused_without_writing(client, key, {"lines": [{"sku": "CR-2", "quantity": 1}]})
    assert "over your credit limit" in spent[0]["message"]


def test_an_account_that_pays_by_card_cannot_order_through_the_api(client):
    _, _, key = api_buyer(payment_terms="card_only")
    set_stock(make_product(sku="CARD-1", price="1.00"), 10)
    problems = refused_without_writing(client, key, {"lines": [{"sku": "CARD-1", "quantity": 1}]})
    assert [p["message"] for p in problems] == [
        "Your account pays by card, and the API places orders on account only: order on the website, or "
        "ask your sales rep about terms."]


# --- prices ----------------------------------------------------------------------------------------------


def test_prices_are_the_companys_list_fixed_and_quantity_break_prices(client):
    with write_transaction() as session:
        gold = PriceList(name="Gold", discount_percent=Decimal("10"))
        session.add(gold)
    _, _, key = api_buyer(price_list_id=gold.id)
    listed, fixed, broken = (make_product(sku=sku, price="10.00")
                             for sku in ("PR-LIST", "PR-FIXED", "PR-BREAK"))
    for product in (listed, fixed, broken):
        set_stock(product, 100)
    make_product(sku="PR-NOSTOCK", price="10.00", policy="allow")  # no stock row at all
    with write_transaction() as session:
        session.add(PriceListItem(price_list_id=gold.id, product_id=fixed.id, price=Decimal("7.00")))
        session.add(PriceBreak(product_id=broken.id, min_quantity=10, percent_off=Decimal("5")))

    response = post_order(client, key, {"lines": [
        {"sku": "PR-LIST", "quantity": 1}, {"sku": "PR-FIXED", "quantity": 1},
        {"sku": "PR-BREAK", "quantity": 10}, {"sku": "PR-NOSTOCK", "quantity": 2}]})

    assert response.status_code == 201, response.json
    by_sku = {line["sku"]: line for line in response.json["lines"]}
    assert {sku: (line["unit_price"], line["line_total"]) for sku, line in by_sku.items()} == {
        "PR-LIST": ("9.00", "9.00"), "PR-FIXED": ("7.00", "7.00"), "PR-BREAK": ("8.55", "85.50"),
        "PR-NOSTOCK": ("9.00", "18.00")}
    assert (by_sku["PR-NOSTOCK"]["ships_now"], by_sku["PR-NOSTOCK"]["backordered"]) == (0, 2)
    assert response.json["subtotal"] == response.json["total"] == "119.50"


# --- lines: hidden backorders, deadlines, case packs ------------------------------------------------------


def hidden_product(sku: str):
    product = make_product(sku=sku, policy="allow", backorder_visibility="hide",
                           vendor=make_vendor(lead_time_days=10))
    set_stock(product, 3)
    return product


def test_a_hidden_backorder_reads_as_in_stock_and_the_order_keeps_the_truth(client):
    _, _, key = api_buyer()
    hidden_product("HID-1")

    response = post_order(client, key, {"lines": [{"sku": "HID-1", "quantity": 5}]})

    assert response.status_code == 201, response.json
    (shown,) = response.json["lines"]
    assert (shown["ships_now"], shown["backordered"], shown["eta"], shown["eta_estimated"],
            shown["late"]) == (5, 0, None, False, False)
    line = db.session.scalar(select(OrderLine))
    assert (line.allocated, line.backordered, line.backorder_hidden, line.eta) == (
        3, 2, True, TODAY + timedelta(days=10))
    read = client.get(f"/api/v1/orders/{response.json['number']}", headers={"Authorization": f"Bearer {key}"})
    assert read.json["lines"] == response.json["lines"]


def test_a_late_hidden_backorder_is_told_as_it_is(client):
    _, _, key = api_buyer()
    hidden_product("HID-2")
    body = {"lines": [{"sku": "HID-2", "quantity": 5, "need_by": day(5)}]}

    problems = refused_without_writing(client, key, body)
    assert problems[0]["line"] == 1 and f"after its need-by date {day(5)}" in problems[0]["message"]

    body["lines"][0]["accept_late"] = True
    response = post_order(client, key, body)
    assert response.status_code == 201, response.json
    (shown,) = response.json["lines"]
    assert (shown["ships_now"], shown["backordered"], shown["eta"], shown["late"], shown["need_by"]) == (
        3, 2, day(10), True, day(5))


def test_the_orders_need_by_applies_to_lines_without_their_own(client):
    _, _, key = api_buyer()
    set_stock(make_product(sku="DL-1", policy="allow", vendor=make_vendor(lead_time_days=30)), 0)
    set_stock(make_product(sku="DL-2"), 10)
    body = {"need_by": day(5), "lines": [{"sku": "DL-2", "quantity": 1}, {"sku": "DL-1", "quantity": 2}]}

    problems = refused_without_writing(client, key, body)
    assert [(p["line"], p["sku"]) for p in problems] == [(2, "DL-1")]
    assert "accept_late" in problems[0]["message"]

    body["lines"][1]["need_by"] = day(40)
    placed = post_order(client, key, body)
    assert placed.status_code == 201, placed.json
    by_sku = {line["sku"]: line for line in placed.json["lines"]}
    assert (by_sku["DL-1"]["need_by"], by_sku["DL-1"]["late"], by_sku["DL-2"]["need_by"]) == (
        day(40), False, day(5))
    assert placed.json["need_by"] == day(5)


def test_every_rule_a_line_breaks_is_reported_with_its_line(client):
    _, _, key = api_buyer()
    set_stock(make_product(sku="PACK-6", order_multiple=6), 100)
    set_stock(make_product(sku="MIN-10", order_minimum=10), 100)
    set_stock(make_product(sku="OK-1"), 100)
    problems = refused_without_writing(client, key, {"lines": [
        {"sku": "OK-1", "quantity": 1}, {"sku": "PACK-6", "quantity": 4}, {"sku": "MIN-10", "quantity": 3}]})
    assert [(p["line"], p["sku"]) for p in problems] == [(2, "PACK-6"), (3, "MIN-10")]
    assert "minimum order is 10" in problems[1]["message"]


# --- ship-to, order fields, the buyer told ------------------------------------------------------------------


def test_the_chosen_address_is_the_ship_to_and_the_default_otherwise(client):
    _, company, key = api_buyer()
    yard = make_address(company, label="Yard", line1="2 Side St", city="Town", postal_code="11111")
    set_stock(make_product(sku="ADDR-1"), 10)

    chosen = post_order(client, key, {"lines": [{"sku": "ADDR-1", "quantity": 1}],
                                      "ship_to_address_id": yard.id, "shipping_preference": "ship_complete",
                                      "po_reference": "  PO 9  "})
    default = post_order(client, key, {"lines": [{"sku": "ADDR-1", "quantity": 1}]})

    assert chosen.json["ship_to"] == "Yard: 2 Side St, Town, 11111, US"
    assert default.json["ship_to"] == "Main: 1 Main St, Springfield, 12345, US"
    order = order_row(chosen.json["number"])
    assert (order.ship_to_text, order.shipping_preference, order.po_reference, order.payment_method) == (
        "Yard: 2 Side St, Town, 11111, US", "ship_complete", "PO 9", "on_account")
    assert (chosen.json["shipping_preference"], default.json["shipping_preference"]) == (
        "ship_complete", "ship_partial")


def test_the_default_address_is_the_one_marked_default_not_the_first(client):
    user = make_user(company=(company := make_company()), password=None)
    make_address(company, label="Office", is_default_shipping=False)
    make_address(company, label="Dock", line1="9 Quay", city="Port", postal_code="22222",
                 is_default_shipping=True)
    set_stock(make_product(sku="ADDR-4"), 10)
    placed = post_order(client, api_key(user), {"lines": [{"sku": "ADDR-4", "quantity": 1}]})
    assert placed.json["ship_to"] == "Dock: 9 Quay, Port, 22222, US"


def test_an_address_of_another_company_is_refused_even_its_default_one(client):
    _, _, key = api_buyer()
    theirs = make_address(make_company(), label="Theirs", is_default_shipping=True)
    set_stock(make_product(sku="ADDR-3"), 10)
    problems = refused_without_writing(client, key, {"lines": [{"sku": "ADDR-3", "quantity": 1}],
                                                     "ship_to_address_id": theirs.id})
    assert [p["message"] for p in problems] == ["ship_to_address_id is not one of your addresses."]


def test_a_company_without_an_address_is_told_to_add_one(client):
    user = make_user(company=make_company(), password=None)
    key = api_key(user)
    set_stock(make_product(sku="ADDR-2"), 10)
    problems = refused_without_writing(client, key, {"lines": [{"sku": "ADDR-2", "quantity": 1}]})
    assert [p["message"] for p in problems] == [
        "Your company has no shipping address: add one under My company."]


def test_the_buyer_gets_the_confirmation_email_and_notice(client):
    buyer, company, key = api_buyer()
    colleague = make_user(company=company, password=None)
    set_stock(make_product(sku="TELL-1", price="4.00"), 10)

    number = post_order(client, key, {"lines": [{"sku": "TELL-1", "quantity": 3}]}).json["number"]

    db.session.rollback()
    (message,) = db.session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "order_confirmed"))
    assert (message.recipient_user_id, message.recipient_email, message.status) == (
        buyer.id, buyer.email, "pending")
    payload = json.loads(message.payload)
    assert (payload["order_number"], payload["total"], payload["placed_by"]) == (number, "12.00", buyer.name)
    assert [(line["sku"], line["quantity"]) for line in payload["lines"]] == [("TELL-1", 3)]
    (notice,) = db.session.scalars(select(Notification))
    assert (notice.user_id, notice.topic, notice.title) == (buyer.id, "order_confirmed",
                                                           f"Order {number} confirmed")
    assert colleague.id not in {message.recipient_user_id, notice.user_id}


# --- back office ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", [True, False, None], ids=["on", "off", "never-set"])
def test_a_backorder_goes_onto_its_vendors_draft_po_only_with_auto_add_backorders_on(client, setting):
    if setting is not None:
        limit = settings_service.default_goodwill_limit()
        settings_service.update_settings(make_user("admin", password=None), "order_date", setting, limit)
    _, _, key = api_buyer()
    vendor = make_vendor(pack_size=5)
    set_stock(make_product(sku="AUTO-1", policy="allow", vendor=vendor), 1)

    placed = post_order(client, key, {"lines": [{"sku": "AUTO-1", "quantity": 4}]})

    assert placed.status_code == 201 and placed.json["lines"][0]["backordered"] == 3
    db.session.rollback()
    drafts = list(db.session.scalars(select(PurchaseOrder).where(PurchaseOrder.vendor_id == vendor.id)))
    linked = list(db.session.scalars(select(PoLineLink.quantity)))
    if setting:
        assert [(po.status, [ln.quantity_ordered for ln in po.lines]) for po in drafts] == [("draft", [5])]
        assert linked == [3]
    else:
        assert (drafts, linked) == ([], [])


# --- idempotency ------------------------------------------------------------------------------------------


def test_a_refused_request_does_not_spend_its_idempotency_key(client):
    _, _, key = api_buyer()
    set_stock(make_product(sku="RETRY-1"), 2)
    first = post_order(client, key, {"lines": [{"sku": "RETRY-1", "quantity": 3}]}, "erp-order-7")
    again = post_order(client, key, {"lines": [{"sku": "RETRY-1", "quantity": 2}]}, "erp-order-7")
    assert (first.status_code, again.status_code) == (422, 201)
    assert again.json["lines"][0]["quantity"] == 2


def test_a_repeated_key_returns_the_first_order_whatever_the_second_body_says(client):
    _, _, key = api_buyer()
    set_stock(make_product(sku="SAME-1"), 10)
    first = post_order(client, key, {"lines": [{"sku": "SAME-1", "quantity": 1}]}, "erp-1")
    second = post_order(client, key, {"lines": [{"sku": "SAME-1", "quantity": 5}]}, "erp-1")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json == first.json and second.json["lines"][0]["quantity"] == 1
    assert second.headers["Location"] == first.headers["Location"]
    db.session.rollback()
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 1


def test_a_repeat_finds_its_order_even_when_the_order_could_not_be_placed_now(client):
    """The fast path claims the key only once its plan holds; a repeat whose stock has gone since (and
    would now be refused) goes the careful way, which claims first, and gets the first order."""
    _, _, key = api_buyer()
    set_stock(make_product(sku="GONE-1", policy="block"), 2)
    first = post_order(client, key, {"lines": [{"sku": "GONE-1", "quantity": 2}]}, "erp-gone")
    again = post_order(client, key, {"lines": [{"sku": "GONE-1", "quantity": 2}]}, "erp-gone")
    fresh = post_order(client, key, {"lines": [{"sku": "GONE-1", "quantity": 2}]}, "erp-other")
    assert (first.status_code, again.status_code, fresh.status_code) == (201, 200, 422)
    assert again.json == first.json
    db.session.rollback()
    (order,) = db.session.scalars(select(Order))
    assert first.json["number"] == order.number == f"SO-{order.id:05d}"  # numbered as the checkout does


def test_the_same_idempotency_key_of_two_buyers_makes_two_orders(client):
    _, company, key = api_buyer()
    colleague_key = api_key(make_user(company=company, password=None))
    _, _, stranger_key = api_buyer()
    set_stock(make_product(sku="TWO-1"), 10)
    numbers = {post_order(client, k, {"lines": [{"sku": "TWO-1", "quantity": 1}]}, "order-1").json["number"]
               for k in (key, colleague_key, stranger_key)}
    assert len(numbers) == 3
    db.session.rollback()
    assert db.session.scalar(select(func.sum(OrderLine.allocated))) == 3


def test_an_order_placed_on_the_website_reads_through_the_api(client):
    user, company, key = api_buyer()
    with write_transaction() as session:
        session.add(GoodwillRule(name="5% off long waits", kind="percent_off_late_backorder", days=14,
                                 percent=Decimal("5")))
    product = make_product(sku="WEB-1", policy="allow", price="20.00", vendor=make_vendor(lead_time_days=30))
    set_stock(product, 4)
    carts.add_items(user.id, company.id, [(product.id, 10)])
    db.session.rollback()
    me, mine = db.session.get(User, user.id), db.session.get(Company, company.id)
    review = ordering.review_cart(me, mine, TODAY)
    order = ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)

    read = client.get(f"/api/v1/orders/{order.number}", headers={"Authorization": f"Bearer {key}"})

    assert read.status_code == 200, read.json
    (shown,) = read.json["lines"]
    assert (shown["sku"], shown["quantity"], shown["ships_now"], shown["backordered"], shown["eta"]) == (
        "WEB-1", 10, 4, 6, day(30))
    assert read.json["adjustments"] == [
        {"sku": "WEB-1", "description": "5% off long waits", "amount": "-6.00"}]
    assert (read.json["subtotal"], read.json["total"]) == ("200.00", "194.00")


def test_goodwill_rules_read_as_json_with_the_key_are_the_rules_to_the_cent():
    """The API reads the active rules as one JSON column of its key statement (``ActiveRulesJson``):
    the same rules, in the same order, with the same Decimals as the checkout's own query."""
    with write_transaction() as session:
        session.add_all([
            GoodwillRule(name="Cents", kind="credit_missed_deadline", amount=Decimal("10.10"), active=True),
            GoodwillRule(name="Off", kind="percent_off_late_backorder", days=3, percent=Decimal("2.50"),
                         active=False),
            GoodwillRule(name="Half", kind="percent_off_late_backorder", days=14, percent=Decimal("2.50"),
                         active=True),
            GoodwillRule(name="Whole", kind="credit_missed_deadline", amount=Decimal("7"), active=True)])
    db.session.rollback()
    from_json = ordering.goodwill_rules_from(db.session.scalar(select(ordering.ActiveRulesJson())))
    assert from_json == ordering.goodwill_rules()
    assert [(r.name, r.percent, r.amount) for r in from_json] == [
        ("Cents", None, Decimal("10.10")), ("Half", Decimal("2.50"), None), ("Whole", None, Decimal("7.00"))]
    assert [str(r.amount) for r in from_json if r.amount] == ["10.10", "7.00"]


def test_price_breaks_read_as_json_with_the_products_are_the_breaks_to_the_hundredth():
    """The API reads each product's breaks as a JSON column of its product statement (``BreaksJson``):
    the same breaks as the checkout's query, in quantity order."""
    product = make_product(sku="BRK-1")
    plain = make_product(sku="BRK-0")
    with write_transaction() as session:
        session.add_all([PriceBreak(product_id=product.id, min_quantity=50, percent_off=Decimal("12.50")),
                         PriceBreak(product_id=product.id, min_quantity=10, percent_off=Decimal("5"))])
    db.session.rollback()
    rows = dict(db.session.execute(select(Product.id, pricing.BreaksJson(Product.id))
                                   .where(Product.id.in_([product.id, plain.id]))).all())
    found = {product_id: pricing.breaks_from(text) for product_id, text in rows.items()}
    expected = pricing.PriceBook(None).breaks([product.id, plain.id])
    assert found == {product.id: sorted(expected[product.id], key=lambda b: b.min_quantity), plain.id: []}
    assert [str(b.percent_off) for b in found[product.id]] == ["5.00", "12.50"]


def test_open_po_lines_read_as_json_with_the_products_are_the_lines_the_eta_counts():
    """The API reads each product's open PO lines as a JSON column of its product statement
    (``OpenPoLinesJson``): the same lines as ``open_po_lines_by_product`` — a line without a confirmed
    date counts from the PO's sending day (or today, never sent) — and none of drafts or received lines."""
    product, other, plain = make_product(sku="POJ-1"), make_product(sku="POJ-2"), make_product(sku="POJ-0")
    sent_at = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    with write_transaction() as session:
        pos = [PurchaseOrder(number=f"PO-J{n}", vendor_id=product.vendor_id, status=status, sent_at=at)
               for n, (status, at) in enumerate([("sent", sent_at), ("partially_received", None),
                                                 ("draft", None), ("received", sent_at)])]
        session.add_all(pos)
        session.flush()
        session.add_all([
            PurchaseOrderLine(purchase_order_id=pos[0].id, product_id=product.id, quantity_ordered=9,
                              expected_date=TODAY + timedelta(days=5)),
            PurchaseOrderLine(purchase_order_id=pos[0].id, product_id=other.id, quantity_ordered=4),
            PurchaseOrderLine(purchase_order_id=pos[1].id, product_id=product.id, quantity_ordered=6,
                              quantity_received=2),
            PurchaseOrderLine(purchase_order_id=pos[1].id, product_id=other.id, quantity_ordered=3,
                              quantity_received=3),
            PurchaseOrderLine(purchase_order_id=pos[2].id, product_id=product.id, quantity_ordered=7),
            PurchaseOrderLine(purchase_order_id=pos[3].id, product_id=other.id, quantity_ordered=8)])
    db.session.rollback()
    ids = [product.id, other.id, plain.id]
    rows = dict(db.session.execute(select(Product.id, stock_facts.OpenPoLinesJson(Product.id))
                                   .where(Product.id.in_(ids))).all())
    found = {product_id: sorted(stock_facts.open_po_lines_from(text, TODAY), key=lambda line: line.po_line_id)
             for product_id, text in rows.items()}
    expected = stock_facts.open_po_lines_by_product(ids, TODAY)
    assert found == {product_id: sorted(expected.get(product_id, []), key=lambda line: line.po_line_id)
                     for product_id in ids}
    assert [(line.expected_date, line.open_quantity) for line in found[product.id]] == [
        (TODAY + timedelta(days=5), 9), (TODAY + timedelta(days=14), 4)]
    assert [(line.expected_date, line.open_quantity) for line in found[other.id]] == [
        (date(2026, 12, 4), 4)]  # sent on 20 November (UTC), plus 14 days
    assert found[plain.id] == []


def test_a_cap_counts_backorders_whose_kept_total_is_unknown(client):
    """The products statement reads kept units on backorder; where the total is unknown (no row yet, or
    marked unknown), the plan reads the order lines' sum instead — the cap still counts every unit."""
    _, _, key = api_buyer()
    product = make_product(sku="CAP-U", policy="allow_up_to", cap=5)
    set_stock(product, 0)
    assert post_order(client, key, {"lines": [{"sku": "CAP-U", "quantity": 4}]}).status_code == 201
    with write_transaction() as session:
        session.execute(delete(ProductBackorders).where(ProductBackorders.product_id == product.id))

    problems = refused_without_writing(client, key, {"lines": [{"sku": "CAP-U", "quantity": 2}]})

    assert [p["sku"] for p in problems] == ["CAP-U"], problems
    placed = post_order(client, key, {"lines": [{"sku": "CAP-U", "quantity": 1}]})
    assert placed.status_code == 201, placed.json
    assert placed.json["lines"][0]["backordered"] == 1
