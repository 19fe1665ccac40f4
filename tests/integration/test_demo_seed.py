"""The demo seed builds a believable wholesaler, idempotently, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import and_, delete, func, select

from portal import demo
from portal.database import write_transaction
from portal.extensions import db
from portal.models import (
    Address,
    Category,
    Company,
    PriceList,
    Product,
    PurchaseOrderLine,
    Stock,
    StockMovement,
    User,
    Vendor,
    Warehouse,
)
from portal.services.accounts import authenticate

FIXED_LOGINS = [
    ("admin", "admin@northwind.example"),
    ("sales rep", "rita.rep@northwind.example"),
    ("sales rep", "sam.rep@northwind.example"),
    ("buyer", "buyer@acme-hardware.example"),
    ("buyer", "buyer@bluebird.example"),
    ("buyer", "buyer@cedar-build.example"),
]

#: sku -> (policy, cap, visibility, display, low_stock_threshold, on_hand)
WELL_KNOWN_SKUS = {
    "DEMO-PLENTY": ("block", None, "show", "exact", 10, 480),
    "DEMO-LOW": ("block", None, "show", "level", 20, 6),
    "DEMO-BLOCKED-OUT": ("block", None, "show", "level", 10, 0),
    "DEMO-BACKORDER-SHOW": ("allow", None, "show", "exact", 10, 0),
    "DEMO-BACKORDER-HIDDEN": ("allow", None, "hide", "exact", 10, 0),
    "DEMO-PARTIAL": ("allow", None, "show", "exact", 10, 5),
    "DEMO-CAPPED": ("allow_up_to", 20, "show", "exact", 10, 0),
    "DEMO-CAPPED-LOW": ("allow_up_to", 10, "show", "level", 10, 4),
    "DEMO-CASE-PACK": ("block", None, "show", "exact", 50, 500),
}
MODELS = (Address, Category, Company, PriceList, Product, Stock, StockMovement, User, Vendor, Warehouse)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def table_counts() -> dict[str, int]:
    return {model.__tablename__: count(model) for model in MODELS}


def stock_of(sku: str) -> Stock:
    return db.session.scalar(select(Stock).join(Product).where(Product.sku == sku))


def test_seed_builds_hundreds_of_products_in_several_categories_from_several_vendors(any_app):
    demo.seed()

    assert count(Product) >= 200
    assert count(Category) >= 5
    assert count(Vendor) >= 4
    used = db.session.execute(select(func.count(func.distinct(Product.category_id)),
                                     func.count(func.distinct(Product.vendor_id)))).one()
    assert used == (count(Category), count(Vendor))
    assert db.session.scalars(select(Warehouse.code)).all() == ["MAIN"]


def test_generated_products_look_like_a_wholesale_catalogue(any_app):
    demo.seed()

    products = db.session.scalars(select(Product)).all()
    generated = [p for p in products if not p.sku.startswith("DEMO-")]
    assert all(re.fullmatch(r"[A-Z]{3}-\d{5}", p.sku) for p in generated)
    assert all(isinstance(p.price, Decimal) and p.price == p.price.quantize(Decimal("0.01")) and p.price > 0
               for p in products)
    assert all(p.name and p.description for p in products)
    assert any(p.order_multiple > 1 and p.order_minimum >= p.order_multiple for p in products)
    vendors = db.session.scalars(select(Vendor)).all()
    assert all(v.contact_name and v.email.endswith(".example") and v.lead_time_days > 0 for v in vendors)
    assert any(v.pack_size > 1 for v in vendors) and any(v.min_order_value > 0 for v in vendors)
    assert all(p.cost_price is not None and 0 < p.cost_price < p.price for p in products)
    lines = db.session.scalars(select(PurchaseOrderLine)).all()
    assert lines and all(line.unit_cost == line.product.cost_price for line in lines)


def test_seed_builds_companies_with_buyers_two_reps_and_an_admin(any_app):
    demo.seed()

    reps = db.session.scalars(select(User).where(User.role == "sales_rep")).all()
    assert len(reps) == 2
    assert db.session.scalar(select(func.count()).select_from(User).where(User.role == "admin")) >= 1
    companies = db.session.scalars(select(Company)).all()
    assert len(companies) >= 4
    for company in companies:
        assert re.fullmatch(r"C\d{5}", company.account_number)
        assert company.price_list is not None and company.sales_rep in reps
        assert 1 <= len([u for u in company.users if u.role == "buyer"]) <= 2
        assert any(a.is_default_shipping and a.is_billing for a in company.addresses)
    assert {c.sales_rep.email for c in companies} == {"rita.rep@northwind.example",
                                                      "sam.rep@northwind.example"}


def test_fixed_buyers_belong_to_the_documented_companies_and_reps(any_app):
    demo.seed()

    expected = {
        "buyer@acme-hardware.example": ("Acme Hardware Supply", "Rita Reyes"),
        "buyer@bluebird.example": ("Bluebird Facilities", "Rita Reyes"),
        "buyer@cedar-build.example": ("Cedar Build Co.", "Sam Sato"),
    }
    for email, (company, rep) in expected.items():
        user = db.session.scalar(select(User).where(User.email == email))
        assert (user.company.name, user.company.sales_rep.name) == (company, rep)
    admin = db.session.scalar(select(User).where(User.email == "admin@northwind.example"))
    assert (admin.role, admin.name) == ("admin", "Ada Admin")


def test_well_known_skus_have_their_documented_settings_and_stock(any_app):
    demo.seed()

    found = {}
    for sku in WELL_KNOWN_SKUS:
        stock = stock_of(sku)
        product = stock.product
        found[sku] = (product.backorder_policy, product.backorder_cap, product.backorder_visibility,
                      product.stock_display, product.low_stock_threshold, stock.on_hand)
        assert stock.allocated == 0
    assert found == WELL_KNOWN_SKUS  # the diff shows every mismatch at once


def test_well_known_skus_cover_plenty_low_and_out_of_stock(any_app):
    demo.seed()

    plenty, low, capped_low = stock_of("DEMO-PLENTY"), stock_of("DEMO-LOW"), stock_of("DEMO-CAPPED-LOW")
    assert plenty.on_hand >= plenty.product.low_stock_threshold * 10
    assert 0 < low.on_hand < low.product.low_stock_threshold
    assert 0 < capped_low.on_hand < capped_low.product.low_stock_threshold
    case_pack = stock_of("DEMO-CASE-PACK").product
    assert case_pack.order_minimum == case_pack.order_multiple == 25


def test_the_generated_mix_exercises_every_policy_visibility_and_display(any_app):
    demo.seed()

    combos = set(db.session.execute(select(Product.backorder_policy, Product.backorder_visibility,
                                           Product.stock_display).where(~Product.sku.like("DEMO-%"))).all())
    for policy in ("allow", "allow_up_to"):
        for visibility in ("show", "hide"):
            for display in ("exact", "level"):
                assert (policy, visibility, display) in combos
    assert {("block", "show", "exact"), ("block", "show", "level")} <= combos
    zero = db.session.scalar(select(func.count()).select_from(Stock).where(Stock.on_hand == 0))
    low = db.session.scalar(select(func.count()).select_from(Stock).join(Product).where(
        Stock.on_hand > 0, Stock.on_hand < Product.low_stock_threshold))
    assert zero >= 10 and low >= 10


def test_on_hand_equals_the_sum_of_opening_movements_for_every_stock_row(any_app):
    demo.seed()

    ledger = (select(Stock.on_hand, Stock.allocated, func.coalesce(func.sum(StockMovement.quantity), 0))
              .outerjoin(StockMovement, and_(StockMovement.product_id == Stock.product_id,
                                             StockMovement.warehouse_id == Stock.warehouse_id))
              .group_by(Stock.id, Stock.on_hand, Stock.allocated))
    rows = db.session.execute(ledger).all()
    assert len(rows) == count(Product)
    assert all(on_hand == total and allocated == 0 for on_hand, allocated, total in rows)
    kinds = set(db.session.execute(select(StockMovement.kind, StockMovement.reason)).all())
    assert kinds == {("initial", "demo opening stock")}


def test_seeding_twice_changes_nothing(any_app):
    first_logins = demo.seed()
    before = table_counts()

    second_logins = demo.seed()

    assert table_counts() == before
    assert first_logins == second_logins == FIXED_LOGINS


def test_seeding_tops_up_a_partly_seeded_database(any_app):
    demo.seed()
    before = table_counts()
    plenty = stock_of("DEMO-PLENTY")

    with write_transaction() as session:  # as if the seed had stopped before this product's stock
        session.execute(delete(StockMovement).where(StockMovement.product_id == plenty.product_id))
        session.execute(delete(Stock).where(Stock.id == plenty.id))

    demo.seed()

    assert table_counts() == before
    assert stock_of("DEMO-PLENTY").on_hand == 480


def test_fixed_logins_authenticate_with_the_demo_password(any_app):
    logins = demo.seed()

    assert logins == FIXED_LOGINS
    for _role, email in logins:
        assert authenticate(email, demo.DEMO_PASSWORD) is not None, email
    assert authenticate("admin@northwind.example", "wrong-password") is None


def test_cli_seeds_prints_the_logins_and_if_empty_skips_a_seeded_database(any_app):
    runner = any_app.test_cli_runner()

    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code == 0, result.output
    assert demo.DEMO_PASSWORD in result.output
    for _role, email in FIXED_LOGINS:
        assert email in result.output
    assert count(Product) >= 200

    again = runner.invoke(args=["seed-demo", "--if-empty"])

    assert again.exit_code == 0, again.output
    assert "skipped" in again.output
    assert "admin@northwind.example" not in again.output
