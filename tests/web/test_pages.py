"""Each role lands on its own page; every page has the same accessible skeleton, error pages included."""

from __future__ import annotations

from collections import Counter

import pytest

from portal.access import public
from tests.conftest import login
from tests.web.site import PERSONAS, SIGNED_IN, get_pages, parse, seed_world

HOMES = {"buyer_a": "/catalog/", "buyer_b": "/catalog/", "rep_a": "/rep/", "rep_b": "/rep/",
         "admin": "/admin/"}
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


def h1_texts(html: str) -> list[str]:
    return [" ".join(h.text.split()) for h in parse(html).find("h1")]


def assert_layout(html: str, where: str) -> None:
    """The skeleton every page shares: language, one <main>, a <nav>, one <h1>, a title."""
    page = parse(html)
    (root,) = page.find("html")
    assert root.attrs.get("lang") == "en", f"{where}: <html lang> is {root.attrs.get('lang')!r}"
    assert len(page.find("main")) == 1, f"{where}: needs exactly one <main>"
    assert page.find("nav"), f"{where}: has no <nav>"
    headings = page.find("h1")
    assert len(headings) == 1, f"{where}: has {len(headings)} <h1>"
    assert headings[0].text.strip(), f"{where}: the <h1> is empty"
    (title,) = page.find("title")
    assert title.text.strip() and not title.text.strip().startswith("·"), f"{where}: empty <title>"


def unlabelled_fields(html: str) -> list[str]:
    page = parse(html)
    labelled = {label.attrs.get("for") for label in page.find("label")}
    missing = []
    for element in page.elements:
        if element.tag not in ("input", "select", "textarea"):
            continue
        if element.tag == "input" and (element.attrs.get("type") or "text") in UNLABELLED_TYPES:
            continue
        if element.attrs.get("aria-label") or element.attrs.get("aria-labelledby"):
            continue
        if element.attrs.get("id") and element.attrs["id"] in labelled:
            continue
        missing.append(f"<{element.tag} name={element.attrs.get('name')!r} id={element.attrs.get('id')!r}>")
    return missing


# --- landing pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_start_page_sends_each_role_home(app, world, client_for, persona):
    response = client_for(persona).get("/")
    assert response.status_code == 302
    assert response.location == HOMES.get(persona, "/login")


@pytest.mark.parametrize("persona", SIGNED_IN)
def test_signing_in_lands_each_role_on_its_home_page(app, world, persona):
    response = login(app.test_client(), world.email(persona))
    assert response.location == HOMES[persona]


def test_a_buyer_lands_on_the_catalog_with_its_categories(app, world, client_for):
    response = client_for("buyer_a").get("/", follow_redirects=True)
    assert response.request.path == "/catalog/"
    assert h1_texts(response.get_data(as_text=True)) == ["Catalog"]
    assert "Fasteners" in response.get_data(as_text=True)
    assert f"/catalog/c/{world.category_slug}" in response.get_data(as_text=True)


def test_a_rep_lands_on_their_accounts_and_sees_only_their_companies(app, world, client_for):
    response = client_for("rep_a").get("/", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.request.path == "/rep/"
    assert h1_texts(html) == ["My accounts"]
    assert "Acme Hardware" in html
    assert "Bolt Supplies" not in html
    assert f"/rep/companies/{world.company_b}" not in html


def test_a_reps_search_does_not_reach_other_reps_companies(app, world, client_for):
    html = client_for("rep_a").get("/rep/?q=bolt").get_data(as_text=True)
    assert "Bolt Supplies" not in html
    assert "No accounts match" in html


def test_an_admin_lands_on_the_back_office(app, world, client_for):
    response = client_for("admin").get("/", follow_redirects=True)
    assert response.request.path == "/admin/"
    assert h1_texts(response.get_data(as_text=True)) == ["Back office"]


def test_an_admin_sees_every_company_in_the_accounts_list(app, world, client_for):
    html = client_for("admin").get("/rep/").get_data(as_text=True)
    assert "Acme Hardware" in html and "Bolt Supplies" in html


def test_a_buyer_sees_their_own_company_only(app, world, client_for):
    html = client_for("buyer_a").get("/account/").get_data(as_text=True)
    assert "Acme Hardware" in html and "Acme depot" in html
    assert "Bolt" not in html


# --- error pages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["anonymous", "buyer_a", "admin"])
def test_the_404_page_is_styled(app, world, client_for, persona):
    response = client_for(persona).get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert_layout(html, "404 page")
    assert h1_texts(html) == ["Page not found"]
    assert "/static/css/app.css" in html


@pytest.mark.parametrize("url", ["/admin/", "/admin/users", "/rep/"])
def test_the_403_page_is_styled(app, world, client_for, url):
    response = client_for("buyer_a").get(url)
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert_layout(html, "403 page")
    assert h1_texts(html) == ["Not allowed"]
    assert "Your account does not have access to this page." in html


def test_the_405_page_is_styled(app, world, client_for):
    response = client_for("buyer_a").get("/logout")
    assert response.status_code == 405
    assert_layout(response.get_data(as_text=True), "405 page")


def test_an_invalid_link_page_is_styled(app, world):
    response = app.test_client().get("/set-password/not-a-token")
    assert response.status_code == 404
    assert_layout(response.get_data(as_text=True), "invalid link page")


def test_a_server_error_renders_the_styled_500_page(make_app):
    fresh = make_app()

    @fresh.get("/explode")
    @public
    def explode():
        raise RuntimeError("boom")

    world = seed_world()
    client = fresh.test_client()
    login(client, world.email("buyer_a"))
    response = client.get("/explode")

    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert_layout(html, "500 page")
    assert h1_texts(html) == ["Something went wrong"]
    assert "Nothing was saved" in html
    assert "boom" not in html and "Traceback" not in html


def test_a_server_error_after_a_failed_write_still_renders(make_app):
    """The error page must not trip over the failed transaction (it rolls back first)."""
    from sqlalchemy import text

    from portal.extensions import db

    fresh = make_app()

    @fresh.get("/bad-sql")
    @public
    def bad_sql():
        db.session.execute(text("SELECT * FROM no_such_table"))
        return "unreachable"

    response = fresh.test_client().get("/bad-sql")
    assert response.status_code == 500
    assert h1_texts(response.get_data(as_text=True)) == ["Something went wrong"]


# --- every page -------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_has_one_h1_a_main_landmark_a_nav_and_lang_en(app, world, client_for, persona):
    pages = list(get_pages(app, world, client_for(persona)))
    assert pages
    for url, html in pages:
        assert_layout(html, f"{url} as {persona}")


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_form_field_has_a_label(app, world, client_for, persona):
    for url, html in get_pages(app, world, client_for(persona)):
        assert unlabelled_fields(html) == [], f"{url} as {persona} has fields without a label"


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_page_repeats_an_element_id(app, world, client_for, persona):
    for url, html in get_pages(app, world, client_for(persona)):
        ids = Counter(e.attrs["id"] for e in parse(html).elements if e.attrs.get("id"))
        repeated = sorted(i for i, n in ids.items() if n > 1)
        assert repeated == [], f"{url} as {persona} repeats ids {repeated}"


def test_form_pages_with_errors_keep_their_labels(app, world, client_for):
    """Re-rendered forms (after a refusal) are what people read most carefully."""
    from tests.conftest import post_form

    admin = client_for("admin")
    for url in ["/rep/companies/new", "/admin/users/new", f"/rep/companies/{world.company_a}/buyers",
                f"/rep/companies/{world.company_a}/addresses/new", "/account/password"]:
        response = post_form(admin, url, {})
        assert response.status_code == 422, url
        html = response.get_data(as_text=True)
        assert_layout(html, url)
        assert unlabelled_fields(html) == [], url
        assert 'aria-invalid="true"' in html, f"{url}: invalid fields are not marked"


def test_the_label_checker_notices_an_unlabelled_field():
    html = '<label for="a">A</label><input id="a"><input id="b" name="b"><select name="c"></select>'
    assert unlabelled_fields(html) == ["<input name='b' id='b'>", "<select name='c' id=None>"]
