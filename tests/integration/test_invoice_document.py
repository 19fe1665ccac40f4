"""An invoice lists what its shipment shipped (DESIGN §7, issue 5): SKU, name, units, unit price, value,
goodwill on those units, the order credit it uses, adding up to the invoice total that shipping computed.
Checked on the document's figures, on the HTML that feeds WeasyPrint and on the PDF's text. SQLite and
PostgreSQL.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from datetime import date
from decimal import Decimal

import pytest
from flask import render_template
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.integrations.pdf import render_pdf
from portal.models import Company, Invoice, OrderAdjustment, OrderLine, User
from portal.services import billing, carts, invoices, ordering, shipping
from tests.factories import make_address, make_company, make_product, make_user, set_stock

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _backends(any_app):
    return any_app


def shipped_twice():
    """3 × BOLT at 10.00 and 4 × NUT at 7.50 (3.00 goodwill on the line), 5.00 goodwill on the order;
    shipped as 1 BOLT + 2 NUT, then the rest."""
    company = make_company(f"Co {uuid.uuid4().hex[:6]}", credit_limit=Decimal("1000"))
    make_address(company, is_default_shipping=True)
    user = make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com", password=None)
    tag = uuid.uuid4().hex[:6].upper()
    bolt = make_product(sku=f"BOLT-{tag}", name="Hex bolt M8", price="10.00")
    nut = make_product(sku=f"NUT-{tag}", name="Lock nut M8", price="7.50")
    set_stock(bolt, 10)
    set_stock(nut, 10)
    carts.add_items(user.id, company.id, [(bolt.id, 3), (nut.id, 4)])
    db.session.rollback()
    me = db.session.get(User, user.id)
    review = ordering.review_cart(me, db.session.get(Company, company.id), TODAY)
    order = ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
    lines = {line.product_id: line for line in db.session.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id))}
    b, n = lines[bolt.id], lines[nut.id]
    with write_transaction() as s:
        s.add(OrderAdjustment(order_id=order.id, order_line_id=n.id, kind="manual_goodwill",
                              description="Late", amount=Decimal("-3.00"), status="approved"))
        s.add(OrderAdjustment(order_id=order.id, kind="manual_goodwill", description="Sorry",
                              amount=Decimal("-5.00"), status="approved"))
    admin = make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")
    first = shipping.ship_order(admin, order.id, uuid.uuid4().hex, {b.id: 1, n.id: 2}, "TRK-1", today=TODAY)
    second = shipping.ship_order(admin, order.id, uuid.uuid4().hex, {b.id: 2, n.id: 2}, "TRK-2", today=TODAY)
    db.session.rollback()
    by_shipment = {i.shipment_id: i for i in db.session.scalars(select(Invoice).where(
        Invoice.order_id == order.id))}
    return order, tag, by_shipment[first.id], by_shipment[second.id]


def test_each_invoice_lists_its_shipments_lines_and_adds_up_to_its_total():
    order, tag, first, second = shipped_twice()
    assert (first.total, second.total) == (Decimal("18.50"), Decimal("33.50"))
    one = billing.invoice_document(first)
    assert [(line.sku, line.name, line.quantity, line.unit_price, line.value, line.goodwill)
            for line in one.breakdown.lines] == [
        (f"BOLT-{tag}", "Hex bolt M8", 1, Decimal("10.00"), Decimal("10.00"), Decimal("0.00")),
        (f"NUT-{tag}", "Lock nut M8", 2, Decimal("7.50"), Decimal("15.00"), Decimal("-1.50"))]
    assert (one.breakdown.order_credit, one.breakdown.correction) == (Decimal("-5.00"), Decimal("0.00"))
    assert one.breakdown.goods + one.breakdown.goodwill + one.breakdown.order_credit == first.total
    two = billing.invoice_document(second)
    assert [(line.sku, line.quantity, line.value, line.goodwill) for line in two.breakdown.lines] == [
        (f"BOLT-{tag}", 2, Decimal("20.00"), Decimal("0.00")),
        (f"NUT-{tag}", 2, Decimal("15.00"), Decimal("-1.50"))]
    assert (two.breakdown.order_credit, two.breakdown.correction) == (Decimal("0.00"), Decimal("0.00"))
    assert first.total + second.total == Decimal("52.00")  # 30 + 30 − 3 − 5: the order in full


def test_the_invoice_html_and_pdf_list_the_shipped_lines(any_app):
    order, tag, first, _ = shipped_twice()
    context = dict(invoice=first, order=order, company=order.company, billing=None,
                   payments=invoices.payments_of(first.id), document=billing.invoice_document(first))
    with any_app.test_request_context():
        html = render_template("pdf/invoice.html", **context)
        pdf = render_pdf("pdf/invoice.html", **context)
    for text in (f"BOLT-{tag}", "Hex bolt M8", f"NUT-{tag}", "Lock nut M8", "$15.00", "-$1.50",
                 "Order credit applied", "-$5.00", "$18.50"):
        assert text in html, text
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: the PDF's text was not read")
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True,
                          timeout=60).stdout.decode()
    for expected in (f"BOLT-{tag}", "Hex bolt M8", f"NUT-{tag}", "Lock nut M8", "Order credit applied",
                     "Goods shipped", "$25.00", "$18.50"):
        assert expected in text, (expected, text)
    assert "Shipment" in text or "shipment" in text


def test_an_invoice_without_a_shipment_shows_its_total_only():
    order, _, _, _ = shipped_twice()
    ahead = invoices.invoice_shipment(order.id, None, Decimal("12.00"), TODAY)
    document = billing.invoice_document(ahead)
    assert document.shipment_number is None and document.breakdown.lines == ()
    assert document.breakdown.total == Decimal("12.00")
