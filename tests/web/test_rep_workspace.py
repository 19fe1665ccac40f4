"""The sales rep's workspace (issue 7, point 3): for the rep's own companies only, backorders whose ETA is
past the buyer's deadline, recent ETA changes, open orders and overdue invoices; notes on an account."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import AccountNote, Invoice, Order, OrderEvent, OrderLine
from portal.models.base import utcnow
from tests.conftest import post_form
from tests.factories import make_product, make_vendor, set_stock
from tests.web.orders import TODAY, place_order

LEAD = 20


def _late_order(world) -> str:
    """Buyer A orders 5 of a product with 1 in stock, needed in 3 days; the rest is expected in 20."""
    vendor = make_vendor(lead_time_days=LEAD)
    product = make_product(sku="LATE-1", name="Late widget", policy="allow", vendor=vendor)
    set_stock(product, 1)
    return place_order(world.buyer_a, [(product, 5)], need_by=TODAY + timedelta(days=3))


def _dashboard(client) -> str:
    page = client.get("/rep/")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_a_rep_sees_the_backorders_at_risk_of_their_companies_only(app, world, client_for):
    number = _late_order(world)
    mine = _dashboard(client_for("rep_a"))
    assert number in mine and "LATE-1" in mine and f"{LEAD - 3} days late" in mine
    assert number not in _dashboard(client_for("rep_b"))
    assert number in _dashboard(client_for("admin"))


def test_a_line_no_longer_late_leaves_the_at_risk_list(app, world, client_for):
    number = _late_order(world)
    rep = client_for("rep_a")
    assert "LATE-1" in _dashboard(rep)
    with write_transaction() as session:
        line = session.scalar(select(OrderLine).join(Order).where(Order.number == number,
                                                                  OrderLine.sku == "LATE-1"))
        line.need_by = line.eta
    assert "LATE-1" not in _dashboard(rep).split('id="eta-heading"')[0]


def test_recent_eta_changes_and_overdue_invoices_show_on_the_dashboard(app, world, client_for):
    order_id = db.session.scalar(select(Order.id).where(Order.number == world.order_a))
    with write_transaction() as session:
        session.add(OrderEvent(order_id=order_id, kind="eta_changed", text="NUT-20 now expected 9 Jan"))
        session.add(OrderEvent(order_id=order_id, kind="eta_changed", text="NUT-20 old news",
                               created_at=utcnow() - timedelta(days=40)))
        session.add(Invoice(number="INV-OVERDUE-1", company_id=world.company_a, order_id=order_id,
                            issued_on=TODAY - timedelta(days=40), due_on=TODAY - timedelta(days=10),
                            total=Decimal("120.00"), amount_paid=Decimal("20.00")))
    page = _dashboard(client_for("rep_a"))
    assert "NUT-20 now expected 9 Jan" in page and "old news" not in page
    assert "INV-OVERDUE-1" in page and "$100.00" in page and "10 days overdue" in page
    assert world.order_a in page.split('id="open-heading"')[1]  # an open order
    other = _dashboard(client_for("rep_b"))
    assert "INV-OVERDUE-1" not in other and "now expected 9 Jan" not in other


def test_a_rep_keeps_notes_on_an_account(app, world, client_for):
    rep = client_for("rep_a")
    url = f"/rep/companies/{world.company_a}/notes"
    response = post_form(rep, url, {"body": "Prefers deliveries before noon."})
    assert response.status_code == 302
    page = rep.get(f"/rep/companies/{world.company_a}").get_data(as_text=True)
    assert "Prefers deliveries before noon." in page
    note = db.session.scalar(select(AccountNote).where(AccountNote.company_id == world.company_a))
    assert note.author_id == world.rep_a


def test_bad_notes_are_refused_with_a_message_and_change_nothing(app, world, client_for):
    rep = client_for("rep_a")
    url = f"/rep/companies/{world.company_a}/notes"
    empty = post_form(rep, url, {"body": "   "})
    assert empty.status_code == 422 and "Write the note first." in empty.get_data(as_text=True)
    long = post_form(rep, url, {"body": "x" * 2001})
    assert long.status_code == 422 and "at most 2,000 characters" in long.get_data(as_text=True)
    outside = post_form(client_for("rep_b"), url, {"body": "Not my account"})
    assert outside.status_code == 404
    assert db.session.scalar(select(AccountNote)) is None
