"""A buyer finds products and sees, for each, what can be ordered now and what would wait (issue 3)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import USERS, LiveServer, assert_no_horizontal_scroll, check_a11y, login, screenshot


def badge(page: Page):
    return page.locator("main .availability-badge").first


def open_product_from_search(page: Page, sku: str) -> None:
    page.goto("/catalog/")
    page.get_by_label("Search products by name, SKU or description").fill(sku)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(sku)
    page.locator("main .product-list").get_by_role("link").first.click()
    expect(page.locator("main code").first).to_have_text(sku)


def test_buyer_searches_and_sees_the_truth_about_each_product(open_page, live_server: LiveServer):
    page = open_page()
    login(page, USERS["buyer"])

    # Search: results list with prices and availability badges.
    page.goto("/catalog/")
    page.get_by_label("Search products by name, SKU or description").fill("demo")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("main .product-list li")).to_have_count(9)
    check_a11y(page, "search results")
    screenshot(page, "catalog-search-results")

    # In stock: exact figure, a quantity box, and a check that says everything ships now.
    open_product_from_search(page, "DEMO-PLENTY")
    expect(badge(page)).to_have_text("480 in stock")
    page.get_by_label("Quantity").fill("5")
    page.get_by_role("button", name="Check availability").click()
    expect(page.locator("#verdict")).to_contain_text("5 ship now")
    check_a11y(page, "in-stock product")
    screenshot(page, "catalog-product-in-stock")

    # Blocked and out of stock: cannot be ordered, says why, offers alternatives and a notice.
    open_product_from_search(page, "DEMO-BLOCKED-OUT")
    expect(badge(page)).to_have_text("Out of stock")
    expect(page.get_by_label("Quantity")).to_have_count(0)
    expect(page.get_by_text("cannot be ordered until it is back in stock")).to_be_visible()
    alternatives = page.get_by_role("region", name="Available now instead")
    expect(alternatives.get_by_role("link").first).to_be_visible()
    for label in alternatives.locator(".availability-badge").all_inner_texts():
        assert label != "Out of stock"
    page.get_by_role("button", name="Notify me when back in stock").click()
    expect(page.get_by_role("status").filter(has_text="We will email you when")).to_be_visible()
    expect(page.get_by_role("button", name="Stop notifying me")).to_be_visible()
    rows = live_server.query(
        "SELECT count(*) FROM stock_subscriptions s JOIN products p ON p.id = s.product_id "
        "JOIN users u ON u.id = s.user_id WHERE p.sku = 'DEMO-BLOCKED-OUT' AND u.email = ?", USERS["buyer"])
    assert rows == [(1,)]
    check_a11y(page, "blocked product")
    screenshot(page, "catalog-product-blocked-out")

    # Backorderable, status shown: the backorder and its ETA.
    open_product_from_search(page, "DEMO-BACKORDER-SHOW")
    expect(badge(page)).to_have_text(re.compile(r"^Backorder — ships about \d{1,2} [A-Z][a-z]{2}"))
    page.get_by_label("Quantity").fill("3")
    page.get_by_role("button", name="Check availability").click()
    expect(page.locator("#verdict")).to_contain_text("3 on backorder, arriving about")
    screenshot(page, "catalog-product-backorder-shown")

    # Backorderable, status hidden: the buyer sees "Available" and no backorder talk.
    open_product_from_search(page, "DEMO-BACKORDER-HIDDEN")
    expect(badge(page)).to_have_text("Available")
    expect(page.locator("main")).not_to_contain_text("Backorder")
    check_a11y(page, "hidden backorder product")
    screenshot(page, "catalog-product-backorder-hidden")


def test_staff_see_the_hidden_backorder_for_what_it_is(open_page):
    page = open_page()
    login(page, USERS["rita"])
    page.goto("/catalog/p/DEMO-BACKORDER-HIDDEN")
    expect(page.locator("main")).to_contain_text("Hidden from buyers")


def test_product_and_search_pages_fit_a_phone(open_page):
    page = open_page(mobile=True)
    login(page, USERS["buyer"])
    for path in ("/catalog/search?q=screw", "/catalog/p/DEMO-PARTIAL", "/catalog/c/fasteners"):
        page.goto(path)
        assert_no_horizontal_scroll(page)
        check_a11y(page, f"{path} at 390px")
    screenshot(page, "catalog-category-mobile")
