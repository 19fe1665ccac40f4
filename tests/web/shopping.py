"""Helpers for the cart and checkout web tests: a signed-in buyer, their cart, the review's place form."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass

from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Address, CartLine, Company, Order, User
from portal.services import carts
from tests.conftest import login, post_form
from tests.factories import make_address, make_company, make_user

_TAG = re.compile(r"<[^>]+>")
_HIDDEN = re.compile(r'<input[^>]*name="(token|reviewed)"[^>]*value="([^"]*)"')


@dataclass(frozen=True)
class Shopper:
    client: FlaskClient
    user: User
    company: Company
    address: Address

    def lines(self) -> list[CartLine]:
        db.session.rollback()
        cart = carts.find_cart(self.user.id, self.company.id)
        return list(cart.lines) if cart else []

    def quantities(self) -> dict[str, int]:
        return {line.product.sku: line.quantity for line in self.lines()}

    def fill(self, *items, need_by=None) -> None:
        """Put (product, quantity) pairs in the cart and optionally the order's need-by date."""
        carts.add_items(self.user.id, self.company.id, [(p.id, q) for p, q in items])
        if need_by is not None:
            carts.save_details(self.user.id, self.company.id, carts.CheckoutDetails(
                self.address.id, "", need_by, "ship_partial"))


def shopper(app, name: str | None = None) -> Shopper:
    """A buyer of a new company with a default ship-to address, signed in on a client of their own."""
    company = make_company(name or f"Shop {uuid.uuid4().hex[:6]}")
    address = make_address(company, label="Depot", is_default_shipping=True)
    user = make_user(company=company, email=f"{uuid.uuid4().hex[:10]}@example.com")
    client = app.test_client()
    login(client, user.email)
    return Shopper(client, user, company, address)


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def words_of(response) -> str:
    """The page's text as a reader sees it: tags dropped, white space collapsed."""
    return " ".join(html.unescape(_TAG.sub(" ", response.get_data(as_text=True))).split()) \
        .replace(" ,", ",").replace(" .", ".").replace(" :", ":").replace(" )", ")")


def place_fields(page: str) -> dict[str, str]:
    """The hidden fields of the review page's place form."""
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def place_from_review(shopper: Shopper, **changes):
    """Open the review, then submit its place form (with ``changes`` to its hidden fields)."""
    page = shopper.client.get("/checkout/review")
    fields = place_fields(page.get_data(as_text=True))
    assert set(fields) == {"token", "reviewed"}, "the review page has no place form"
    return post_form(shopper.client, "/checkout/place", {**fields, **changes})


def order_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(Order.id)))
