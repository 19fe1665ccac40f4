"""A buyer quick-orders three SKUs, sees what ships now and what waits, gets the deadline flag for the
backorder that cannot arrive in time, swaps (or keeps) it and places the order (issue 4)."""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    SCREENSHOTS,
    USERS,
    LiveServer,
    assert_no_horizontal_scroll,
    check_a11y,
    login,
    screenshot,
)


def heading(page: Page, name: str):
    return page.get_by_role("heading", name=name, level=1)


def empty_the_cart(page: Page) -> None:
    """The live server is shared by the session: start from an empty cart whatever ran before."""
    page.goto("/cart")
    remove = page.locator("main").get_by_role("button", name=re.compile(r"^Remove"))
    left = remove.count()
    while left:
        remove.first.click()
        left -= 1
        expect(remove).to_have_count(left)
    expect(page.get_by_text("Your cart is empty.")).to_be_visible()


def line(page: Page, sku: str):
    """The cart or review line of ``sku``."""
    code = page.locator("code", has_text=re.compile(f"^{sku}$"))
    return page.locator("main li.list-group-item").filter(has=code)


def test_buyer_quick_orders_sees_the_split_resolves_the_deadline_and_places_the_order(
        open_page, live_server: LiveServer):
    page = open_page()
    login(page, USERS["buyer"])
    empty_the_cart(page)

    # Quick order: three good lines and one typo; the typo comes back with its reason.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Quick order").click()
    expect(heading(page, "Quick order")).to_be_visible()
    page.get_by_label("SKU, row 1", exact=True).fill("NOPE-404")
    page.get_by_label("Quantity, row 1", exact=True).fill("2")
    page.get_by_label("Or paste lines of SKU and quantity").fill(
        "DEMO-PLENTY, 5\nDEMO-PARTIAL\t10\nDEMO-BACKORDER-SHOW 3\n")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status").filter(has_text="Added 3 lines to your cart")).to_be_visible()
    expect(page.locator("#rejected-rows")).to_contain_text("Row 1 (NOPE-404, 2): Unknown SKU NOPE-404")
    expect(page.get_by_label("SKU, row 1", exact=True)).to_have_value("NOPE-404")
    check_a11y(page, "quick order with a bad row")
    screenshot(page, "checkout-quick-order")

    # The cart: the live split per line, with the navigation counting three lines.
    page.get_by_role("link", name="Go to cart").click()
    expect(heading(page, "Your cart")).to_be_visible()
    expect(page.locator("nav .nav-cart")).to_contain_text("3")
    expect(line(page, "DEMO-PLENTY")).to_contain_text("5 ship now")
    expect(line(page, "DEMO-PARTIAL")).to_contain_text(re.compile(r"\d+ on backorder arriving about"))
    expect(line(page, "DEMO-BACKORDER-SHOW")).to_contain_text("3 on backorder arriving about")
    check_a11y(page, "cart")
    screenshot(page, "checkout-cart")

    # Details: a need-by date two days out, which the backorder cannot meet.
    page.get_by_role("link", name="Check out").click()
    expect(heading(page, "Checkout details")).to_be_visible()
    need_by = date.today() + timedelta(days=2)
    page.get_by_label("Your PO reference (optional)").fill("PO-E2E-1")
    page.get_by_label("Need the order by (optional)").fill(need_by.isoformat())
    check_a11y(page, "checkout details")
    page.get_by_role("button", name="Continue to review").click()

    # Review: the late line is flagged in plain words and placing waits for a decision.
    expect(heading(page, "Review your order")).to_be_visible()
    flagged = line(page, "DEMO-BACKORDER-SHOW")
    expect(flagged).to_contain_text(f"We cannot deliver all 3 by {need_by.day} {need_by:%b}")
    expect(page.get_by_role("button", name="Place order")).to_be_disabled()
    problems = page.locator("#review-problems")
    expect(problems).to_contain_text("DEMO-BACKORDER-SHOW: Arrives after your deadline")
    check_a11y(page, "review with a flagged line")
    screenshot(page, "checkout-review-flagged")

    swaps = flagged.get_by_role("button", name=re.compile(r"^Swap to "))
    if swaps.count():
        swaps.first.click()
        expect(page.get_by_role("status").filter(has_text="Swapped DEMO-BACKORDER-SHOW for")).to_be_visible()
    else:
        flagged.get_by_role("button", name=re.compile(r"^Keep it and accept")).click()
        expect(page.get_by_role("status").filter(has_text="Kept DEMO-BACKORDER-SHOW")).to_be_visible()
    # DEMO-PARTIAL's backorder has a PO due later than the need-by date too: keep it.
    keeps = page.get_by_role("button", name=re.compile(r"^Keep it and accept"))
    left = keeps.count()
    while left:
        keeps.first.click()
        left -= 1
        expect(keeps).to_have_count(left)
    screenshot(page, "checkout-review-resolved")
    page.get_by_role("button", name="Place order").click()

    # Confirmation: the number, what ships now and what waits.
    expect(heading(page, "Thank you for your order")).to_be_visible()
    number = page.locator(".order-number").inner_text()
    assert re.fullmatch(r"SO-\d{5}", number)
    expect(page.locator("main table")).to_contain_text("DEMO-PLENTY")
    expect(page.locator("main table")).to_contain_text("5 ship now")
    check_a11y(page, "confirmation")
    screenshot(page, "checkout-confirmation")
    rows = live_server.query("SELECT count(*), max(po_reference) FROM orders WHERE number = ?", number)
    assert rows == [(1, "PO-E2E-1")]
    expect(page.locator("nav .nav-cart")).to_contain_text("0")

    # The PDF confirmation: served as a PDF, with the order number and what ships when.
    pdf_link = page.get_by_role("link", name=re.compile("PDF"))
    response = page.request.get(pdf_link.first.get_attribute("href"))
    assert response.ok and response.headers["content-type"] == "application/pdf"
    pdf = SCREENSHOTS / "checkout-confirmation.pdf"
    pdf.write_bytes(response.body())
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert number in text and "DEMO-PLENTY" in text
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf),
                    str(SCREENSHOTS / "checkout-confirmation-pdf")], check=True)


def test_cart_and_review_fit_a_phone(open_page):
    page = open_page(mobile=True)
    login(page, USERS["buyer"])
    empty_the_cart(page)
    page.goto("/cart/quick")
    page.get_by_label("Or paste lines of SKU and quantity").fill("DEMO-PLENTY, 2\nDEMO-BACKORDER-HIDDEN, 4\n")
    page.get_by_role("button", name="Add to cart").click()
    expect(heading(page, "Your cart")).to_be_visible()
    # A hidden backorder reads as available to the buyer.
    expect(line(page, "DEMO-BACKORDER-HIDDEN")).to_contain_text("4 ship now")
    expect(line(page, "DEMO-BACKORDER-HIDDEN")).not_to_contain_text("backorder")
    for path, name in (("/cart", "cart"), ("/cart/quick", "quick order"), ("/checkout", "details"),
                       ("/checkout/review", "review")):
        page.goto(path)
        assert_no_horizontal_scroll(page)
        check_a11y(page, f"{name} at 390px")
    screenshot(page, "checkout-review-mobile")
    empty_the_cart(page)
