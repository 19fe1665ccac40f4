"""A believable demo wholesaler, Northwind Trade Supply, built by ``flask seed-demo``.

``seed()`` writes staff, price lists, customer companies with buyers and addresses, six vendors, eight
categories, about 300 products and their opening stock in warehouse ``MAIN``. Every value comes from fixed
seeds (Faker and ``random.Random``), so each run plans exactly the same rows; rows are matched on their
natural keys (email, name, slug, SKU, warehouse code) and only missing ones are inserted. Seeding twice
therefore changes nothing, and a partly seeded database is topped up. Existing rows are never edited.

Opening stock is written only together with its stock row, as one ``initial`` movement, so ``on_hand``
always equals the sum of the ledger and nothing is allocated.

Fixed logins, all with ``DEMO_PASSWORD``: admin@northwind.example (Ada Admin), rita.rep@ and sam.rep@
(Rita Reyes, Sam Sato), and buyer@acme-hardware.example, buyer@bluebird.example (both rep Rita) and
buyer@cedar-build.example (rep Sam). The other three companies and buyers have Faker names.

Well-known SKUs, one per backorder situation (DESIGN §3); tests and the README point at these:

=====================  ===========  ==========  =======  =========  ========  =============================
SKU                    policy       visibility  display  threshold  on_hand   notes
=====================  ===========  ==========  =======  =========  ========  =============================
DEMO-PLENTY            block        show        exact    10         480       "480 in stock"
DEMO-LOW               block        show        level    20         6         "Low stock"
DEMO-BLOCKED-OUT       block        show        level    10         0         out of stock, not orderable
DEMO-BACKORDER-SHOW    allow        show        exact    10         0         buyers see backorder + ETA
DEMO-BACKORDER-HIDDEN  allow        hide        exact    10         0         buyers see "Available"
DEMO-PARTIAL           allow        show        exact    10         5         part ships, rest backordered
DEMO-CAPPED            allow_up_to  show        exact    10         0         cap 20
DEMO-CAPPED-LOW        allow_up_to  show        level    10         4         cap 10
DEMO-CASE-PACK         block        show        exact    50         500       minimum 25, multiple 25
=====================  ===========  ==========  =======  =========  ========  =============================
"""

from __future__ import annotations

import functools
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.database import write_transaction
from portal.demo_backoffice import seed_backoffice
from portal.demo_extras import seed_extras
from portal.models import Address, Category, Company, PriceList, Product, User, Vendor
from portal.models.inventory import Stock, StockMovement, Warehouse
from portal.security import hash_password

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105
SEED = 2026
PRODUCTS_PER_CATEGORY = 37
OPENING_STOCK_REASON = "demo opening stock"
ADMIN, RITA, SAM = "admin@northwind.example", "rita.rep@northwind.example", "sam.rep@northwind.example"

#: (role, email, name) of the staff logins.
STAFF = (("admin", ADMIN, "Ada Admin"), ("sales_rep", RITA, "Rita Reyes"), ("sales_rep", SAM, "Sam Sato"))

#: name -> discount percent.
PRICE_LISTS = {"Standard": Decimal("0"), "Trade 5%": Decimal("5"), "Key account 12%": Decimal("12")}

#: (name, buyer email, buyer name, rep, price list, payment terms, credit limit, tier, extra buyers).
FIXED_COMPANIES = (
    ("Acme Hardware Supply", "buyer@acme-hardware.example", "Alex Morgan", RITA, "Trade 5%", "net30",
     "25000", 2, 1),
    ("Bluebird Facilities", "buyer@bluebird.example", "Jordan Blake", RITA, "Key account 12%", "net60",
     "60000", 1, 0),
    ("Cedar Build Co.", "buyer@cedar-build.example", "Casey Walker", SAM, "Standard", "net15",
     "10000", 2, 1),
)
#: Faker-named companies: (name suffix, rep, price list, payment terms, credit limit, tier, extra buyers).
OTHER_COMPANIES = (
    ("Property Maintenance", SAM, "Trade 5%", "net30", "15000", 2, 1),
    ("Building Services", SAM, "Standard", "card_only", "0", 3, 0),
    ("Facilities Group", RITA, "Key account 12%", "net60", "40000", 1, 1),
)

#: (name, lead time days, pack size, minimum PO value).
VENDORS = (
    ("Ironclad Fasteners Inc.", 10, 100, "250"),
    ("Keystone Tool Supply", 21, 1, "500"),
    ("Guardian Safety Products", 14, 10, "300"),
    ("ClearFlow Plumbing Distributors", 7, 10, "200"),
    ("Voltline Electrical Wholesale", 14, 10, "400"),
    ("Northpoint Janitorial & Packaging", 5, 12, "0"),
)


@dataclass(frozen=True)
class CategoryVocab:
    """Words for generated products: name = "<noun> <variant>, <grade>"; price from base and factors."""

    name: str
    prefix: str
    vendors: tuple[int, ...]
    blurb: str
    grades: tuple[tuple[str, float], ...]
    items: tuple[tuple[str, float, str], ...]


CATEGORIES = (
    CategoryVocab("Fasteners", "FAS", (0, 1), "Consistent threads and accurate heads for fast fixing.",
                  (("zinc-plated, box of 100", 1.0), ("stainless A2, box of 100", 1.9),
                   ("hot-dip galvanised, box of 50", 0.8)),
                  (("Hex bolt", 9.5, "M6 x 30 mm|M8 x 40 mm|M10 x 60 mm|M12 x 80 mm"),
                   ("Hex nut", 3.2, "M6|M8|M10|M12"), ("Flat washer", 2.4, "M6|M8|M10|M12"),
                   ("Wood screw", 5.8, "4 x 30 mm|4 x 40 mm|5 x 60 mm|6 x 80 mm"),
                   ("Machine screw", 6.4, "M4 x 16 mm|M5 x 20 mm|M6 x 25 mm"),
                   ("Wedge anchor", 24.0, "M8 x 75 mm|M10 x 90 mm|M12 x 110 mm"),
                   ("Coach screw", 12.0, "M8 x 50 mm|M10 x 75 mm|M10 x 100 mm"))),
    CategoryVocab("Hand Tools", "HND", (1,), "Drop-forged and balanced for all-day use on site.",
                  (("Trade series", 1.0), ("Pro series", 1.45), ("Heavy-duty", 1.7)),
                  (("Claw hammer", 18.0, "16 oz|20 oz|22 oz"),
                   ("Adjustable wrench", 14.5, "150 mm|200 mm|250 mm|300 mm"),
                   ("Screwdriver set", 22.0, "6-piece|8-piece|12-piece"), ("Tape measure", 9.9, "5 m|8 m"),
                   ("Spirit level", 16.0, "600 mm|1200 mm|1800 mm"), ("Locking pliers", 12.5, "6 in|10 in"),
                   ("Socket set", 39.0, "1/4 in drive|3/8 in drive|1/2 in drive"),
                   ("Utility knife", 7.5, "fixed blade|retractable|folding"))),
    CategoryVocab("Power Tools", "PWR", (1,), "Brushless motor, metal gearbox and a three-year warranty.",
                  (("bare tool", 1.0), ("with 2 Ah battery kit", 1.4), ("with 5 Ah battery kit", 1.75)),
                  (("Cordless drill driver", 89.0, "12 V|18 V"), ("Impact driver", 99.0, "12 V|18 V"),
                   ("Angle grinder", 79.0, "115 mm|125 mm"), ("Circular saw", 119.0, "165 mm|190 mm"),
                   ("Reciprocating saw", 109.0, "18 V|36 V"), ("Jigsaw", 95.0, "18 V|pendulum action"),
                   ("Rotary hammer", 159.0, "SDS-plus|SDS-max"), ("Orbital sander", 69.0, "125 mm|150 mm"))),
    CategoryVocab("Safety & PPE", "SAF", (2, 5), "Certified to the relevant EN and ANSI standards.",
                  (("standard", 1.0), ("premium", 1.4), ("pack of 10", 9.0)),
                  (("Hard hat", 12.0, "white|yellow|blue"), ("Safety glasses", 4.5, "clear|smoke|amber"),
                   ("Hi-vis vest", 6.0, "size M|size L|size XL|size XXL"),
                   ("Work gloves", 5.5, "size 8|size 9|size 10|size 11"),
                   ("Ear defenders", 14.0, "SNR 27 dB|SNR 31 dB|SNR 35 dB"),
                   ("Dust mask FFP2", 1.6, "valved|unvalved"))),
    CategoryVocab("Plumbing", "PLB", (3,), "Pressure-tested and approved for potable water.",
                  (("standard", 1.0), ("WRAS-approved", 1.25), ("contractor pack of 10", 8.5)),
                  (("Ball valve", 8.5, "15 mm|22 mm|28 mm"), ("Compression elbow", 2.9, "15 mm|22 mm|28 mm"),
                   ("Compression tee", 3.8, "15 mm|22 mm|28 mm"), ("Isolating valve", 4.2, "15 mm|22 mm"),
                   ("Flexible tap connector", 5.5, "300 mm|500 mm"),
                   ("PTFE tape", 0.9, "12 mm x 12 m|19 mm x 15 m"),
                   ("Basin waste", 11.0, "slotted|unslotted|pop-up"), ("Pipe clip", 0.4, "15 mm|22 mm"))),
    CategoryVocab("Electrical", "ELE", (4,), "Screwless fixing, built to current wiring regulations.",
                  (("white", 1.0), ("brushed steel", 2.1), ("white, pack of 10", 9.0)),
                  (("Single socket outlet", 3.2, "13 A|13 A switched|13 A with USB"),
                   ("Double socket outlet", 5.1, "13 A|13 A switched|13 A with USB"),
                   ("Light switch", 2.4, "1-gang|2-gang|3-gang"), ("Junction box", 2.2, "20 A|30 A|45 A"),
                   ("LED downlight", 8.9, "4 W|6 W|8 W"), ("LED batten", 19.0, "2 ft|4 ft|5 ft"),
                   ("Dimmer switch", 11.0, "1-gang|2-gang"))),
    CategoryVocab("Janitorial", "JAN", (5,), "Concentrated, low-odour and safe on most surfaces.",
                  (("single", 1.0), ("case of 6", 5.6), ("case of 12", 10.8)),
                  (("Multi-surface cleaner", 4.2, "750 ml|5 L"), ("Floor cleaner", 7.5, "1 L|5 L"),
                   ("Hand soap", 3.9, "500 ml|5 L refill"), ("Toilet roll, 2-ply", 0.6, "standard|jumbo"),
                   ("Centrefeed paper roll", 4.8, "blue|white"),
                   ("Refuse sacks, roll of 50", 5.5, "black 90 L|clear 90 L|heavy-duty 120 L"),
                   ("Microfibre cloths, pack of 10", 6.5, "blue|green|red|yellow"),
                   ("Mop head", 4.4, "cotton 300 g|cotton 400 g|microfibre"))),
    CategoryVocab("Packaging", "PKG", (5,), "Made from recycled board and fully recyclable.",
                  (("pack of 25", 1.0), ("pack of 100", 3.6), ("pallet of 1000", 30.0)),
                  (("Single-wall carton", 14.0, "200 x 150 x 100 mm|305 x 229 x 152 mm|457 x 305 x 305 mm"),
                   ("Double-wall carton", 26.0, "305 x 305 x 305 mm|457 x 457 x 457 mm|610 x 457 x 457 mm"),
                   ("Packing tape", 22.0, "48 mm x 66 m clear|48 mm x 66 m brown|48 mm x 66 m fragile"),
                   ("Padded envelope", 9.0, "C5|C4|D1"),
                   ("Mailing bag", 6.0, "250 x 350 mm|350 x 450 mm|450 x 550 mm"),
                   ("Void fill paper pad", 12.0, "A4|A3"))),
)

GENERIC_SENTENCES = (
    "Stocked for next-day dispatch from our main warehouse.", "Trusted by contractors and facilities teams.",
    "Backed by a 12-month trade warranty.", "Volume pricing available through your account manager.",
    "Clearly labelled for fast picking and restocking.",
)


def _rules(policy: str = "block", visibility: str = "show", display: str = "exact", threshold: int = 10,
           cap: int | None = None, minimum: int = 1, multiple: int = 1, lead_time: int | None = None) -> dict:
    """Product keyword arguments for the backorder and ordering settings."""
    return {"backorder_policy": policy, "backorder_visibility": visibility, "stock_display": display,
            "low_stock_threshold": threshold, "backorder_cap": cap, "order_minimum": minimum,
            "order_multiple": multiple, "lead_time_days": lead_time}


#: (SKU, name, category, list price, on_hand, settings): see the table in the module docstring.
FIXED_PRODUCTS = (
    ("DEMO-PLENTY", "Nitrile gloves size L, box of 100", "Safety & PPE", "8.90", 480, _rules()),
    ("DEMO-LOW", "Cordless drill driver 18 V, 2 x 2 Ah kit", "Power Tools", "149.00", 6,
     _rules(display="level", threshold=20)),
    ("DEMO-BLOCKED-OUT", "Digital multimeter, CAT III 600 V", "Electrical", "64.50", 0,
     _rules(display="level")),
    ("DEMO-BACKORDER-SHOW", "Hex bolt M10 x 60 mm, stainless A2, box of 50", "Fasteners", "24.80", 0,
     _rules("allow")),
    ("DEMO-BACKORDER-HIDDEN", "Paper hand towels, case of 3000", "Janitorial", "32.40", 0,
     _rules("allow", visibility="hide")),
    ("DEMO-PARTIAL", "Packing tape 48 mm x 66 m, pack of 6", "Packaging", "19.50", 5, _rules("allow")),
    ("DEMO-CAPPED", "Thermostatic mixing valve 22 mm", "Plumbing", "78.00", 0, _rules("allow_up_to", cap=20)),
    ("DEMO-CAPPED-LOW", "Laser distance meter 50 m", "Hand Tools", "89.00", 4,
     _rules("allow_up_to", display="level", cap=10)),
    ("DEMO-CASE-PACK", "Double-wall carton 457 x 457 x 457 mm", "Packaging", "2.35", 500,
     _rules(threshold=50, minimum=25, multiple=25)),
)


# --- the plan: pure data from fixed seeds ------------------------------------------------------------


@dataclass(frozen=True)
class ProductPlan:
    sku: str
    name: str
    category: str
    vendor: str
    price: Decimal
    on_hand: int
    settings: dict
    description: str


@dataclass(frozen=True)
class CompanyPlan:
    name: str
    rep: str
    price_list: str
    payment_terms: str
    credit_limit: Decimal
    priority_tier: int
    address: dict
    #: (email, name) of each buyer.
    buyers: list[tuple[str, str]]


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _money(value: float | str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _describe(rng: random.Random, vocab: CategoryVocab, vendor: str) -> str:
    return f"{vocab.blurb} {rng.choice(GENERIC_SENTENCES)} Supplied by {vendor.removesuffix('.')}."


def _random_rules(rng: random.Random) -> tuple[dict, int]:
    """A realistic mix of settings and the opening stock that goes with them."""
    policy = rng.choices(("block", "allow", "allow_up_to"), weights=(45, 35, 20))[0]
    hidden = policy != "block" and rng.random() < 0.25
    threshold = rng.choice((5, 10, 10, 20, 25))
    case_pack = rng.choice((6, 10, 12, 24)) if rng.random() < 0.2 else 1
    minimum = case_pack if case_pack > 1 else rng.choice((1, 1, 1, 1, 5))
    display = rng.choice(("exact", "exact", "level"))
    cap = rng.choice((10, 25, 50, 100)) if policy == "allow_up_to" else None
    settings = _rules(policy, "hide" if hidden else "show", display, threshold, cap, minimum, case_pack,
                      rng.choice((None,) * 9 + (28,)))
    level = rng.choices(("plenty", "low", "zero"), weights=(70, 15, 15))[0]
    on_hand = {"plenty": rng.randint(threshold * 2, 600), "low": rng.randint(1, threshold - 1), "zero": 0}
    return settings, on_hand[level]


def _category_products(rng: random.Random, vocab: CategoryVocab) -> list[ProductPlan]:
    combos = [(item, i, variant, grade) for item in vocab.items
              for i, variant in enumerate(item[2].split("|")) for grade in vocab.grades]
    plans, number = [], 100
    for (noun, base, _), i, variant, (grade, factor) in rng.sample(combos, PRODUCTS_PER_CATEGORY):
        number += rng.randint(1, 9)
        name = f"{noun} {variant}, {grade}"
        vendor = VENDORS[rng.choice(vocab.vendors)][0]
        price = _money(base * (1 + 0.3 * i) * factor * rng.uniform(0.92, 1.08))
        settings, on_hand = _random_rules(rng)
        plans.append(ProductPlan(f"{vocab.prefix}-{number:05d}", name, vocab.name, vendor, price, on_hand,
                                 settings, _describe(rng, vocab, vendor)))
    return plans


def plan_products(rng: random.Random) -> list[ProductPlan]:
    by_name = {vocab.name: vocab for vocab in CATEGORIES}
    plans = []
    for sku, name, category, price, on_hand, settings in FIXED_PRODUCTS:
        vocab = by_name[category]
        vendor = VENDORS[vocab.vendors[0]][0]
        plans.append(ProductPlan(sku, name, category, vendor, _money(price), on_hand, settings,
                                 _describe(rng, vocab, vendor)))
    for vocab in CATEGORIES:
        plans.extend(_category_products(rng, vocab))
    return plans


def _address(fake: Faker) -> dict:
    return {"label": "Head office", "line1": fake.street_address(), "city": fake.city(),
            "region": fake.state_abbr(), "postal_code": fake.postcode(), "country": "US"}


def _person(fake: Faker, domain: str) -> tuple[str, str]:
    first, last = fake.first_name(), fake.last_name()
    return f"{slugify(first)}.{slugify(last)}@{domain}", f"{first} {last}"


def _company(fake: Faker, name: str, terms: tuple, main_buyer: tuple[str, str] | None, domain: str,
             extra_buyers: int) -> CompanyPlan:
    rep, price_list, payment_terms, credit, tier = terms
    buyers = [main_buyer] if main_buyer else [_person(fake, domain)]
    buyers += [_person(fake, domain) for _ in range(extra_buyers)]
    return CompanyPlan(name, rep, price_list, payment_terms, _money(credit), tier, _address(fake), buyers)


def plan_companies(fake: Faker) -> list[CompanyPlan]:
    plans = []
    for name, email, buyer, rep, price_list, terms, credit, tier, extra in FIXED_COMPANIES:
        plans.append(_company(fake, name, (rep, price_list, terms, credit, tier), (email, buyer),
                              email.split("@")[1], extra))
    for suffix, rep, price_list, terms, credit, tier, extra in OTHER_COMPANIES:
        name = f"{fake.last_name()} {suffix}"
        plans.append(_company(fake, name, (rep, price_list, terms, credit, tier), None,
                              f"{slugify(name)}.example", extra))
    return plans


def plan_vendors(fake: Faker) -> list[dict]:
    return [{"name": name, "contact_name": f"{fake.first_name()} {fake.last_name()}",
             "email": f"orders@{slugify(name.split()[0])}.example", "phone": fake.phone_number(),
             "lead_time_days": lead, "pack_size": pack, "min_order_value": _money(minimum)}
            for name, lead, pack, minimum in VENDORS]


def fixed_logins() -> list[tuple[str, str]]:
    staff = [("admin" if role == "admin" else "sales rep", email) for role, email, _ in STAFF]
    return staff + [("buyer", company[1]) for company in FIXED_COMPANIES]


# --- writing: insert what is missing -----------------------------------------------------------------


def _insert_missing(session: Session, model: type, key: str, rows: list[dict]) -> tuple[dict, list]:
    """Insert the rows whose ``key`` value is not stored yet; return (all rows by key, the new ones)."""
    column = getattr(model, key)
    stored = {getattr(row, key): row for row in session.scalars(select(model).where(column.in_(
        [r[key] for r in rows])))}
    new = [model(**r) for r in rows if r[key] not in stored]
    if new:
        session.add_all(new)
        session.flush()
    return stored | {getattr(row, key): row for row in new}, new


def _ensure_users(session: Session, rows: list[dict], password_hash: Callable[[], str]) -> dict[str, User]:
    """``password_hash`` (cached) is called only when some user is missing, so a no-op run hashes nothing."""
    stored = session.scalars(select(User.email).where(User.email.in_([r["email"] for r in rows]))).all()
    if len(stored) < len(rows):
        rows = [{**r, "password_hash": password_hash()} for r in rows]
    return _insert_missing(session, User, "email", rows)[0]


def _ensure_companies(session: Session, plans: list[CompanyPlan], users: dict[str, User],
                      price_lists: dict[str, PriceList]) -> dict[str, Company]:
    rows = [{"name": p.name, "account_number": f"tmp-{uuid.uuid4().hex[:16]}",
             "sales_rep_id": users[p.rep].id, "price_list_id": price_lists[p.price_list].id,
             "payment_terms": p.payment_terms, "credit_limit": p.credit_limit,
             "priority_tier": p.priority_tier} for p in plans]
    companies, new = _insert_missing(session, Company, "name", rows)
    for company in new:  # the same numbering as accounts.create_company
        company.account_number = f"C{company.id:05d}"
    addressed = set(session.scalars(select(Address.company_id).where(
        Address.company_id.in_([c.id for c in companies.values()]))))
    session.add_all([Address(company_id=companies[p.name].id, is_default_shipping=True, is_billing=True,
                             **p.address) for p in plans if companies[p.name].id not in addressed])
    return companies


def _ensure_stock(session: Session, warehouse: Warehouse, products: dict[str, Product],
                  plans: list[ProductPlan]) -> None:
    """Stock rows for products that have none, each with its opening movement (on_hand = ledger)."""
    stocked = set(session.scalars(select(Stock.product_id).where(Stock.warehouse_id == warehouse.id)))
    for plan in plans:
        product_id = products[plan.sku].id
        if product_id in stocked:
            continue
        session.add(Stock(product_id=product_id, warehouse_id=warehouse.id, on_hand=plan.on_hand,
                          allocated=0))
        if plan.on_hand:
            session.add(StockMovement(product_id=product_id, warehouse_id=warehouse.id, quantity=plan.on_hand,
                                      kind="initial", reason=OPENING_STOCK_REASON))


def _seed_accounts(session: Session, fake: Faker, password_hash: Callable[[], str]) -> None:
    staff = _ensure_users(session, [{"email": e, "name": n, "role": r} for r, e, n in STAFF], password_hash)
    price_lists, _ = _insert_missing(session, PriceList, "name", [
        {"name": name, "discount_percent": pct} for name, pct in PRICE_LISTS.items()])
    plans = plan_companies(fake)
    companies = _ensure_companies(session, plans, staff, price_lists)
    buyers = [{"email": email, "name": name, "role": "buyer", "company_id": companies[p.name].id}
              for p in plans for email, name in p.buyers]
    _ensure_users(session, buyers, password_hash)


def _seed_catalog(session: Session, fake: Faker, rng: random.Random) -> None:
    vendors, _ = _insert_missing(session, Vendor, "name", plan_vendors(fake))
    categories, _ = _insert_missing(session, Category, "slug", [
        {"name": vocab.name, "slug": slugify(vocab.name)} for vocab in CATEGORIES])
    warehouses, _ = _insert_missing(session, Warehouse, "code", [{"code": "MAIN", "name": "Main warehouse"}])
    plans = plan_products(rng)
    products, _ = _insert_missing(session, Product, "sku", [
        {"sku": p.sku, "name": p.name, "description": p.description, "price": p.price,
         "category_id": categories[slugify(p.category)].id, "vendor_id": vendors[p.vendor].id, **p.settings}
        for p in plans])
    _ensure_stock(session, warehouses["MAIN"], products, plans)


def seed() -> list[tuple[str, str]]:
    """Build or top up the demo data in one transaction; return the fixed (role label, email) logins."""
    fake = Faker("en_US")
    fake.seed_instance(SEED)
    rng = random.Random(SEED)
    password_hash = functools.cache(functools.partial(hash_password, DEMO_PASSWORD))
    with write_transaction() as session:
        _seed_accounts(session, fake, password_hash)
        _seed_catalog(session, fake, rng)
        session.flush()
        seed_extras(session, date.today(), random.Random(SEED + 1))
    seed_backoffice(date.today())  # customer backorders and the vendors' draft POs (own transactions)
    return fixed_logins()
