"""A sales rep's day (issue 7): the dashboard of trouble first, any order found by number (another rep's
customer: read-only), and an order placed for a customer from "Order for this customer", which the
customer's buyer then sees as placed by the rep. Every page passes axe; screenshots saved."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    USERS,
    LiveServer,
    assert_no_horizontal_scroll,
    check_a11y,
    login,
    logout,
    screenshot,
)


def heading(page: Page, name: str):
    return page.get_by_role("heading", name=name, level=1)


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "mobile"])
def test_the_rep_dashboard_and_order_lookup_are_accessible(open_page, live_server: LiveServer, mobile):
    page = open_page(mobile=mobile)
    login(page, USERS["rita"])
    page.goto("/rep/")
    expect(heading(page, "My accounts")).to_be_visible()
    for section in ("Backorders at risk", "Recent ETA changes", "Open orders", "Overdue invoices"):
        expect(page.get_by_role("heading", name=re.compile(f"^{section}"))).to_be_visible()
    check_a11y(page, "rep dashboard")
    screenshot(page, f"rep-dashboard-{'mobile' if mobile else 'desktop'}")
    if mobile:
        assert_no_horizontal_scroll(page)
    # Sam looks after Cedar Build Co.; Rita can still answer where its order stands.
    (number,) = live_server.query(
        "SELECT o.number FROM orders o JOIN companies c ON c.id = o.company_id"
        " WHERE c.name = 'Cedar Build Co.' ORDER BY o.id LIMIT 1")[0]
    page.goto("/rep/orders")
    expect(heading(page, "Find an order")).to_be_visible()
    page.get_by_label("Order number, company, PO reference or SKU").fill(number)
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name=number).click()
    expect(heading(page, f"Order {number}")).to_be_visible()
    expect(page.get_by_text("is looked after by another member of staff")).to_be_visible()
    expect(page.get_by_role("heading", name="Staff actions")).to_have_count(0)
    check_a11y(page, "read-only order status")
    screenshot(page, f"rep-order-status-{'mobile' if mobile else 'desktop'}")


def test_a_rep_orders_for_a_customer_and_the_buyer_sees_it(open_page, live_server: LiveServer):
    page = open_page()
    login(page, USERS["rita"])
    page.goto("/rep/")
    page.get_by_role("link", name="Acme Hardware Supply").click()
    page.get_by_role("button", name="Order for this customer").click()
    bar = page.get_by_role("region", name="Ordering for a customer")
    expect(bar).to_contain_text("Ordering for Acme Hardware Supply")
    check_a11y(page, "quick order for a customer")
    page.get_by_label("Or paste lines of SKU and quantity").fill("DEMO-PLENTY, 1\n")
    page.get_by_role("button", name="Add to cart").click()
    page.goto("/cart")
    page.get_by_role("link", name="Check out").click()
    page.get_by_label("Your PO reference (optional)").fill("PHONE-ORDER-7")
    page.get_by_role("button", name="Continue to review").click()
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/checkout/done/"))
    number = page.url.rsplit("/", 1)[1]
    check_a11y(page, "confirmation of an order for a customer")
    screenshot(page, "rep-order-for-customer-done")
    bar.get_by_role("button", name="Stop ordering for them").click()
    expect(page.get_by_role("region", name="Ordering for a customer")).to_have_count(0)
    logout(page)
    login(page, USERS["buyer"])
    page.goto(f"/account/orders/{number}")
    expect(page.get_by_text(re.compile(r"by Rita")).first).to_be_visible()  # placed by the rep
