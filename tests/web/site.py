"""The site map the web tests walk: the personas, their world, and how to fill each route's URL."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import BuildError

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Base, GoodwillRule, PriceList, Product, ProductImage
from portal.services import accounts, carts, images, ordering
from tests.factories import make_address, make_category, make_company, make_product, make_user, set_stock
from tests.web import backoffice_world as bo

PERSONAS = ("anonymous", "buyer_a", "buyer_b", "rep_a", "rep_b", "admin")
SIGNED_IN = PERSONAS[1:]
STATIC_ENDPOINTS = ("static", "bootstrap.static")


@dataclass(frozen=True)
class World:
    """Ids of the seeded objects (plain values, so nothing goes stale between requests)."""

    admin: int
    rep_a: int
    rep_b: int
    buyer_a: int
    buyer_b: int
    company_a: int
    company_b: int
    address_a: int
    address_b: int
    category_slug: str
    price_list: int
    #: An in-stock product of that category.
    sku: str
    #: Stem of the product's picture (None when seeded without files).
    image_stem: str | None
    #: A valid set-password link token for buyer A.
    token_a: str
    #: Number of an order of company A (placed by buyer A: one backordered line of NUT-20).
    order_a: str
    #: An inactive goodwill rule (it applies to no order).
    goodwill_rule: int
    #: A line of buyer A's cart (2 × BOLT-10), added after order_a was placed.
    cart_line_a: int
    #: A saved card of company A (a mirror row only: Stripe is off in web tests).
    card_a: int = 0
    #: An open invoice of company A (for order_a).
    invoice_a: int = 0
    #: A declined shipment charge of order_a (payment due), on card_a.
    due_charge_a: int = 0
    #: An active API key of buyer A (its row only: nobody knows the key).
    api_key_a: int = 0

    def email(self, persona: str) -> str:
        return EMAILS[persona]

    def user_id(self, persona: str) -> int:
        return getattr(self, persona)


EMAILS = {
    "admin": "admin@example.com",
    "rep_a": "rep-a@example.com",
    "rep_b": "rep-b@example.com",
    "buyer_a": "buyer-a@example.com",
    "buyer_b": "buyer-b@example.com",
}


def seed_world(with_image: bool = False) -> World:
    """The two companies and their people. ``with_image`` also stores a product picture under the
    instance folder (``remove_image_files`` deletes it)."""
    admin = make_user("admin", email=EMAILS["admin"], name="Ada Admin")
    rep_a = make_user("sales_rep", email=EMAILS["rep_a"], name="Rita Rep")
    rep_b = make_user("sales_rep", email=EMAILS["rep_b"], name="Bob Rep")
    company_a = make_company("Acme Hardware", sales_rep=rep_a)
    company_b = make_company("Bolt Supplies", sales_rep=rep_b)
    buyer_a = make_user("buyer", company=company_a, email=EMAILS["buyer_a"], name="Alice Buyer")
    buyer_b = make_user("buyer", company=company_b, email=EMAILS["buyer_b"], name="Bert Buyer")
    address_a = make_address(company_a, label="Acme depot")
    address_b = make_address(company_b, label="Bolt depot")
    category = make_category("Fasteners")
    product = make_product(sku="BOLT-10", name="Hex bolt", category=category)
    set_stock(product, 40)
    nut = make_product(sku="NUT-20", name="Wing nut", category=category, policy="allow")
    with write_transaction() as s:
        price_list = PriceList(name="Gold", discount_percent=10)
        s.add(price_list)
    image_stem = _add_picture(admin, product.id) if with_image else None
    order_a = _place_order(buyer_a, company_a, nut, 3)
    (cart_line_a,) = _cart_lines(buyer_a, company_a, product, 2)
    with write_transaction() as s:
        rule = GoodwillRule(name="Old late-backorder discount", kind="percent_off_late_backorder", days=30,
                            percent=5, active=False)
        s.add(rule)
    return World(
        admin=admin.id, rep_a=rep_a.id, rep_b=rep_b.id, buyer_a=buyer_a.id, buyer_b=buyer_b.id,
        company_a=company_a.id, company_b=company_b.id, address_a=address_a.id, address_b=address_b.id,
        category_slug=category.slug, price_list=price_list.id, sku="BOLT-10", image_stem=image_stem,
        token_a=accounts.make_set_password_token(buyer_a), order_a=order_a, goodwill_rule=rule.id,
        cart_line_a=cart_line_a, card_a=(card_a := _saved_card(company_a)), invoice_a=_invoice(order_a),
        due_charge_a=_due_charge(order_a, card_a), api_key_a=_api_key(buyer_a),
    )


def _due_charge(order_number: str, card_id: int) -> int:
    from decimal import Decimal

    from portal.models import CardCharge, Order

    order = db.session.scalar(select(Order).where(Order.number == order_number))
    with write_transaction() as s:
        charge = CardCharge(company_id=order.company_id, order_id=order.id, purpose="shipment",
                            idempotency_key="shipment:1", payment_card_id=card_id,
                            stripe_payment_method_id=f"pm_world_{order.company_id}", amount=Decimal("12.00"),
                            status="failed", failure_message="Your card was declined.")
        s.add(charge)
    return charge.id


def _api_key(buyer) -> int:
    from portal.models import ApiKey

    with write_transaction() as s:
        key = ApiKey(user_id=buyer.id, name="World ERP", prefix="nwk_worldkey",
                     key_hash=uuid.uuid4().hex + uuid.uuid4().hex)
        s.add(key)
    return key.id


def _invoice(order_number: str) -> int:
    from datetime import date
    from decimal import Decimal

    from portal.models import Order
    from portal.services import invoices

    order_id = db.session.scalar(select(Order.id).where(Order.number == order_number))
    from tests.factories import make_shipment

    return invoices.invoice_shipment(order_id, make_shipment(order_id), Decimal("12.00"), date.today()).id


def _saved_card(company) -> int:
    from portal.models import PaymentCard

    with write_transaction() as s:
        card = PaymentCard(company_id=company.id, stripe_payment_method_id=f"pm_world_{company.id}",
                           brand="visa", last4="4242", exp_month=12, exp_year=2030)
        s.add(card)
    return card.id


def _place_order(buyer, company, product, quantity: int) -> str:
    """Place an order through the real services (cart, review, place) and return its number."""
    from datetime import date

    carts.add_items(buyer.id, company.id, [(product.id, quantity)])
    db.session.rollback()
    buyer, company = db.session.get(type(buyer), buyer.id), db.session.get(type(company), company.id)
    review = ordering.review_cart(buyer, company, date.today())
    return ordering.place_order(buyer, company.id, uuid.uuid4().hex, review.fingerprint, date.today()).number


def _cart_lines(buyer, company, product, quantity: int) -> list[int]:
    carts.add_items(buyer.id, company.id, [(product.id, quantity)])
    db.session.rollback()
    return [line.id for line in carts.find_cart(buyer.id, company.id).lines]


def _add_picture(actor, product_id: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    buffer.seek(0)
    return images.add_image(actor, product_id, buffer, "A red square").stem


def remove_image_files(app: Flask, world: World) -> None:
    """The world's picture and any uploaded during the test (their rows are still there)."""
    db.session.rollback()
    stems = {world.image_stem, *db.session.scalars(select(ProductImage.stem))} - {None}
    for stem in stems:
        for size in images.SIZES:
            images.image_path(app, stem, size).unlink(missing_ok=True)


#: How to fill each endpoint's URL variables; always with company A's objects. Endpoints without
#: variables need no entry.
URL_VALUES: dict[str, Callable[[World], dict]] = {
    "static": lambda w: {"filename": "css/app.css"},
    "bootstrap.static": lambda w: {"filename": "css/bootstrap.min.css"},
    "auth.set_password": lambda w: {"token": w.token_a},
    "catalog.category": lambda w: {"slug": w.category_slug},
    "catalog.product": lambda w: {"sku": w.sku},
    "catalog.check": lambda w: {"sku": w.sku},
    "catalog.notify": lambda w: {"sku": w.sku},
    "catalog.image": lambda w: {"stem": w.image_stem or "no-picture", "size": "thumb"},
    "account.edit_address": lambda w: {"address_id": w.address_a},
    "rep.company": lambda w: {"company_id": w.company_a},
    "rep.edit_company": lambda w: {"company_id": w.company_a},
    "rep.new_address": lambda w: {"company_id": w.company_a},
    "rep.new_buyer": lambda w: {"company_id": w.company_a},
    "rep.access_link": lambda w: {"user_id": w.buyer_a},
    "admin.set_active": lambda w: {"user_id": w.buyer_a},
    **{f"admin.{name}": lambda w: {"product_id": product_id_of(w.sku)} for name in (
        "product", "add_alternative", "remove_alternative", "move_alternative", "upload_image",
        "remove_image", "adjust_stock", "add_price_break", "remove_price_break")},
    **{f"admin.{name}": lambda w: {"price_list_id": w.price_list} for name in (
        "price_list", "add_list_price", "remove_list_price")},
    **{f"account.{name}": lambda w: {"number": w.order_a} for name in ("order", "order_pdf", "order_again")},
    **{f"admin.{name}": lambda w: {"rule_id": w.goodwill_rule} for name in (
        "goodwill_rule", "set_goodwill_rule_active")},
    **{f"checkout.{name}": lambda w: {"line_id": w.cart_line_a} for name in (
        "update_line", "remove_line", "keep_line", "swap_line")},
    "checkout.confirmation": lambda w: {"number": w.order_a},
    "api.order": lambda w: {"number": w.order_a},
    "rep.order_status": lambda w: {"number": w.order_a},
    "rep.add_note": lambda w: {"company_id": w.company_a},
    "rep.order_for": lambda w: {"company_id": w.company_a},
    "account.remove_card": lambda w: {"card_id": w.card_a},
    "account.revoke_api_key": lambda w: {"key_id": w.api_key_a},
    **{f"rep.{name}": lambda w: {"company_id": w.company_a} for name in (
        "credit_page", "grant_credit_exception", "set_charge_policy")},
    "rep.record_payment": lambda w: {"invoice_id": w.invoice_a},
    "account.invoice_pdf": lambda w: {"number": f"INV-{w.invoice_a:05d}"},
    **{f"account.{name}": lambda w: {"number": w.order_a, "charge_id": w.due_charge_a} for name in (
        "pay_due", "check_payment")},
    "catalog.add_to_cart": lambda w: {"sku": w.sku},
    # Back office (issue 6): see tests/web/backoffice_world.py.
    "admin.vendor": lambda w: {"vendor_id": bo.vendor_id()},
    **{f"admin.{name}": lambda w: {"po_id": bo.sent_po_id()} for name in (
        "purchase_order", "purchase_order_pdf", "receive_purchase_order")},
    **{f"admin.{name}": lambda w: {"po_id": bo.draft_po_id()} for name in (
        "add_po_line", "update_po_line", "remove_po_line", "po_notes", "po_status")},
    "admin.receipt": lambda w: {"receipt_id": bo.receipt_id()},
    **{f"admin.{name}": lambda w: {"line_id": bo.order_line_id(w.order_a)} for name in (
        "backorder_priority", "allocate_backorder")},
    "admin.ship_order": lambda w: {"number": w.order_a},
    "account.retry_refunds": lambda w: {"number": w.order_a},
    "admin.ship_planned": lambda w: {"number": w.order_a, "plan_id": 1},
    "admin.cancel_planned": lambda w: {"number": w.order_a, "plan_id": 1},
    "admin.packing_slip": lambda w: {"shipment_id": bo.shipment_id()},
    "account.packing_slip": lambda w: {"number": w.order_a, "shipment_id": bo.shipment_id()},
    "admin.decide_goodwill": lambda w: {"adjustment_id": bo.pending_adjustment_id()},
    "account.cancel_line": lambda w: {"number": w.order_a, "line_id": bo.order_line_id(w.order_a)},
    "account.cancel_backorder": lambda w: {"number": w.order_a, "line_id": bo.order_line_id(w.order_a)},
    "account.accept_date": lambda w: {"number": w.order_a, "line_id": bo.order_line_id(w.order_a)},
    "account.swap_backorder": lambda w: {"number": w.order_a, "line_id": bo.order_line_id(w.order_a)},
    "account.grant_goodwill": lambda w: {"number": w.order_a},
    "account.read_notification": lambda w: {"notification_id": notification_of(w.buyer_a)},
    **{f"admin.{name}": lambda w: {"message_id": outbox_message_of(w.buyer_a)} for name in (
        "outbox_message", "outbox_retry")},
}


def notification_of(user_id: int) -> int:
    """The id of the user's newest in-app notification (buyer A has the confirmation of order_a)."""
    from portal.models import Notification

    return db.session.scalar(select(Notification.id).where(Notification.user_id == user_id)
                             .order_by(Notification.id.desc()).limit(1))


def outbox_message_of(user_id: int) -> int:
    """The id of the newest email queued for the user (buyer A's order confirmation, not sent)."""
    from portal.models import OutboxMessage

    return db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.recipient_user_id == user_id)
                             .order_by(OutboxMessage.id.desc()).limit(1))


def product_id_of(sku: str) -> int:
    """The id of the product with ``sku`` (the world keeps SKUs; admin URLs take ids)."""
    return db.session.scalar(select(Product.id).where(Product.sku == sku))


def db_snapshot() -> dict[str, list[tuple]]:
    """Every row of every table: equal snapshots mean nothing was written."""
    db.session.rollback()
    return {table.name: sorted(map(tuple, db.session.execute(select(table)).all()), key=repr)
            for table in Base.metadata.sorted_tables}


def url_of(app: Flask, endpoint: str, world: World) -> str:
    values = URL_VALUES.get(endpoint, lambda w: {})(world)
    with app.test_request_context():
        try:
            return url_for(endpoint, **values)
        except BuildError as exc:
            message = f"add URL values for endpoint {endpoint} to URL_VALUES in {__file__}"
            raise AssertionError(message) from exc


def methods_of(app: Flask, endpoint: str) -> set[str]:
    methods: set[str] = set()
    for rule in app.url_map.iter_rules(endpoint):
        methods |= (rule.methods or set()) - {"HEAD", "OPTIONS"}
    return methods


#: Variants of pages the route walk reaches only in one state: an out-of-stock product (the "notify me"
#: form), search results, filtered lists.
EXTRA_PAGES = ["/catalog/p/NUT-20", "/catalog/search?q=bolt&in_stock=1", "/admin/users?role=buyer",
               "/rep/?q=acme"]


def get_pages(app: Flask, world: World, client: FlaskClient) -> Iterator[tuple[str, str]]:
    """(url, html) of every non-static GET route this client can open with a 200, and of EXTRA_PAGES."""
    urls = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        if rule.endpoint in STATIC_ENDPOINTS or "GET" not in (rule.methods or ()):
            continue
        urls.append(url_of(app, rule.endpoint, world))
    for url in urls + EXTRA_PAGES:
        response = client.get(url)
        if response.status_code == 200 and response.mimetype == "text/html":
            yield url, response.get_data(as_text=True)


# --- HTML inspection -------------------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""


class PageParser(HTMLParser):
    """Collects the elements a page check needs, and the text inside <script> and <h1>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag in ("script", "h1", "label", "title"):
            self._open.append(element)

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i]
                break

    def handle_data(self, data):
        for element in self._open:
            element.text += data

    def find(self, tag: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag]


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser
