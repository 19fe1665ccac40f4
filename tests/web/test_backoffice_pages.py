"""Back office through the browser's eyes (issue 6): vendors, POs, receiving, shipping, the queue, goodwill.
Bad input gets a clear message, a 4xx or the form again, and changes nothing."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditLog,
    OrderAdjustment,
    OrderLine,
    PurchaseOrder,
    PurchaseOrderLine,
    Stock,
    Vendor,
)
from portal.services import inventory
from tests.conftest import post_form
from tests.factories import make_product, set_stock
from tests.web import backoffice_world as bo
from tests.web.backoffice_world import with_backoffice
from tests.web.orders import words_of
from tests.web.site import db_snapshot


@pytest.fixture
def world(world):
    return with_backoffice(world)


@pytest.fixture
def admin(client_for):
    return client_for("admin")


def token_of(page) -> str:
    return re.search(r'name="token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def fresh(model, id_):
    db.session.rollback()
    return db.session.get(model, id_)


# --- vendors --------------------------------------------------------------------------------------------


def test_an_admin_creates_and_edits_a_vendor(world, admin):
    fields = {"name": "Acme Fixings", "contact_name": "Vera", "email": "po@acme-fixings.example", "phone": "",
              "lead_time_days": "12", "min_order_value": "250", "pack_size": "24", "active": "y"}
    assert post_form(admin, "/admin/vendors/new", fields).location == "/admin/vendors"
    vendor = db.session.scalar(select(Vendor).where(Vendor.name == "Acme Fixings"))
    assert (vendor.lead_time_days, vendor.pack_size, vendor.min_order_value) == (12, 24, Decimal("250.00"))
    assert post_form(admin, f"/admin/vendors/{vendor.id}", {**fields, "pack_size": "6"}).status_code == 302
    assert fresh(Vendor, vendor.id).pack_size == 6
    assert "Acme Fixings" in words_of(admin.get("/admin/vendors"))


def test_bad_vendor_input_is_refused_next_to_each_field(world, admin):
    before = db_snapshot()
    page = post_form(admin, "/admin/vendors/new", {"name": "", "email": "nope", "lead_time_days": "-1",
                                                   "min_order_value": "abc", "pack_size": "0"})
    assert page.status_code == 422
    text = words_of(page)
    for message in ("Enter the vendor's name.", "Enter a valid email address", "from 0 to 3,650",
                    "Enter an amount", "from 1 to 100,000"):
        assert message in text
    assert db_snapshot() == before


# --- purchase orders ------------------------------------------------------------------------------------


def test_the_po_page_shows_whom_each_line_is_reserved_for(world, admin):
    po_id = bo.sent_po_id()
    text = words_of(admin.get(f"/admin/purchase-orders/{po_id}"))
    assert "Partly received" in text
    assert "NUT-20" in text
    pdf = admin.get(f"/admin/purchase-orders/{po_id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_editing_a_sent_po_is_refused_and_changes_nothing(world, admin):
    po_id, line_id = bo.sent_po_id(), bo.sent_line_id()
    before = db_snapshot()
    page = post_form(admin, f"/admin/purchase-orders/{po_id}/lines/update",
                     {"line_id": str(line_id), f"line{line_id}-quantity": "99"})
    assert page.status_code == 409
    assert "quantities change only while it is a draft" in words_of(page)
    page = post_form(admin, f"/admin/purchase-orders/{po_id}/lines", {"sku": "NUT-20", "quantity": "1"})
    assert page.status_code == 409 and "only while it is a draft" in words_of(page)
    assert db_snapshot() == before


@pytest.mark.parametrize(("which", "target", "message"), [
    ("draft", "received", "A draft purchase order cannot become received."),
    ("sent", "sent", "A partly received purchase order cannot become sent."),
])
def test_invalid_transitions_get_a_clear_message(world, admin, which, target, message):
    po_id = bo.draft_po_id() if which == "draft" else bo.sent_po_id()
    before = db_snapshot()
    page = post_form(admin, f"/admin/purchase-orders/{po_id}/status", {"status": target})
    assert page.status_code == 409 and message in words_of(page)
    assert db_snapshot() == before


def test_sending_the_draft_queues_the_vendor_email(world, admin):
    po_id = bo.draft_po_id()
    assert post_form(admin, f"/admin/purchase-orders/{po_id}/status", {"status": "sent"}).status_code == 302
    assert fresh(PurchaseOrder, po_id).status == "sent"
    assert "sent: the email to the vendor is queued" in words_of(admin.get(f"/admin/purchase-orders/{po_id}"))


# --- receiving ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("entered", "message"), [
    ("5", "is more than the 1 still expected"),
    ("-2", "cannot be negative"),
    ("two", "enter a whole number of units"),
    ("", "Enter the quantity received on at least one line."),
])
def test_bad_receipts_are_refused_and_change_nothing(world, admin, entered, message):
    po_id, line_id = bo.sent_po_id(), bo.sent_line_id()
    token = token_of(admin.get(f"/admin/purchase-orders/{po_id}"))
    before = db_snapshot()
    page = post_form(admin, f"/admin/purchase-orders/{po_id}/receive", {"token": token,
                                                                         f"received-{line_id}": entered})
    assert page.status_code in (409, 422)
    assert message in words_of(page)
    assert db_snapshot() == before


def test_a_receipt_shows_the_set_aside_list_and_a_double_submit_counts_once(world, admin):
    po_id, line_id = bo.sent_po_id(), bo.sent_line_id()
    token = token_of(admin.get(f"/admin/purchase-orders/{po_id}"))
    data = {"token": token, f"received-{line_id}": "1"}
    first = post_form(admin, f"/admin/purchase-orders/{po_id}/receive", data)
    second = post_form(admin, f"/admin/purchase-orders/{po_id}/receive", data)
    assert first.location == second.location
    assert "Put 1 × NUT-20 aside for Acme Hardware, order SO-00001" in words_of(admin.get(first.location))
    line = fresh(PurchaseOrderLine, line_id)
    assert (line.quantity_received, line.purchase_order.status) == (3, "received")


def test_an_over_receipt_goes_through_when_confirmed(world, admin):
    po_id, line_id = bo.sent_po_id(), bo.sent_line_id()
    token = token_of(admin.get(f"/admin/purchase-orders/{po_id}"))
    page = post_form(admin, f"/admin/purchase-orders/{po_id}/receive",
                     {"token": token, f"received-{line_id}": "3", "accept_over": "y"})
    assert page.status_code == 302
    assert "To the shelf 2 × NUT-20" in words_of(admin.get(page.location))
    assert fresh(PurchaseOrderLine, line_id).over_receipt_accepted


# --- shipping, timeline ---------------------------------------------------------------------------------


def test_shipping_more_than_set_aside_is_refused(world, admin):
    line_id = bo.order_line_id(world.order_a)
    token = token_of(admin.get(f"/admin/orders/{world.order_a}/ship"))
    before = db_snapshot()
    page = post_form(admin, f"/admin/orders/{world.order_a}/ship", {"token": token, f"ship-{line_id}": "4"})
    assert page.status_code == 409 and "only 1 allocated (set aside) to ship, not 4" in words_of(page)
    assert db_snapshot() == before


def test_the_buyer_sees_the_timeline_but_not_staff_only_rows(world, admin, client_for):
    line_id = bo.order_line_id(world.order_a)
    token = token_of(admin.get(f"/admin/orders/{world.order_a}/ship"))
    post_form(admin, f"/admin/orders/{world.order_a}/ship", {"token": token, f"ship-{line_id}": "1",
                                                             "tracking_number": "1Z-999"})
    buyer = words_of(client_for("buyer_a").get(f"/account/orders/{world.order_a}"))
    assert "arrived and set aside for this order" in buyer
    assert "tracking 1Z-999" in buyer
    assert "awaits an admin's approval" not in buyer and "Awaiting approval" not in buyer
    staff = words_of(admin.get(f"/account/orders/{world.order_a}"))
    assert "awaits an admin's approval" in staff


# --- queue, allocation, cancellation, goodwill ----------------------------------------------------------


def test_the_queue_lists_the_backorder_for_its_rep_and_not_for_the_other_rep(world, client_for):
    assert "SO-00001" in words_of(client_for("rep_a").get("/admin/backorders"))
    assert "SO-00001" not in words_of(client_for("rep_b").get("/admin/backorders"))


def test_manual_allocation_from_stock_is_audited_and_bad_quantities_refused(world, admin):
    line_id = bo.order_line_id(world.order_a)
    product = fresh(OrderLine, line_id).product_id
    before = db_snapshot()
    page = post_form(admin, f"/admin/backorders/{line_id}/allocate", {"quantity": "1"})
    assert page.status_code == 409 and "Only 0 units of NUT-20 are available" in words_of(page)
    page = post_form(admin, f"/admin/backorders/{line_id}/allocate", {"quantity": "-3"})
    assert page.status_code == 422
    assert db_snapshot() == before
    stock = db.session.scalar(select(Stock).where(Stock.product_id == product))
    from portal.models import User

    inventory.adjust_stock(db.session.get(User, world.admin), product, stock.warehouse_id, 1, "Found one")
    assert post_form(admin, f"/admin/backorders/{line_id}/allocate", {"quantity": "1"}).status_code == 302
    line = fresh(OrderLine, line_id)
    assert (line.allocated, line.backordered) == (2, 0)
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.action == "backorder_allocated"))


def test_a_rep_cancels_part_of_a_line_with_a_reason(world, client_for):
    rep = client_for("rep_a")
    line_id = bo.order_line_id(world.order_a)
    before = db_snapshot()
    page = post_form(rep, f"/account/orders/{world.order_a}/lines/{line_id}/cancel", {"quantity": "5",
                                                                                       "reason": "Too many"})
    assert page.status_code == 409 and "Only 2 units of NUT-20 are still open" in words_of(page)
    assert db_snapshot() == before
    done = post_form(rep, f"/account/orders/{world.order_a}/lines/{line_id}/cancel",
                     {"quantity": "1", "reason": "Too many"})
    assert done.status_code == 302
    assert fresh(OrderLine, line_id).cancelled == 1
    # On account, a unit never invoiced is simply not billed (no credit note), said in the page.
    assert re.search(r"1 × NUT-20 cancelled\. They were never invoiced: \$\d+\.\d\d less will be billed\.",
                     words_of(rep.get(done.headers["Location"])))
    buyer = words_of(client_for("buyer_a").get(f"/account/orders/{world.order_a}"))
    assert "1 × NUT-20 cancelled: Too many" in buyer


def test_goodwill_above_the_rep_limit_waits_for_an_admin(world, client_for, admin):
    rep = client_for("rep_a")
    assert post_form(rep, f"/account/orders/{world.order_a}/goodwill",
                     {"amount": "2.00", "reason": "Sorry for the wait"}).status_code == 302
    pending = db.session.scalars(select(OrderAdjustment).where(OrderAdjustment.status == "pending")).all()
    assert len(pending) == 2
    assert "Sorry for the wait" in words_of(admin.get("/admin/goodwill/approvals"))
    decided = post_form(admin, f"/admin/goodwill/approvals/{pending[-1].id}", {"decision": "approve"})
    assert decided.status_code == 302
    buyer = words_of(client_for("buyer_a").get(f"/account/orders/{world.order_a}"))
    assert "Goodwill credit" in buyer and "Sorry for the wait" in buyer
    assert "Late delivery" not in buyer  # still pending


def test_goodwill_input_errors_are_shown(world, client_for):
    rep = client_for("rep_a")
    before = db_snapshot()
    page = post_form(rep, f"/account/orders/{world.order_a}/goodwill", {"percent": "5", "amount": "1",
                                                                         "reason": ""})
    assert page.status_code == 422
    assert "Give either a percentage or an amount, not both." in words_of(page)
    page = post_form(rep, f"/account/orders/{world.order_a}/goodwill", {"amount": "5000", "reason": "x"})
    assert page.status_code == 409 and "cannot exceed the value" in words_of(page)
    assert db_snapshot() == before


def test_generate_twice_adds_nothing_the_second_time(world, admin):
    product = make_product(sku="PIPE-1", policy="allow")
    set_stock(product, 0)
    before = db_snapshot()
    page = post_form(admin, "/admin/purchase-orders/generate", {})
    assert page.status_code == 302
    assert "Nothing to order" in words_of(admin.get(page.location))
    assert db_snapshot() == before


def test_a_reorder_point_tops_the_draft_up_to_the_maximum(world, admin):
    url = "/admin/reorder-points"
    bad = post_form(admin, url, {"sku": "BOLT-10", "reorder_min": "60", "reorder_max": ""})
    assert bad.status_code == 422 and "Give both the reorder point" in words_of(bad)
    saved = post_form(admin, url, {"sku": "BOLT-10", "reorder_min": "60", "reorder_max": "100"})
    assert saved.status_code == 302
    assert "BOLT-10 Hex bolt 60 100" in words_of(admin.get("/admin/reorder-points"))
    post_form(admin, "/admin/purchase-orders/generate", {})
    # 40 on hand + 10 already on the draft = 50, below 60: order up to 100, so 50 more on the draft line.
    assert fresh(PurchaseOrderLine, bo.draft_line_id()).quantity_ordered == 60
