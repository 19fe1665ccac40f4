"""A buyer creates an API key from My company, copies it from its labelled field (shown once), and
revokes it; the page passes axe and fits a phone."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import USERS, assert_no_horizontal_scroll, check_a11y, login, screenshot


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_a_buyer_creates_a_key_sees_it_once_and_revokes_it(open_page, viewport):
    mobile = viewport == "mobile"
    name = f"ERP {uuid.uuid4().hex[:6]}"
    page = open_page(mobile=mobile)
    login(page, USERS["buyer"])
    page.goto("/account/")
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
    check_a11y(page, f"the API keys page ({viewport})")

    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create key").click()

    field = page.get_by_label(f"API key “{name}”")
    expect(field).to_have_attribute("readonly", "")
    key = field.input_value()
    assert re.fullmatch(r"nwk_[A-Za-z0-9_-]{43}", key), key
    expect(page.get_by_text("curl -X POST")).to_be_visible()
    check_a11y(page, f"the API keys page with a new key ({viewport})")
    if mobile:
        assert_no_horizontal_scroll(page)
    screenshot(page, f"api-key-created-{viewport}")

    page.goto("/account/api-keys")
    expect(page.get_by_label(f"API key “{name}”")).to_have_count(0)
    assert key not in page.content()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text(f"{key[:12]}…")
    row.get_by_role("button", name=re.compile(r"^Revoke")).click()
    expect(page.get_by_role("status").filter(has_text=f"Revoked “{name}”")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("Revoked")
    check_a11y(page, f"the API keys page after revoking ({viewport})")
    if mobile:
        assert_no_horizontal_scroll(page)
