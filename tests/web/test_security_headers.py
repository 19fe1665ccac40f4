"""Headers, cookies, CSRF and the CSP-friendly markup every page must keep."""

from __future__ import annotations

import pytest

from portal.config import ConfigError
from tests.conftest import TEST_PASSWORD, build_app, csrf_token, post_form
from tests.conftest import test_environ as environ_for
from tests.web.admin_posts import ADMIN_VALID_POSTS
from tests.web.backoffice_world import with_backoffice
from tests.web.site import (
    PERSONAS,
    STATIC_ENDPOINTS,
    db_snapshot,
    get_pages,
    methods_of,
    parse,
    product_id_of,
    url_of,
)


@pytest.fixture
def world(world):
    """The web world plus the back office of issue 6 (a sent PO with a receipt and a shipment, a draft PO,
    goodwill awaiting approval): see tests/web/backoffice_world.py."""
    return with_backoffice(world)


CSRF_MESSAGE = "Your form expired or was sent from another page."


def _csp(response) -> dict[str, list[str]]:
    policy = {}
    for directive in response.headers["Content-Security-Policy"].split(";"):
        name, *values = directive.split()
        policy[name] = values
    return policy


# --- headers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/login", "/nowhere", "/healthz"])
def test_content_security_policy_forbids_inline_code_and_framing(client, url):
    response = client.get(url)
    policy = _csp(response)
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]


def test_responses_are_not_sniffed_framed_or_cached(client):
    response = client.get("/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_every_security_header_is_sent_once_and_a_views_own_value_is_kept(client):
    """The API sets its own Cache-Control; the headers added after every view never repeat one."""
    response = client.post("/api/v1/orders", json={"lines": []})
    assert response.status_code == 401
    names = [name.lower() for name, _ in response.headers]
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
                 "Permissions-Policy", "Cache-Control"):
        assert names.count(name.lower()) == 1, (name, response.headers)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_nul_byte_in_a_form_field_or_the_query_is_refused_before_any_view(client):
    """(A JSON body is its view's to judge: test_api_orders_more refuses a NUL in a SKU with a 400.)"""
    assert post_form(client, "/login", {"email": "a\x00b@example.com", "password": "x"}).status_code == 400
    assert client.get("/login?next=%00").status_code == 400


def test_static_files_may_be_cached_and_still_are_not_sniffed(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_is_sent_over_https_only(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    proxied = client.get("/login", environ_overrides={"wsgi.url_scheme": "https"})
    assert "Strict-Transport-Security" in proxied.headers


def test_the_stripe_origin_is_allowed_only_when_stripe_is_configured(make_app):
    app = make_app(STRIPE_PUBLISHABLE_KEY="pk_test_123")
    policy = _csp(app.test_client().get("/login"))
    assert policy["script-src"] == ["'self'", app.config["STRIPE_JS_URL"]]
    assert policy["frame-ancestors"] == ["'none'"]


# --- cookies ----------------------------------------------------------------------------------------


def _set_cookie(response, name: str = "session") -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert headers, f"no {name} cookie set"
    return headers[-1]


def test_session_cookie_is_httponly_and_samesite_lax(client):
    cookie = _set_cookie(client.get("/login"))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # testing runs over plain HTTP


def test_session_cookie_is_secure_in_production(make_app, sqlite_url):
    environ = {**environ_for(sqlite_url), "PORTAL_ENV": "production"}
    app = make_app(environ=environ)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    cookie = _set_cookie(app.test_client().get("/login", base_url="https://localhost"))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_cookie_secure_can_be_switched_on_outside_production(make_app, sqlite_url):
    app = make_app(environ={**environ_for(sqlite_url), "SESSION_COOKIE_SECURE": "1"})
    assert "Secure" in _set_cookie(app.test_client().get("/login"))


def test_production_refuses_to_start_without_a_secret_key(sqlite_url):
    environ = {k: v for k, v in environ_for(sqlite_url).items() if k != "SECRET_KEY"}
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        build_app(sqlite_url, environ={**environ, "PORTAL_ENV": "production"})


def test_production_refuses_a_short_secret_key(sqlite_url):
    environ = {**environ_for(sqlite_url), "PORTAL_ENV": "production", "SECRET_KEY": "too-short"}
    with pytest.raises(ConfigError, match="32 characters"):
        build_app(sqlite_url, environ=environ)


# --- CSRF -------------------------------------------------------------------------------------------

#: A persona allowed to use each POST route, and data that would succeed with a CSRF token. Built
#: from the world; a POST route missing here fails the test below.
VALID_POSTS = {
    "auth.login": ("anonymous", lambda w: {"email": w.email("buyer_a"), "password": TEST_PASSWORD}),
    "auth.logout": ("buyer_a", lambda w: {}),
    "auth.set_password": ("anonymous", lambda w: {"password": "new-password-1234",
                                                  "confirm": "new-password-1234"}),
    "account.new_address": ("buyer_a", lambda w: {"label": "Yard", "line1": "2 Side St", "city": "Town",
                                                 "postal_code": "11111", "country": "US"}),
    "account.edit_address": ("buyer_a", lambda w: {"label": "Renamed", "line1": "2 Side St", "city": "Town",
                                                  "postal_code": "11111", "country": "US"}),
    "account.password": ("buyer_a", lambda w: {"current": TEST_PASSWORD, "password": "new-password-1234",
                                              "confirm": "new-password-1234"}),
    "catalog.check": ("buyer_a", lambda w: {"quantity": "5"}),
    "catalog.notify": ("buyer_a", lambda w: {}),
    "rep.new_company": ("rep_a", lambda w: {"name": "Fresh Co"}),
    "rep.edit_company": ("rep_a", lambda w: {"name": "Renamed Co"}),
    "rep.new_address": ("rep_a", lambda w: {"label": "Yard", "line1": "2 Side St", "city": "Town",
                                           "postal_code": "11111", "country": "US"}),
    "rep.new_buyer": ("rep_a", lambda w: {"name": "New Buyer", "email": "new@example.com",
                                         "access": "invite"}),
    "rep.access_link": ("rep_a", lambda w: {}),
    "rep.add_note": ("rep_a", lambda w: {"body": "Called about the March backorder."}),
    "rep.order_for": ("rep_a", lambda w: {}),
    "rep.stop_ordering": ("rep_a", lambda w: {}),
    "admin.new_user": ("admin", lambda w: {"name": "New Rep", "email": "rep-new@example.com",
                                          "role": "sales_rep", "company_id": "", "access": "password"}),
    "admin.set_active": ("admin", lambda w: {}),
    "account.order_again": ("buyer_a", lambda w: {}),
    "admin.new_goodwill_rule": ("admin", lambda w: {"name": "Late discount", "days": "14", "percent": "5",
                                                    "kind": "percent_off_late_backorder"}),
    "admin.goodwill_rule": ("admin", lambda w: {"name": "Renamed rule", "kind": "credit_missed_deadline",
                                                "amount": "25"}),
    "admin.set_goodwill_rule_active": ("admin", lambda w: {"active": "yes"}),
    "catalog.add_to_cart": ("buyer_a", lambda w: {"quantity": "1"}),
    "checkout.update_line": ("buyer_a", lambda w: {f"line-{w.cart_line_a}-quantity": "3"}),
    "checkout.remove_line": ("buyer_a", lambda w: {}),
    "checkout.keep_line": ("buyer_a", lambda w: {}),
    "checkout.swap_line": ("buyer_a", lambda w: {"alternative_id": str(product_id_of("NUT-20"))}),
    "checkout.details": ("buyer_a", lambda w: {"ship_to": str(w.address_a),
                                               "shipping_preference": "ship_partial",
                                               "payment_method": "on_account"}),
    "checkout.quick_order": ("buyer_a", lambda w: {"text": f"{w.sku}, 1"}),
    # Placing needs the signed figures of a real review page: tests/web/test_checkout.py places orders.
    "checkout.place": ("buyer_a", lambda w: {"token": "t", "reviewed": "r"}),
    "account.new_card": ("buyer_a", lambda w: {}),
    "account.pay_due": ("buyer_a", lambda w: {"card_id": str(w.card_a)}),
    "account.check_payment": ("buyer_a", lambda w: {}),
    "account.retry_refunds": ("admin", lambda w: {}),
    "rep.grant_credit_exception": ("rep_a", lambda w: {"amount": "50.00", "reason": "Busy season"}),
    "rep.record_payment": ("rep_a", lambda w: {f"pay-{w.invoice_a}-method": "cheque",
                                               f"pay-{w.invoice_a}-amount": "5.00",
                                               f"pay-{w.invoice_a}-received_on": "2026-11-20"}),
    "rep.set_charge_policy": ("admin", lambda w: {"charge_policy": "at_shipment"}),
    "account.remove_card": ("buyer_a", lambda w: {}),
    # Saving needs a SetupIntent that Stripe.js confirmed: tests/integration/test_payments_stripe.py.
    "account.save_card": ("buyer_a", lambda w: {"setup_intent": "seti_x"}),
    "account.read_notification": ("buyer_a", lambda w: {}),
    "account.read_all_notifications": ("buyer_a", lambda w: {}),
    "account.notification_settings": ("buyer_a", lambda w: {"orders": "y", "stock": "y"}),
    "account.api_keys_page": ("buyer_a", lambda w: {"name": "ERP production"}),
    "account.revoke_api_key": ("buyer_a", lambda w: {}),
    **ADMIN_VALID_POSTS,
}
#: POSTs whose valid data depends on a page's signed state, so "accepted with a token" is tested elsewhere.
NEEDS_PAGE_STATE = {"checkout.place", "account.save_card",
                    # Accepting a later date needs a late line; the world's backorder is on time.
                    "account.accept_date",
                    # Swapping needs a late line with an alternative (tests/web/test_buyer_swaps.py).
                    "account.swap_backorder",
                    # Allocating from stock needs free units, which the world keeps at 0 for NUT-20.
                    "admin.allocate_backorder",
                    # Need a shipment waiting for payment (tests/web/test_shipment_payment_pages.py).
                    "admin.ship_planned", "admin.cancel_planned"}
#: POSTs that cannot carry our CSRF token (Stripe sends them): a valid signature protects them instead.
#: The ordering API is sent by a buyer's own system with an API key, never by a browser on its own: the key
#: protects it, and the session cookie counts for nothing there.
CSRF_EXEMPT = {"payments.stripe_webhook", "api.place_order"}


def _post_routes():
    app = build_app("sqlite:///:memory:")
    return sorted(rule.endpoint for rule in app.url_map.iter_rules()
                  if "POST" in (rule.methods or ()) and rule.endpoint not in CSRF_EXEMPT)


def test_the_csrf_exempt_webhook_refuses_an_unsigned_post_and_changes_nothing(app, world, client_for):
    clients = [client_for(persona) for persona in ("anonymous", "buyer_a")]
    before = db_snapshot()
    for client in clients:
        response = client.post("/stripe/webhook", data=b'{"id": "evt_1", "type": "x"}',
                               content_type="application/json")
        assert response.status_code == 400
    assert db_snapshot() == before


def test_the_csrf_exempt_api_ignores_the_session_cookie_and_changes_nothing(app, world, client_for):
    """A cross-site request rides on the buyer's cookie, not on an API key: it is refused, as JSON."""
    clients = [client_for(persona) for persona in ("anonymous", "buyer_a")]
    before = db_snapshot()
    for client in clients:
        as_json = client.post(url_of(app, "api.place_order", world),
                              json={"lines": [{"sku": world.sku, "quantity": 1}]},
                              headers={"Idempotency-Key": "cross-site-1"})
        as_form = client.post(url_of(app, "api.place_order", world),
                              data={"lines": world.sku, "csrf_token": "forged"})
        for response in (as_json, as_form):
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert response.json["error"]
    assert db_snapshot() == before


@pytest.mark.parametrize("endpoint", _post_routes())
def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(app, world, client_for, endpoint):
    if endpoint not in VALID_POSTS:
        pytest.fail(f"add valid form data for endpoint {endpoint} to VALID_POSTS in {__file__}")
    persona, data = VALID_POSTS[endpoint]
    client = client_for(persona)
    before = db_snapshot()

    response = client.post(url_of(app, endpoint, world), data=data(world))

    assert response.status_code == 400
    assert CSRF_MESSAGE in response.get_data(as_text=True)
    assert db_snapshot() == before


@pytest.mark.parametrize("endpoint", sorted(set(VALID_POSTS) - NEEDS_PAGE_STATE))
def test_the_same_post_with_a_csrf_token_is_accepted(app, world, client_for, endpoint):
    """So the refusal above is the missing token's doing, not the data's."""
    persona, data = VALID_POSTS[endpoint]
    client = client_for(persona)
    response = post_form(client, url_of(app, endpoint, world), data(world))
    assert response.status_code in (200, 302), response.get_data(as_text=True)
    assert "Please correct the following" not in response.get_data(as_text=True)


def test_a_post_with_a_forged_csrf_token_is_refused(app, world, client_for):
    client = client_for("admin")
    before = db_snapshot()
    response = client.post(url_of(app, "admin.set_active", world), data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert CSRF_MESSAGE in response.get_data(as_text=True)
    assert db_snapshot() == before


def test_a_csrf_token_from_another_session_is_refused(app, world, client_for):
    victim, attacker = client_for("admin"), client_for("rep_a")
    before = db_snapshot()
    response = victim.post(url_of(app, "admin.set_active", world), data={"csrf_token": csrf_token(attacker)})
    assert response.status_code == 400
    assert db_snapshot() == before


# --- markup the CSP allows ----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_page_has_inline_script_or_style_attributes(app, world, client_for, persona):
    pages = list(get_pages(app, world, client_for(persona)))
    assert pages, f"{persona} can open no page"
    for url, html in pages:
        page = parse(html)
        inline = [s for s in page.find("script") if not s.attrs.get("src")]
        assert inline == [], f"{url} as {persona} has an inline <script>"
        styled = [e.tag for e in page.elements if "style" in e.attrs]
        assert styled == [], f"{url} as {persona} has style= on {styled}"
        assert not page.find("style"), f"{url} as {persona} has a <style> block"
        handlers = [(e.tag, a) for e in page.elements for a in e.attrs if a.startswith("on")]
        assert handlers == [], f"{url} as {persona} has inline event handlers {handlers}"


def test_every_page_is_scanned_for_inline_code(app, world, client_for):
    """The scan above reaches every GET page someone can open (none is skipped by accident)."""
    seen = set()
    for persona in PERSONAS:
        seen |= {url for url, _ in get_pages(app, world, client_for(persona))}
    gettable = {url_of(app, rule.endpoint, world) for rule in app.url_map.iter_rules()
                if rule.endpoint not in STATIC_ENDPOINTS and "GET" in methods_of(app, rule.endpoint)}
    # "/" only redirects, "/healthz" answers JSON, the image is a JPEG and the order confirmation a PDF;
    # every other page renders.
    assert gettable - seen == {"/", "/healthz", url_of(app, "catalog.image", world),
                               url_of(app, "account.order_pdf", world),
                               url_of(app, "admin.purchase_order_pdf", world),
                               url_of(app, "admin.packing_slip", world),
                               url_of(app, "account.packing_slip", world),
                               url_of(app, "account.invoice_pdf", world),
                               # The ordering API answers JSON (and, without an API key, 401).
                               url_of(app, "api.order", world)}
