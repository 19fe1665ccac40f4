"""Unit costs and vendor minimums in the admin pages (issue 6): the cost price in the product editor, unit
costs on draft PO lines, the PO's value on its page, PDF and in the list ("below minimum"), and sending
below the minimum only with "send anyway" and a reason. Bad input gets a clear message and changes
nothing."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import AuditLog, Product, PurchaseOrder, PurchaseOrderLine, Vendor
from tests.conftest import post_form
from tests.web import backoffice_world as bo
from tests.web.admin_posts import product_fields
from tests.web.backoffice_world import with_backoffice
from tests.web.orders import words_of
from tests.web.site import db_snapshot


@pytest.fixture
def world(world):
    return with_backoffice(world)


@pytest.fixture
def admin(client_for):
    return client_for("admin")


@pytest.fixture
def draft(world, admin):
    """The BOLT-10 draft (10 units) at 1.50 a unit, from a vendor whose minimum order is 100.00."""
    po_id, line_id = bo.draft_po_id(), bo.draft_line_id()
    with write_transaction() as s:
        s.get(Vendor, s.get(PurchaseOrder, po_id).vendor_id).min_order_value = Decimal("100.00")
    response = post_form(admin, f"/admin/purchase-orders/{po_id}/lines/update",
                         {"line_id": str(line_id), f"line{line_id}-quantity": "10",
                          f"line{line_id}-unit_cost": "1.50"})
    assert response.status_code == 302
    return po_id, line_id


def fresh(model, id_):
    db.session.rollback()
    return db.session.get(model, id_)


def test_the_po_page_pdf_and_list_show_the_value_and_the_shortfall(draft, admin):
    po_id, _ = draft
    page = words_of(admin.get(f"/admin/purchase-orders/{po_id}"))
    assert "Value $15.00 · vendor minimum $100.00 below minimum by $85.00" in page
    assert "$1.50 $15.00" in page  # unit cost and line value
    assert "Below " in page and "Send anyway, below the vendor's minimum" in page
    listed = words_of(admin.get("/admin/purchase-orders"))
    po = fresh(PurchaseOrder, po_id)
    assert f"{po.number} {po.vendor.name} Draft 1 $15.00 below minimum" in listed
    pdf = admin.get(f"/admin/purchase-orders/{po_id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_sending_below_the_minimum_is_refused_with_the_shortfall(draft, admin):
    po_id, _ = draft
    before = db_snapshot()
    page = post_form(admin, f"/admin/purchase-orders/{po_id}/status", {"status": "sent"})
    assert page.status_code == 409
    assert "is worth $15.00, $85.00 below" in words_of(page) and "minimum order of $100.00" in words_of(page)
    assert db_snapshot() == before


def test_send_anyway_needs_a_reason(draft, admin):
    po_id, _ = draft
    before = db_snapshot()
    page = post_form(admin, f"/admin/purchase-orders/{po_id}/status",
                     {"status": "sent", "send_anyway": "y", "reason": "   "})
    assert page.status_code == 422
    assert "Give a reason for sending this purchase order below the vendor's minimum." in words_of(page)
    assert db_snapshot() == before


def test_send_anyway_with_a_reason_sends_and_is_audited(draft, admin, world):
    po_id, _ = draft
    response = post_form(admin, f"/admin/purchase-orders/{po_id}/status",
                         {"status": "sent", "send_anyway": "y", "reason": "Rush order for Acme"})
    assert response.status_code == 302
    assert fresh(PurchaseOrder, po_id).status == "sent"
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "po_sent_below_minimum"))
    assert entry.actor_id == world.admin and entry.entity_id == po_id
    assert json.loads(entry.after)["reason"] == "Rush order for Acme"
    assert json.loads(entry.after)["shortfall"] == "85.00"


@pytest.mark.parametrize(("cost", "message"), [("abc", "Enter an amount, like 12.50."),
                                               ("-1", "Between 0 and 9,999,999,999.99."),
                                               ("1.234", "Enter an amount, like 12.50.")])
def test_a_bad_unit_cost_gets_a_message_and_changes_nothing(draft, admin, cost, message):
    po_id, line_id = draft
    before = db_snapshot()
    page = post_form(admin, f"/admin/purchase-orders/{po_id}/lines/update",
                     {"line_id": str(line_id), f"line{line_id}-quantity": "10",
                      f"line{line_id}-unit_cost": cost})
    assert page.status_code == 422 and message in words_of(page)
    assert db_snapshot() == before
    assert fresh(PurchaseOrderLine, line_id).unit_cost == Decimal("1.50")


def test_the_product_editor_saves_the_cost_price(world, admin):
    pid = db.session.scalar(select(Product.id).where(Product.sku == world.sku))
    saved = post_form(admin, f"/admin/products/{pid}", product_fields(world, cost_price="6.40"))
    assert saved.status_code == 302
    assert fresh(Product, pid).cost_price == Decimal("6.40")
    bad = post_form(admin, f"/admin/products/{pid}", product_fields(world, cost_price="lots"))
    assert bad.status_code == 422 and "Enter an amount, like 12.50." in words_of(bad)
    assert fresh(Product, pid).cost_price == Decimal("6.40")
    page = admin.get(f"/admin/products/{pid}").get_data(as_text=True)
    assert '<label class="form-label" for="cost_price">Cost price</label>' in page
    assert 'id="cost_price"' in page and 'value="6.40"' in page
