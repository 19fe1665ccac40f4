"""The back office end to end (issue 6): an admin generates POs from demand, sends one, receives part of it,
sees the set-aside list and ships; the buyer sees the updated timeline on the order."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import (
    USERS,
    LiveServer,
    assert_no_horizontal_scroll,
    check_a11y,
    login,
    logout,
    screenshot,
)

ORDER = "SO-D0001"  # the demo's backorder of Acme Hardware Supply (portal/demo_backoffice.py)


def _covering_line(live_server: LiveServer) -> tuple[int, int, str]:
    """(PO id, PO line id, SKU) of a PO line reserved for the demo order's visible backorder."""
    rows = live_server.query(
        "SELECT pol.purchase_order_id, pol.id, p.sku FROM po_line_links l "
        "JOIN purchase_order_lines pol ON pol.id = l.po_line_id "
        "JOIN order_lines ol ON ol.id = l.order_line_id JOIN orders o ON o.id = ol.order_id "
        "JOIN products p ON p.id = ol.product_id "
        "WHERE o.number = ? AND ol.backorder_hidden = 0 ORDER BY pol.id", ORDER)
    assert rows, "the demo order's backorder is not covered by a PO"
    return rows[0]


def test_admin_generates_sends_receives_and_ships_and_the_buyer_follows(open_page, live_server: LiveServer):
    page = open_page()
    login(page, USERS["admin"])

    page.goto("/admin/purchase-orders")
    page.get_by_role("button", name="Generate POs from demand").click()
    expect(page.get_by_role("alert").or_(page.locator(".alert")).first).to_be_visible()
    check_a11y(page, "purchase orders")
    screenshot(page, "backoffice-purchase-orders")

    po_id, line_id, sku = _covering_line(live_server)
    page.goto(f"/admin/purchase-orders/{po_id}")
    expect(page.locator("main")).to_contain_text(f"for Acme Hardware Supply, order {ORDER}")
    if page.get_by_role("button", name="Send to vendor").count():
        if page.locator(".below-minimum").count():  # demo vendors have minimum order values
            expect(page.locator(".below-minimum")).to_contain_text("below the minimum order of")
            check_a11y(page, "purchase order below the vendor's minimum")
            screenshot(page, "backoffice-purchase-order-below-minimum")
            page.get_by_label("Send anyway, below the vendor's minimum").check()
            page.get_by_label("Reason for sending below the minimum").fill("Customer backorders are waiting")
        page.get_by_role("button", name="Send to vendor").click()
        expect(page.locator("main")).to_contain_text("the email to the vendor is queued")
    check_a11y(page, "purchase order")
    screenshot(page, "backoffice-purchase-order")

    page.get_by_label(re.compile(rf"^{re.escape(sku)} received")).fill("2")
    page.get_by_role("button", name="Record receipt").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Receipt on")
    expect(page.locator(".set-aside")).to_contain_text(
        f"Put 2 × {sku} aside for Acme Hardware Supply, order {ORDER}")
    check_a11y(page, "receipt")
    screenshot(page, "backoffice-receipt-set-aside")

    page.goto(f"/admin/orders/{ORDER}/ship")
    page.get_by_label("Tracking number").fill("1Z-E2E-42")
    page.get_by_role("button", name="Record shipment").click()
    expect(page.locator("main")).to_contain_text("recorded")
    expect(page.locator("main")).to_contain_text("Packing slip (PDF)")
    check_a11y(page, "ship order")
    screenshot(page, "backoffice-shipment")

    page.goto("/admin/backorders")
    expect(page.get_by_role("heading", level=1)).to_have_text("Backorder queue")
    check_a11y(page, "backorder queue")
    screenshot(page, "backoffice-queue")
    logout(page)

    login(page, USERS["buyer"])
    page.goto(f"/account/orders/{ORDER}")
    timeline = page.locator(".order-timeline")
    expect(timeline).to_contain_text(f"2 × {sku} arrived and set aside for this order")
    expect(timeline).to_contain_text("tracking 1Z-E2E-42")
    expect(page.locator("main")).not_to_contain_text("Staff actions")
    check_a11y(page, "buyer order timeline")
    screenshot(page, "backoffice-buyer-timeline")


def test_a_draft_below_the_vendors_minimum_is_sent_only_with_a_reason(open_page, live_server: LiveServer):
    """On a phone: the draft shows its value and shortfall; "Send to vendor" alone is refused with the
    amount missing; ticking "send anyway" with a reason sends it."""
    vendor_id, vendor, sku = live_server.query(
        "SELECT v.id, v.name, p.sku FROM vendors v JOIN products p ON p.vendor_id = v.id "
        "WHERE v.min_order_value > 0 AND v.active = 1 AND p.cost_price * 1 < v.min_order_value "
        "AND NOT EXISTS (SELECT 1 FROM purchase_orders po WHERE po.vendor_id = v.id AND po.status = 'draft') "
        "ORDER BY v.id, p.sku LIMIT 1")[0]
    page = open_page(mobile=True)
    login(page, USERS["admin"])
    page.goto("/admin/purchase-orders")
    page.get_by_label("Vendor").select_option(str(vendor_id))
    page.get_by_role("button", name="Open draft").click()
    page.get_by_label("SKU").fill(sku)
    page.get_by_label("Quantity", exact=True).fill("1")
    page.get_by_role("button", name="Add line").click()
    section = page.locator(".below-minimum")
    expect(section).to_contain_text(f"Below {vendor}'s minimum order")
    check_a11y(page, "draft below the vendor's minimum")
    screenshot(page, "backoffice-po-below-minimum-mobile")
    assert_no_horizontal_scroll(page)

    section.get_by_role("button", name="Send to vendor").click()
    expect(page.get_by_role("alert")).to_contain_text("below")
    expect(page.get_by_role("alert")).to_contain_text("tick “send anyway” and give a reason")

    page.get_by_label("Send anyway, below the vendor's minimum").check()
    page.get_by_label("Reason for sending below the minimum").fill("Customer backorders are waiting")
    page.locator(".below-minimum").get_by_role("button", name="Send to vendor").click()
    expect(page.locator("main")).to_contain_text("the email to the vendor is queued")
    screenshot(page, "backoffice-po-sent-below-minimum-mobile")
