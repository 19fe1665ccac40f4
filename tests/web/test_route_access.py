"""Deny by default: every route says who may use it, and each persona gets exactly what that implies.

The table below is the contract. A new route without an entry fails ``test_each_persona_gets_...`` with
"add an expectation for endpoint X", so nobody can add a page without deciding who sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from flask import Flask

from portal.access import access_of
from tests.conftest import build_app, csrf_token, login
from tests.web.backoffice_world import with_backoffice
from tests.web.site import PERSONAS, methods_of, seed_world, url_of

BUYER = frozenset({"buyer"})
STAFF = frozenset({"sales_rep", "admin"})
ADMIN = frozenset({"admin"})
EVERYONE = frozenset({"buyer", "sales_rep", "admin"})
ROLE_OF = {"buyer_a": "buyer", "buyer_b": "buyer", "rep_a": "sales_rep", "rep_b": "sales_rep",
           "admin": "admin"}


@pytest.fixture
def world(world):
    """The web world plus the back office of issue 6 (a sent PO with a receipt and a shipment, a draft PO,
    goodwill awaiting approval): see tests/web/backoffice_world.py."""
    return with_backoffice(world)


@dataclass(frozen=True)
class Expect:
    #: Roles the route admits; None means public (anyone, signed in or not).
    who: frozenset[str] | None
    #: Status per method for a persona the route admits (a POST carries a CSRF token and nothing else).
    ok: Mapping[str, int]
    #: Personas the route admits by role whose reach does not cover company A's object: 404.
    outside: tuple[str, ...] = ()
    #: Public routes only: status per method for signed-in personas, where it differs from ``ok``.
    signed_in: Mapping[str, int] = field(default_factory=dict)
    #: Status per persona and method where it differs from ``ok``.
    special: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


def no_customer(*methods: str) -> dict[str, dict[str, int]]:
    """Staff reach the cart and checkout to order for a customer (portal/acting.py); having chosen none,
    they are sent to their accounts."""
    return {persona: {method: 302 for method in methods} for persona in ("rep_a", "rep_b", "admin")}


EXPECTATIONS: dict[str, Expect] = {
    "static": Expect(None, {"GET": 200}),
    "bootstrap.static": Expect(None, {"GET": 200}),
    "main.index": Expect(None, {"GET": 302}),
    "main.healthz": Expect(None, {"GET": 200}),
    "auth.login": Expect(None, {"GET": 200, "POST": 422}, signed_in={"GET": 302, "POST": 302}),
    "auth.logout": Expect(EVERYONE, {"POST": 302}),
    "auth.set_password": Expect(None, {"GET": 200, "POST": 422}),
    "catalog.index": Expect(EVERYONE, {"GET": 200}),
    "catalog.search": Expect(EVERYONE, {"GET": 200}),
    "catalog.category": Expect(EVERYONE, {"GET": 200}),
    "catalog.product": Expect(EVERYONE, {"GET": 200}),
    "catalog.check": Expect(EVERYONE, {"POST": 422}),
    "catalog.notify": Expect(BUYER, {"POST": 302}),
    "catalog.image": Expect(EVERYONE, {"GET": 200}),
    "catalog.add_to_cart": Expect(EVERYONE, {"POST": 422}),
    # Buyer A has a cart line and an order; buyer B's cart is empty, so checkout sends them to the cart.
    "checkout.cart": Expect(EVERYONE, {"GET": 200}, special=no_customer("GET")),
    "checkout.update_line": Expect(EVERYONE, {"POST": 422}, outside=("buyer_b",),
                                   special=no_customer("POST")),
    "checkout.remove_line": Expect(EVERYONE, {"POST": 302}, outside=("buyer_b",),
                                   special=no_customer("POST")),
    "checkout.quick_order": Expect(EVERYONE, {"GET": 200, "POST": 422}, special=no_customer("GET", "POST")),
    "checkout.details": Expect(EVERYONE, {"GET": 200, "POST": 422},
                               special={**no_customer("GET", "POST"), "buyer_b": {"GET": 302, "POST": 302}}),
    "checkout.review": Expect(EVERYONE, {"GET": 200},
                              special={**no_customer("GET"), "buyer_b": {"GET": 302}}),
    "checkout.keep_line": Expect(EVERYONE, {"POST": 302}, outside=("buyer_b",), special=no_customer("POST")),
    # A swap names its alternative; a post without it is a broken request.
    "checkout.swap_line": Expect(EVERYONE, {"POST": 400}, outside=("buyer_b",), special=no_customer("POST")),
    # A place form without its signed review fields is refused before anything is read or written.
    "checkout.place": Expect(EVERYONE, {"POST": 400}),
    "checkout.confirmation": Expect(EVERYONE, {"GET": 200}, outside=("buyer_b",), special=no_customer("GET")),
    "account.index": Expect(BUYER, {"GET": 200}),
    "account.new_address": Expect(BUYER, {"GET": 200, "POST": 422}),
    # An edit form posted with no fields keeps the stored values (WTForms fills it from the object).
    "account.edit_address": Expect(BUYER, {"GET": 200, "POST": 302}, outside=("buyer_b",)),
    "account.password": Expect(EVERYONE, {"GET": 200, "POST": 422}),
    "account.orders": Expect(EVERYONE, {"GET": 200}),
    "account.order": Expect(EVERYONE, {"GET": 200}, outside=("buyer_b", "rep_b")),
    "account.order_pdf": Expect(EVERYONE, {"GET": 200}, outside=("buyer_b", "rep_b")),
    # Reorders go to the buyer's own cart (reps do not order for customers yet).
    "account.order_again": Expect(BUYER, {"POST": 302}, outside=("buyer_b",)),
    # Payments (issue 5). Stripe is off here: adding or removing a card says so and goes back (302).
    "account.payment_methods": Expect(BUYER, {"GET": 200}),
    "account.new_card": Expect(BUYER, {"POST": 302}),
    # The saved SetupIntent's id is required; a post without it is a broken request.
    "account.save_card": Expect(BUYER, {"POST": 400}),
    "account.remove_card": Expect(BUYER, {"POST": 302}, outside=("buyer_b",)),
    "account.statement": Expect(BUYER, {"GET": 200}),
    "account.invoice_pdf": Expect(EVERYONE, {"GET": 200}, outside=("buyer_b", "rep_b")),
    # A due shipment payment: paying names the card (a post without it is broken); checking reads Stripe.
    "account.pay_due": Expect(BUYER, {"POST": 400}, outside=("buyer_b",)),
    "account.check_payment": Expect(BUYER, {"POST": 302}, outside=("buyer_b",)),
    # Sending an order's pending card refunds again (none in the world: said, then back to the order).
    "account.retry_refunds": Expect(ADMIN, {"POST": 302}),
    # Stripe's webhook: public, and refused without a valid signature (whoever sends it).
    "payments.stripe_webhook": Expect(None, {"POST": 400}),
    # The ordering API authenticates by API key, not by the session: public here, and without a key
    # (signed in or not) every request is refused 401 (tests/integration/test_api_orders*.py).
    "api.place_order": Expect(None, {"POST": 401}),
    "api.order": Expect(None, {"GET": 401}),
    "rep.credit_page": Expect(STAFF, {"GET": 200}, outside=("rep_b",)),
    "rep.grant_credit_exception": Expect(STAFF, {"POST": 422}, outside=("rep_b",)),
    "rep.record_payment": Expect(STAFF, {"POST": 422}, outside=("rep_b",)),
    "rep.set_charge_policy": Expect(ADMIN, {"POST": 422}),
    "rep.index": Expect(STAFF, {"GET": 200}),
    # Any staff member reads any order's status (DESIGN §1); within reach, the order's own page opens.
    "rep.find_orders": Expect(STAFF, {"GET": 200}),
    "rep.add_note": Expect(STAFF, {"POST": 422}, outside=("rep_b",)),
    "rep.order_for": Expect(STAFF, {"POST": 302}, outside=("rep_b",)),
    "rep.stop_ordering": Expect(STAFF, {"POST": 302}),
    "rep.order_status": Expect(STAFF, {"GET": 302}, special={"rep_b": {"GET": 200}}),
    "rep.new_company": Expect(STAFF, {"GET": 200, "POST": 422}),
    "rep.company": Expect(STAFF, {"GET": 200}, outside=("rep_b",)),
    # A rep's company form has the name only, kept from the object; the admin's needs a credit limit.
    "rep.edit_company": Expect(STAFF, {"GET": 200, "POST": 422}, outside=("rep_b",),
                               special={"rep_a": {"POST": 302}}),
    "rep.new_address": Expect(STAFF, {"GET": 200, "POST": 422}, outside=("rep_b",)),
    "rep.new_buyer": Expect(STAFF, {"POST": 422}, outside=("rep_b",)),
    "rep.access_link": Expect(STAFF, {"POST": 200}, outside=("rep_b",)),
    "admin.index": Expect(ADMIN, {"GET": 200}),
    "admin.users": Expect(ADMIN, {"GET": 200}),
    "admin.new_user": Expect(ADMIN, {"GET": 200, "POST": 422}),
    "admin.set_active": Expect(ADMIN, {"POST": 302}),
    "admin.products": Expect(ADMIN, {"GET": 200}),
    "admin.bulk_edit": Expect(ADMIN, {"POST": 422}),
    "admin.new_product": Expect(ADMIN, {"GET": 200, "POST": 422}),
    "admin.product": Expect(ADMIN, {"GET": 200, "POST": 422}),
    "admin.add_alternative": Expect(ADMIN, {"POST": 422}),
    # Row buttons carry the row's id; a post without it is a broken request.
    "admin.remove_alternative": Expect(ADMIN, {"POST": 400}),
    "admin.move_alternative": Expect(ADMIN, {"POST": 400}),
    "admin.upload_image": Expect(ADMIN, {"POST": 422}),
    "admin.remove_image": Expect(ADMIN, {"POST": 400}),
    "admin.adjust_stock": Expect(ADMIN, {"POST": 422}),
    "admin.add_price_break": Expect(ADMIN, {"POST": 422}),
    "admin.remove_price_break": Expect(ADMIN, {"POST": 400}),
    "admin.price_lists": Expect(ADMIN, {"GET": 200}),
    "admin.new_price_list": Expect(ADMIN, {"GET": 200, "POST": 422}),
    "admin.price_list": Expect(ADMIN, {"GET": 200, "POST": 422}),
    "admin.add_list_price": Expect(ADMIN, {"POST": 422}),
    "admin.remove_list_price": Expect(ADMIN, {"POST": 400}),
    "admin.goodwill_rules": Expect(ADMIN, {"GET": 200}),
    "admin.new_goodwill_rule": Expect(ADMIN, {"GET": 200, "POST": 422}),
    # Blank parameters are refused (the kind needs them), unlike the name and kind kept from the rule.
    "admin.goodwill_rule": Expect(ADMIN, {"GET": 200, "POST": 422}),
    # The switch says which state it asks for; a post without it is a broken request.
    "admin.set_goodwill_rule_active": Expect(ADMIN, {"POST": 400}),
    # Back office (issue 6). Vendors: a post without fields misses the required ones.
    "admin.vendors": Expect(ADMIN, {"GET": 200}),
    "admin.new_vendor": Expect(ADMIN, {"GET": 200, "POST": 422}),
    "admin.vendor": Expect(ADMIN, {"GET": 200, "POST": 422}),
    "admin.purchase_orders": Expect(ADMIN, {"GET": 200}),
    # Without a vendor: a message on the list, nothing opened.
    "admin.new_purchase_order": Expect(ADMIN, {"POST": 302}),
    "admin.generate_purchase_orders": Expect(ADMIN, {"POST": 302}),
    "admin.purchase_order": Expect(ADMIN, {"GET": 200}),
    "admin.purchase_order_pdf": Expect(ADMIN, {"GET": 200}),
    "admin.add_po_line": Expect(ADMIN, {"POST": 422}),
    # Line buttons carry the line's id; a post without it is a broken request.
    "admin.update_po_line": Expect(ADMIN, {"POST": 400}),
    "admin.remove_po_line": Expect(ADMIN, {"POST": 400}),
    # Empty notes are valid notes.
    "admin.po_notes": Expect(ADMIN, {"POST": 302}),
    "admin.po_status": Expect(ADMIN, {"POST": 400}),
    # The receiving form carries a one-time token; without it the form has expired.
    "admin.receive_purchase_order": Expect(ADMIN, {"POST": 422}),
    "admin.receipt": Expect(ADMIN, {"GET": 200}),
    "admin.backorders_queue": Expect(STAFF, {"GET": 200}),
    "admin.backorder_priority": Expect(ADMIN, {"POST": 422}),
    "admin.allocate_backorder": Expect(ADMIN, {"POST": 422}),
    "admin.settings": Expect(ADMIN, {"GET": 200, "POST": 422}),
    # The outbox (issue 7): buyer A's order confirmation waits in it; "try again now" makes it due.
    "admin.outbox_messages": Expect(ADMIN, {"GET": 200}),
    "admin.outbox_message": Expect(ADMIN, {"GET": 200}),
    "admin.outbox_retry": Expect(ADMIN, {"POST": 302}),
    "admin.reorder_points": Expect(ADMIN, {"GET": 200, "POST": 422}),
    "admin.goodwill_approvals": Expect(ADMIN, {"GET": 200}),
    "admin.decide_goodwill": Expect(ADMIN, {"POST": 400}),
    "admin.ship_order": Expect(ADMIN, {"GET": 200, "POST": 422}),
    # The world has no shipment waiting for payment (tests/web/test_shipment_payment_pages.py makes one).
    "admin.ship_planned": Expect(ADMIN, {"POST": 404}),
    "admin.cancel_planned": Expect(ADMIN, {"POST": 404}),
    "admin.packing_slip": Expect(ADMIN, {"GET": 200}),
    "account.packing_slip": Expect(EVERYONE, {"GET": 200}, outside=("buyer_b", "rep_b")),
    "account.cancel_line": Expect(STAFF, {"POST": 422}, outside=("rep_b",)),
    "account.cancel_backorder": Expect(BUYER, {"POST": 422}, outside=("buyer_b",)),
    # The world's backorder is not late: nothing to accept (409, said on the order page).
    "account.accept_date": Expect(BUYER, {"POST": 409}, outside=("buyer_b",)),
    # Buyers, the account's rep and admins swap a late line (an empty form cannot be read: 422).
    "account.swap_backorder": Expect(EVERYONE, {"POST": 422}, outside=("buyer_b", "rep_b")),
    "account.grant_goodwill": Expect(STAFF, {"POST": 422}, outside=("rep_b",)),
    # Notifications (issue 7): a notice is its owner's only (buyer A's order confirmation here).
    "account.notifications_list": Expect(EVERYONE, {"GET": 200}),
    "account.read_notification": Expect(EVERYONE, {"POST": 302},
                                        outside=("buyer_b", "rep_a", "rep_b", "admin")),
    "account.read_all_notifications": Expect(EVERYONE, {"POST": 302}),
    "account.notification_settings": Expect(EVERYONE, {"GET": 200, "POST": 302}),
    # API keys (the ordering API): a buyer's own; a create form without a name is refused, and buyer A's
    # key is out of everyone else's reach.
    "account.api_keys_page": Expect(BUYER, {"GET": 200, "POST": 422}),
    "account.revoke_api_key": Expect(BUYER, {"POST": 302}, outside=("buyer_b",)),
}


def undeclared_endpoints(app: Flask) -> list[str]:
    """Endpoints that say nothing about who may use them (the walker)."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    return sorted(endpoint for endpoint in endpoints if access_of(app, endpoint) is None)


def expected_status(endpoint: str, method: str, persona: str) -> int:
    expect = EXPECTATIONS[endpoint]
    if expect.who is None:
        if persona != "anonymous" and method in expect.signed_in:
            return expect.signed_in[method]
        return expect.ok[method]
    if persona == "anonymous":
        return 302  # to the sign-in page
    if ROLE_OF[persona] not in expect.who:
        return 403
    if persona in expect.outside:
        return 404
    return expect.special.get(persona, {}).get(method, expect.ok[method])


def _routes_and_methods() -> list[tuple[str, str]]:
    """Every (endpoint, method) of the real app, read when the tests are collected."""
    app = build_app("sqlite:///:memory:")
    pairs = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
             for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    return sorted(pairs)


ROUTES = _routes_and_methods()


# --- the walker -------------------------------------------------------------------------------------


def test_every_route_declares_who_may_use_it(app):
    missing = undeclared_endpoints(app)
    assert missing == [], f"routes without portal.access.public/allow(...): {', '.join(missing)}"


def test_a_route_without_a_declaration_is_flagged_and_refused_even_to_an_admin(make_app):
    fresh = make_app()

    @fresh.get("/forgotten")
    def forgotten():
        return "company secrets"

    assert undeclared_endpoints(fresh) == ["forgotten"]
    anonymous = fresh.test_client().get("/forgotten")
    assert anonymous.status_code == 403
    world = seed_world()
    admin = fresh.test_client()
    login(admin, world.email("admin"))
    response = admin.get("/forgotten")
    assert response.status_code == 403
    assert "company secrets" not in response.get_data(as_text=True)


def test_declared_access_matches_the_expectations_table(app):
    for endpoint, expect in EXPECTATIONS.items():
        declared = access_of(app, endpoint)
        assert declared is not None, f"{endpoint} is in the table but not declared"
        if expect.who is None:
            assert declared.public, f"{endpoint} should be public"
        else:
            admitted = sorted(declared.roles) or "everyone"
            assert not declared.public and declared.roles == expect.who, (
                f"{endpoint} admits {admitted}; the table says {sorted(expect.who)}")


def test_expectations_table_names_only_existing_routes(app):
    known = {rule.endpoint for rule in app.url_map.iter_rules()}
    stale = sorted(set(EXPECTATIONS) - known)
    assert stale == [], f"expectations for routes that no longer exist: {stale}"


def test_expectations_cover_every_method_of_every_route(app):
    for endpoint, expect in EXPECTATIONS.items():
        if endpoint in {rule.endpoint for rule in app.url_map.iter_rules()}:
            assert set(expect.ok) == methods_of(app, endpoint), f"{endpoint}: methods differ from the table"


# --- every route, every persona --------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("endpoint", "method"), ROUTES, ids=[f"{e}-{m}" for e, m in ROUTES])
def test_each_persona_gets_what_the_declared_access_and_scope_imply(app, world, endpoint, method, persona):
    if endpoint not in EXPECTATIONS:
        pytest.fail(f"add an expectation for endpoint {endpoint} to EXPECTATIONS in {__file__}")
    client = app.test_client()
    if persona != "anonymous":
        login(client, world.email(persona))
    url = url_of(app, endpoint, world)

    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, data={"csrf_token": csrf_token(client)})

    want = expected_status(endpoint, method, persona)
    assert response.status_code < 500, f"{method} {url} as {persona}: server error"
    assert response.status_code == want, (
        f"{method} {url} as {persona}: got {response.status_code}, expected {want}")
    expect = EXPECTATIONS[endpoint]
    if persona == "anonymous" and expect.who is not None:
        assert response.location.startswith("/login"), response.location
