"""``ordering.product_states`` on SQLite and PostgreSQL: open PO lines are read for the products an order
would backorder, every time for the checkout, once per order for the API (it plans before the locks and
again under them, passing the lines it read)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import delete

from portal.database import write_transaction
from portal.models import ProductBackorders, PurchaseOrder, PurchaseOrderLine
from portal.services import ordering
from portal.services.pricing import PriceBook
from tests.factories import make_product, make_vendor, set_stock
from tests.integration.test_api_orders import api_buyer, post_order

TODAY = date(2026, 11, 23)


@pytest.fixture
def two_on_order(any_app):
    """Two products backorderable, each with an open PO line: the first arrives in 10 days, the second
    in 20."""
    vendor = make_vendor()
    products = [make_product(sku=sku, policy="allow", vendor=vendor) for sku in ("PS-1", "PS-2")]
    for product in products:
        set_stock(product, 0)
    with write_transaction() as session:
        po = PurchaseOrder(number="PO-PS", vendor_id=vendor.id, status="sent")
        session.add(po)
        session.flush()
        for days, product in zip((10, 20), products, strict=True):
            session.add(PurchaseOrderLine(purchase_order_id=po.id, product_id=product.id, quantity_ordered=50,
                                          expected_date=TODAY + timedelta(days=days)))
    return products


@pytest.fixture
def po_reads(monkeypatch):
    """The product ids of each read of open PO lines."""
    reads: list[list[int]] = []
    real = ordering.open_po_lines_by_product

    def spy(product_ids, today):
        reads.append(list(product_ids))
        return real(product_ids, today)

    monkeypatch.setattr(ordering, "open_po_lines_by_product", spy)
    return reads


def states(products, available: dict[int, int], **kwargs):
    wanted = {p.id: 5 for p in products}
    return ordering.product_states(products, wanted, available, PriceBook(None), TODAY, **kwargs)


def test_the_checkout_reads_the_open_po_lines_of_short_products_each_time(two_on_order, po_reads):
    first, second = two_on_order
    states(two_on_order, {first.id: 0, second.id: 9})
    states(two_on_order, {first.id: 0, second.id: 9})
    assert po_reads == [[first.id], [first.id]]


def test_po_lines_kept_from_an_earlier_plan_are_not_read_again_and_a_newly_short_product_is(two_on_order,
                                                                                             po_reads):
    first, second = two_on_order
    kept: dict = {}

    states(two_on_order, {first.id: 0, second.id: 9}, po_lines=kept)  # before the locks: only the first short
    planned = states(two_on_order, {first.id: 0, second.id: 0}, po_lines=kept)  # under them: both short
    states(two_on_order, {first.id: 0, second.id: 0}, po_lines=kept)

    assert po_reads == [[first.id], [second.id]]
    assert [planned[p.id].eta.date for p in two_on_order] == [TODAY + timedelta(days=10),
                                                              TODAY + timedelta(days=20)]


def test_a_short_product_without_open_po_lines_is_not_read_again(any_app, po_reads):
    product = make_product(sku="PS-NONE", policy="allow")
    set_stock(product, 0)
    kept: dict = {}
    for _ in range(2):
        states([product], {product.id: 0}, po_lines=kept)
    assert po_reads == [[product.id]]


@pytest.fixture
def units_reads(monkeypatch):
    """The product ids of each read of units on backorder."""
    reads: list[list[int]] = []
    real = ordering.backordered_open_by_product

    def spy(product_ids, locked=False):
        reads.append(list(product_ids))
        return real(product_ids, locked)

    monkeypatch.setattr(ordering, "backordered_open_by_product", spy)
    return reads


def test_units_on_backorder_given_are_used_and_only_unknown_ones_of_short_products_are_read(
        any_app, two_on_order, units_reads):
    """The API passes the kept units read with its products: a short product's known figure is used as
    it is, an unknown one (None) is read, and a product in stock needs neither."""
    first, second = two_on_order
    in_stock = make_product(sku="PS-IN", policy="allow")
    set_stock(in_stock, 9)
    _, _, key = api_buyer()  # three units of the first on backorder, its kept total then unknown
    placed = post_order(any_app.test_client(), key, {"lines": [{"sku": first.sku, "quantity": 3}]})
    assert placed.status_code == 201, placed.json
    with write_transaction() as session:
        session.execute(delete(ProductBackorders).where(ProductBackorders.product_id == first.id))
    units_reads.clear()
    products = [*two_on_order, in_stock]
    available = {first.id: 0, second.id: 0, in_stock.id: 9}

    planned = states(products, available, waiting={first.id: None, second.id: 7, in_stock.id: None})

    assert units_reads == [[first.id]]
    assert [planned[p.id].backordered_open for p in products] == [3, 7, 0]
