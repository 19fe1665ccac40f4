"""A buyer's own choices on an order still waiting (issue 7, point 1): cancel units on backorder (their
value comes back per the payment rules) and, when an ETA slips past the deadline, keep the line and
accept the later date. Never units set aside or shipped; never another company's order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import CreditNote, Order, OrderEvent, OrderLine
from tests.conftest import post_form
from tests.factories import make_product, make_vendor, set_stock
from tests.web.orders import TODAY, place_order
from tests.web.shopping import words_of
from tests.web.site import db_snapshot

LEAD = 20


@pytest.fixture
def late_order(world) -> tuple[str, int]:
    """Buyer A: 5 of a product with 1 on the shelf, needed in 3 days; the 4 others arrive in ~20."""
    product = make_product(sku="LATE-1", name="Late widget", policy="allow", price="10.00",
                           vendor=make_vendor(lead_time_days=LEAD))
    set_stock(product, 1)
    number = place_order(world.buyer_a, [(product, 5)], need_by=TODAY + timedelta(days=3))
    line_id = db.session.scalar(select(OrderLine.id).join(Order).where(Order.number == number))
    with write_transaction() as session:  # the checkout kept it; as if the ETA slipped afterwards
        session.get(OrderLine, line_id).accepted_late = False
    return number, line_id


def _cancel(client, number: str, line_id: int, quantity: str):
    return post_form(client, f"/account/orders/{number}/lines/{line_id}/cancel-backorder",
                     {f"cancel-{line_id}-quantity": quantity})


def test_the_buyer_cancels_backordered_units_and_is_not_billed_for_them(world, client_for, late_order):
    """Nothing was invoiced for units still on backorder: they are not billed, and no credit note is
    issued (a credit note gives back invoiced money only)."""
    number, line_id = late_order
    buyer = client_for("buyer_a")
    page = words_of(buyer.get(f"/account/orders/{number}"))
    assert "Your backorders" in page and "after your deadline" in page
    done = _cancel(buyer, number, line_id, "3")
    assert done.status_code == 302
    said = words_of(buyer.get(done.headers["Location"]))
    assert "3 × LATE-1 cancelled. They were never invoiced: $30.00 less will be billed." in said
    assert "Cancelled items −$30.00" in said.split("Totals", 1)[1]
    line = db.session.get(OrderLine, line_id)
    db.session.refresh(line)
    assert (line.backordered, line.allocated, line.cancelled) == (1, 1, 3)
    assert db.session.scalar(select(CreditNote.amount)) is None


def test_units_set_aside_or_beyond_the_backorder_cannot_be_cancelled_by_the_buyer(world, client_for,
                                                                                 late_order):
    number, line_id = late_order
    buyer = client_for("buyer_a")
    before = db_snapshot()
    refused = _cancel(buyer, number, line_id, "5")
    assert refused.status_code == 409
    assert "Only 4 units of LATE-1 are on backorder" in words_of(refused)
    for bad in ("0", "-1", "abc", "99999999999"):
        assert _cancel(buyer, number, line_id, bad).status_code == 422
    assert db_snapshot() == before


def test_another_company_and_staff_cannot_use_the_buyers_choices(world, client_for, late_order):
    number, line_id = late_order
    assert _cancel(client_for("buyer_b"), number, line_id, "1").status_code == 404
    assert _cancel(client_for("rep_a"), number, line_id, "1").status_code == 403
    assert post_form(client_for("buyer_b"), f"/account/orders/{number}/lines/{line_id}/accept-date",
                     {}).status_code == 404


def test_the_buyer_keeps_a_late_line_and_staff_see_it_on_the_timeline(world, client_for, late_order):
    number, line_id = late_order
    buyer = client_for("buyer_a")
    done = post_form(buyer, f"/account/orders/{number}/lines/{line_id}/accept-date", {})
    assert done.status_code == 302
    assert "You kept LATE-1" in words_of(buyer.get(done.headers["Location"]))
    db.session.rollback()
    assert db.session.get(OrderLine, line_id).accepted_late
    events = db.session.scalars(select(OrderEvent.text).join(Order).where(Order.number == number)).all()
    assert any("accepted the later date for LATE-1" in text for text in events)
    again = post_form(buyer, f"/account/orders/{number}/lines/{line_id}/accept-date", {})
    assert again.status_code == 302  # accepting twice changes nothing more


def test_an_on_time_line_has_nothing_to_accept(world, client_for):
    line_id = db.session.scalar(select(OrderLine.id).join(Order).where(Order.number == world.order_a))
    url = f"/account/orders/{world.order_a}/lines/{line_id}/accept-date"
    refused = post_form(client_for("buyer_a"), url, {})
    assert refused.status_code == 409 and "nothing to accept" in words_of(refused)


def test_the_order_page_lists_its_documents_and_the_packing_slip_opens(world, client_for):
    """Confirmation, the shipment's invoice (on account, made when it shipped) and its packing slip."""
    from portal.models import Invoice, Shipment
    from tests.web.backoffice_world import with_backoffice

    world = with_backoffice(world)  # a PO received and part of order_a shipped

    order_id = db.session.scalar(select(Order.id).where(Order.number == world.order_a))
    shipment = db.session.scalar(select(Shipment).where(Shipment.order_id == order_id))
    invoice = db.session.scalar(select(Invoice).where(Invoice.shipment_id == shipment.id))
    buyer = client_for("buyer_a")
    page = words_of(buyer.get(f"/account/orders/{world.order_a}"))
    assert "Order confirmation (PDF)" in page
    assert f"Invoice {invoice.number} (PDF)" in page and f"Packing slip {shipment.number} (PDF)" in page
    slip = buyer.get(f"/account/orders/{world.order_a}/shipments/{shipment.id}.pdf")
    assert slip.status_code == 200 and slip.data.startswith(b"%PDF")
    assert client_for("buyer_b").get(f"/account/orders/{world.order_a}/shipments/{shipment.id}.pdf") \
        .status_code == 404
    assert buyer.get(f"/account/orders/{world.order_a}/shipments/999999.pdf").status_code == 404
