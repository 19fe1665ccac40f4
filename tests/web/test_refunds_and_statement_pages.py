"""Pages of issue 5's leftovers: the order page says "refund pending" for a refund Stripe could not take
and gives admins a button to send it (once); the statement lists orders not yet invoiced and credit
notes, and units cancelled before any invoice appear as money not billed, not as a credit; the invoice
PDF lists its shipment's lines. Card tests run against localstripe."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import CardCharge, CardRefund, Invoice, Order, OrderLine
from portal.services import backorders, shipping
from tests.conftest import login, post_form
from tests.factories import make_product, make_user, set_stock
from tests.integration.test_payments_stripe import card_cart, pay_and_place, save_card
from tests.integration.test_refund_retry import StripeDown
from tests.invariants import assert_invariants
from tests.localstripe import localstripe_url, stripe_settings  # noqa: F401 - the fixture
from tests.localstripe import refunds as localstripe_refunds
from tests.web.shopping import place_from_review, shopper, words_of

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _invariants(app):
    yield
    assert_invariants()


@pytest.fixture
def stripe_app(app, localstripe_url):  # noqa: F811
    app.config.update(stripe_settings(localstripe_url))
    app.extensions.pop("stripe_client", None)
    yield app
    app.extensions.pop("stripe_client", None)


def signed_in(app, email: str):
    client = app.test_client()
    login(client, email)
    return client


def test_a_pending_refund_is_shown_and_an_admin_sends_it_once(stripe_app, localstripe_url):  # noqa: F811
    buyer = shopper(stripe_app)
    card = save_card(localstripe_url, buyer.company)
    waiting = make_product(sku="WAIT-1", price="7.50", policy="allow")
    card_cart(buyer.user, buyer.company, card, (waiting, 4))
    order = pay_and_place(buyer.user, buyer.company)
    number = order.number
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    admin = make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")
    with StripeDown(stripe_app, localstripe_url):
        assert backorders.cancel_and_settle(admin, line.id, 2, "Not needed", TODAY).settlement is None

    page = words_of(buyer.client.get(f"/account/orders/{number}"))
    assert "Refund pending $15.00 for cancelled items" in page
    assert "Refund pending: $15.00 for cancelled items, not sent to your card yet." in page
    assert "Send pending refunds now" not in page  # buyers wait; admins send

    rep = make_user("sales_rep", email=f"rep-{uuid.uuid4().hex[:6]}@example.com")
    retry_url = f"/account/orders/{number}/refunds/retry"
    assert post_form(signed_in(stripe_app, rep.email), retry_url).status_code == 403
    staff = signed_in(stripe_app, admin.email)
    assert "Send pending refunds now" in words_of(staff.get(f"/account/orders/{number}"))
    assert post_form(staff, "/account/orders/SO-99999/refunds/retry").status_code == 404
    sent = post_form(staff, f"/account/orders/{number}/refunds/retry", follow_redirects=True)
    assert "Refund of $15.00 sent to the card." in words_of(sent)
    again = post_form(staff, f"/account/orders/{number}/refunds/retry", follow_redirects=True)
    assert "No refund of this order is waiting to be sent." in words_of(again)

    db.session.rollback()
    charge = db.session.scalar(select(CardCharge).where(CardCharge.order_id == order.id))
    made = localstripe_refunds(localstripe_url, charge.stripe_payment_intent_id)
    assert [r["amount"] for r in made] == [1500]
    assert db.session.scalar(select(CardRefund.stripe_refund_id)).startswith("re_")
    page = words_of(buyer.client.get(f"/account/orders/{number}"))
    assert "Refunded $15.00 for cancelled items." in page and "Refund pending" not in page


def on_account_order(buyer, sku: str, price: str, shelf: int, quantity: int) -> Order:
    product = make_product(sku=sku, name=f"Item {sku}", price=price, policy="allow")
    set_stock(product, shelf)
    buyer.fill((product, quantity))
    assert place_from_review(buyer).status_code == 302
    db.session.rollback()
    return db.session.scalar(select(Order).where(Order.company_id == buyer.company.id)
                             .order_by(Order.id.desc()))


def test_the_statement_shows_cancelled_units_as_not_billed_and_lists_orders_still_to_invoice(app):
    buyer = shopper(app)
    admin = make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")
    order = on_account_order(buyer, "PART-1", "10.00", 2, 4)
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    before = words_of(buyer.client.get("/account/statement"))
    assert "Orders not yet invoiced Each shipment" in before and f"{order.number} $40.00" in before
    assert "On account now $40.00" in before

    shipping.ship_order(admin, order.id, uuid.uuid4().hex, {line.id: 2}, "TRK-1", today=TODAY)
    staff = signed_in(app, admin.email)
    cancelled = post_form(staff, f"/account/orders/{order.number}/lines/{line.id}/cancel",
                          {"quantity": "2", "reason": "Discontinued"}, follow_redirects=True)
    said = "2 × PART-1 cancelled. They were never invoiced: $20.00 less will be billed."
    assert said in words_of(cancelled)

    page = buyer.client.get("/account/statement")
    after = words_of(page)
    assert "On account now $20.00" in after
    assert "Orders not yet invoiced" in after and "Credit notes" in after
    assert 'id="uninvoiced-orders"' not in page.get_data(as_text=True)  # both sections say "None."
    assert 'id="credit-notes"' not in page.get_data(as_text=True) and "CN-" not in after
    order_page = words_of(buyer.client.get(f"/account/orders/{order.number}"))
    assert "Cancelled items ($20.00) were never invoiced: they are not billed." in order_page
    assert "Credit note" not in order_page


def test_the_invoice_pdf_lists_the_shipments_lines(app):
    buyer = shopper(app)
    admin = make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")
    order = on_account_order(buyer, "PDF-LINE-1", "12.50", 3, 3)
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    shipping.ship_order(admin, order.id, uuid.uuid4().hex, {line.id: 2}, "TRK-1", today=TODAY)
    db.session.rollback()
    invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    assert invoice.total == Decimal("25.00")
    response = buyer.client.get(f"/account/invoices/{invoice.number}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: the PDF's text was not read")
    read = subprocess.run(["pdftotext", "-layout", "-", "-"], input=response.data, capture_output=True,
                          check=True, timeout=60)
    text = " ".join(read.stdout.decode().split())
    assert "PDF-LINE-1 Item PDF-LINE-1 2 $12.50 $25.00" in text, text
    assert "Goods shipped $25.00" in text and "Total $25.00" in text


def test_the_statement_lists_a_credit_note_for_money_already_invoiced(app):
    from portal.services import invoices

    buyer = shopper(app)
    admin = make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")
    order = on_account_order(buyer, "AHEAD-1", "5.00", 0, 6)
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    invoices.invoice_shipment(order.id, None, Decimal("20.00"), TODAY)  # billed ahead of shipping
    done = backorders.cancel_and_settle(admin, line.id, 5, "Fewer needed", TODAY)
    assert done.settlement.kind == "credit_note"
    words = words_of(buyer.client.get("/account/statement"))
    assert f"{order.number} Fewer needed $15.00" in words and done.settlement.reference in words
    assert "On account now $5.00" in words
