"""Each role signs in and lands where its work is; the sign-in page works by keyboard and on a phone;
signing out really ends the session; staff give new buyers a way in (initial password or link)."""

from __future__ import annotations

import re
import uuid

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

VIEWPORTS = ["desktop", "mobile"]


def heading(page: Page, name: str):
    return page.get_by_role("heading", name=name, level=1)


def nav_link(page: Page, name: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def open_menu_on_mobile(page: Page, first_link: str) -> None:
    """Below the md breakpoint the menu hides behind the toggler; the toggler opens it."""
    toggler = page.get_by_role("button", name="Toggle navigation")
    expect(toggler).to_be_visible()
    expect(nav_link(page, first_link)).to_be_hidden()
    toggler.click()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    # "show" replaces "collapsing" when the slide-down animation ends (axe skips half-drawn text).
    expect(page.locator("#main-nav")).to_have_class(re.compile(r"\bshow\b"))
    expect(nav_link(page, first_link)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def company_names_of(server: LiveServer, rep_email: str) -> list[str]:
    rows = server.query("SELECT c.name FROM companies c JOIN users u ON u.id = c.sales_rep_id"
                        " WHERE u.email = ? ORDER BY c.name", rep_email)
    return [name for (name,) in rows]


# --- sign-in page -----------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_sign_in_page_is_accessible(open_page, viewport):
    page = open_page(mobile=viewport == "mobile")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(heading(page, "Sign in")).to_be_visible()
    check_a11y(page, "the sign-in page")
    if viewport == "mobile":
        assert_no_horizontal_scroll(page)
    screenshot(page, f"login-{viewport}")


def test_sign_in_works_by_keyboard_alone(open_page):
    page = open_page()
    page.goto("/login")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # visible once focused, hidden otherwise
    screenshot(page, "login-skip-link-focused")

    page.keyboard.press("Enter")  # follows the skip link: the next Tab starts inside <main>
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email", exact=True)).to_be_focused()
    page.keyboard.type(USERS["buyer"])
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type("demo-password-2026")
    page.keyboard.press("Enter")

    expect(heading(page, "Catalog")).to_be_visible()


def test_a_wrong_password_is_reported_next_to_the_field(open_page):
    page = open_page()
    login_page = "/login"
    page.goto(login_page)
    page.get_by_label("Email", exact=True).fill(USERS["buyer"])
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("The email or password is not correct.")).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    check_a11y(page, "the sign-in page with an error")


# --- landing pages ------------------------------------------------------------------------------------


def check_buyer_landing(page: Page, server: LiveServer) -> str:
    expect(page).to_have_url(re.compile(r"/catalog/$"))
    expect(heading(page, "Catalog")).to_be_visible()
    categories = page.get_by_role("region", name="Categories")
    names = [name for (name,) in server.query("SELECT name FROM categories ORDER BY name")]
    assert names, "the demo data has no categories"
    for name in names[:3]:
        expect(categories.get_by_role("link", name=name, exact=True)).to_be_visible()
    company = server.query("SELECT c.name FROM companies c JOIN users u ON u.company_id = c.id"
                           " WHERE u.email = ?", USERS["buyer"])[0][0]
    assert company == "Acme Hardware Supply"
    expect(page.get_by_role("navigation", name="Main")).to_contain_text(company)
    return "Catalog"


def check_rep_landing(page: Page, server: LiveServer) -> str:
    expect(page).to_have_url(re.compile(r"/rep/$"))
    expect(heading(page, "My accounts")).to_be_visible()
    accounts = page.get_by_role("table", name="Customer accounts")
    for name in ("Acme Hardware Supply", "Bluebird Facilities"):
        expect(accounts.get_by_role("link", name=name, exact=True)).to_be_visible()
    sams = company_names_of(server, USERS["sam"])
    assert sams, "the demo data gives Sam no company, so the scoping check would prove nothing"
    for name in sams:
        expect(accounts.get_by_role("link", name=name, exact=True)).to_have_count(0)
    return "My accounts"


def check_admin_landing(page: Page, server: LiveServer) -> str:
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(heading(page, "Back office")).to_be_visible()
    expect(page.get_by_text("Companies", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Recent activity")).to_be_visible()
    return "Back office"


LANDINGS = {
    "buyer": (USERS["buyer"], check_buyer_landing),
    "rep": (USERS["rita"], check_rep_landing),
    "admin": (USERS["admin"], check_admin_landing),
}


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("role", LANDINGS)
def test_each_role_lands_on_its_own_home_page(open_page, live_server, role, viewport):
    email, check_landing = LANDINGS[role]
    page = open_page(mobile=viewport == "mobile")
    login(page, email)

    first_link = check_landing(page, live_server)
    check_a11y(page, f"the {role} landing page ({viewport})")
    screenshot(page, f"{role}-landing-{viewport}")
    if viewport == "mobile":
        assert_no_horizontal_scroll(page)
        open_menu_on_mobile(page, first_link)
        assert_no_horizontal_scroll(page)
        check_a11y(page, f"the {role} landing page with the menu open")
        screenshot(page, f"{role}-menu-open-mobile", full_page=False)
    else:
        expect(nav_link(page, first_link)).to_have_attribute("aria-current", "page")


# --- signing out ------------------------------------------------------------------------------------


def test_sign_out_ends_the_session_even_after_going_back(open_page):
    page = open_page()
    login(page, USERS["buyer"])
    page.goto("/account/")
    expect(heading(page, "Acme Hardware Supply")).to_be_visible()

    logout(page)
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()

    page.go_back()
    page.reload()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(heading(page, "Sign in")).to_be_visible()
    expect(page.get_by_text("Acme Hardware Supply")).to_have_count(0)

    page.goto("/account/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(heading(page, "Sign in")).to_be_visible()


# --- staff give buyers a way in ---------------------------------------------------------------------


def test_rep_creates_a_company_and_a_buyer_with_an_initial_password(open_page):
    suffix = uuid.uuid4().hex[:6]
    company, buyer_email = f"Harbor Tools {suffix}", f"pat.{suffix}@harbor.example"
    rep = open_page()
    login(rep, USERS["rita"])

    rep.get_by_role("link", name="New company").click()
    expect(heading(rep, "New company")).to_be_visible()
    check_a11y(rep, "the rep's new-company form")
    rep.get_by_label("Company name").fill(company)
    rep.get_by_role("button", name="Save company").click()
    expect(heading(rep, company)).to_be_visible()
    expect(rep.get_by_role("status").filter(has_text="created")).to_be_visible()
    check_a11y(rep, "a company page")
    screenshot(rep, "rep-company-created")

    rep.get_by_label("Full name").fill("Pat Harbor")
    rep.get_by_label("Email", exact=True).fill(buyer_email)
    rep.get_by_label("Generate an initial password to tell them").check()
    rep.get_by_role("button", name="Add buyer").click()
    expect(heading(rep, "Access for Pat Harbor")).to_be_visible()
    password = rep.locator("#secret").inner_text().strip()
    assert len(password) >= 12, f"the initial password shown is too short: {password!r}"
    check_a11y(rep, "the one-time access page")
    screenshot(rep, "rep-initial-password")
    rep.get_by_role("link", name="Done").click()
    expect(rep.get_by_role("cell", name=buyer_email)).to_be_visible()
    logout(rep)

    login(rep, buyer_email, password)
    expect(heading(rep, "Catalog")).to_be_visible()
    expect(rep.get_by_role("navigation", name="Main")).to_contain_text(f"Pat Harbor · {company}")


def test_admin_invites_a_buyer_who_sets_a_password_from_the_link(open_page):
    suffix = uuid.uuid4().hex[:6]
    email = f"lee.{suffix}@bluebird.example"
    admin = open_page()
    login(admin, USERS["admin"])

    nav_link(admin, "Users").click()
    admin.get_by_role("link", name="New user").click()
    expect(heading(admin, "New user")).to_be_visible()
    check_a11y(admin, "the admin's new-user form")
    admin.get_by_label("Full name").fill("Lee Bluebird")
    admin.get_by_label("Email", exact=True).fill(email)
    admin.get_by_label("Role").select_option(label="Buyer")
    admin.get_by_label("Company (buyers only)").select_option(label="Bluebird Facilities")
    expect(admin.get_by_label("Give me a set-password link to send them")).to_be_checked()
    admin.get_by_role("button", name="Create user").click()
    expect(heading(admin, "Access for Lee Bluebird")).to_be_visible()
    link = admin.locator("#secret").inner_text().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/set-password/\S+", link), link
    screenshot(admin, "admin-set-password-link")

    buyer = open_page()  # a new context: the buyer's own browser, no admin cookies
    buyer.goto(link)
    expect(heading(buyer, "Set your password")).to_be_visible()
    expect(buyer.get_by_text(email)).to_be_visible()
    check_a11y(buyer, "the set-password page")
    screenshot(buyer, "set-password")
    buyer.get_by_label("New password", exact=True).fill("a-long-new-password-2026")
    buyer.get_by_label("Repeat the new password").fill("a-long-new-password-2026")
    buyer.get_by_role("button", name="Save password").click()

    expect(heading(buyer, "Catalog")).to_be_visible()
    expect(buyer.get_by_text("Your password is saved and you are signed in.")).to_be_visible()
    expect(buyer.get_by_role("navigation", name="Main")).to_contain_text("Lee Bluebird · Bluebird Facilities")

    buyer.goto(link)  # the link works once
    expect(heading(buyer, "This link does not work")).to_be_visible()
