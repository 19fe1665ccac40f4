"""Back-office purchasing at scale (issue 6): receiving and generating POs against many waiting backorders.

    python bench/bench_purchasing.py                       # SQLite file under bench/data/
    python bench/bench_purchasing.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_purchasing
    python bench/bench_purchasing.py --receive-lines 200 --generate-lines 2000   # a quick smoke run

Scenarios (each on a freshly recreated, migrated database; rows written with bulk inserts, then the service
timed on its own, as one call, the way a request would call it):

- **receive**: one product with ``--receive-lines`` waiting order lines of one unit each (one order per
  line, every third one linked to the PO line), one sent PO line for the same number of units; time
  ``receiving.receive_purchase_order`` for all of them (stock movement, allocation of every unit, one
  allocation record and timeline row per line, one buyer notice per order, ETA recompute). Target: 10,000
  in ≤ 1 s.
- **generate**: ``--generate-lines`` waiting order lines over ``--products`` products of ``--vendors``
  vendors (pack sizes 1..12); time ``purchasing.generate_purchase_orders`` (lines on each vendor's draft,
  every backorder linked). Target: 100,000 in ≤ 5 s. A second run must add nothing; it is timed too.

Prints a markdown table; ``--record`` appends it to bench/RESULTS.md with the revision and the machine.
Run it on a quiet machine: the figures are wall-clock times.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from bench.generate_catalog import absolute_url, bench_environ, recreate  # noqa: E402

DEFAULT_URL = f"sqlite:///{ROOT / 'bench' / 'data' / 'purchasing.db'}"
TARGETS = {"receive": 1.0, "generate": 5.0}
TODAY = date(2026, 12, 1)


def _app(database_url: str):
    from flask_migrate import upgrade

    from portal import create_app

    recreate(database_url)
    app = create_app({"environ": bench_environ(database_url)})
    with app.app_context():
        upgrade()
    return app


def _base(session, vendors: int) -> dict:
    """A warehouse, category, company, buyer, admin and ``vendors`` vendors; returns their ids."""
    from portal.models import Category, Company, User, Vendor, Warehouse

    session.add_all(
        [
            Warehouse(code="MAIN", name="Main"),
            Category(name="Bench", slug="bench"),
            Company(name="Bench Co", account_number="B00001", credit_limit=Decimal("0")),
        ]
    )
    session.flush()
    company_id = session.scalar(select(Company.id))
    session.add_all(
        [
            User(email="buyer@bench.example", name="Buyer", role="buyer", company_id=company_id),
            User(email="admin@bench.example", name="Admin", role="admin"),
        ]
    )
    session.execute(
        insert(Vendor),
        [
            {
                "name": f"Vendor {n}",
                "email": f"v{n}@bench.example",
                "pack_size": 1 + n % 12,
                "lead_time_days": 14,
                "min_order_value": 0,
                "contact_name": "",
                "phone": "",
                "active": True,
            }
            for n in range(vendors)
        ],
    )
    session.flush()
    return {
        "company": company_id,
        "buyer": session.scalar(select(User.id).where(User.role == "buyer")),
        "admin": session.scalar(select(User.id).where(User.role == "admin")),
        "category": session.scalar(select(Category.id)),
        "warehouse": session.scalar(select(Warehouse.id)),
        "vendors": list(session.scalars(select(Vendor.id).order_by(Vendor.id))),
    }


def _products(session, ids: dict, count: int) -> list[int]:
    from portal.models import Product, Stock

    session.execute(
        insert(Product),
        [
            {
                "sku": f"BENCH-{n:06d}",
                "name": f"Bench product {n}",
                "description": "",
                "category_id": ids["category"],
                "vendor_id": ids["vendors"][n % len(ids["vendors"])],
                "price": Decimal("10.00"),
                "order_minimum": 1,
                "order_multiple": 1,
                "backorder_policy": "allow",
                "backorder_visibility": "show",
                "stock_display": "exact",
                "low_stock_threshold": 10,
                "active": True,
                "created_at": datetime.now(UTC),
            }
            for n in range(count)
        ],
    )
    products = list(session.scalars(select(Product.id).order_by(Product.id)))
    session.execute(
        insert(Stock),
        [{"product_id": p, "warehouse_id": ids["warehouse"], "on_hand": 0, "allocated": 0} for p in products],
    )
    return products


def _backorders(session, ids: dict, products: list[int], lines: int) -> list[int]:
    """``lines`` orders of one backordered unit each, spread over ``products`` (round robin)."""
    from portal.models import Order, OrderLine

    start = datetime(2026, 11, 1, tzinfo=UTC)
    session.execute(
        insert(Order),
        [
            {
                "number": f"SO-B{n:07d}",
                "checkout_token": uuid.uuid4().hex,
                "company_id": ids["company"],
                "placed_by_id": ids["buyer"],
                "placed_at": start + timedelta(seconds=n),
                "status": "open",
                "po_reference": "",
                "shipping_preference": "ship_partial",
                "payment_method": "on_account",
                "ship_to_text": "",
                "subtotal": Decimal("10.00"),
                "adjustments_total": Decimal("0"),
                "total": Decimal("10.00"),
            }
            for n in range(lines)
        ],
    )
    orders = list(session.scalars(select(Order.id).order_by(Order.id)))
    session.execute(
        insert(OrderLine),
        [
            {
                "order_id": order_id,
                "product_id": products[n % len(products)],
                "sku": "BENCH",
                "name": "Bench",
                "quantity": 1,
                "allocated": 0,
                "backordered": 1,
                "shipped": 0,
                "cancelled": 0,
                "unit_price": Decimal("10.00"),
                "line_total": Decimal("10.00"),
                "eta_estimated": False,
                "accepted_late": False,
                "backorder_hidden": False,
                "priority": 0,
            }
            for n, order_id in enumerate(orders)
        ],
    )
    return list(session.scalars(select(OrderLine.id).order_by(OrderLine.id)))


def _analyze(db) -> None:
    """Statistics as a live database has them (autovacuum would gather them minutes later, possibly in
    the middle of the timed call): VACUUM ANALYZE on PostgreSQL, ANALYZE on SQLite."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE")


def bench_receive(database_url: str, lines: int) -> dict:
    from portal.database import write_transaction
    from portal.extensions import db
    from portal.models import OrderLine, PoLineLink, PurchaseOrder, PurchaseOrderLine, User
    from portal.services import receiving

    app = _app(database_url)
    with app.app_context():
        with write_transaction() as session:
            ids = _base(session, 1)
            (product,) = _products(session, ids, 1)
            order_lines = _backorders(session, ids, [product], lines)
            session.add(
                PurchaseOrder(
                    number="PO-BENCH", vendor_id=ids["vendors"][0], status="sent", sent_at=datetime.now(UTC)
                )
            )
            session.flush()
            po_id = session.scalar(select(PurchaseOrder.id))
            session.add(
                PurchaseOrderLine(
                    purchase_order_id=po_id,
                    product_id=product,
                    quantity_ordered=lines,
                    quantity_received=0,
                    expected_date=TODAY + timedelta(days=7),
                )
            )
            session.flush()
            po_line = session.scalar(select(PurchaseOrderLine.id))
            session.execute(
                insert(PoLineLink),
                [
                    {"po_line_id": po_line, "order_line_id": line_id, "quantity": 1}
                    for line_id in order_lines[::3]
                ],
            )
        db.session.rollback()
        _analyze(db)
        admin = db.session.get(User, ids["admin"])
        started = time.perf_counter()
        receiving.receive_purchase_order(admin, po_id, uuid.uuid4().hex, {po_line: lines}, TODAY)
        elapsed = time.perf_counter() - started
        db.session.rollback()
        waiting = db.session.scalar(select(func.sum(OrderLine.backordered)))
        assert not waiting, f"{waiting} units still waiting after the receipt"
        db.engine.dispose()
    return {
        "scenario": "receive",
        "size": f"{lines:,} lines, {lines:,} units",
        "seconds": elapsed,
        "target": TARGETS["receive"],
    }


def bench_generate(database_url: str, lines: int, products: int, vendors: int) -> list[dict]:
    from portal.database import write_transaction
    from portal.extensions import db
    from portal.models import PoLineLink, User
    from portal.services import purchasing

    app = _app(database_url)
    with app.app_context():
        with write_transaction() as session:
            ids = _base(session, vendors)
            product_ids = _products(session, ids, products)
            _backorders(session, ids, product_ids, lines)
        db.session.rollback()
        _analyze(db)
        results = []
        for label in ("first run", "second run (adds nothing)"):
            admin = db.session.get(User, ids["admin"])
            started = time.perf_counter()
            outcome = purchasing.generate_purchase_orders(admin, TODAY)
            elapsed = time.perf_counter() - started
            db.session.rollback()
            results.append(
                {
                    "scenario": f"generate, {label}",
                    "seconds": elapsed,
                    "target": TARGETS["generate"],
                    "size": f"{lines:,} lines, {products:,} products, {vendors} vendors "
                    f"→ {outcome.lines_added:,} PO lines, {outcome.links_made:,} links",
                }
            )
        linked = db.session.scalar(select(func.sum(PoLineLink.quantity)))
        assert linked == lines, f"{linked} of {lines} backordered units linked"
        db.engine.dispose()
    return results


def _table(rows: list[dict], database_url: str) -> str:
    backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    out = [f"| scenario ({backend}) | size | seconds | target | |", "|---|---|---:|---:|---|"]
    for row in rows:
        ok = "met" if row["seconds"] <= row["target"] else "missed"
        out.append(
            f"| {row['scenario']} | {row['size']} | {row['seconds']:.3f} | ≤ {row['target']:.0f} | {ok} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--receive-lines", type=int, default=10_000)
    parser.add_argument("--generate-lines", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--vendors", type=int, default=40)
    parser.add_argument("--scenarios", default="receive,generate")
    parser.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args(argv)
    url = absolute_url(args.database_url)
    rows: list[dict] = []
    wanted = set(args.scenarios.split(","))
    if "receive" in wanted:
        rows.append(bench_receive(url, args.receive_lines))
    if "generate" in wanted:
        rows += bench_generate(
            url, args.generate_lines, min(args.products, args.generate_lines), args.vendors
        )
    table = _table(rows, url)
    print(table)
    if args.record:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        with (ROOT / "bench" / "RESULTS.md").open("a") as out:
            out.write(
                f"\n## Purchasing ({date.today().isoformat()}, revision {revision}, "
                f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)\n\n{table}\n"
            )


if __name__ == "__main__":
    main()
