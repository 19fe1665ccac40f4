"""Factories: build rows with sensible defaults, each in its own write transaction."""

from __future__ import annotations

import itertools
from decimal import Decimal

from portal.database import write_transaction
from portal.models import (
    Address,
    Category,
    Company,
    Product,
    Stock,
    StockMovement,
    User,
    Vendor,
    Warehouse,
)
from portal.security import hash_password

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"  # noqa: S105 - same as tests.conftest.TEST_PASSWORD


def _n() -> int:
    return next(_seq)


def make_company(name: str | None = None, sales_rep: User | None = None, **kw) -> Company:
    n = _n()
    with write_transaction() as s:
        company = Company(name=name or f"Company {n}", account_number=f"T{n:05d}",
                          sales_rep_id=sales_rep.id if sales_rep else None,
                          credit_limit=kw.pop("credit_limit", Decimal("5000")), **kw)
        s.add(company)
    return company


def make_user(role: str = "buyer", company: Company | None = None, email: str | None = None,
              password: str | None = PASSWORD, name: str | None = None, **kw) -> User:
    n = _n()
    with write_transaction() as s:
        user = User(email=(email or f"user{n}@example.com").lower(), name=name or f"User {n}", role=role,
                    company_id=company.id if (company and role == "buyer") else None,
                    password_hash=hash_password(password) if password else None, **kw)
        s.add(user)
    return user


def make_address(company: Company, **kw) -> Address:
    values = {"label": "Main", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
              "country": "US", **kw}
    with write_transaction() as s:
        address = Address(company_id=company.id, **values)
        s.add(address)
    return address


def make_category(name: str | None = None) -> Category:
    n = _n()
    with write_transaction() as s:
        category = Category(name=name or f"Category {n}", slug=f"category-{n}")
        s.add(category)
    return category


def make_vendor(name: str | None = None, **kw) -> Vendor:
    n = _n()
    with write_transaction() as s:
        vendor = Vendor(name=name or f"Vendor {n}", email=f"vendor{n}@example.com", **kw)
        s.add(vendor)
    return vendor


def make_warehouse(code: str = "MAIN") -> Warehouse:
    with write_transaction() as s:
        warehouse = Warehouse(code=code, name=f"Warehouse {code}")
        s.add(warehouse)
    return warehouse


def make_product(sku: str | None = None, policy: str = "block", cap: int | None = None,
                 category: Category | None = None, vendor: Vendor | None = None,
                 price: Decimal | str = "10.00", **kw) -> Product:
    n = _n()
    category = category or make_category()
    vendor = vendor or make_vendor()
    with write_transaction() as s:
        product = Product(sku=sku or f"SKU-{n}", name=kw.pop("name", f"Product {n}"),
                          category_id=category.id, vendor_id=vendor.id, price=Decimal(price),
                          backorder_policy=policy, backorder_cap=cap, **kw)
        s.add(product)
    return product


def set_stock(product: Product, on_hand: int, warehouse: Warehouse | None = None) -> Stock:
    """Put ``on_hand`` units on the shelf through the ledger (an 'initial' movement)."""
    from sqlalchemy import select

    with write_transaction() as s:
        warehouse = warehouse or s.scalar(select(Warehouse).limit(1))
        if warehouse is None:
            warehouse = Warehouse(code="MAIN", name="Main warehouse")
            s.add(warehouse)
            s.flush()
        stock = Stock(product_id=product.id, warehouse_id=warehouse.id, on_hand=on_hand, allocated=0)
        s.add(stock)
        if on_hand:
            s.add(StockMovement(product_id=product.id, warehouse_id=warehouse.id, quantity=on_hand,
                                kind="initial", reason="test set-up"))
    return stock


def make_shipment(order_id: int) -> int:
    """An empty shipment row of the order (what an invoice or a charge refers to); moves no stock."""
    import uuid

    from portal.models import Shipment

    token = uuid.uuid4().hex
    with write_transaction() as s:
        shipment = Shipment(order_id=order_id, token=token, number=f"SH-T{token[:12]}")
        s.add(shipment)
    return shipment.id
