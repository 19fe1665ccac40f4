"""A buyer swaps a late backorder to an alternative on a placed order (issue 7): the order page offers
the late line's alternatives that ship the whole quantity now, priced for the company; one click cancels
the units on backorder and adds the alternative, set aside from stock. Bad input (a line that is not
late, shipped or cancelled; a product that is not an offered alternative or is short; another quantity;
a stale or replayed choice; a changed price; over the credit limit) is told plainly and changes nothing.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import (
    AuditLog,
    Company,
    Order,
    OrderEvent,
    OrderLine,
    PoLineLink,
    PriceBreak,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Stock,
)
from portal.services import alternatives as alternatives_service
from tests.conftest import post_form
from tests.factories import make_category, make_product, make_user, make_vendor, set_stock
from tests.invariants import assert_invariants
from tests.web.orders import TODAY, place_order
from tests.web.shopping import words_of
from tests.web.site import db_snapshot

_FORM = re.compile(r'<form method="post" action="([^"]*/swap)">(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class Late:
    def __init__(self, number: str, line_id: int, late: Product, ready: Product, short: Product,
                 stranger: Product):
        self.number, self.line_id = number, line_id
        self.late, self.ready, self.short, self.stranger = late, ready, short, stranger

    @property
    def url(self) -> str:
        return f"/account/orders/{self.number}/lines/{self.line_id}/swap"


@pytest.fixture
def late(world) -> Late:
    """Buyer A ordered 5 × LATE-1 (1 on the shelf, 4 on backorder, linked to a sent PO) needed in 3
    days; the PO's date slipped past it. Curated alternatives: ALT-SHORT (2 in stock) and ALT-READY (50
    in stock, 8.00, 10 % off from 4 units); STRANGER is in stock but no alternative."""
    admin = make_user("admin")
    category = make_category("Widgets")
    vendor = make_vendor(lead_time_days=20)
    late_product = make_product(sku="LATE-1", name="Late widget", policy="allow", price="10.00",
                                category=category, vendor=vendor)
    short = make_product(sku="ALT-SHORT", name="Short widget", price="9.00", category=category)
    ready = make_product(sku="ALT-READY", name="Ready widget", price="8.00", category=category)
    stranger = make_product(sku="STRANGER", name="Unrelated thing", price="50.00")
    set_stock(late_product, 1)
    set_stock(short, 2)
    set_stock(ready, 50)
    set_stock(stranger, 50)
    with write_transaction() as s:
        s.add(PriceBreak(product_id=ready.id, min_quantity=4, percent_off=Decimal("10")))
    alternatives_service.add_alternative(admin, late_product.id, "ALT-SHORT")
    alternatives_service.add_alternative(admin, late_product.id, "ALT-READY")
    number = place_order(world.buyer_a, [(late_product, 5)], need_by=TODAY + timedelta(days=3))
    line_id = db.session.scalar(select(OrderLine.id).join(Order).where(Order.number == number))
    with write_transaction() as s:  # a PO covers the backorder; its date is after the deadline
        po = PurchaseOrder(number="PO-LATE", vendor_id=vendor.id, status="sent")
        s.add(po)
        s.flush()
        po_line = PurchaseOrderLine(purchase_order_id=po.id, product_id=late_product.id, quantity_ordered=4,
                                    expected_date=TODAY + timedelta(days=9))
        s.add(po_line)
        s.flush()
        s.add(PoLineLink(po_line_id=po_line.id, order_line_id=line_id, quantity=4))
        line = s.get(OrderLine, line_id)
        line.eta, line.eta_estimated, line.accepted_late = TODAY + timedelta(days=9), False, False
    db.session.rollback()
    return Late(number, line_id, late_product, ready, short, stranger)


def swap_fields(page: str, sku: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the order page's "Swap to <sku>" form."""
    for action, body in _FORM.findall(page):
        fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(body) if name != "csrf_token"}
        if f"Swap to {sku}<" in body:
            return html.unescape(action), fields
    raise AssertionError(f"no swap form for {sku}")


def test_the_buyer_sees_the_alternatives_that_ship_now_with_their_price(client_for, late):
    buyer = client_for("buyer_a")
    response = buyer.get(f"/account/orders/{late.number}")
    text = words_of(response)
    assert "Swap a late backorder" in text
    assert "LATE-1 Late widget: 4 on backorder" in text and "after your deadline" in text
    # 4 units reach the 10 % break: 7.20 each.
    assert "ALT-READY Ready widget" in text and "4 × $7.20 = $28.80" in text
    assert "Swap to ALT-READY" in text
    assert "Swap to ALT-SHORT" not in text  # 2 in stock cannot take 4
    assert "STRANGER" not in text


def test_swapping_cancels_the_backorder_and_sets_the_alternative_aside(world, client_for, late):
    buyer = client_for("buyer_a")
    action, fields = swap_fields(buyer.get(f"/account/orders/{late.number}").get_data(as_text=True),
                                 "ALT-READY")
    done = post_form(buyer, action, fields)
    assert done.status_code == 302
    page = words_of(buyer.get(done.headers["Location"]))
    # The cancelled units' 40.00 is settled the usual way (on account: not billed, or credited).
    assert "Swapped 4 × LATE-1 for ALT-READY: ready to ship." in page and "$40.00" in page
    assert "Swap a late backorder" not in page  # nothing is late any more
    # The totals say what the order is worth now, beside the total as ordered.
    totals = page.split("Totals", 1)[1]
    assert "Total as ordered $78.80" in totals and "Cancelled items −$40.00" in totals
    assert "Total now $38.80" in totals
    db.session.rollback()
    order = db.session.scalar(select(Order).where(Order.number == late.number))
    old, new = sorted(order.lines, key=lambda line: line.id)
    assert (old.allocated, old.backordered, old.cancelled, old.eta) == (1, 0, 4, None)
    assert (new.sku, new.quantity, new.allocated, new.backordered) == ("ALT-READY", 4, 4, 0)
    assert (new.unit_price, new.line_total, new.need_by) == (Decimal("7.20"), Decimal("28.80"), old.need_by)
    assert (order.subtotal, order.total) == (Decimal("78.80"), Decimal("78.80"))
    assert db.session.scalar(select(Stock.allocated).where(Stock.product_id == late.ready.id)) == 4
    assert db.session.scalar(select(PoLineLink.id)) is None  # the PO line no longer covers the order
    events = db.session.scalars(select(OrderEvent.text).where(OrderEvent.order_id == order.id)).all()
    assert "4 × LATE-1 cancelled: swapped for ALT-READY, which ships now" in events
    assert any(text.startswith("4 × ALT-READY added in place of LATE-1") for text in events)
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.action == "backorder_swapped"))
    assert_invariants()
    # The same click again (a replay) is refused and changes nothing.
    before = db_snapshot()
    replay = post_form(buyer, action, fields)
    assert replay.status_code == 409
    assert "Nothing of LATE-1 is on backorder any more" in words_of(replay)
    assert db_snapshot() == before


def _refused(client, late, fields, status=409):
    before = db_snapshot()
    response = post_form(client, late.url, fields)
    assert response.status_code == status, words_of(response)
    assert db_snapshot() == before
    return words_of(response)


def test_bad_choices_are_refused_with_a_reason_and_change_nothing(client_for, late):
    buyer = client_for("buyer_a")
    _, fields = swap_fields(buyer.get(f"/account/orders/{late.number}").get_data(as_text=True), "ALT-READY")
    assert "That product is not one of the alternatives offered for LATE-1" in _refused(
        buyer, late, {**fields, "alternative_id": str(late.stranger.id)})
    assert "That product is not one of the alternatives offered for LATE-1" in _refused(
        buyer, late, {**fields, "alternative_id": str(late.late.id)})
    assert "Only 2 units of ALT-SHORT are in stock now" in _refused(
        buyer, late, {**fields, "alternative_id": str(late.short.id), "unit_price": "9.00"})
    assert "A swap replaces all 4 units of LATE-1 on backorder, not 3" in _refused(
        buyer, late, {**fields, "quantity": "3"})
    assert "not 5" in _refused(buyer, late, {**fields, "quantity": "5"})
    assert "LATE-1 changed since the page was shown" in _refused(buyer, late, {**fields, "version": "0" * 16})
    assert "The price of ALT-READY is now $7.20 a unit" in _refused(buyer, late,
                                                                    {**fields, "unit_price": "6"})
    for bad in ({"alternative_id": "x"}, {"quantity": "-1"}, {"token": "short"}, {"unit_price": ""},
                {"alternative_id": "99999999999"}):
        assert "That choice could not be read" in _refused(buyer, late, {**fields, **bad}, 422)


def test_a_line_that_is_no_longer_late_or_waiting_cannot_be_swapped(world, client_for, late):
    buyer = client_for("buyer_a")
    _, fields = swap_fields(buyer.get(f"/account/orders/{late.number}").get_data(as_text=True), "ALT-READY")
    with write_transaction() as s:  # the PO's date came back before the deadline
        s.get(OrderLine, late.line_id).eta = TODAY + timedelta(days=2)
    db.session.rollback()
    fresh = {**fields, "version": _version(late.line_id)}
    assert "LATE-1 is expected by your deadline: there is nothing to swap" in _refused(buyer, late, fresh)
    with write_transaction() as s:  # every unit on backorder cancelled
        line = s.get(OrderLine, late.line_id)
        line.eta, line.backordered, line.cancelled = TODAY + timedelta(days=9), 0, 4
        for link in s.scalars(select(PoLineLink)):
            s.delete(link)
    db.session.rollback()
    assert "Nothing of LATE-1 is on backorder any more" in _refused(
        buyer, late, {**fields, "version": _version(late.line_id)})
    on_time = db.session.scalar(select(OrderLine.id).join(Order).where(Order.number == world.order_a))
    response = post_form(buyer, f"/account/orders/{world.order_a}/lines/{on_time}/swap", fields)
    assert response.status_code == 409


def _version(line_id: int) -> str:
    from portal.services.swaps import line_version

    db.session.rollback()
    return line_version(db.session.get(OrderLine, line_id))


def test_over_the_credit_limit_the_swap_is_refused_with_the_amount(world, client_for, late):
    with write_transaction() as s:
        s.get(Company, world.company_a).credit_limit = Decimal("50.00")  # the order is 50.00 already
    db.session.rollback()
    buyer = client_for("buyer_a")
    _, fields = swap_fields(buyer.get(f"/account/orders/{late.number}").get_data(as_text=True), "ALT-READY")
    with write_transaction() as s:  # the swap would add 28.80 - 40.00: less; make the alternative dearer
        s.get(Product, late.ready.id).price = Decimal("20.00")
    db.session.rollback()
    fields["unit_price"] = "18.00"
    text = _refused(buyer, late, fields)
    assert "This swap adds $32.00 to your account: $" in text and "over your credit limit of $50.00" in text


def test_only_the_orders_company_and_its_staff_may_swap(world, client_for, late):
    page = client_for("buyer_a").get(f"/account/orders/{late.number}").get_data(as_text=True)
    _, fields = swap_fields(page, "ALT-READY")
    assert post_form(client_for("buyer_b"), late.url, fields).status_code == 404
    assert post_form(client_for("rep_b"), late.url, fields).status_code == 404
    assert post_form(client_for("anonymous"), late.url, fields).status_code == 302  # to sign in
    rep = client_for("rep_a")  # the account's rep swaps for the customer from the same page
    page = rep.get(f"/account/orders/{late.number}").get_data(as_text=True)
    action, fields = swap_fields(page, "ALT-READY")
    done = post_form(rep, action, fields)
    assert done.status_code == 302
    assert "Swapped 4 × LATE-1 for ALT-READY" in words_of(rep.get(done.headers["Location"]))
    assert_invariants()
