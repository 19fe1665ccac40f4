"""Queries per catalog page do not grow with the number of results (issue 3, benchmark).

Every statement sent to the database is counted with a ``before_cursor_execute`` listener on the engine.
A listing with 5 results must cost exactly as many statements as one with 24 (a full page out of 40);
a product page with one image, price break, PO line and alternative exactly as many as one with several
of each. In the search tests every product has its own vendor and category, so a lazy load per product
(vendor, category, ...) shows up as extra statements and fails the test.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from sqlalchemy import event, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import (
    PriceBreak,
    PriceList,
    PriceListItem,
    Product,
    ProductAlternative,
    ProductImage,
    PurchaseOrder,
    PurchaseOrderLine,
    Stock,
    StockMovement,
)
from portal.services import catalog
from portal.services.pricing import PriceBook
from tests.conftest import login
from tests.factories import (
    make_category,
    make_company,
    make_product,
    make_user,
    make_vendor,
    make_warehouse,
)

TODAY = date(2026, 11, 23)
SMALL, LARGE = 5, 40


@contextmanager
def statements() -> Iterator[list[str]]:
    """Collect every statement the engine sends while the block runs."""
    seen: list[str] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)


def _describe(found: list[str]) -> str:
    return "\n".join(" ".join(s.split())[:160] for s in found)


class IsolatedClient(FlaskClient):
    """Each request in its own app context (and so its own database session), as on a real server; the
    test's app context would otherwise be reused and its identity map would hide lazy loads."""

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            db.session.rollback()
        return response


@dataclass(frozen=True)
class Shelf:
    """Products whose names share one word, so that word finds exactly them."""

    word: str
    skus: list[str]
    #: The category of every product, or None when each product has its own.
    category_slug: str | None = None
    category_id: int | None = None


def _stock_the_shelf(word: str, count: int, warehouses: list, one_category: bool) -> Shelf:
    """``count`` products, each with its own vendor (and category, unless ``one_category``) and all a card
    shows: stock in every warehouse (none for every third product), an open PO line, a price break, an
    image and a fixed price."""
    shared = make_category(f"{word.title()} things") if one_category else None
    products = []
    for i in range(count):
        category = shared or make_category(f"{word.title()} things {i}")
        vendor = make_vendor(f"{word.title()} vendor {i}", lead_time_days=7 + i)
        products.append(make_product(sku=f"{word.upper()}-{i:03d}", name=f"{word.title()} widget {i}",
                                     description=f"A sturdy {word} widget.", category=category, vendor=vendor,
                                     policy="allow" if i % 2 else "block", price=f"{10 + i}.00"))
    with write_transaction() as s:
        price_list = s.scalar(select(PriceList))
        for i, product in enumerate(products):
            for n, warehouse in enumerate(warehouses):
                on_hand = (i % 3) * (5 + n)
                s.add(Stock(product_id=product.id, warehouse_id=warehouse.id, on_hand=on_hand, allocated=0))
                if on_hand:
                    s.add(StockMovement(product_id=product.id, warehouse_id=warehouse.id, quantity=on_hand,
                                        kind="initial", reason="test set-up"))
            po = PurchaseOrder(number=f"PO-{product.sku}", vendor_id=product.vendor_id, status="sent")
            s.add(po)
            s.flush()
            s.add_all([
                PurchaseOrderLine(purchase_order_id=po.id, product_id=product.id, quantity_ordered=50,
                                  expected_date=TODAY + timedelta(days=10)),
                PriceBreak(product_id=product.id, min_quantity=10, percent_off=Decimal("5")),
                ProductImage(product_id=product.id, stem=f"img-{product.sku.lower()}", width=10, height=10),
                PriceListItem(price_list_id=price_list.id, product_id=product.id, price=Decimal("9.00")),
            ])
    return Shelf(word, [p.sku for p in products], shared.slug if shared else None,
                 shared.id if shared else None)


@dataclass(frozen=True)
class World:
    #: For search: every product with its own category and vendor.
    small: Shelf
    large: Shelf
    #: For category pages: one category each.
    small_category: Shelf
    large_category: Shelf
    buyer_email: str
    company_id: int


@pytest.fixture
def world(any_app) -> World:
    with write_transaction() as s:
        price_list = PriceList(name="Trade 10", discount_percent=Decimal("10"))
        s.add(price_list)
    company = make_company("Query Count Co.", price_list_id=price_list.id)
    buyer = make_user("buyer", company=company, email="counter@example.com")
    warehouses = [make_warehouse("MAIN"), make_warehouse("EAST")]
    return World(small=_stock_the_shelf("amber", SMALL, warehouses, one_category=False),
                 large=_stock_the_shelf("basalt", LARGE, warehouses, one_category=False),
                 small_category=_stock_the_shelf("cedar", SMALL, warehouses, one_category=True),
                 large_category=_stock_the_shelf("dune", LARGE, warehouses, one_category=True),
                 buyer_email=buyer.email, company_id=company.id)


def _search(world: World, **query) -> tuple[int, list[str]]:
    """(number of cards, statements) of one catalog.search call on a fresh session."""
    from portal.models import Company

    db.session.remove()
    book = PriceBook.for_company(db.session.get(Company, world.company_id))
    book.percent_off  # noqa: B018 - load the price list before counting, as the view's user load does
    with statements() as seen:
        results = catalog.search(catalog.CatalogQuery(**query), book, TODAY)
    return len(results.cards), seen


SERVICE_QUERIES = {
    "text": lambda shelf: {"text": shelf.word},
    "text, filters, price sort": lambda shelf: {"text": f"{shelf.word} widget", "in_stock": True,
                                                "orderable": True, "sort": "price_asc"},
    "category by name": lambda shelf: {"category_id": shelf.category_id, "sort": "name"},
    "category, in stock, newest": lambda shelf: {"category_id": shelf.category_id, "in_stock": True,
                                                 "sort": "newest"},
}


def _shelves(world: World, name: str) -> tuple[Shelf, Shelf]:
    if name.startswith("category"):
        return world.small_category, world.large_category
    return world.small, world.large


@pytest.mark.parametrize("name", SERVICE_QUERIES)
def test_search_runs_as_many_statements_for_5_results_as_for_a_full_page(any_app, world, name):
    small_shelf, large_shelf = _shelves(world, name)
    small_cards, small = _search(world, **SERVICE_QUERIES[name](small_shelf))
    large_cards, large = _search(world, **SERVICE_QUERIES[name](large_shelf))
    assert small_cards < large_cards == catalog.PER_PAGE, (small_cards, large_cards)
    assert len(small) == len(large), f"{len(small)} vs {len(large)} statements:\n{_describe(large)}"


def test_an_exact_sku_adds_one_statement_whatever_the_page_size(any_app, world):
    small_cards, small = _search(world, text=world.small.skus[0])
    large_cards, large = _search(world, text=world.large.skus[0])
    assert small_cards >= 1 and large_cards >= 1
    assert len(small) == len(large), f"{len(small)} vs {len(large)}:\n{_describe(large)}"


# --- pages through the app --------------------------------------------------------------------------


@pytest.fixture
def buyer(any_app, world) -> FlaskClient:
    any_app.test_client_class = IsolatedClient
    client = any_app.test_client()
    login(client, world.buyer_email)
    return client


def _get(client: FlaskClient, url: str) -> tuple[str, list[str]]:
    client.get(url)  # the same page once before counting: nothing first-request-only is counted
    with statements() as seen:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True), seen


PAGES = {
    "search": lambda shelf: f"/catalog/search?q={shelf.word}",
    "search with filters": lambda shelf: f"/catalog/search?q={shelf.word}&in_stock=1&orderable=1"
                                         "&sort=price_desc",
    "category": lambda shelf: f"/catalog/c/{shelf.category_slug}",
    "category by price, in stock": lambda shelf: f"/catalog/c/{shelf.category_slug}?sort=price_asc"
                                                 "&in_stock=1",
}


@pytest.mark.parametrize("listing", PAGES)  # not "page": pytest-playwright owns that fixture name
def test_listing_pages_run_as_many_statements_for_5_results_as_for_a_full_page(any_app, world, buyer,
                                                                                 listing):
    small_shelf, large_shelf = _shelves(world, listing)
    small_html, small = _get(buyer, PAGES[listing](small_shelf))
    large_html, large = _get(buyer, PAGES[listing](large_shelf))
    shown_small = sum(sku in small_html for sku in small_shelf.skus)
    assert shown_small == SMALL or (shown_small >= 1 and "in_stock" in PAGES[listing](small_shelf))
    assert sum(sku in large_html for sku in large_shelf.skus) == catalog.PER_PAGE
    assert len(small) == len(large), f"{len(small)} vs {len(large)} statements:\n{_describe(large)}"


def _enrich(sku: str, alternatives: list[str], extra: int) -> None:
    """Give one product ``extra`` more images, price breaks and PO lines, and the given alternatives."""
    with write_transaction() as s:
        product = s.query(Product).filter_by(sku=sku).one()
        ids = dict(s.query(Product.sku, Product.id).filter(Product.sku.in_(alternatives)).all())
        for position, alt in enumerate(alternatives):
            s.add(ProductAlternative(product_id=product.id, alternative_id=ids[alt], position=position))
        po = s.query(PurchaseOrder).filter_by(number=f"PO-{sku}").one()
        for n in range(extra):
            s.add_all([
                ProductImage(product_id=product.id, stem=f"extra-{sku.lower()}-{n}", position=n + 1, width=10,
                             height=10),
                PriceBreak(product_id=product.id, min_quantity=20 + 10 * n, percent_off=Decimal(6 + n)),
                PurchaseOrderLine(purchase_order_id=po.id, product_id=product.id, quantity_ordered=10 + n,
                                  expected_date=TODAY + timedelta(days=20 + n)),
            ])


def test_the_product_page_runs_as_many_statements_with_many_related_rows_as_with_few(any_app, world, buyer):
    # Two out-of-stock products (the page then also looks for alternatives), one with one of everything,
    # the other with several images, price breaks, PO lines and curated alternatives.
    plain, rich = world.large_category.skus[0], world.large_category.skus[3]
    _enrich(plain, [world.large_category.skus[1]], 0)
    _enrich(rich, world.large_category.skus[5:9], 4)
    _, few = _get(buyer, f"/catalog/p/{plain}")
    _, many = _get(buyer, f"/catalog/p/{rich}")
    assert len(few) == len(many), f"{len(few)} vs {len(many)} statements:\n{_describe(many)}"
