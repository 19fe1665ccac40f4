"""Generate a large catalog for the benchmarks: N products (default 500,000) with stock, ledger, open POs,
price breaks, images, alternatives and one buyer company with a price list.

    python bench/generate_catalog.py --database-url sqlite:///bench/data/catalog.db --recreate
    python bench/generate_catalog.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench \
        --recreate

The schema comes from the Alembic migrations (run through the app). Rows are written with core inserts
(SQLite: ``executemany``; PostgreSQL: ``COPY``) in batches, one transaction per batch, on a plain engine
connection (no ORM unit of work). The search index is maintained by the database itself (FTS5 triggers on
SQLite, the generated ``tsvector`` column and its GIN index on PostgreSQL). Finishes with ANALYZE (and the
FTS5 ``optimize`` on SQLite, VACUUM on PostgreSQL so index-only scans work as on a settled database).

Everything comes from a fixed seed, so two runs with the same N produce the same catalog. The buyer login
is printed at the end (``BUYER_EMAIL`` / ``BUYER_PASSWORD`` below; bench_catalog.py uses them).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Table, create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import Connection, Engine, make_url  # noqa: E402

from portal.demo import CATEGORIES as DEMO_CATEGORIES  # noqa: E402
from portal.demo import GENERIC_SENTENCES, CategoryVocab, slugify  # noqa: E402
from portal.models import (  # noqa: E402
    Category,
    Company,
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
    User,
    Vendor,
    Warehouse,
)

DEFAULT_URL = f"sqlite:///{ROOT / 'bench' / 'data' / 'catalog.db'}"
BUYER_EMAIL = "buyer@bench.example"
BUYER_PASSWORD = "bench-password-2026"  # noqa: S105 - a benchmark login, documented in bench/README.md
COMPANY_NAME = "Bench Buyer Co."
PRICE_LIST_NAME = "Bench trade 7.5%"
SEED = 500_000
TODAY = date.today()
NOW = datetime.now(UTC)

# --- vocabulary: the demo's eight categories plus twelve more -----------------------------------------

EXTRA_CATEGORIES = (
    CategoryVocab("Adhesives & Sealants", "ADH", (), "Fast grab, long open time and a flexible cure.",
                  (("290 ml cartridge", 1.0), ("box of 12", 10.5), ("trade tub", 2.6)),
                  (("Silicone sealant", 6.5, "clear|white|anthracite"), ("Construction adhesive", 7.9,
                   "solvent-free|high-tack|hybrid polymer"), ("Epoxy putty", 9.0, "steel|wood|plumber"),
                   ("Acrylic caulk", 3.1, "white|paintable"), ("Expanding foam", 8.4, "gun grade|hand held"),
                   ("Threadlocker", 12.0, "medium strength|high strength"))),
    CategoryVocab("Abrasives", "ABR", (), "Aluminium oxide grain on a tear-resistant backing.",
                  (("pack of 10", 1.0), ("pack of 50", 4.3), ("box of 100", 8.0)),
                  (("Sanding disc", 5.2, "P40|P80|P120|P240"), ("Flap disc", 3.6, "P40|P60|P80"),
                   ("Cutting disc", 1.9, "115 mm|125 mm|230 mm"), ("Sanding sheet", 4.4, "P80|P120|P180"),
                   ("Wire brush", 6.8, "crimped|knotted|brass"), ("Abrasive roll", 11.0, "P120|P180"))),
    CategoryVocab("Paint & Decorating", "PNT", (), "Low-VOC formula with excellent coverage.",
                  (("1 L", 1.0), ("2.5 L", 2.2), ("5 L", 3.9)),
                  (("Emulsion paint", 14.0, "brilliant white|magnolia|grey"), ("Gloss paint", 16.0,
                   "white|black"), ("Primer undercoat", 13.5, "white|grey"), ("Masonry paint", 19.0,
                   "smooth|textured"), ("Paint roller", 6.0, "short pile|medium pile|long pile"),
                   ("Paint brush", 4.5, "25 mm|50 mm|75 mm"), ("Masking tape", 3.2, "24 mm|36 mm|48 mm"))),
    CategoryVocab("Lighting", "LGT", (), "Long-life LEDs with a five-year warranty.",
                  (("warm white", 1.0), ("cool white", 1.0), ("daylight", 1.05)),
                  (("LED floodlight", 24.0, "20 W|50 W|100 W"), ("LED panel", 32.0, "600 x 600|1200 x 300"),
                   ("Bulkhead light", 18.0, "round|oval|emergency"), ("LED lamp", 2.9, "E27|B22|GU10"),
                   ("Work light", 39.0, "rechargeable|tripod|magnetic"), ("High bay", 89.0, "100 W|150 W"))),
    CategoryVocab("HVAC", "HVC", (), "Quiet running and easy to service.",
                  (("standard", 1.0), ("commercial", 1.6), ("with controller", 1.9)),
                  (("Extractor fan", 29.0, "100 mm|125 mm|150 mm"), ("Radiator valve", 9.5, "15 mm|TRV"),
                   ("Air filter", 7.5, "G4|M5|F7"), ("Ducting", 12.0, "100 mm x 3 m|150 mm x 3 m"),
                   ("Thermostat", 45.0, "digital|programmable|wireless"), ("Condensate pump", 65.0,
                   "mini|tank"))),
    CategoryVocab("Storage & Shelving", "STO", (), "Powder-coated steel, assembled in minutes.",
                  (("grey", 1.0), ("blue", 1.05), ("galvanised", 1.3)),
                  (("Boltless shelving", 79.0, "4 tier|5 tier"), ("Storage bin", 3.8, "size 2|size 3|size 4"),
                   ("Tool chest", 149.0, "5 drawer|7 drawer|9 drawer"),
                   ("Wall panel", 24.0, "louvred|pegboard"),
                   ("Stacking crate", 9.5, "32 L|54 L|80 L"), ("Cantilever box", 19.0, "3 tray|5 tray"))),
    CategoryVocab("Workwear", "WRK", (), "Reinforced seams and a relaxed fit for the working day.",
                  (("navy", 1.0), ("black", 1.0), ("hi-vis orange", 1.2)),
                  (("Work trousers", 24.0, "30R|32R|34R|36R|38R"), ("Softshell jacket", 39.0, "M|L|XL|XXL"),
                   ("Safety boots", 49.0, "size 8|size 9|size 10|size 11"), ("Polo shirt", 12.0, "M|L|XL"),
                   ("Fleece", 22.0, "M|L|XL|XXL"), ("Knee pads", 15.0, "gel|foam"))),
    CategoryVocab("Garden & Grounds", "GRD", (), "Built for daily use by grounds maintenance crews.",
                  (("standard", 1.0), ("professional", 1.5), ("heavy-duty", 1.8)),
                  (("Garden hose", 19.0, "15 m|30 m|50 m"), ("Leaf rake", 11.0, "plastic|steel"),
                   ("Pruning shears", 14.0, "bypass|anvil"), ("Wheelbarrow", 69.0, "85 L|100 L"),
                   ("Spade", 21.0, "border|digging"), ("Weed membrane", 17.0, "1 x 10 m|2 x 25 m"))),
    CategoryVocab("Ladders & Access", "LAD", (), "Tested to EN 131 professional standard.",
                  (("aluminium", 1.0), ("fibreglass", 1.7), ("with tool tray", 1.2)),
                  (("Step ladder", 59.0, "3 tread|5 tread|7 tread"), ("Extension ladder", 139.0,
                   "2 section|3 section"), ("Platform step", 79.0, "2 step|3 step"),
                   ("Combination ladder", 169.0, "3 x 6|3 x 9"), ("Trestle", 89.0, "adjustable|fixed"))),
    CategoryVocab("Locks & Security", "LOK", (), "Anti-snap, anti-pick and anti-drill rated.",
                  (("polished brass", 1.0), ("satin chrome", 1.15), ("keyed alike", 1.3)),
                  (("Padlock", 12.0, "40 mm|50 mm|60 mm"), ("Euro cylinder", 18.0, "35/35|40/40|45/45"),
                   ("Door closer", 34.0, "size 2-4|size 3-6"), ("Hasp and staple", 7.5, "100 mm|150 mm"),
                   ("Key safe", 29.0, "push button|dial"), ("Mortice lock", 22.0, "3 lever|5 lever"))),
    CategoryVocab("Welding", "WLD", (), "Smooth arc and low spatter on mild and stainless steel.",
                  (("1 kg", 1.0), ("5 kg", 4.2), ("15 kg spool", 11.0)),
                  (("MIG wire", 9.0, "0.6 mm|0.8 mm|1.0 mm"), ("Welding rod", 8.0, "2.5 mm|3.2 mm|4.0 mm"),
                   ("Welding helmet", 49.0, "auto-darkening|passive"), ("Welding gloves", 8.5, "TIG|MIG"),
                   ("Contact tip", 0.6, "0.8 mm|1.0 mm"))),
    CategoryVocab("Cable & Wire", "CBL", (), "Copper conductors, flame-retardant sheath.",
                  (("50 m drum", 1.0), ("100 m drum", 1.9), ("cut to length", 0.3)),
                  (("Twin and earth", 39.0, "1.5 mm|2.5 mm|6 mm"),
                   ("Flex cable", 29.0, "3 core 0.75|3 core 1.5"),
                   ("SWA armoured", 89.0, "3 core 2.5|3 core 4|3 core 6"),
                   ("Cable ties", 4.5, "100 mm|200 mm|300 mm"), ("Cat6 cable", 59.0, "UTP|FTP"),
                   ("Trunking", 6.5, "16 x 16|25 x 16"))),
)
CATEGORY_VOCAB = (*DEMO_CATEGORIES, *EXTRA_CATEGORIES)
#: Share of the catalog per category: a few very large categories, a long tail of small ones.
CATEGORY_WEIGHTS = (22, 8, 6, 7, 10, 12, 5, 4, 2, 2, 3, 2, 2, 2, 1, 2, 1, 1, 1, 2)

BRAND_HEADS = ("Iron", "Stone", "Blue", "Red", "North", "Apex", "Summit", "Delta", "Tru", "Pro", "Titan",
               "Eagle", "Falcon", "Crest", "Oak", "Pine", "Cedar", "River", "Granite", "Copper", "Silver",
               "Bright", "Swift", "Hawk", "Bolt", "Forge", "Atlas", "Vector", "Nova", "Polar")
BRAND_TAILS = ("clad", "line", "point", "works", "tek", "max", "flow", "guard", "craft", "force", "grip",
               "fix", "mate", "star", "wood", "field", "smith", "ridge")
VENDOR_SUFFIXES = ("Supply Co.", "Distribution Ltd", "Wholesale Inc.", "Trade Supplies", "Industrial")
FEATURES = (
    "Corrosion-resistant finish.", "Suitable for indoor and outdoor use.", "Ergonomic soft-grip handle.",
    "Meets the latest building regulations.", "Colour-coded for quick identification.",
    "Lightweight yet rigid construction.", "Tested to twice its rated load.", "Recyclable packaging.",
    "Fits all standard fixings.", "Precision machined to tight tolerances.", "UV stabilised.",
    "Chemical and oil resistant.", "Low maintenance and easy to clean.", "Tool-free installation.",
    "Supplied with fixing kit.", "Anti-slip textured surface.", "Heat treated for durability.",
    "Weatherproof to IP65.", "Made in a certified ISO 9001 factory.", "Compatible with previous models.",
    "Designed for high-traffic sites.", "Clear printed markings.", "Shatterproof polycarbonate.",
    "Silent operation.", "Energy-saving design.", "Magnetic base for hands-free use.",
)
#: Rare words that appear in a handful of product descriptions ("small result sets").
RARE_WORDS = ("zircon", "quasar", "obsidian", "tundra", "sierra", "mistral", "halcyon", "juniper",
              "kestrel", "lynx", "marlin", "nimbus", "orca", "pelican", "quartzite", "raptor", "sequoia",
              "tamarack", "umber", "vortex", "walrus", "xenon", "yarrow", "zephyr")
PO_LINE_SHARE = 0.06
PRICE_BREAK_SHARE = 0.15
IMAGE_SHARE = 0.25
ALTERNATIVE_SHARE = 0.02
FIXED_PRICE_ITEMS = 5000


# --- progress ------------------------------------------------------------------------------------------


class Progress:
    """A self-written progress line on stderr (no extra dependency)."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, total, 0
        self.start = time.perf_counter()
        self._last = 0.0
        self.tty = sys.stderr.isatty()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last < 0.5 and self.done < self.total:
            return
        self._last = now
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed else 0
        eta = (self.total - self.done) / rate if rate else 0
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        line = (f"{self.label:<10} [{'#' * filled}{'.' * (width - filled)}] {self.done:>9,}/{self.total:,}"
                f" {rate:>8,.0f}/s  {elapsed:6.1f}s  eta {eta:5.0f}s")
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def finish(self) -> float:
        elapsed = time.perf_counter() - self.start
        if self.tty:
            sys.stderr.write("\n")
        return elapsed


# --- writing: executemany (SQLite) or COPY (PostgreSQL) ---------------------------------------------


class Writer:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def write(self, conn: Connection, table: Table, rows: list[dict]) -> None:
        if not rows:
            return
        if not self.postgres:
            conn.execute(insert(table), rows)
            return
        columns = list(rows[0])
        cols = ", ".join(f'"{c}"' for c in columns)
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])

    def batch(self, tables_rows: Iterable[tuple[Table, list[dict]]]) -> None:
        """One transaction for one batch of rows over several tables."""
        with self.engine.begin() as conn:
            if not self.postgres:
                conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MiB page cache for the load
            for table, rows in tables_rows:
                self.write(conn, table, rows)


# --- the plan --------------------------------------------------------------------------------------------


@dataclass
class Catalog:
    vendors: list[dict]
    categories: list[dict]
    vendors_by_category: list[list[int]]
    brands: list[str]
    brand_weights: list[float]


def plan_catalog(rng: random.Random) -> Catalog:
    brands = [h + t for h in BRAND_HEADS for t in BRAND_TAILS]
    rng.shuffle(brands)
    # Zipf-like: the first brands are everywhere, the tail is rare.
    brand_weights = [1 / (rank + 1) ** 0.9 for rank in range(len(brands))]
    vendor_names = rng.sample([f"{h}{t} {s}" for h in BRAND_HEADS for t in BRAND_TAILS
                               for s in VENDOR_SUFFIXES], 50)
    vendors = [{"id": i + 1, "name": name, "contact_name": f"Contact {i + 1}",
                "email": f"orders@{slugify(name.split()[0])}.example", "phone": f"+1 555 01{i:02d}",
                "lead_time_days": rng.choice((5, 7, 10, 14, 14, 21, 28, 42)),
                "min_order_value": Decimal(rng.choice((0, 100, 250, 500))),
                "pack_size": rng.choice((1, 1, 6, 10, 12, 100)), "active": True}
               for i, name in enumerate(vendor_names)]
    categories = [{"id": i + 1, "name": v.name, "slug": slugify(v.name), "parent_id": None}
                  for i, v in enumerate(CATEGORY_VOCAB)]
    vendors_by_category = [rng.sample(range(1, 51), rng.randint(2, 6)) for _ in CATEGORY_VOCAB]
    return Catalog(vendors, categories, vendors_by_category, brands, brand_weights)


def _rules(rng: random.Random) -> tuple[dict, int]:
    """A realistic mix of backorder settings and the opening stock that goes with them (as the demo)."""
    policy = rng.choices(("block", "allow", "allow_up_to"), weights=(45, 35, 20))[0]
    hidden = policy != "block" and rng.random() < 0.25
    threshold = rng.choice((5, 10, 10, 20, 25))
    case_pack = rng.choice((6, 10, 12, 24)) if rng.random() < 0.2 else 1
    minimum = case_pack if case_pack > 1 else rng.choice((1, 1, 1, 1, 5))
    settings = {"backorder_policy": policy, "backorder_visibility": "hide" if hidden else "show",
                "stock_display": rng.choice(("exact", "exact", "level")), "low_stock_threshold": threshold,
                "backorder_cap": rng.choice((10, 25, 50, 100)) if policy == "allow_up_to" else None,
                "order_minimum": minimum, "order_multiple": case_pack,
                "lead_time_days": rng.choice((None,) * 9 + (28,))}
    level = rng.choices(("plenty", "low", "zero"), weights=(70, 15, 15))[0]
    on_hand = {"plenty": rng.randint(threshold * 2, 600), "low": rng.randint(1, threshold - 1), "zero": 0}
    return settings, on_hand[level]


def _model_code(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTVWXZ"
    return f"{rng.choice(letters)}{rng.choice(letters)}{rng.randint(100, 9999)}"


@dataclass
class Batch:
    products: list[dict]
    stock: list[dict]
    movements: list[dict]
    breaks: list[dict]
    images: list[dict]
    alternatives: list[dict]
    #: (product id, vendor id, on_hand) of products a PO might be open for.
    short: list[tuple[int, int, int]]


def product_batches(rng: random.Random, cat: Catalog, n: int, batch_size: int) -> Iterator[Batch]:
    created0 = NOW - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / max(n, 1)
    sku_numbers = [0] * len(CATEGORY_VOCAB)
    movement_id = stock_id = break_id = image_id = 0
    last_by_category: list[list[int]] = [[] for _ in CATEGORY_VOCAB]
    for start in range(1, n + 1, batch_size):
        b = Batch([], [], [], [], [], [], [])
        for pid in range(start, min(start + batch_size, n + 1)):
            ci = rng.choices(range(len(CATEGORY_VOCAB)), weights=CATEGORY_WEIGHTS)[0]
            vocab = CATEGORY_VOCAB[ci]
            noun, base, variants = rng.choice(vocab.items)
            vi, variant = rng.choice(list(enumerate(variants.split("|"))))
            grade, factor = rng.choice(vocab.grades)
            brand = rng.choices(cat.brands, weights=cat.brand_weights)[0]
            model = _model_code(rng)
            vendor_id = rng.choice(cat.vendors_by_category[ci])
            sku_numbers[ci] += rng.randint(1, 3)
            name = f"{brand} {noun} {variant}, {grade}"
            if rng.random() < 0.3:
                name += f" ({model})"
            features = " ".join(rng.sample(FEATURES, rng.randint(1, 3)))
            extra = f" Finish: {rng.choice(RARE_WORDS)}." if rng.random() < 0.002 else ""
            description = (f"{vocab.blurb} {features} {rng.choice(GENERIC_SENTENCES)} Model {model}.{extra}"
                           f" Supplied by {cat.vendors[vendor_id - 1]['name'].removesuffix('.')}.")
            price = Decimal(str(round(base * (1 + 0.3 * vi) * factor * rng.uniform(0.85, 1.2), 2)))
            settings, on_hand = _rules(rng)
            b.products.append({
                "id": pid, "sku": f"{vocab.prefix}-{sku_numbers[ci]:07d}", "name": name[:200],
                "description": description, "category_id": ci + 1, "vendor_id": vendor_id,
                "price": max(price, Decimal("0.10")), "active": rng.random() > 0.01,
                "created_at": created0 + step * pid, **settings})
            warehouses = (1, 2) if rng.random() < 0.25 else (1,)
            for wi, warehouse_id in enumerate(warehouses):
                qty = on_hand if wi == 0 else rng.choice((0, on_hand // 2, rng.randint(1, 200)))
                stock_id += 1
                b.stock.append({"id": stock_id, "product_id": pid, "warehouse_id": warehouse_id,
                                "on_hand": qty, "allocated": 0})
                if qty:
                    movement_id += 1
                    b.movements.append({"id": movement_id, "product_id": pid, "warehouse_id": warehouse_id,
                                        "quantity": qty, "kind": "initial", "reason": "bench opening stock",
                                        "reference": "", "actor_id": None, "created_at": NOW})
            if rng.random() < PRICE_BREAK_SHARE:
                tiers = sorted(rng.sample((10, 25, 50, 100, 250), rng.randint(1, 3)))
                for k, min_quantity in enumerate(tiers):
                    break_id += 1
                    b.breaks.append({"id": break_id, "product_id": pid, "min_quantity": min_quantity,
                                     "percent_off": Decimal(("2.50", "5.00", "10.00")[k])})
            if rng.random() < IMAGE_SHARE:
                for position in range(rng.randint(1, 3)):
                    image_id += 1
                    b.images.append({"id": image_id, "product_id": pid, "stem": f"bench{image_id:08d}",
                                     "alt_text": name[:200], "position": position, "width": 1200,
                                     "height": 900})
            recent = last_by_category[ci]
            if recent and rng.random() < ALTERNATIVE_SHARE:
                for position, alt in enumerate(rng.sample(recent, min(len(recent), rng.randint(1, 3)))):
                    b.alternatives.append({"product_id": pid, "alternative_id": alt, "position": position})
            recent.append(pid)
            if len(recent) > 20:
                recent.pop(0)
            if settings["backorder_policy"] != "block" or on_hand < settings["low_stock_threshold"]:
                b.short.append((pid, vendor_id, on_hand))
        yield b


def plan_purchase_orders(rng: random.Random, short: list[tuple[int, int, int]], n: int
                         ) -> tuple[list[dict], list[dict]]:
    """Open POs (sent / partially received) and a few received ones, lines grouped by vendor."""
    picked = rng.sample(short, min(len(short), int(n * PO_LINE_SHARE)))
    by_vendor: dict[int, list[int]] = {}
    for pid, vendor_id, _ in picked:
        by_vendor.setdefault(vendor_id, []).append(pid)
    orders, lines = [], []
    for vendor_id in sorted(by_vendor):
        pids = by_vendor[vendor_id]
        rng.shuffle(pids)
        i = 0
        while i < len(pids):
            size = rng.randint(5, 30)
            chunk, i = pids[i:i + size], i + size
            po_id = len(orders) + 1
            status = rng.choices(("sent", "partially_received", "received"), weights=(75, 15, 10))[0]
            sent = NOW - timedelta(days=rng.randint(1, 40))
            orders.append({"id": po_id, "number": f"PO-{po_id:06d}", "vendor_id": vendor_id, "status": status,
                           "notes": "", "created_at": sent - timedelta(days=1), "sent_at": sent})
            for pid in chunk:
                ordered = rng.choice((12, 24, 50, 100, 200, 500))
                received = {"sent": 0, "received": ordered}.get(status, rng.choice((0, 0, ordered // 2)))
                expected = None if rng.random() < 0.1 else TODAY + timedelta(days=rng.randint(-3, 60))
                lines.append({"id": len(lines) + 1, "purchase_order_id": po_id, "product_id": pid,
                              "quantity_ordered": ordered, "quantity_received": received,
                              "expected_date": expected})
    return orders, lines


# --- database set-up -----------------------------------------------------------------------------------


def absolute_url(database_url: str) -> str:
    """Flask-SQLAlchemy resolves a relative SQLite path against the instance folder; make it absolute
    against the current directory instead, as a user of this script expects."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).resolve()))
    return url.render_as_string(hide_password=False)


def bench_environ(database_url: str) -> dict[str, str]:
    return {"PORTAL_ENV": "development", "OUTBOX_WORKER": "off", "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789"}


def recreate(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
            " AND pid <> pg_backend_pid()", (url.database,))
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
    admin.dispose()


def migrate(database_url: str):
    from flask_migrate import upgrade

    from portal import create_app

    app = create_app({"environ": bench_environ(database_url)})
    with app.app_context():
        upgrade()
    return app


def write_accounts(writer: Writer, app, rng: random.Random, n: int, cat: Catalog) -> list[int]:
    from portal.security import hash_password

    with app.app_context():
        password_hash = hash_password(BUYER_PASSWORD)
    fixed = sorted(rng.sample(range(1, n + 1), min(FIXED_PRICE_ITEMS, n)))
    writer.batch([
        (Vendor.__table__, cat.vendors),
        (Category.__table__, cat.categories),
        (Warehouse.__table__, [{"id": 1, "code": "MAIN", "name": "Main warehouse"},
                               {"id": 2, "code": "EAST", "name": "East depot"}]),
        (PriceList.__table__, [{"id": 1, "name": PRICE_LIST_NAME, "discount_percent": Decimal("7.50")}]),
        (Company.__table__, [{"id": 1, "name": COMPANY_NAME, "account_number": "C00001", "price_list_id": 1,
                              "payment_terms": "net30", "credit_limit": Decimal("50000"),
                              "sales_rep_id": None, "priority_tier": 2, "active": True, "created_at": NOW}]),
        (User.__table__, [{"id": 1, "email": BUYER_EMAIL, "name": "Bench Buyer", "role": "buyer",
                           "company_id": 1, "password_hash": password_hash, "active": True,
                           "created_at": NOW, "last_login_at": None}]),
    ])
    return fixed


def finish(engine: Engine) -> dict[str, float]:
    timings = {}
    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            for table in ("vendors", "categories", "warehouses", "price_lists", "companies", "users",
                          "products", "stock", "stock_movements", "price_breaks", "product_images",
                          "purchase_orders", "purchase_order_lines"):
                sql = (f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608 - our tables
                       f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
                conn.exec_driver_sql(sql)
            conn.commit()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        timings["vacuum analyze"] = time.perf_counter() - started
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("INSERT INTO product_search(product_search) VALUES ('optimize')")
            conn.commit()
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        timings["analyze + fts optimize"] = time.perf_counter() - started
    return timings


def generate(database_url: str, n: int, batch_size: int, seed: int, do_recreate: bool) -> dict[str, float]:
    database_url = absolute_url(database_url)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if do_recreate:
        recreate(database_url)
    app = migrate(database_url)
    timings["migrations"] = time.perf_counter() - started
    with app.app_context():  # the app's engine hooks (SQLite pragmas) are what we want here too
        from portal.extensions import db
        engine = db.engine
        with engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM products")).scalar():
                raise SystemExit("The database already has products: use --recreate (or another URL).")
        writer = Writer(engine)
        rng = random.Random(seed)
        cat = plan_catalog(rng)
        fixed = write_accounts(writer, app, rng, n, cat)

        t0 = time.perf_counter()
        progress = Progress("products", n)
        short: list[tuple[int, int, int]] = []
        fixed_set = set(fixed)
        counts = dict.fromkeys(("products", "stock", "stock_movements", "price_breaks", "product_images",
                                "product_alternatives", "price_list_items"), 0)
        for b in product_batches(rng, cat, n, batch_size):
            items = [{"price_list_id": 1, "product_id": p["id"],
                      "price": (p["price"] * Decimal("0.85")).quantize(Decimal("0.01"))}
                     for p in b.products if p["id"] in fixed_set]
            writer.batch([(Product.__table__, b.products), (Stock.__table__, b.stock),
                          (StockMovement.__table__, b.movements), (PriceBreak.__table__, b.breaks),
                          (ProductImage.__table__, b.images), (ProductAlternative.__table__, b.alternatives),
                          (PriceListItem.__table__, items)])
            for key, rows in (("products", b.products), ("stock", b.stock), ("stock_movements", b.movements),
                              ("price_breaks", b.breaks), ("product_images", b.images),
                              ("product_alternatives", b.alternatives), ("price_list_items", items)):
                counts[key] += len(rows)
            short.extend(b.short)
            progress.advance(len(b.products))
        timings["products + dependents"] = progress.finish()

        orders, lines = plan_purchase_orders(rng, short, n)
        t1 = time.perf_counter()
        progress = Progress("po lines", len(lines))
        writer.batch([(PurchaseOrder.__table__, orders)])
        for i in range(0, len(lines), batch_size):
            writer.batch([(PurchaseOrderLine.__table__, lines[i:i + batch_size])])
            progress.advance(len(lines[i:i + batch_size]))
        progress.finish()
        timings["purchase orders"] = time.perf_counter() - t1
        counts["purchase_orders"], counts["purchase_order_lines"] = len(orders), len(lines)
        timings.update(finish(engine))
        timings["rows total"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    print(f"database: {make_url(database_url).render_as_string(hide_password=True)}")
    for key, value in counts.items():
        print(f"  {key:<22} {value:>10,}")
    for key, value in timings.items():
        print(f"  {key:<22} {value:>9.1f} s")
    print(f"buyer login: {BUYER_EMAIL} / {BUYER_PASSWORD}")
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
                        help="SQLite file URL or postgresql+psycopg URL (default: %(default)s)")
    parser.add_argument("-n", "--products", type=int, default=500_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--recreate", action="store_true",
                        help="delete the SQLite file / drop and create the PostgreSQL database first")
    args = parser.parse_args(argv)
    generate(args.database_url, args.products, args.batch_size, args.seed, args.recreate)


if __name__ == "__main__":
    main()
