"""The database itself refuses impossible quantities and settings (DESIGN §5), on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from portal.database import write_transaction
from portal.models import Product, Stock, User
from tests.factories import make_company, make_product, make_user, set_stock


def _refused(statement) -> None:
    with pytest.raises(IntegrityError), write_transaction() as session:
        session.execute(statement)


def test_stock_on_hand_cannot_go_negative(any_app):
    stock = set_stock(make_product(), 5)
    _refused(update(Stock).where(Stock.id == stock.id).values(on_hand=-1))


def test_allocated_cannot_exceed_on_hand(any_app):
    stock = set_stock(make_product(), 5)
    _refused(update(Stock).where(Stock.id == stock.id).values(allocated=6))


def test_allocated_cannot_go_negative(any_app):
    stock = set_stock(make_product(), 5)
    _refused(update(Stock).where(Stock.id == stock.id).values(allocated=-1))


def test_a_cap_is_required_exactly_for_allow_up_to(any_app):
    product = make_product(policy="allow")
    _refused(update(Product).where(Product.id == product.id).values(backorder_policy="allow_up_to"))
    _refused(update(Product).where(Product.id == product.id).values(backorder_cap=5))


def test_unknown_policy_visibility_or_display_is_refused(any_app):
    product = make_product()
    _refused(update(Product).where(Product.id == product.id).values(backorder_policy="maybe"))
    _refused(update(Product).where(Product.id == product.id).values(backorder_visibility="sometimes"))
    _refused(update(Product).where(Product.id == product.id).values(stock_display="fuzzy"))


def test_order_minimum_multiple_and_price_must_be_sane(any_app):
    product = make_product()
    _refused(update(Product).where(Product.id == product.id).values(order_multiple=0))
    _refused(update(Product).where(Product.id == product.id).values(order_minimum=0))
    _refused(update(Product).where(Product.id == product.id).values(price=-1))


def test_a_buyer_must_belong_to_a_company_and_staff_to_none(any_app):
    company = make_company()
    buyer = make_user(company=company)
    rep = make_user(role="sales_rep")
    _refused(update(User).where(User.id == buyer.id).values(company_id=None))
    _refused(update(User).where(User.id == rep.id).values(company_id=company.id))
    _refused(update(User).where(User.id == rep.id).values(role="superuser"))


def test_emails_and_skus_are_unique(any_app):
    make_user(role="admin", email="same@example.com")
    with pytest.raises(IntegrityError):
        make_user(role="admin", email="same@example.com")
    make_product(sku="DUP-1")
    with pytest.raises(IntegrityError):
        make_product(sku="DUP-1")
