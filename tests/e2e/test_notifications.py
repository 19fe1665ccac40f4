"""Notifications in the browser: a buyer asks to be told when a product is back; an admin adds stock;
the buyer sees the unread badge, reads the notice, marks it read and chooses which emails to get.

The stock added here is taken off again at the end, so later journeys still find the product out of
stock.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import USERS, assert_no_horizontal_scroll, check_a11y, login, logout, screenshot

pytestmark = pytest.mark.e2e
SKU = "DEMO-BLOCKED-OUT"


def adjust_stock(page: Page, product_id: int, change: int, reason: str) -> None:
    page.goto(f"/admin/products/{product_id}")
    page.get_by_label("Change in units (negative to remove)").fill(str(change))
    page.get_by_label("Reason", exact=True).fill(reason)
    page.get_by_role("button", name="Adjust", exact=True).click()
    expect(page.get_by_role("alert").or_(page.get_by_role("status")).first).to_be_visible()


def test_a_buyer_is_told_in_the_portal_when_a_product_is_back_and_chooses_emails(open_page, live_server):
    ((product_id, name),) = live_server.query("SELECT id, name FROM products WHERE sku = ?", SKU)
    buyer = open_page()
    login(buyer, USERS["buyer"])
    buyer.goto(f"/catalog/p/{SKU}")
    if buyer.get_by_role("button", name="Notify me when back in stock").count():
        buyer.get_by_role("button", name="Notify me when back in stock").click()
    expect(buyer.get_by_role("button", name="Stop notifying me")).to_be_visible()

    admin = open_page()
    login(admin, USERS["admin"])
    adjust_stock(admin, product_id, 5, "Found a box in aisle 3")
    try:
        buyer.goto("/catalog/")
        nav = buyer.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name=re.compile(r"^Notifications \d+ unread$"))).to_be_visible()
        nav.get_by_role("link", name=re.compile(r"^Notifications")).click()
        expect(buyer.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
        notice = buyer.get_by_role("link", name=f"{name} ({SKU}) is back in stock")
        expect(notice).to_be_visible()
        check_a11y(buyer, "the notifications page")
        screenshot(buyer, "buyer-notifications")

        title = f"{name} ({SKU}) is back in stock"
        mark_read = buyer.get_by_role("button", name=f"Mark read: {title}", exact=True)
        mark_read.click()
        expect(mark_read).to_have_count(0)
        buyer.get_by_role("link", name="email settings").click()
        expect(buyer.get_by_role("heading", name="Email settings", level=1)).to_be_visible()
        buyer.get_by_label("Back-in-stock notices for products you asked about").uncheck()
        buyer.get_by_role("button", name="Save email settings").click()
        expect(buyer.get_by_text("Email settings saved.")).to_be_visible()
        expect(buyer.get_by_label("Back-in-stock notices for products you asked about")).not_to_be_checked()
        expect(buyer.get_by_label("Order confirmations, items set aside for you and shipments")) \
            .to_be_checked()
        check_a11y(buyer, "the email settings page")
        screenshot(buyer, "buyer-email-settings")
        logout(buyer)
    finally:
        adjust_stock(admin, product_id, -5, "Box belonged to another customer")


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "mobile"])
def test_an_admin_reads_the_outbox_and_one_email(open_page, mobile):
    admin = open_page(mobile=mobile)
    login(admin, USERS["admin"])
    admin.goto("/admin/")
    admin.get_by_role("link", name="Outbox: emails waiting, failing and sent").click()
    expect(admin.get_by_role("heading", name="Outbox", level=1)).to_be_visible()
    admin.get_by_label("Show").select_option("all")
    admin.get_by_role("button", name="Filter").click()
    first = admin.locator("#outbox-table tbody a").first
    expect(first).to_be_visible()
    check_a11y(admin, "the outbox")
    if mobile:
        assert_no_horizontal_scroll(admin)
    screenshot(admin, f"admin-outbox{'-mobile' if mobile else ''}")
    first.click()
    expect(admin.get_by_role("heading", name=re.compile(r"^Message \d+: "), level=1)).to_be_visible()
    expect(admin.locator("#email-subject")).not_to_be_empty()
    check_a11y(admin, "an outbox message")
    if mobile:
        assert_no_horizontal_scroll(admin)
    screenshot(admin, f"admin-outbox-message{'-mobile' if mobile else ''}")
    logout(admin)
