"""Catalog search and listing on SQLite (FTS5) and PostgreSQL (tsvector + GIN)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Product, PurchaseOrder, PurchaseOrderLine
from portal.services import catalog
from portal.services.pricing import PriceBook
from tests.factories import make_category, make_product, make_vendor, set_stock

TODAY = date(2026, 11, 23)


def _search(**kw) -> catalog.Results:
    return catalog.search(catalog.CatalogQuery(**kw), PriceBook(None), TODAY)


def _skus(results: catalog.Results) -> list[str]:
    return [c.product.sku for c in results.cards]


def test_search_finds_words_in_name_description_and_sku(any_app):
    make_product(sku="FAS-001", name="Hex bolt M8", description="Zinc plated steel")
    make_product(sku="HND-002", name="Claw hammer", description="Fibreglass handle")
    assert _skus(_search(text="hex")) == ["FAS-001"]
    assert _skus(_search(text="fibreglass")) == ["HND-002"]
    assert _skus(_search(text="hnd")) == ["HND-002"]


def test_every_word_must_match_and_words_match_as_prefixes(any_app):
    make_product(sku="A-1", name="Hex bolt stainless")
    make_product(sku="A-2", name="Hex bolt zinc")
    assert _skus(_search(text="hex stain")) == ["A-1"]
    assert sorted(_skus(_search(text="bol"))) == ["A-1", "A-2"]


def test_plural_and_singular_match_each_other(any_app):
    make_product(sku="S-1", name="Wood screws")
    assert _skus(_search(text="screw")) == ["S-1"]
    make_product(sku="S-2", name="Wall plug")
    assert _skus(_search(text="plugs")) == ["S-2"]


def test_an_exact_sku_match_comes_first(any_app):
    make_product(sku="BOLT-9", name="Anchor")
    for i in range(3):
        make_product(sku=f"X-{i}", name=f"Bolt {i}", description="bolt-9 compatible bolt bolt bolt")
    results = _search(text="bolt-9")
    assert results.exact_sku is not None and _skus(results)[0] == "BOLT-9"


def test_the_index_follows_renames_and_deletions(any_app):
    product = make_product(sku="R-1", name="Old name")
    with write_transaction() as session:
        session.get(Product, product.id).name = "Brand new title"
    assert _skus(_search(text="brand")) == ["R-1"]
    assert _skus(_search(text="old")) == []
    with write_transaction() as session:
        session.delete(session.get(Product, product.id))
    assert _skus(_search(text="brand")) == []


def test_hostile_search_text_is_harmless(any_app):
    make_product(sku="Q-1", name="Quote test")
    for text in ['"', "'; DROP TABLE products; --", "NEAR(a b)", "a OR b AND NOT c", "*", "^", "-", "::",
                 "(", "\\", "%_", "x" * 5000, "\u0000", "bolt:* & !x"]:
        _search(text=text)  # no exception
    assert db.session.scalar(db.select(db.func.count(Product.id))) == 1


def test_filters_in_stock_orderable_category_vendor(any_app):
    cat, other_cat = make_category("Tools"), make_category("Fasteners")
    vendor = make_vendor("Acme")
    in_stock = make_product(sku="IN", category=cat, vendor=vendor)
    set_stock(in_stock, 5)
    out_blocked = make_product(sku="OUT-BLOCK", category=cat, policy="block")
    set_stock(out_blocked, 0)
    out_allow = make_product(sku="OUT-ALLOW", category=other_cat, policy="allow")
    set_stock(out_allow, 0)
    capped = make_product(sku="OUT-CAP", category=other_cat, policy="allow_up_to", cap=5)
    set_stock(capped, 0)
    assert _skus(_search(in_stock=True)) == ["IN"]
    assert sorted(_skus(_search(orderable=True))) == ["IN", "OUT-ALLOW", "OUT-CAP"]
    assert sorted(_skus(_search(category_id=cat.id))) == ["IN", "OUT-BLOCK"]
    assert _skus(_search(vendor_id=vendor.id)) == ["IN"]


def test_sorts_by_price_and_name_and_pages(any_app):
    cat = make_category()
    for i, price in enumerate(["5.00", "1.00", "3.00"]):
        make_product(sku=f"P-{i}", name=f"Item {'cab'[i]}", price=price, category=cat)
    assert _skus(_search(sort="price_asc")) == ["P-1", "P-2", "P-0"]
    assert _skus(_search(sort="price_desc")) == ["P-0", "P-2", "P-1"]
    assert _skus(_search(sort="name")) == ["P-1", "P-2", "P-0"]
    two = _search(sort="name", per_page=2, page=2)
    assert _skus(two) == ["P-0"] and two.pages == 2 and two.total == 3


def test_a_page_past_the_end_is_empty_not_an_error(any_app):
    make_product()
    assert _search(page=999).cards == []


def test_cards_carry_availability_and_eta_from_open_purchase_orders(any_app):
    vendor = make_vendor(lead_time_days=10)
    product = make_product(sku="BO-1", policy="allow", vendor=vendor)
    set_stock(product, 0)
    card = _search(text="BO-1").cards[0]
    assert card.facts.available == 0
    assert card.facts.eta.estimated and card.facts.eta.date == TODAY + timedelta(days=10)
    with write_transaction() as session:
        po = PurchaseOrder(number="PO-1", vendor_id=vendor.id, status="sent")
        session.add(po)
        session.flush()
        session.add(PurchaseOrderLine(purchase_order_id=po.id, product_id=product.id, quantity_ordered=5,
                                      expected_date=TODAY + timedelta(days=4)))
    card = _search(text="BO-1").cards[0]
    assert not card.facts.eta.estimated and card.facts.eta.date == TODAY + timedelta(days=4)
    assert "ships about" in card.facts.badge().label


def test_alternatives_are_curated_first_then_same_category_in_stock_only(any_app):
    from portal.models import ProductAlternative

    cat = make_category()
    short = make_product(sku="SHORT", category=cat, price="10.00")
    set_stock(short, 0)
    curated = make_product(sku="CURATED", price="50.00")  # other category, far price: still curated
    set_stock(curated, 3)
    near = make_product(sku="NEAR", category=cat, price="11.00")
    set_stock(near, 3)
    near_but_out = make_product(sku="NEAR-OUT", category=cat, price="10.50", policy="allow")
    set_stock(near_but_out, 0)
    far = make_product(sku="FAR", category=cat, price="100.00")
    set_stock(far, 3)
    with write_transaction() as session:
        session.add(ProductAlternative(product_id=short.id, alternative_id=curated.id))
    product = db.session.get(Product, short.id)
    offered = catalog.alternatives(product, PriceBook(None), TODAY)
    assert [c.product.sku for c in offered] == ["CURATED", "NEAR"]


def test_company_prices_apply_to_cards(any_app):
    from portal.models import PriceList, PriceListItem

    fixed = make_product(sku="FIX", price="10.00")
    pct = make_product(sku="PCT", price="10.00")
    with write_transaction() as session:
        plist = PriceList(name="Trade", discount_percent=Decimal("10"))
        session.add(plist)
        session.flush()
        session.add(PriceListItem(price_list_id=plist.id, product_id=fixed.id, price=Decimal("7.25")))
    book = PriceBook(db.session.get(PriceList, plist.id))
    cards = catalog.search(catalog.CatalogQuery(sort="name"), book, TODAY).cards
    prices = {c.product.sku: c.unit_price for c in cards}
    assert prices == {"FIX": Decimal("7.25"), "PCT": Decimal("9.00")}
    assert pct.id


def test_a_very_broad_search_pages_through_a_window_of_best_matches(any_app, monkeypatch):
    """Past COUNT_CAP matches, results come from a window of COUNT_CAP matches (no full ranking): on
    SQLite the newest name/SKU matches; on PostgreSQL the first COUNT_CAP matches the index yields, of
    any field, ranked so that name hits come before description hits."""
    monkeypatch.setattr(catalog, "COUNT_CAP", 3)
    for i in range(4):
        make_product(sku=f"N-{i}", name=f"Widget {i}")
    make_product(sku="D-1", name="Gadget", description="works with any widget")
    results = _search(text="widget")
    assert results.total_is_capped and results.total == 3
    skus = _skus(results)
    if db.engine.dialect.name == "postgresql":
        assert len(skus) == 3 and len(set(skus)) == 3
        assert set(skus) <= {"N-0", "N-1", "N-2", "N-3", "D-1"}
        assert "D-1" not in skus[:-1]  # a description hit never outranks a name hit
    else:
        assert skus == ["N-3", "N-2", "N-1"]
    by_price = _search(text="widget", sort="name")
    assert len(by_price.cards) == 3  # sorted within a window, never the whole match set
    if db.engine.dialect.name == "postgresql":
        assert set(_skus(by_price)) == set(skus)
    else:
        assert "N-0" not in _skus(by_price)


def test_category_and_vendor_filters_narrow_a_text_search(any_app):
    """With words, the filters are answered by the text index (facet tokens): same results as before."""
    tools, parts = make_category(name="Tools"), make_category(name="Parts")
    acme, bolt = make_vendor(name="Acme"), make_vendor(name="Boltco")
    make_product(sku="T-1", name="Steel hammer", category=tools, vendor=acme)
    make_product(sku="T-2", name="Steel saw", category=tools, vendor=bolt)
    make_product(sku="P-1", name="Steel bolt", category=parts, vendor=bolt)
    assert sorted(_skus(_search(text="steel", category_id=tools.id))) == ["T-1", "T-2"]
    assert sorted(_skus(_search(text="steel", vendor_id=bolt.id))) == ["P-1", "T-2"]
    assert _skus(_search(text="steel", category_id=tools.id, vendor_id=bolt.id)) == ["T-2"]
    assert _search(text="steel", category_id=parts.id, vendor_id=acme.id).cards == []


def test_a_filtered_search_follows_a_product_moved_to_another_category(any_app):
    tools, parts = make_category(name="Tools"), make_category(name="Parts")
    product = make_product(sku="MOVE-1", name="Brass hinge", category=tools)
    with write_transaction() as s:
        s.get(Product, product.id).category_id = parts.id
    assert _skus(_search(text="hinge", category_id=parts.id)) == ["MOVE-1"]
    assert _search(text="hinge", category_id=tools.id).cards == []


def test_a_buyers_words_never_match_the_filter_tokens(any_app):
    category = make_category(name="Tools")
    make_product(sku="X-1", name="Plain thing", category=category)
    assert _search(text=f"c{category.id}").cards == []
    assert _search(text="c").cards == []


def test_part_of_a_sku_with_punctuation_finds_the_product(any_app):
    make_product(sku="FAS-0089101", name="Hex bolt")
    make_product(sku="FAS-0077000", name="Hex nut")
    assert _skus(_search(text="FAS-00891")) == ["FAS-0089101"]
    assert sorted(_skus(_search(text="fas 0077"))) == ["FAS-0077000"]


def test_fractions_are_searched_as_their_numbers(any_app):
    make_product(sku="SOC-1", name="Socket set 1/4 in drive")
    make_product(sku="SOC-2", name="Socket set 3/8 in drive")
    assert _skus(_search(text="1/4 drive")) == ["SOC-1"]


def test_a_one_letter_word_matches_only_that_word(any_app):
    """A one-letter prefix would expand to much of the vocabulary; it matches as a whole word."""
    make_product(sku="LAMP-1", name="Lamp 40 W")
    make_product(sku="LAMP-2", name="Lamp 40 watt")
    assert _skus(_search(text="lamp 40 w")) == ["LAMP-1"]
    assert sorted(_skus(_search(text="lamp 40 wa"))) == ["LAMP-2"]


def test_stop_words_are_ignored_when_other_words_remain(any_app):
    make_product(sku="BOX-1", name="Box of screws")
    make_product(sku="BOX-2", name="Box for nails")
    assert catalog.search_terms("box of screws") == ["box", "screws"]
    assert catalog.search_terms("of") == ["of"]
    assert _skus(_search(text="box of screws")) == ["BOX-1"]


def test_only_the_last_word_matches_as_a_prefix(any_app):
    """Type-ahead: the buyer may still be typing the last word; earlier words are whole words."""
    make_product(sku="ZP-1", name="Zinc plated washer")
    assert _skus(_search(text="zinc pla")) == ["ZP-1"]
    assert _skus(_search(text="zinc plated")) == ["ZP-1"]
    assert _search(text="zin plated").cards == []


def test_a_listing_filtered_by_category_and_vendor_shows_exactly_their_products(any_app):
    tools, parts = make_category(name="Tools"), make_category(name="Parts")
    acme, bolt = make_vendor(name="Acme"), make_vendor(name="Boltco")
    make_product(sku="T-A", category=tools, vendor=acme)
    make_product(sku="T-B", category=tools, vendor=bolt)
    make_product(sku="P-B", category=parts, vendor=bolt)
    assert _skus(_search(category_id=tools.id, vendor_id=bolt.id)) == ["T-B"]
    assert _search(category_id=parts.id, vendor_id=acme.id).cards == []
