"""Checkout throughput on PostgreSQL under gunicorn, beside the raw SQL order transaction (issue 4).

    .venv/bin/python bench/bench_checkout.py                      # full run, ~30 minutes
    .venv/bin/python bench/bench_checkout.py --configs 2x8 --duration 10 --warmup 3   # quick look

What it does, in one run:

1. **Database**: drops and creates ``bench_checkout`` (``--database-url``), migrates it through the app
   (``flask_migrate.upgrade``), and seeds one warehouse, 10 vendors, 4 categories, ``--buyers`` companies
   (default 64) each with one buyer and one default ship-to address (half of them on a 5 % price list),
   one hot SKU (``HOT-0001``, policy ``allow``, ``--hot-stock`` units on hand: it sells out part-way and
   later orders are backordered) and ``--products`` random SKUs (default 2,000; policy ``allow``, 5,000
   units each, 10 % with a volume break), and one active goodwill rule. Passwords use a cheap Argon2 cost.
   Each buyer also gets an API key (``api_keys``, name ``bench``) for the API flow.
2. **App**: for each ``--configs`` entry ``WxT`` starts ``gunicorn -w W -k gthread --threads T`` on
   ``bench.checkout_app:app`` (the portal's app with an ``X-Bench`` timing header, see that module) or
   on ``--app wsgi:app``, with ``PORTAL_ENV=production`` (cookies not Secure: plain HTTP on loopback).
3. **Load**, for each of ``--flows`` (default ``api,browser``) and each scenario. **browser**:
   ``--buyers`` concurrent buyers (asyncio + aiohttp, one cookie jar each) log in once through the login
   form, then loop: quick-order pad POST of 1-3 lines (``/cart/quick``), ``GET /checkout/review`` (the
   one-time token and the signed fingerprint are scraped), ``POST /checkout/place``. An order counts when
   the place POST answers 302 to ``/checkout/done/...``. A 409 (the review went stale: someone took the
   stock) is retried with the fresh token of the 409 page, as a buyer would, up to 5 times. **api**: the
   same buyers, no login, loop on one ``POST /api/v1/orders`` per order (JSON lines, ``Authorization:
   Bearer`` key, a fresh ``Idempotency-Key``); an order counts when it answers 201; a 422 is a rejection
   (its problems are listed with the errors). Both flows draw the same carts. Scenario **hot**: every
   cart holds the hot SKU (1-3 units) plus 0-2 random SKUs; **random**: 1-3 random SKUs. Only requests
   that start and end inside the steady-state window (after ``--warmup`` s, for ``--duration`` s) count.
   These closed-loop passes give the most orders/s; their latency is mostly queueing (``--buyers`` back to
   back). **Paced** passes give the latency at a given offered load: orders start as a Poisson stream
   (``--paced`` rates for the browser flow on its best setting, ``--paced-api`` for the API flow on its
   own; ``--paced-duration`` s windows); the API flow's latency target is judged on its paced pass at
   200 orders/s, which must be sustained (orders/s within 5 % of offered, no growing backlog).
4. **Floor**: the same order transaction as plain SQL on psycopg (``INSERT orders ... ON CONFLICT DO
   NOTHING``; cart ``FOR UPDATE``; cart lines; products then stock ``FOR UPDATE`` in id order; stock
   ``allocated`` update; order lines; order totals; outbox row; delete cart lines; ``COMMIT``) driven by
   ``--floor-threads`` threads (default 64) against the same database and the same carts, each filling
   its cart with the same 1-3 lines first (a separate small transaction, as the pad does).
5. Prints a markdown report (``--markdown FILE`` too) and keeps every sample with ``--json FILE``.
   ``--profile`` adds an unmeasured pass with the in-process sampler of ``bench/checkout_app.py`` and
   prints where the workers' wall time goes.

The database is reset between passes (orders, lines, outbox and cart lines emptied, stock un-allocated)
and dropped at the end unless ``--keep-db``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_checkout"
SECRET_KEY = "bench-checkout-secret-key-that-is-long-enough-0123456789"  # noqa: S105
PASSWORD = "bench-checkout-2026"  # noqa: S105
HOT_SKU = "HOT-0001"
TARGET_P95_MS = 300.0
TARGET_ORDERS_PER_S = 200.0
#: A paced pass sustains its offered rate when orders/s is within this share of it (and no growing backlog).
SUSTAIN_TOLERANCE = 0.05
DATA = ROOT / "bench" / "data"
FLOWS = {"browser", "api"}

_CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')
_TOKEN = re.compile(r'name="token" type="hidden" value="([^"]*)"')
_REVIEWED = re.compile(r'name="reviewed" type="hidden" value="([^"]*)"')


def app_environ(database_url: str) -> dict[str, str]:
    return {
        "PORTAL_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        # Logins are not what we measure; keep the failed-login budget out of the way.
        "LOGIN_LIMIT_PER_IP": "100000 per minute",
        "LOGIN_LIMIT_PER_ACCOUNT": "100000 per minute",
    }


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string for plain psycopg."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


# --- database ---------------------------------------------------------------------------------------


def recreate_database(database_url: str) -> None:
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (url.database,),
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
    admin.dispose()


def drop_database(database_url: str) -> None:
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (url.database,),
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}"')
    admin.dispose()


@dataclass
class World:
    buyers: list[dict]  # email, user_id, company_id, cart_id, api_key (the raw key, for the API flow)
    hot_id: int
    hot_stock: int
    random_skus: list[tuple[int, str]]  # (product id, sku)


def migrate_and_seed(database_url: str, n_buyers: int, n_products: int, hot_stock: int, seed: int) -> World:
    from flask_migrate import upgrade

    from portal import create_app
    from portal.database import write_transaction
    from portal.extensions import db
    from portal.models import (
        Address,
        ApiKey,
        Cart,
        Category,
        Company,
        GoodwillRule,
        PriceBreak,
        PriceList,
        Product,
        Stock,
        StockMovement,
        User,
        Vendor,
        Warehouse,
    )
    from portal.security import hash_password
    from portal.services.api_keys import KEY_PREFIX, hash_key

    rng = random.Random(seed)
    app = create_app({"environ": app_environ(database_url)})
    with app.app_context():
        upgrade()
        password_hash = hash_password(PASSWORD)
        with write_transaction() as s:
            warehouse = Warehouse(code="MAIN", name="Main warehouse")
            vendors = [
                Vendor(
                    name=f"Bench Vendor {i}",
                    email=f"vendor{i}@bench.example",
                    lead_time_days=rng.choice([7, 10, 14, 21, 28]),
                )
                for i in range(10)
            ]
            categories = [Category(name=f"Bench Category {i}", slug=f"bench-category-{i}") for i in range(4)]
            price_list = PriceList(name="Bench trade 5%", discount_percent=Decimal("5.00"))
            s.add_all([warehouse, *vendors, *categories, price_list])
            s.add(
                GoodwillRule(
                    name="5 % off backorders more than 60 days out",
                    kind="percent_off_late_backorder",
                    days=60,
                    percent=Decimal("5.00"),
                )
            )
            s.flush()
            hot = Product(
                sku=HOT_SKU,
                name="Hot item everyone wants",
                category_id=categories[0].id,
                vendor_id=vendors[0].id,
                price=Decimal("19.90"),
                backorder_policy="allow",
            )
            products = [hot] + [
                Product(
                    sku=f"R-{i:05d}",
                    name=f"Random bench product {i}",
                    category_id=categories[i % 4].id,
                    vendor_id=vendors[i % 10].id,
                    price=Decimal(rng.randint(100, 50000)) / 100,
                    backorder_policy="allow",
                )
                for i in range(1, n_products + 1)
            ]
            s.add_all(products)
            s.flush()
            for product in products:
                units = hot_stock if product is hot else 5000
                s.add(Stock(product_id=product.id, warehouse_id=warehouse.id, on_hand=units, allocated=0))
                s.add(
                    StockMovement(
                        product_id=product.id,
                        warehouse_id=warehouse.id,
                        quantity=units,
                        kind="initial",
                        reason="bench set-up",
                    )
                )
                if product is not hot and rng.random() < 0.1:
                    s.add(PriceBreak(product_id=product.id, min_quantity=3, percent_off=Decimal("4.00")))
            buyers = []
            for i in range(n_buyers):
                company = Company(
                    name=f"Bench Buyer {i:03d}",
                    account_number=f"B{i:05d}",
                    price_list_id=price_list.id if i % 2 else None,
                    credit_limit=Decimal("1e9"),
                )
                s.add(company)
                s.flush()
                address = Address(
                    company_id=company.id,
                    label="Main",
                    line1=f"{i} Bench Street",
                    city="Springfield",
                    postal_code="12345",
                    country="US",
                    is_default_shipping=True,
                )
                user = User(
                    email=f"buyer{i:03d}@bench.example",
                    name=f"Bench Buyer {i}",
                    role="buyer",
                    company_id=company.id,
                    password_hash=password_hash,
                )
                s.add_all([address, user])
                s.flush()
                cart = Cart(user_id=user.id, company_id=company.id, ship_to_id=address.id)
                api_key = KEY_PREFIX + secrets.token_urlsafe(32)
                key = ApiKey(user_id=user.id, name="bench", prefix=api_key[:12], key_hash=hash_key(api_key))
                s.add_all([cart, key])
                s.flush()
                buyers.append(
                    {
                        "email": user.email,
                        "user_id": user.id,
                        "company_id": company.id,
                        "cart_id": cart.id,
                        "api_key": api_key,
                    }
                )
            world = World(buyers, hot.id, hot_stock, [(p.id, p.sku) for p in products[1:]])
        db.session.remove()
        db.engine.dispose()
    return world


RESET_SQL = """
TRUNCATE order_adjustments, order_lines, orders, outbox_messages, notifications, cart_lines
    RESTART IDENTITY CASCADE;
UPDATE stock SET allocated = 0 WHERE allocated <> 0;
UPDATE carts SET po_reference = '', need_by = NULL;
"""


QUIET = {"threshold": 0.5, "max_wait": 300.0}


def prepare(conninfo: str, what: str) -> float:
    """Reset the database, then wait for the machine to be quiet; returns the cores others used."""
    reset(conninfo)
    return wait_for_quiet(QUIET["threshold"], QUIET["max_wait"], what)


def reset(conninfo: str) -> None:
    """Empty orders and carts and un-allocate stock (on_hand and its ledger are untouched)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(RESET_SQL)
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def check_invariants(conninfo: str, hot_id: int) -> dict:
    """After a pass: stock never negative or over-allocated, every line adds up, allocations match."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        bad_stock = conn.execute(
            "SELECT count(*) FROM stock WHERE allocated < 0 OR allocated > on_hand OR on_hand < 0"
        ).fetchone()[0]
        bad_lines = conn.execute(
            "SELECT count(*) FROM order_lines WHERE quantity <> allocated + backordered + shipped + cancelled"
        ).fetchone()[0]
        mismatch = conn.execute("""
            SELECT count(*) FROM (
              SELECT s.product_id, sum(s.allocated) AS a,
                     coalesce((SELECT sum(allocated) FROM order_lines l
                               WHERE l.product_id = s.product_id), 0) AS b
              FROM stock s GROUP BY s.product_id) x WHERE a <> b""").fetchone()[0]
        orders, lines = conn.execute(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines)"
        ).fetchone()
        outbox = conn.execute("SELECT count(*) FROM outbox_messages").fetchone()[0]
        hot = conn.execute(
            "SELECT coalesce(sum(allocated), 0), coalesce(sum(backordered), 0) FROM order_lines"
            " WHERE product_id = %s",
            (hot_id,),
        ).fetchone()
        sold_out = conn.execute(
            "SELECT min(o.placed_at) FROM orders o JOIN order_lines l ON l.order_id = o.id"
            " WHERE l.product_id = %s AND l.backordered > 0",
            (hot_id,),
        ).fetchone()[0]
    return {
        "bad_stock_rows": bad_stock,
        "bad_lines": bad_lines,
        "allocation_mismatch_products": mismatch,
        "orders": orders,
        "order_lines": lines,
        "outbox": outbox,
        "hot_allocated": int(hot[0]),
        "hot_backordered": int(hot[1]),
        "hot_sold_out_at": sold_out.timestamp() if sold_out else None,
    }


# --- CPU accounting ---------------------------------------------------------------------------------

CLK = os.sysconf("SC_CLK_TCK")
PG_DATABASE = {"name": "bench_checkout"}


def busy_cores(seconds: float = 3.0) -> float:
    """Cores busy machine-wide over the next ``seconds``."""

    def busy() -> tuple[float, float]:
        jiffies = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(jiffies) - jiffies[3] - jiffies[4]) / CLK, time.monotonic()

    (b0, t0) = busy()
    time.sleep(seconds)
    (b1, t1) = busy()
    return (b1 - b0) / (t1 - t0)


def wait_for_quiet(threshold: float, max_wait: float, what: str) -> float:
    """Wait (up to ``max_wait`` s) until the machine uses fewer than ``threshold`` cores without us.
    Returns the busy cores seen last (reported beside the results)."""
    deadline = time.time() + max_wait
    while True:
        seen = busy_cores()
        if seen < threshold or time.time() > deadline:
            if seen >= threshold:
                print(f"{what}: machine still busy ({seen:.2f} cores), measuring anyway", file=sys.stderr)
            return seen
        print(f"{what}: machine busy ({seen:.2f} cores used by others), waiting ...", file=sys.stderr)
        time.sleep(10)


def _proc_stat(pid: int) -> tuple[str, int, float] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    if comm.startswith("postgres"):
        # "postgres: 15/main: postgres <database> 127.0.0.1(port) ..." for a backend; background
        # processes (walwriter, checkpointer, ...) have no client address.
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            title = ""
        if "(" in title and f" {PG_DATABASE['name']} " not in title:
            comm = "postgres-other-db"
    rest = raw[raw.rindex(")") + 2 :].split()
    ppid, utime, stime = int(rest[1]), int(rest[11]), int(rest[12])
    return comm, ppid, (utime + stime) / CLK


def cpu_snapshot(gunicorn_master: int | None) -> dict:
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _proc_stat(int(entry))
            if found:
                procs[int(entry)] = found
    total = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    jiffies = [int(x) for x in total]
    idle = jiffies[3] + jiffies[4]
    return {
        "procs": procs,
        "busy": (sum(jiffies) - idle) / CLK,
        "all": sum(jiffies) / CLK,
        "master": gunicorn_master,
        "self": resource.getrusage(resource.RUSAGE_SELF),
    }


def cpu_delta(before: dict, after: dict, seconds: float) -> dict:
    """Cores used over the window: gunicorn workers, postgres backends, this process (load), the rest."""

    def used(pid_filter) -> float:
        total = 0.0
        for pid, (comm, ppid, cpu) in after["procs"].items():
            if pid_filter(pid, comm, ppid):
                old = before["procs"].get(pid)
                total += cpu - (old[2] if old and old[0] == comm else 0.0)
        return total / seconds

    master = after["master"]
    app = used(lambda pid, comm, ppid: master is not None and (pid == master or ppid == master))
    # our database's backends and the server's background processes (WAL writer, checkpointer, ...)
    pg = used(lambda pid, comm, ppid: comm.startswith("postgres") and comm != "postgres-other-db")
    me_b, me_a = before["self"], after["self"]
    load = (me_a.ru_utime + me_a.ru_stime - me_b.ru_utime - me_b.ru_stime) / seconds
    busy = (after["busy"] - before["busy"]) / seconds
    cores = os.cpu_count() or 1
    return {
        "app": app,
        "postgres": pg,
        "loadgen": load,
        "machine_busy": busy,
        "other": max(busy - app - pg - load, 0.0),
        "cores": cores,
    }


# --- statistics -------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def parse_bench_header(value: str | None) -> dict[str, float]:
    if not value:
        return {}
    out = {}
    for part in value.split(","):
        key, _, number = part.partition("=")
        with contextlib.suppress(ValueError):
            out[key] = float(number)
    return out


# --- the load generator (app) -----------------------------------------------------------------------


@dataclass
class Sample:
    kind: str  # add | review | place | cycle | login | wait (paced: a ticket's wait for an idle buyer)
    start: float
    end: float
    status: int
    server: dict = field(default_factory=dict)
    lines: int = 0
    outcome: str = ""  # place: ordered | outdated | error; cycle: ordered | failed

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


#: How the load generator counts an answer of ``POST /api/v1/orders``; any other status is an error.
API_OUTCOMES = {201: "ordered", 422: "rejected"}


def api_problems(body: str) -> str:
    """The error and every problem of an API error body, on one line (the body itself if not JSON)."""
    try:
        data = json.loads(body)
        problems = []
        for p in data.get("problems") or []:
            where = " ".join(
                x for x in (f"line {p['line']}" if p.get("line") else "", p.get("sku") or "") if x
            )
            problems.append(f"{where}: {p.get('message')}" if where else str(p.get("message")))
        return f"{data.get('error', '')} {'; '.join(problems)}".strip()
    except (ValueError, AttributeError, TypeError):
        return body


def cart_for(rng: random.Random, scenario: str, world: World) -> list[tuple[str, int]]:
    n_random = rng.randint(0, 2) if scenario == "hot" else rng.randint(1, 3)
    chosen = rng.sample(world.random_skus, n_random)
    lines = [(sku, rng.randint(1, 5)) for _, sku in chosen]
    if scenario == "hot":
        lines.insert(rng.randint(0, len(lines)), (HOT_SKU, rng.randint(1, 3)))
    return lines


async def run_load(
    base: str,
    world: World,
    scenario: str,
    warmup: float,
    duration: float,
    seed: int,
    errors: list[str],
    on_start=None,
    rate: float | None = None,
    flow: str = "browser",
) -> tuple[list[Sample], dict]:
    """Closed loop (every buyer starts its next cycle at once) or, with ``rate``, open-loop arrivals: a
    cycle starts when a Poisson ticket (``rate`` per second over all buyers) is free and a buyer is idle.
    Paced, each ticket's wait for an idle buyer is a ``wait`` sample and the tickets left waiting are
    sampled every 0.25 s (``backlog_series``).
    ``flow``: ``browser`` (log in, then quick-order add, review, place) or ``api`` (one ``POST
    /api/v1/orders`` per order, no login, no cycle samples: the order is the one request)."""
    import aiohttp

    samples: list[Sample] = []
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    stop_at = {"t": float("inf")}
    lags: list[float] = []

    def note_error(what: str, status: int, body: str) -> None:
        if len(errors) < 40:
            text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))[:300]
            errors.append(f"{scenario} {what} -> {status}: {text}")

    async def ticket() -> bool:
        """Closed loop: always. Paced: wait for the next arrival; False when the pass ended first."""
        if tickets is None:
            return True
        try:
            due = await asyncio.wait_for(tickets.get(), timeout=max(stop_at["t"] - time.time(), 0.01))
        except TimeoutError:
            return False
        samples.append(Sample("wait", due, time.time(), 0))  # from its arrival to an idle buyer taking it
        return True

    async def login(session, buyer) -> str:
        async with session.get(f"{base}/login") as r:
            page = await r.text()
        token = _CSRF.search(page).group(1)
        t0 = time.time()
        async with session.post(
            f"{base}/login",
            data={"csrf_token": token, "email": buyer["email"], "password": PASSWORD},
            allow_redirects=False,
        ) as r:
            await r.read()
            if r.status != 302:
                raise RuntimeError(f"login failed for {buyer['email']}: {r.status}")
        samples.append(Sample("login", t0, time.time(), r.status))
        async with session.get(f"{base}/cart/quick") as r:  # the session was renewed: a fresh CSRF token
            page = await r.text()
        return _CSRF.search(page).group(1)

    async def buyer_loop(index: int, buyer: dict, ready: asyncio.Event, started: list) -> None:
        rng = random.Random(seed * 1000 + index)
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(
            connector=connector, connector_owner=False, cookie_jar=jar, timeout=timeout
        ) as session:
            csrf = await login(session, buyer)
            started.append(index)
            await ready.wait()
            while time.time() < stop_at["t"]:
                if not await ticket():
                    break
                lines = cart_for(rng, scenario, world)
                c0 = time.time()
                text = "\n".join(f"{sku}, {qty}" for sku, qty in lines)
                async with session.post(
                    f"{base}/cart/quick", data={"csrf_token": csrf, "text": text}, allow_redirects=False
                ) as r:
                    body = await r.text()
                    samples.append(
                        Sample(
                            "add",
                            c0,
                            time.time(),
                            r.status,
                            parse_bench_header(r.headers.get("X-Bench")),
                            len(lines),
                        )
                    )
                if r.status != 302:
                    note_error("POST /cart/quick", r.status, body)
                    continue
                t0 = time.time()
                async with session.get(f"{base}/checkout/review") as r:
                    page = await r.text()
                    samples.append(
                        Sample(
                            "review",
                            t0,
                            time.time(),
                            r.status,
                            parse_bench_header(r.headers.get("X-Bench")),
                            len(lines),
                        )
                    )
                token, reviewed = _TOKEN.search(page), _REVIEWED.search(page)
                if r.status != 200 or not token or not reviewed:
                    note_error("GET /checkout/review (no place form)", r.status, page)
                    await asyncio.sleep(0.5)
                    continue
                outcome = "failed"
                for _attempt in range(6):
                    t0 = time.time()
                    async with session.post(
                        f"{base}/checkout/place",
                        allow_redirects=False,
                        data={"csrf_token": csrf, "token": token.group(1), "reviewed": reviewed.group(1)},
                    ) as r:
                        body = await r.text()
                        location = r.headers.get("Location", "")
                        server = parse_bench_header(r.headers.get("X-Bench"))
                    if r.status == 302 and "/checkout/done/" in location:
                        samples.append(
                            Sample("place", t0, time.time(), r.status, server, len(lines), "ordered")
                        )
                        outcome = "ordered"
                        break
                    if r.status == 409:
                        samples.append(
                            Sample("place", t0, time.time(), r.status, server, len(lines), "outdated")
                        )
                        token, reviewed = _TOKEN.search(body), _REVIEWED.search(body)
                        if token and reviewed:
                            continue
                    samples.append(Sample("place", t0, time.time(), r.status, server, len(lines), "error"))
                    note_error("POST /checkout/place", r.status, body)
                    break
                samples.append(Sample("cycle", c0, time.time(), 0, {}, len(lines), outcome))

    async def api_buyer_loop(index: int, buyer: dict, ready: asyncio.Event, started: list) -> None:
        """An order is one request: 201 ordered, 422 rejected (the problems go to ``errors``), else error."""
        rng = random.Random(seed * 1000 + index)  # the same carts as the browser flow's buyer ``index``
        auth = {"Authorization": f"Bearer {buyer['api_key']}"}
        async with aiohttp.ClientSession(
            connector=connector,
            connector_owner=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=timeout,
        ) as session:
            started.append(index)
            await ready.wait()
            while time.time() < stop_at["t"]:
                if not await ticket():
                    break
                lines = cart_for(rng, scenario, world)
                payload = {
                    "lines": [{"sku": sku, "quantity": qty} for sku, qty in lines],
                    "po_reference": "bench",
                }
                t0 = time.time()
                async with session.post(
                    f"{base}/api/v1/orders",
                    json=payload,
                    headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                    allow_redirects=False,
                ) as r:
                    body = await r.text()
                    server = parse_bench_header(r.headers.get("X-Bench"))
                outcome = API_OUTCOMES.get(r.status, "error")
                samples.append(Sample("place", t0, time.time(), r.status, server, len(lines), outcome))
                if outcome != "ordered":
                    note_error("POST /api/v1/orders", r.status, api_problems(body))

    tickets: asyncio.Queue | None = asyncio.Queue() if rate else None
    arrived: list[float] = []
    backlog_series: list[tuple[float, int]] = []

    async def arrivals() -> None:
        """Poisson arrivals on an absolute schedule: a late wake-up (busy event loop) releases every ticket
        already due at once, so the offered rate does not sag below ``rate`` when the loop is busy."""
        rng = random.Random(seed)
        due = time.time()
        while True:
            due += rng.expovariate(rate)
            if due >= stop_at["t"]:
                return
            if due > time.time():
                await asyncio.sleep(due - time.time())
            arrived.append(due)
            tickets.put_nowait(due)

    async def backlog_probe() -> None:
        while time.time() < stop_at["t"]:
            backlog_series.append((time.time(), tickets.qsize()))
            await asyncio.sleep(0.25)

    async def lag_probe() -> None:
        while time.time() < stop_at["t"]:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - t - 0.01) * 1000)

    ready, started = asyncio.Event(), []
    one_buyer = api_buyer_loop if flow == "api" else buyer_loop
    tasks = [asyncio.create_task(one_buyer(i, b, ready, started)) for i, b in enumerate(world.buyers)]
    while len(started) < len(world.buyers):
        await asyncio.sleep(0.05)
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed:
            raise failed[0].exception()
    t_start = time.time()
    stop_at["t"] = t_start + warmup + duration
    if on_start:
        on_start(t_start)
    ready.set()
    probe = asyncio.create_task(lag_probe())
    extra = [asyncio.create_task(arrivals()), asyncio.create_task(backlog_probe())] if rate else []
    await asyncio.gather(*tasks, probe, *extra)
    await connector.close()
    w0, w1 = t_start + warmup, t_start + warmup + duration
    return samples, {
        "t_start": t_start,
        "backlog": tickets.qsize() if tickets is not None else 0,
        "backlog_series": [(t, n) for t, n in backlog_series if w0 <= t <= w1],
        "arrivals_per_s": len([t for t in arrived if w0 <= t < w1]) / duration,
        "window": (w0, w1),
        "loop_lag_p50_ms": pct(lags, 50),
        "loop_lag_p95_ms": pct(lags, 95),
    }


def summarise_app(
    samples: list[Sample], window: tuple[float, float], duration: float, sold_out_at: float | None
) -> dict:
    w0, w1 = window
    inside = [s for s in samples if w0 <= s.start and s.end <= w1]

    def of(kind, outcome=None):
        return [s for s in inside if s.kind == kind and (outcome is None or s.outcome == outcome)]

    places, ordered, cycles = of("place"), of("place", "ordered"), of("cycle", "ordered")
    out = {
        "orders": len(ordered),
        "orders_per_s": len(
            [s for s in samples if s.kind == "place" and s.outcome == "ordered" and w0 <= s.end < w1]
        )
        / duration,
        "place_attempts": len(places),
        "outdated_409": len(of("place", "outdated")),
        "place_ms": {p: pct([s.ms for s in places], p) for p in (50, 95, 99, 100)},
        "ordered_place_ms": {p: pct([s.ms for s in ordered], p) for p in (50, 95, 99)},
        "cycle_ms": {p: pct([s.ms for s in cycles], p) for p in (50, 95, 99)},
        "add_ms": {p: pct([s.ms for s in of("add")], p) for p in (50, 95, 99)},
        "review_ms": {p: pct([s.ms for s in of("review")], p) for p in (50, 95, 99)},
        "wait_ms": {p: pct([s.ms for s in of("wait")], p) for p in (50, 95, 99)},  # paced passes only
        "requests": len([s for s in inside if s.kind in ("add", "review", "place")]),
        "non_2xx_3xx": {},
    }
    for s in inside:
        if s.kind in ("add", "review", "place") and not (200 <= s.status < 400):
            key = f"{s.kind} {s.status}"
            out["non_2xx_3xx"][key] = out["non_2xx_3xx"].get(key, 0) + 1
    server = {}
    for kind in ("add", "review", "place"):
        rows = [s.server for s in of(kind, "ordered" if kind == "place" else None) if s.server]
        keys = sorted({k for r in rows for k in r})
        server[kind] = {k: {p: pct([r[k] for r in rows if k in r], p) for p in (50, 95)} for k in keys}
    out["server"] = server
    by_lines = {}
    for n in (1, 2, 3):
        rows = [s.server.get("n", 0) for s in ordered if s.lines == n and s.server]
        if rows:
            by_lines[n] = {
                "statements_p50": pct(rows, 50),
                "place_ms_p50": pct([s.ms for s in ordered if s.lines == n], 50),
            }
    out["by_lines"] = by_lines
    if sold_out_at:
        before = [s.ms for s in places if s.end < sold_out_at]
        after = [s.ms for s in places if s.start > sold_out_at]
        out["hot_phases"] = {
            "sold_out_after_s": sold_out_at - (w0 - 0),
            "in_stock": {"n": len(before), "p50": pct(before, 50), "p95": pct(before, 95)},
            "backordered": {"n": len(after), "p50": pct(after, 50), "p95": pct(after, 95)},
        }
    # Throughput over time (one bucket per 5 s), to see drift as the backorder queue grows.
    buckets = {}
    for s in samples:
        if s.kind == "place" and s.outcome == "ordered" and w0 <= s.end < w1:
            b = int((s.end - w0) // 5)
            buckets.setdefault(b, []).append(s.ms)
    out["timeline"] = [
        {"t": b * 5, "orders_per_s": len(v) / 5, "p95": pct(v, 95)} for b, v in sorted(buckets.items())
    ]
    return out


# --- gunicorn ---------------------------------------------------------------------------------------


class Gunicorn:
    def __init__(
        self,
        app_path: str,
        workers: int,
        threads: int,
        port: int,
        database_url: str,
        extra_env: dict[str, str] | None = None,
    ):
        env = {**os.environ, **app_environ(database_url), **(extra_env or {})}
        env["PYTHONPATH"] = str(ROOT)
        DATA.mkdir(parents=True, exist_ok=True)
        self.log = open(DATA / f"gunicorn-{workers}x{threads}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "-w",
                str(workers),
                "-k",
                "gthread",
                "--threads",
                str(threads),
                "-b",
                f"127.0.0.1:{port}",
                "--backlog",
                "2048",
                "--keep-alive",
                "30",
                app_path,
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{port}"
        self._log_offset = 0
        self._wait_ready()

    def _wait_ready(self) -> None:
        import urllib.request

        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.base}/login", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        time.sleep(1.0)  # let every worker finish importing
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not come up")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def log_problems(self) -> dict[str, int]:
        """Tracebacks and database errors the workers logged since the last call (a 5xx shows up here
        with its cause)."""
        with open(self.log.name, errors="replace") as log:
            log.seek(self._log_offset)
            text = log.read()
            self._log_offset = log.tell()
        found = {}
        for needle in (
            "Traceback",
            "DeadlockDetected",
            "LockNotAvailable",
            "OperationalError",
            "WORKER TIMEOUT",
            "SerializationFailure",
        ):
            if text.count(needle):
                found[needle] = text.count(needle)
        return found


# --- the raw SQL floor ------------------------------------------------------------------------------

_FLOOR_PRODUCTS = "SELECT id, sku, name, price, backorder_policy FROM products WHERE id = ANY(%s) ORDER BY id"
FLOOR_LOCK_PRODUCTS = {
    "UPDATE": _FLOOR_PRODUCTS + " FOR UPDATE",
    "NO KEY UPDATE": _FLOOR_PRODUCTS + " FOR NO KEY UPDATE",
}
FLOOR_ADD = (
    "INSERT INTO cart_lines (cart_id, product_id, quantity, accept_late) VALUES (%s, %s, %s, false)"
    " ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = cart_lines.quantity + excluded.quantity"
)


def floor_order(
    conn: psycopg.Connection, buyer: dict, token: str, today, product_lock: str = "UPDATE"
) -> tuple[bool, int]:
    """The order transaction in plain SQL. Returns (ordered, statements). ``product_lock`` is the row lock
    taken on products: ``UPDATE`` as the app does, or ``NO KEY UPDATE`` (does not block foreign-key checks
    of other transactions inserting cart or order lines for the same product)."""
    n = 0
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO orders (number, checkout_token, company_id, placed_by_id, placed_at, status,"
            " po_reference, shipping_preference, payment_method, ship_to_text, subtotal, adjustments_total,"
            " total) VALUES (%s, %s, %s, %s, now(), 'open', '', 'ship_partial', 'on_account', '', 0, 0, 0)"
            " ON CONFLICT (checkout_token) DO NOTHING RETURNING id",
            (f"T{token[:19]}", token, buyer["company_id"], buyer["user_id"]),
        )
        n += 1
        row = cur.fetchone()
        if row is None:
            conn.rollback()
            return False, n
        order_id = row[0]
        cur.execute(
            "SELECT c.id, c.po_reference, c.need_by, a.label, a.line1, a.city FROM carts c"
            " LEFT JOIN addresses a ON a.id = c.ship_to_id WHERE c.user_id = %s AND c.company_id = %s"
            " FOR UPDATE OF c",
            (buyer["user_id"], buyer["company_id"]),
        )
        cart_id, po_ref, need_by, label, line1, city = cur.fetchone()
        cur.execute(
            "SELECT product_id, quantity FROM cart_lines WHERE cart_id = %s ORDER BY product_id", (cart_id,)
        )
        wanted = dict(cur.fetchall())
        n += 2
        ids = sorted(wanted)
        cur.execute(FLOOR_LOCK_PRODUCTS[product_lock], (ids,))
        products = {r[0]: r for r in cur.fetchall()}
        cur.execute(
            "SELECT id, product_id, on_hand, allocated FROM stock WHERE product_id = ANY(%s)"
            " ORDER BY product_id, warehouse_id FOR UPDATE",
            (ids,),
        )
        stocks = cur.fetchall()
        n += 2
        takes, lines, subtotal = [], [], Decimal("0.00")
        for pid in ids:
            need = wanted[pid]
            allocated = 0
            for sid, spid, on_hand, alloc in stocks:
                if spid == pid and need > 0:
                    take = min(need, on_hand - alloc)
                    if take > 0:
                        takes.append((sid, take))
                        need -= take
                        allocated += take
            _, sku, name, price, _policy = products[pid]
            total = (price * wanted[pid]).quantize(Decimal("0.01"))
            subtotal += total
            lines.append(
                (
                    order_id,
                    pid,
                    sku,
                    name,
                    wanted[pid],
                    allocated,
                    wanted[pid] - allocated,
                    price,
                    total,
                    today if need else None,
                    need_by,
                )
            )
        if takes:
            cur.execute(
                "UPDATE stock SET allocated = stock.allocated + v.take FROM"
                " (SELECT unnest(%s::int[]) AS id, unnest(%s::int[]) AS take) v WHERE stock.id = v.id",
                ([t[0] for t in takes], [t[1] for t in takes]),
            )
            n += 1
        cur.executemany(
            "INSERT INTO order_lines (order_id, product_id, sku, name, quantity, allocated, backordered,"
            " shipped, cancelled, unit_price, line_total, eta, eta_estimated, need_by, accepted_late,"
            " backorder_hidden)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, 0, 0, %s, %s, %s, false, %s, false, false)",
            lines,
        )
        n += 1  # psycopg 3 sends an executemany as one pipeline
        cur.execute(
            "UPDATE orders SET number = %s, po_reference = %s, need_by = %s, ship_to_text = %s,"
            " subtotal = %s, total = %s WHERE id = %s",
            (
                f"SO-{order_id:05d}",
                po_ref,
                need_by,
                f"{label}: {line1}, {city}",
                subtotal,
                subtotal,
                order_id,
            ),
        )
        payload = json.dumps(
            {
                "order_number": f"SO-{order_id:05d}",
                "lines": [
                    {"sku": line[2], "quantity": line[4], "allocated": line[5], "backordered": line[6]}
                    for line in lines
                ],
            }
        )
        cur.execute(
            "INSERT INTO outbox_messages (topic, recipient_user_id, recipient_email, payload, created_at,"
            " available_at, attempts, last_error)"
            " VALUES ('order_confirmed', %s, %s, %s, now(), now(), 0, '')",
            (buyer["user_id"], buyer["email"], payload),
        )
        cur.execute("DELETE FROM cart_lines WHERE cart_id = %s", (cart_id,))
        cur.execute("UPDATE carts SET po_reference = '', need_by = NULL WHERE id = %s", (cart_id,))
        n += 4
    conn.commit()
    return True, n + 1


def run_floor(
    conninfo: str,
    world: World,
    scenario: str,
    threads: int,
    warmup: float,
    duration: float,
    seed: int,
    product_lock: str = "UPDATE",
) -> tuple[dict, list[tuple[float, float, int]]]:
    from datetime import date

    today = date.today()
    sku_to_id = {sku: pid for pid, sku in world.random_skus}
    sku_to_id[HOT_SKU] = world.hot_id
    results: list[tuple[float, float, int]] = []  # (start, end, statements) of order transactions
    cycles: list[tuple[float, float, float]] = []  # (fill start, order end, order start)
    errors: list[str] = []
    lock = threading.Lock()
    start_evt = threading.Barrier(threads + 1)
    stop_at = {"t": float("inf")}

    def worker(index: int) -> None:
        buyer = world.buyers[index % len(world.buyers)]
        rng = random.Random(seed * 7919 + index)
        local, local_cycles = [], []
        with psycopg.connect(conninfo) as conn:
            start_evt.wait()
            while time.time() < stop_at["t"]:
                lines = cart_for(rng, scenario, world)
                c0 = time.time()
                try:
                    # Product-id order: the fill's foreign-key locks (FOR KEY SHARE on products) must not be
                    # taken in the opposite order to the order transaction's FOR UPDATE, or they deadlock.
                    rows = sorted((sku_to_id[sku], qty) for sku, qty in lines)
                    with conn.cursor() as cur:
                        cur.executemany(FLOOR_ADD, [(buyer["cart_id"], pid, qty) for pid, qty in rows])
                    conn.commit()
                    t0 = time.time()
                    ok, n = floor_order(conn, buyer, uuid.uuid4().hex, today, product_lock)
                    t1 = time.time()
                except psycopg.Error as exc:
                    conn.rollback()
                    if len(errors) < 10:
                        errors.append(repr(exc))
                    continue
                if ok:
                    local.append((t0, t1, n))
                    local_cycles.append((c0, t1, t0))
        with lock:
            results.extend(local)
            cycles.extend(local_cycles)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    start_evt.wait()
    t_start = time.time()
    stop_at["t"] = t_start + warmup + duration
    w0, w1 = t_start + warmup, t_start + warmup + duration
    time.sleep(warmup)
    cpu0 = cpu_snapshot(None)
    time.sleep(duration)
    cpu1 = cpu_snapshot(None)
    for t in pool:
        t.join()
    inside = [(s, e, n) for s, e, n in results if w0 <= s and e <= w1]
    ms = [(e - s) * 1000 for s, e, _ in inside]
    return {
        "orders_per_s": len([1 for s, e, _ in results if w0 <= e < w1]) / duration,
        "tx_ms": {p: pct(ms, p) for p in (50, 95, 99, 100)},
        "cycle_ms": {
            p: pct([(e - s) * 1000 for s, e, _ in cycles if w0 <= s and e <= w1], p) for p in (50, 95)
        },
        "fill_ms": {
            p: pct([(o - s) * 1000 for s, e, o in cycles if w0 <= s and e <= w1], p) for p in (50, 95)
        },
        "statements": pct([n for _, _, n in inside], 50),
        "errors": errors,
        "cpu": cpu_delta(cpu0, cpu1, duration),
    }, inside


# --- profile summary --------------------------------------------------------------------------------


def summarise_profile(directory: Path) -> dict:
    from collections import Counter

    leaf, inclusive, package, samples = Counter(), Counter(), Counter(), 0
    for path in directory.glob("profile-*.json"):
        data = json.loads(path.read_text())
        samples += data["samples"]
        leaf.update(dict(data["leaf"]))
        inclusive.update(dict(data["inclusive"]))
        package.update(dict(data["package"]))
    return {
        "samples": samples,
        "package": package.most_common(20),
        "leaf": leaf.most_common(25),
        "inclusive": inclusive.most_common(80),
    }


# --- report -----------------------------------------------------------------------------------------


def f(v: float, digits: int = 0) -> str:
    if v != v:  # NaN
        return "–"
    return f"{v:,.{digits}f}"


def machine_facts() -> dict:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    with psycopg.connect("dbname=postgres user=postgres host=127.0.0.1", autocommit=True) as conn:
        pg = {
            k: conn.execute(f"SHOW {k}").fetchone()[0]
            for k in ("server_version", "shared_buffers", "synchronous_commit", "max_connections")
        }
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "portal", "migrations"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        code = head + (" + uncommitted changes under portal/ or migrations/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        code = "unknown"
    return {
        "code": code,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "ram_gib": round(int(mem.split()[1]) / 1024 / 1024, 1),
        "cpu": model,
        "load_before": os.getloadavg(),
        "python": sys.version.split()[0],
        "postgres": pg,
    }


def report(
    facts: dict,
    args,
    app_results: dict,
    floor_results: dict,
    calibration: dict | None,
    profile: dict | None,
    best: str,
    paced: dict | None = None,
    cpu_prof: dict | None = None,
    api_results: dict | None = None,
    api_best: str = "",
    api_paced: dict | None = None,
) -> str:
    api_results, api_paced = api_results or {}, api_paced or {}
    out = []
    out.append(
        f"Run {facts['date']} · {facts['nproc']} cores ({facts['cpu']}) · {facts['ram_gib']} GiB RAM · "
        f"load average before the run {', '.join(f'{x:.2f}' for x in facts['load_before'])} · "
        f"Python {facts['python']} · PostgreSQL {facts['postgres']['server_version']} "
        f"(shared_buffers {facts['postgres']['shared_buffers']}, synchronous_commit "
        f"{facts['postgres']['synchronous_commit']}) · {args.buyers} buyers · {args.products:,} random SKUs "
        f"+ 1 hot SKU ({args.hot_stock:,} units, policy allow) · steady state {args.duration:.0f} s after "
        f"{args.warmup:.0f} s warm-up · app `{args.app}`, `PORTAL_ENV=production` · code {facts['code']}."
    )
    out.append("")
    if app_results:
        out += _browser_table(app_results, best)
    if api_results:
        out += _api_table(api_results, api_best)
    out += _floor_table(args, floor_results)
    if app_results:
        out += _browser_breakdown(app_results, best)
    if api_results:
        out += _api_breakdown(api_results, api_best)
    if paced:
        out.append(
            f"**Paced arrivals** (gunicorn {best}; orders start as a Poisson stream at the offered rate, "
            f"{args.buyers} buyers available; {args.paced_duration:.0f} s window)"
        )
        out.append("")
        out.append(
            "| scenario | offered/s | achieved orders/s | place p50 | p95 | p99 | cycle p95 | "
            "cores used: app / pg / load gen / others | tickets left waiting | non-2xx/3xx |"
        )
        out.append("|---|--:|--:|--:|--:|--:|--:|---|--:|---|")
        for (scenario, rate), r in paced.items():
            c = r["cpu"]
            bad = ", ".join(f"{k}: {v}" for k, v in r["non_2xx_3xx"].items()) or "0"
            if r.get("log"):
                bad += " (worker log: " + ", ".join(f"{k} {v}" for k, v in r["log"].items()) + ")"
            out.append(
                f"| {scenario} | {rate:g} | {f(r['orders_per_s'], 1)} | {f(r['place_ms'][50])} | "
                f"{f(r['place_ms'][95])} | {f(r['place_ms'][99])} | {f(r['cycle_ms'][95])} | "
                f"{c['app']:.2f} / {c['postgres']:.2f} / {c['loadgen']:.2f} / {c['other']:.2f} | "
                f"{r['backlog']} | {bad} |"
            )
        out.append("")
    if api_paced:
        out += _api_paced_table(args, api_paced, api_best)
    if cpu_prof:
        out.append(
            f"**Where the app's CPU goes** (in-process test client, {cpu_prof['cycles']} random orders, "
            f"{cpu_prof['cpu_ms_per_order']:.1f} ms CPU and {cpu_prof['wall_ms_per_order']:.1f} ms wall per "
            "order unprofiled; cProfile with a CPU timer, share of CPU by package of the function):"
        )
        out.append("")
        out.append(", ".join(f"{k} {v:.0%}" for k, v in cpu_prof["packages"]))
        out.append("")
        out.append("Cumulative CPU share of the portal's own functions (callers include callees):")
        out.append("")
        out.append(
            ", ".join(f"`{k.replace('portal/', '')}` {v:.0%}" for k, v in cpu_prof["portal_cumulative"][:16])
        )
        out.append("")
    if calibration:
        out += _one_buyer(calibration)
    out += _targets(
        {"browser": (best, app_results), "API": (api_best, api_results)}, floor_results, api_paced, args
    )
    if profile:
        out.append("")
        out.append(
            f"**Profile** (wall-clock samples of request threads, {profile['scenario']} scenario, "
            f"{profile['samples']:,} samples; share by package of the innermost frame):"
        )
        out.append("")
        total = max(profile["samples"], 1)
        out.append(", ".join(f"{name} {count / total:.0%}" for name, count in profile["package"][:14]))
        out.append("")
        out.append("Inclusive share of selected functions:")
        out.append("")
        for name, count in profile["inclusive"]:
            if any(
                k in name
                for k in (
                    "portal/",
                    "render_template",
                    "flask_login",
                    "csrf",
                    "dumps",
                    "loads",
                    "_execute",
                    "commit",
                    "flush",
                )
            ):
                out.append(f"- {count / total:.0%} `{name}`")
    return "\n".join(out)


def _floor_table(args, floor_results: dict) -> list[str]:
    if not floor_results:
        why = " (`--no-floor`)" if args.no_floor else ""
        return [f"**Raw SQL floor**: not measured in this run{why}.", ""]
    out = [
        f"**Raw SQL floor** (psycopg, {args.floor_threads} threads, same database and carts; order "
        "transaction only, each preceded by its own cart-fill transaction)",
        "",
        "| scenario | orders/s | tx p50 | tx p95 | tx p99 | cart fill p95 | cycle p95 | statements/tx | "
        "cores used: pg / client / others | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for scenario, r in floor_results.items():
        c = r["cpu"]
        errs = "; ".join(sorted({e.split("(")[0] for e in r["errors"]})) or "0"
        out.append(
            f"| {scenario} | {f(r['orders_per_s'], 1)} | {f(r['tx_ms'][50], 1)} | {f(r['tx_ms'][95], 1)} | "
            f"{f(r['tx_ms'][99], 1)} | {f(r['fill_ms'][95], 1)} | {f(r['cycle_ms'][95], 1)} | "
            f"{f(r['statements'])} | {c['postgres']:.2f} / {c['loadgen']:.2f} / {c['other']:.2f} | "
            f"{errs} |"
        )
    out.append("")
    return out


def _backlog_text(r: dict) -> str:
    b = r["backlog_trend"]
    growing = ", growing" if b["growing"] else ""
    return f"{b['start']} → {b['end']} (max {b['max']}, {b['per_s']:+.1f}/s{growing})"


def _api_paced_table(args, api_paced: dict, api_best: str) -> list[str]:
    out = [
        f"**API at a given offered load** (gunicorn {api_best}, the API flow's best closed-loop setting; "
        "`POST /api/v1/orders` started as a Poisson stream at the offered rate, whenever one of the "
        f"{args.buyers} buyers is idle; {args.paced_duration:.0f} s window after {args.warmup:.0f} s "
        "warm-up; place = client-side latency of the request; wait = from a ticket's arrival to an idle "
        "buyer taking it; tickets waiting = arrivals no buyer could start yet, at the window's start → "
        f"end (most, least-squares trend); sustained = achieved within {SUSTAIN_TOLERANCE:.0%} of offered "
        "and no growing backlog)",
        "",
        "| scenario | offered/s | arrived/s | achieved orders/s | place p50 | p95 | p99 | wait p95 | "
        "tickets waiting | sustained | cores used: app / pg / load gen / others | non-2xx | invariants |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|---|---|---|---|",
    ]
    for (scenario, rate), r in api_paced.items():
        c = r["cpu"]
        inv = "ok" if invariants_ok(r["invariants"]) else f"**broken**: {r['invariants']}"
        out.append(
            f"| {scenario} | {rate:g} | {f(r['arrivals_per_s'], 1)} | {f(r['orders_per_s'], 1)} | "
            f"{f(r['place_ms'][50])} | {f(r['place_ms'][95])} | {f(r['place_ms'][99])} | "
            f"{f(r['wait_ms'][95])} | {_backlog_text(r)} | {'yes' if r['sustained'] else '**no**'} | "
            f"{c['app']:.2f} / {c['postgres']:.2f} / {c['loadgen']:.2f} / {c['other']:.2f} | "
            f"{_bad_cell(r)} | {inv} |"
        )
    out.append("")
    return out


def _browser_table(app_results: dict, best: str) -> list[str]:
    out = []
    out.append(
        "**Place POST through HTTP** (client-side latency of `POST /checkout/place`, every attempt "
        "incl. 409 retries; orders/s = place POSTs answered 302 to the confirmation in the window)"
    )
    out.append("")
    out.append(
        "| gunicorn | scenario | orders/s | place p50 | p95 | p99 | max | 409 retries | non-2xx/3xx |"
        " cycle p50 | cycle p95 | add p95 | review p95 | cores used: app / pg / load gen / others |"
        " CPU ms per order: app / pg |"
    )
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|")
    for (cfg, scenario), r in app_results.items():
        out.append(
            f"| {cfg}{' **(best)**' if cfg == best else ''} | {scenario} | {f(r['orders_per_s'], 1)} | "
            f"{f(r['place_ms'][50])} | {f(r['place_ms'][95])} | {f(r['place_ms'][99])} | "
            f"{f(r['place_ms'][100])} | {r['outdated_409']} | {_bad_cell(r)} | {f(r['cycle_ms'][50])} | "
            f"{f(r['cycle_ms'][95])} | {f(r['add_ms'][95])} | {f(r['review_ms'][95])} | {_cpu_cells(r)} |"
        )
    out.append("")
    return out


def _browser_breakdown(app_results: dict, best: str) -> list[str]:
    out = []
    out.append(
        f"**Where a place POST's time goes** (server side, `X-Bench` header, gunicorn {best}; "
        "ms p50 / p95 of successful places)"
    )
    out.append("")
    out.append(
        "| scenario | client | server total | thread CPU | pre (session, CSRF, form) | token claim | "
        "lock wait | lock held → commit | post | SQL incl. waits | statements |"
    )
    out.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for (cfg, scenario), r in app_results.items():
        if cfg != best:
            continue
        s = r["server"].get("place", {})

        def pp(k, s=s):
            v = s.get(k)
            return f"{f(v[50], 1)} / {f(v[95], 1)}" if v else "–"

        out.append(
            f"| {scenario} | {f(r['ordered_place_ms'][50], 1)} / {f(r['ordered_place_ms'][95], 1)} | "
            f"{pp('total')} | {pp('cpu')} | {pp('pre')} | {pp('claim')} | {pp('wait')} | {pp('hold')} | "
            f"{pp('post')} | "
            f"{pp('sql')} | {pp('n')} |"
        )
    out.append("")
    out.append(
        "| scenario | add: server / SQL / stmts (p50) | review: server / SQL / stmts (p50) | "
        "place stmts by cart lines 1 / 2 / 3 | hot SKU | event-loop lag p95 |"
    )
    out.append("|---|---|---|---|---|--:|")
    for (cfg, scenario), r in app_results.items():
        if cfg != best:
            continue
        a, v = r["server"].get("add", {}), r["server"].get("review", {})

        def trio(s):
            return " / ".join(f(s[k][50], 1) if k in s else "–" for k in ("total", "sql", "n"))

        lines = " / ".join(f(r["by_lines"].get(n, {}).get("statements_p50", float("nan"))) for n in (1, 2, 3))
        out.append(
            f"| {scenario} | {trio(a)} | {trio(v)} | {lines} | {_hot_text(r)} | "
            f"{f(r['loop_lag_p95_ms'], 1)} ms |"
        )
    out.append("")
    return out


def _bad_cell(r: dict) -> str:
    """Non-2xx/3xx answers, and the worker log's tracebacks and database errors if any."""
    bad = ", ".join(f"{k}: {v}" for k, v in r["non_2xx_3xx"].items()) or "0"
    if r.get("log"):
        bad += " (worker log: " + ", ".join(f"{k} {v}" for k, v in r["log"].items()) + ")"
    return bad


def _cpu_cells(r: dict) -> str:
    """Cores used by app / pg / load gen / others, then CPU ms per order of app / pg."""
    c, rate = r["cpu"], r["orders_per_s"]
    per = f"{c['app'] * 1000 / rate:.0f} / {c['postgres'] * 1000 / rate:.0f}" if rate else "–"
    cores = f"{c['app']:.2f} / {c['postgres']:.2f} / {c['loadgen']:.2f} / {c['other']:.2f} of {c['cores']}"
    return f"{cores} | {per}"


def _hot_text(r: dict) -> str:
    if "hot_phases" not in r:
        return "–"
    h = r["hot_phases"]
    return (
        f"sold out after {h['sold_out_after_s']:.0f} s of the window; place p95 in stock "
        f"{f(h['in_stock']['p95'])} ms (n={h['in_stock']['n']}), backordered "
        f"{f(h['backordered']['p95'])} ms (n={h['backordered']['n']})"
    )


def _p50_p95(stats: dict, key: str) -> str:
    v = stats.get(key)
    return f"{f(v[50], 1)} / {f(v[95], 1)}" if v else "–"


def _api_table(api_results: dict, best: str) -> list[str]:
    out = [
        "**Place by JSON API (one request per order)** (client-side latency of `POST /api/v1/orders`, "
        "same buyers, carts and window as the browser flow; orders/s = requests answered 201 in the window; "
        "server and SQL from the `X-Bench` header of the orders placed)",
        "",
        "| gunicorn | scenario | orders/s | place p50 | p95 | p99 | max | non-2xx | server p50 / p95 | "
        "SQL p50 / p95 | statements/order | cores used: app / pg / load gen / others | "
        "CPU ms per order: app / pg |",
        "|---|---|--:|--:|--:|--:|--:|---|--:|--:|--:|---|---|",
    ]
    for (cfg, scenario), r in api_results.items():
        s = r["server"].get("place", {})
        statements = f(s["n"][50]) if "n" in s else "–"
        out.append(
            f"| {cfg}{' **(best)**' if cfg == best else ''} | {scenario} | {f(r['orders_per_s'], 1)} | "
            f"{f(r['place_ms'][50])} | {f(r['place_ms'][95])} | {f(r['place_ms'][99])} | "
            f"{f(r['place_ms'][100])} | {_bad_cell(r)} | {_p50_p95(s, 'total')} | {_p50_p95(s, 'sql')} | "
            f"{statements} | {_cpu_cells(r)} |"
        )
    out.append("")
    return out


#: Phases of ``api_orders.place`` in the ``X-Bench`` header (see bench/checkout_app.py); a column is shown
#: when the header has it (not with ``--app wsgi:app``).
API_PHASES = (
    ("pre", "pre (key hash, JSON)"),
    ("claim", "key + company lock, reads, token claim"),
    ("wait", "lock wait (products, stock)"),
    ("hold", "lock held → commit"),
    ("post", "post (JSON answer)"),
)


def _api_breakdown(api_results: dict, best: str) -> list[str]:
    rows = {scenario: r for (cfg, scenario), r in api_results.items() if cfg == best}
    phases = [
        (k, label) for k, label in API_PHASES if any(k in r["server"].get("place", {}) for r in rows.values())
    ]
    out = [
        f"**Where an API order's time goes** (server side, `X-Bench` header, gunicorn {best}; ms p50 / p95 "
        "of orders placed)",
        "",
        "| scenario | client | server total | thread CPU | "
        + "".join(f"{label} | " for _, label in phases)
        + "SQL incl. waits | statements | statements by order lines 1 / 2 / 3 | hot SKU | "
        "event-loop lag p95 |",
        "|---|--:|--:|--:|" + "--:|" * len(phases) + "--:|--:|---|---|--:|",
    ]
    for scenario, r in rows.items():
        s = r["server"].get("place", {})
        lines = " / ".join(f(r["by_lines"].get(n, {}).get("statements_p50", float("nan"))) for n in (1, 2, 3))
        out.append(
            f"| {scenario} | {f(r['ordered_place_ms'][50], 1)} / {f(r['ordered_place_ms'][95], 1)} | "
            f"{_p50_p95(s, 'total')} | {_p50_p95(s, 'cpu')} | "
            + "".join(f"{_p50_p95(s, k)} | " for k, _ in phases)
            + f"{_p50_p95(s, 'sql')} | {_p50_p95(s, 'n')} | {lines} | {_hot_text(r)} | "
            f"{f(r['loop_lag_p95_ms'], 1)} ms |"
        )
    out.append("")
    return out


def _one_buyer(calibration: dict) -> list[str]:
    """The one-buyer table: each browser request and their sum, then the API's one request."""
    out = [
        f"**One buyer alone** (gunicorn {calibration['gunicorn']}, no contention: what each request costs; "
        "ms p50)",
        "",
        "| scenario | request | client | server | thread CPU | SQL | statements |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]

    def row(scenario: str, what: str, r: dict) -> str:
        return (
            f"| {scenario} | {what} | {f(r['client'], 1)} | {f(r['total'], 1)} | {f(r['cpu'], 1)} | "
            f"{f(r['sql'], 1)} | {f(r['n'])} |"
        )

    browser, api = calibration["requests"], calibration.get("api_requests", {})
    for scenario in dict.fromkeys([*browser, *api]):
        if scenario in browser:
            rows = browser[scenario]
            for kind in ("add", "review", "place"):
                out.append(row(scenario, kind, rows[kind]))
            tot = {
                k: sum(rows[kind][k] for kind in ("add", "review", "place"))
                for k in ("client", "total", "cpu", "sql", "n")
            }
            out.append(row(scenario, "**one order**", tot))
        if scenario in api:
            out.append(row(scenario, "**one order by API** (`POST /api/v1/orders`)", api[scenario]["place"]))
    out.append("")
    out.append(
        "Statements by total time in the one-buyer passes (every scenario and flow; ms total / count):"
    )
    out.append("")
    out.append("| request | statement | count | total ms | ms each |")
    out.append("|---|---|--:|--:|--:|")
    for endpoint, statement, n, total in calibration["statements"][:15]:
        short = statement.replace("|", "\\|")
        short = short if len(short) < 150 else short[:147] + "..."
        out.append(f"| {endpoint} | `{short}` | {n} | {total * 1000:.0f} | {total * 1000 / n:.2f} |")
    out.append("")
    return out


def _targets(flows: dict[str, tuple[str, dict]], floor_results: dict, api_paced: dict, args) -> list[str]:
    """Each scenario of each flow on its best setting against the targets, then one verdict per flow.
    Browser flow: both figures from its closed-loop pass. API flow: throughput from its closed-loop pass,
    latency from its paced pass at ``TARGET_ORDERS_PER_S`` offered, which must also be sustained."""
    rate = TARGET_ORDERS_PER_S
    where = {
        "browser": "Browser flow: both figures from its closed-loop pass (with "
        f"{args.buyers} buyers and no think time its latency is mostly queueing: an order cycle takes about "
        f"{args.buyers} / throughput).",
        "API": "API flow: throughput from its closed-loop pass; latency from its paced pass at "
        f"{rate:g} orders/s offered, which must also sustain that rate (achieved within "
        f"{SUSTAIN_TOLERANCE:.0%} of it, no growing backlog).",
    }
    out = [
        f"**Targets** (p95 of placing ≤ {TARGET_P95_MS:.0f} ms and ≥ {rate:.0f} orders/s, best gunicorn "
        "setting of each flow; placing is the place POST in the browser flow, the one `POST /api/v1/orders` "
        "in the API flow). "
        + " ".join(where[flow] for flow, (_, results) in flows.items() if results and flow in where),
        "",
    ]
    verdicts = []
    for flow, (best, results) in flows.items():
        rows = {s: r for (cfg, s), r in results.items() if cfg == best}
        judged: dict[str, dict[str, str]] = {}
        for scenario, r in rows.items():
            tput_ok = r["orders_per_s"] >= rate
            floor = floor_results.get(scenario)
            tput = f"throughput {f(r['orders_per_s'], 1)} orders/s (closed loop) — {_met(tput_ok)}" + (
                f" (floor {f(floor['orders_per_s'], 1)} orders/s)" if floor else ""
            )
            if flow != "API":
                p95_ok = r["place_ms"][95] <= TARGET_P95_MS
                lat = f"latency p95 {f(r['place_ms'][95])} ms (closed loop) — {_met(p95_ok)}"
            else:
                p95_ok, lat = _api_latency(api_paced.get((scenario, rate)), r, args)
            judged[scenario] = {
                "throughput": "met" if tput_ok else "missed",
                "latency": "not measured" if p95_ok is None else "met" if p95_ok else "missed",
            }
            out.append(f"- {flow} ({best}), {scenario}: {tput}; {lat}.")
        if rows:
            verdicts.append(_verdict(flow, judged, FIGURES_FROM.get(flow, "")))
    for verdict in verdicts:
        out += ["", verdict]
    return out


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _api_latency(p: dict | None, closed: dict, args) -> tuple[bool | None, str]:
    """The API flow's latency target from its paced pass at the target rate: (met or None, the text)."""
    rate = TARGET_ORDERS_PER_S
    closed_text = (
        f"; closed loop p95 {f(closed['place_ms'][95])} ms, not the target's figure: {args.buyers} buyers "
        "back to back"
    )
    if p is None:
        return None, (
            f"latency not measured at {rate:g} orders/s offered (no paced pass at that rate, see "
            f"`--paced-api`){closed_text}"
        )
    p95_ok = p["place_ms"][95] <= TARGET_P95_MS
    ok = p95_ok and p["sustained"]
    why = []
    if not p95_ok:
        why.append(f"p95 over {TARGET_P95_MS:.0f} ms")
    if abs(p["orders_per_s"] - rate) > SUSTAIN_TOLERANCE * rate:
        why.append(
            f"achieved {f(p['orders_per_s'], 1)} orders/s, not within {SUSTAIN_TOLERANCE:.0%} of {rate:g}"
        )
    if p["backlog_trend"]["growing"]:
        why.append("backlog growing")
    text = (
        f"latency p95 {f(p['place_ms'][95])} ms at {rate:g}/s offered (paced pass: {f(p['orders_per_s'], 1)} "
        f"orders/s achieved, tickets waiting {_backlog_text(p)}) — {_met(ok)}"
        + (f" ({'; '.join(why)})" if why else "")
        + ("" if invariants_ok(p["invariants"]) else "; stock invariants **broken** in that pass")
        + closed_text
    )
    return ok, text


#: Where each flow's verdict takes its figures from (see ``_targets``).
FIGURES_FROM = {
    "browser": "throughput and place p95 from the closed-loop pass",
    "API": f"throughput from the closed-loop pass, p95 ≤ {TARGET_P95_MS:.0f} ms at {TARGET_ORDERS_PER_S:g} "
    "orders/s offered from the paced pass, which sustained that rate",
}


def _verdict(flow: str, judged: dict[str, dict[str, str]], figures_from: str = "") -> str:
    """``judged[scenario][target]`` is met, missed or not measured."""
    statuses = {v for targets in judged.values() for v in targets.values()}
    if statuses == {"met"}:
        how = f": {figures_from}" if figures_from else ""
        return f"**{flow} flow: both targets met** in every scenario ({', '.join(judged)}){how}."
    parts = []
    for scenario, targets in judged.items():
        if set(targets.values()) == {"met"}:
            parts.append(f"{scenario}: both met")
        else:
            parts.append(f"{scenario}: " + ", ".join(f"{name} {v}" for name, v in targets.items()))
    head = "targets not met" if "missed" in statuses else "not fully judged (a figure was not measured)"
    return f"**{flow} flow: {head}** — {'; '.join(parts)}."


# --- main -------------------------------------------------------------------------------------------


def best_setting(results: dict[tuple[str, str], dict]) -> str:
    """The gunicorn setting with the highest orders/s summed over the scenarios ("" when none ran)."""
    totals: dict[str, float] = {}
    for (cfg, _), r in results.items():
        totals[cfg] = totals.get(cfg, 0.0) + r["orders_per_s"]
    return max(totals, key=totals.get) if totals else ""


def measure_pass(
    server: Gunicorn, world: World, flow: str, scenario: str, args, conninfo: str, cfg: str
) -> tuple[dict, list[Sample]]:
    """One closed-loop pass of ``flow`` on a freshly reset database, summarised, invariants checked."""
    name = f"{cfg} {scenario}" if flow == "browser" else f"{cfg} {scenario} API"
    quiet = prepare(conninfo, "next pass")
    errors: list[str] = []
    print(f"{name}: running ...", file=sys.stderr)
    samples, meta = asyncio.run(_with_cpu(server, world, scenario, args, errors, flow=flow))
    inv = check_invariants(conninfo, world.hot_id)
    summary = summarise_app(
        samples,
        meta["window"],
        args.duration,
        inv["hot_sold_out_at"] if scenario == "hot" else None,
    )
    summary.update(
        quiet_before=quiet,
        cpu=meta["cpu"],
        invariants=inv,
        errors=errors,
        loop_lag_p95_ms=meta["loop_lag_p95_ms"],
        log=server.log_problems(),
    )
    print(
        f"{name}: {summary['orders_per_s']:.1f} orders/s, place p95 "
        f"{summary['place_ms'][95]:.0f} ms, cycle p95 {summary['cycle_ms'][95]:.0f} ms, "
        f"409s {summary['outdated_409']}, bad {summary['non_2xx_3xx']}, cpu "
        f"{ {k: round(v, 2) for k, v in meta['cpu'].items()} }, invariants {inv}, "
        f"log {summary['log']}",
        file=sys.stderr,
    )
    for line in errors[:5]:
        print("   ", line, file=sys.stderr)
    return summary, samples


def backlog_trend(series: list[tuple[float, int]], rate: float) -> dict:
    """Tickets left waiting over a paced pass's window: at its start and end, the most, the least-squares
    slope (tickets/s), and whether it grows: slope above 1 % of the offered rate and more than 10 tickets
    waiting at the end (a load that is kept up with leaves a backlog that comes and goes around 0)."""
    if not series:
        return {"start": 0, "end": 0, "max": 0, "per_s": 0.0, "growing": False}
    ts, ns = [t for t, _ in series], [n for _, n in series]
    t_mean, n_mean = sum(ts) / len(ts), sum(ns) / len(ns)
    var = sum((t - t_mean) ** 2 for t in ts)
    slope = sum((t - t_mean) * (n - n_mean) for t, n in series) / var if var else 0.0
    return {
        "start": ns[0],
        "end": ns[-1],
        "max": max(ns),
        "per_s": slope,
        "growing": slope > 0.01 * rate and ns[-1] > 10,
    }


def invariants_ok(inv: dict) -> bool:
    return not (inv["bad_stock_rows"] or inv["bad_lines"] or inv["allocation_mismatch_products"])


def sustained(r: dict, rate: float) -> bool:
    """A paced pass kept up with its offered rate: orders/s within 5 % of it and no growing backlog."""
    return abs(r["orders_per_s"] - rate) <= SUSTAIN_TOLERANCE * rate and not r["backlog_trend"]["growing"]


def measure_paced(
    server: Gunicorn, world: World, flow: str, scenario: str, rate: float, args, conninfo: str, cfg: str
) -> dict:
    """One paced (open-loop, ``rate`` orders/s offered) pass of ``flow`` over ``--paced-duration`` s on a
    freshly reset database, summarised, backlog trend and invariants checked."""
    name = f"paced {rate:g}/s {scenario} {'API ' if flow == 'api' else ''}on {cfg}"
    ns = argparse.Namespace(**{**vars(args), "duration": args.paced_duration})
    quiet = prepare(conninfo, "next pass")
    errors: list[str] = []
    print(f"{name}: running ...", file=sys.stderr)
    samples, meta = asyncio.run(_with_cpu(server, world, scenario, ns, errors, rate=rate, flow=flow))
    inv = check_invariants(conninfo, world.hot_id)
    summary = summarise_app(
        samples, meta["window"], ns.duration, inv["hot_sold_out_at"] if scenario == "hot" else None
    )
    summary.update(
        offered_per_s=rate,
        arrivals_per_s=meta["arrivals_per_s"],
        cpu=meta["cpu"],
        backlog=meta["backlog"],
        backlog_trend=backlog_trend(meta["backlog_series"], rate),
        invariants=inv,
        errors=errors,
        quiet_before=quiet,
        loop_lag_p95_ms=meta["loop_lag_p95_ms"],
        log=server.log_problems(),
    )
    summary["sustained"] = sustained(summary, rate)
    b = summary["backlog_trend"]
    print(
        f"{name}: {summary['orders_per_s']:.1f} orders/s (arrivals {meta['arrivals_per_s']:.1f}/s), place "
        f"p50/p95/p99 {summary['place_ms'][50]:.0f}/{summary['place_ms'][95]:.0f}/"
        f"{summary['place_ms'][99]:.0f} ms, wait for a buyer p95 {summary['wait_ms'][95]:.0f} ms, backlog "
        f"{b['start']}->{b['end']} (max {b['max']}, {b['per_s']:+.1f}/s), sustained {summary['sustained']}, "
        f"bad {summary['non_2xx_3xx']}, invariants {'ok' if invariants_ok(inv) else inv}, "
        f"log {summary['log']}",
        file=sys.stderr,
    )
    for line in errors[:5]:
        print("   ", line, file=sys.stderr)
    return summary


def run_paced(
    args,
    world: World,
    conninfo: str,
    flow: str,
    cfg: str,
    scenarios: list[str],
    rates: list[float],
    raw: dict,
) -> dict[tuple[str, float], dict]:
    """The paced passes of ``flow`` on gunicorn setting ``cfg``: every scenario at every rate."""
    paced: dict[tuple[str, float], dict] = {}
    if not rates or not cfg:
        return paced
    workers, threads = (int(x) for x in cfg.split("x"))
    server = Gunicorn(args.app, workers, threads, args.port, args.database_url)
    try:
        for scenario in scenarios:
            for rate in rates:
                summary = measure_paced(server, world, flow, scenario, rate, args, conninfo, cfg)
                paced[(scenario, rate)] = summary
                raw["app" if flow == "browser" else "api"][f"paced {rate:g} {scenario}"] = {
                    "summary": summary
                }
    finally:
        server.stop()
    return paced


def parse_rates(parser: argparse.ArgumentParser, option: str, value: str) -> list[float]:
    try:
        rates = [float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        parser.error(f"{option}: a comma list of offered rates (orders/s), '' for none")
    if any(r <= 0 for r in rates):
        parser.error(f"{option}: rates must be > 0")
    return rates


def parse_configs(parser: argparse.ArgumentParser, value: str) -> list[str]:
    """``WxT`` gunicorn settings (``8x1``: 8 workers of one thread each, sync-like processes)."""
    configs = [c.strip() for c in value.split(",") if c.strip()]
    for cfg in configs:
        if not re.fullmatch(r"[1-9][0-9]*x[1-9][0-9]*", cfg):
            parser.error(f"--configs: {cfg!r} is not WORKERSxTHREADS (e.g. 2x8, or 8x1 for one thread each)")
    return configs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--buyers", type=int, default=64)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--hot-stock", type=int, default=1500)
    parser.add_argument(
        "--configs",
        default="3x1,4x1,4x4",
        help="gunicorn WORKERSxTHREADS, comma separated (gthread; Nx1: N one-thread, sync-like processes)",
    )
    parser.add_argument("--scenarios", default="hot,random")
    parser.add_argument(
        "--flows",
        default="api,browser",
        help="how buyers order, comma separated: api (one POST /api/v1/orders per order) and/or browser "
        "(quick-order add, review, place); --paced runs the browser flow, --paced-api the API flow, "
        "--profile and --cpu-profile the browser flow",
    )
    parser.add_argument("--app", default="bench.checkout_app:app")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--floor-threads", type=int, default=64)
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument(
        "--no-calibrate",
        action="store_true",
        help="skip the one-buyer pass (uncontended cost per request, SQL by statement)",
    )
    parser.add_argument(
        "--paced",
        default="10,20,30,40",
        help="browser flow: open-loop arrival rates (orders/s) to run on its best setting, '' for none",
    )
    parser.add_argument(
        "--paced-api",
        default="100,200",
        help="API flow: open-loop arrival rates (orders/s) to run on its best setting, '' for none; the "
        f"API latency target is judged at {TARGET_ORDERS_PER_S:g}/s",
    )
    parser.add_argument("--paced-duration", type=float, default=20.0)
    parser.add_argument(
        "--cpu-profile",
        type=int,
        default=200,
        help="cycles of an in-process cProfile pass (CPU timer) through the test client; 0: none",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="add an unmeasured pass with the wall-clock sampler of bench/checkout_app.py",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.5,
        help="before each pass wait until others use fewer cores than this",
    )
    parser.add_argument("--max-wait", type=float, default=300.0, help="... but at most this many seconds")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    flows = [x.strip() for x in args.flows.split(",") if x.strip()]
    if not flows or set(flows) - FLOWS:
        parser.error(f"--flows: a comma list of {', '.join(sorted(FLOWS))}")
    configs = parse_configs(parser, args.configs)
    paced_rates = parse_rates(parser, "--paced", args.paced)
    paced_api_rates = parse_rates(parser, "--paced-api", args.paced_api)

    QUIET.update(threshold=args.quiet_threshold, max_wait=args.max_wait)
    PG_DATABASE["name"] = make_url(args.database_url).database
    facts = machine_facts()
    print(f"load average {facts['load_before']}", file=sys.stderr)
    conninfo = libpq_url(args.database_url)
    recreate_database(args.database_url)
    t = time.time()
    world = migrate_and_seed(args.database_url, args.buyers, args.products, args.hot_stock, args.seed)
    print(f"migrated and seeded in {time.time() - t:.1f} s", file=sys.stderr)

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    raw: dict = {
        "facts": facts,
        "args": {k: str(v) for k, v in vars(args).items()},
        "app": {},
        "api": {},
        "floor": {},
    }
    # results[flow][(gunicorn setting, scenario)]; the JSON keeps the browser flow under "app" as before
    results: dict[str, dict[tuple[str, str], dict]] = {flow: {} for flow in flows}
    for cfg in configs:
        workers, threads = (int(x) for x in cfg.split("x"))
        server = Gunicorn(args.app, workers, threads, args.port, args.database_url)
        try:
            for flow in flows:
                for scenario in scenarios:
                    summary, samples = measure_pass(server, world, flow, scenario, args, conninfo, cfg)
                    results[flow][(cfg, scenario)] = summary
                    raw["app" if flow == "browser" else "api"][f"{cfg} {scenario}"] = {
                        "summary": summary,
                        "samples": [asdict(s) for s in samples],
                    }
        finally:
            server.stop()
    app_results, api_results = results.get("browser", {}), results.get("api", {})
    best, api_best = best_setting(app_results), best_setting(api_results)

    # paced (open-loop) passes: the browser flow on its best setting, the API flow on its own
    paced = run_paced(args, world, conninfo, "browser", best, scenarios, paced_rates, raw)
    api_paced = run_paced(args, world, conninfo, "api", api_best, scenarios, paced_api_rates, raw)

    floor_results = {}
    if not args.no_floor:
        variants = [(scenario, "UPDATE") for scenario in scenarios]
        if "hot" in scenarios:
            variants.append(("hot", "NO KEY UPDATE"))
        for scenario, lock in variants:
            name = scenario if lock == "UPDATE" else f"{scenario}, products FOR NO KEY UPDATE"
            quiet = prepare(conninfo, "next pass")
            print(f"floor {name}: running ...", file=sys.stderr)
            result, samples = run_floor(
                conninfo, world, scenario, args.floor_threads, args.warmup, args.duration, args.seed, lock
            )
            result["invariants"] = check_invariants(conninfo, world.hot_id)
            result["quiet_before"] = quiet
            floor_results[name] = result
            raw["floor"][name] = {"summary": result, "samples": samples}
            print(
                f"floor {name}: {result['orders_per_s']:.1f} orders/s, tx p95 {result['tx_ms'][95]:.1f} ms, "
                f"fill p95 {result['fill_ms'][95]:.1f} ms, cpu "
                f"{ {k: round(v, 2) for k, v in result['cpu'].items()} }, errors {result['errors'][:2]}",
                file=sys.stderr,
            )

    calibration = None
    if not args.no_calibrate and (best or api_best):
        calibration = calibrate(args, world, conninfo, best or api_best, scenarios, flows)
        raw["calibration"] = calibration

    cpu_prof = None
    if args.cpu_profile:
        quiet = prepare(conninfo, "next pass")
        print(f"in-process CPU profile, {args.cpu_profile} cycles: running ...", file=sys.stderr)
        cpu_prof = cpu_profile(args.database_url, world, args.cpu_profile, args.seed)
        cpu_prof["quiet_before"] = quiet
        raw["cpu_profile"] = cpu_prof

    profile = None
    if args.profile and best:
        workers, threads = (int(x) for x in best.split("x"))
        pdir = DATA / "checkout-profile"
        pdir.mkdir(parents=True, exist_ok=True)
        for old in pdir.glob("profile-*.json"):
            old.unlink()
        server = Gunicorn(
            "bench.checkout_app:app",
            workers,
            threads,
            args.port,
            args.database_url,
            {"BENCH_PROFILE_DIR": str(pdir)},
        )
        try:
            quiet = prepare(conninfo, "next pass")
            print(f"profile {best} hot: running ...", file=sys.stderr)
            asyncio.run(
                _with_cpu(server, world, "hot", argparse.Namespace(**{**vars(args), "duration": 15.0}), [])
            )
            time.sleep(4)  # a last dump
        finally:
            server.stop()
        profile = summarise_profile(pdir)
        profile["scenario"] = "hot"
        raw["profile"] = profile

    text = report(
        facts,
        args,
        app_results,
        floor_results,
        calibration,
        profile,
        best,
        paced,
        cpu_prof,
        api_results,
        api_best,
        api_paced,
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        raw["app_keys"] = [list(k) for k in app_results]
        raw["api_result_keys"] = [list(k) for k in api_results]
        args.json.write_text(json.dumps(raw, default=str))
    if not args.keep_db:
        drop_database(args.database_url)
    return 0


def cpu_profile(database_url: str, world: World, cycles: int, seed: int) -> dict:
    """Where the app's CPU goes: ``cycles`` random-scenario orders through ``app.test_client()`` in this
    process (WSGI, Flask, services, ORM, driver; no gunicorn, no HTTP parsing), first unprofiled (CPU ms per
    order), then under cProfile with a thread-CPU timer (the profiler's own overhead inflates every
    function roughly alike, so shares are what to read)."""
    import cProfile
    import pstats
    from collections import Counter

    from portal import create_app

    app = create_app({"environ": app_environ(database_url)})
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login",
        data={
            "csrf_token": _CSRF.search(page).group(1),
            "email": world.buyers[0]["email"],
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302, response.status_code
    csrf = _CSRF.search(client.get("/cart/quick").get_data(as_text=True)).group(1)
    rng = random.Random(seed)

    def cycle() -> None:
        lines = cart_for(rng, "random", world)
        r = client.post(
            "/cart/quick", data={"csrf_token": csrf, "text": "\n".join(f"{sku}, {qty}" for sku, qty in lines)}
        )
        assert r.status_code == 302, r.status_code
        page = client.get("/checkout/review").get_data(as_text=True)
        r = client.post(
            "/checkout/place",
            data={
                "csrf_token": csrf,
                "token": _TOKEN.search(page).group(1),
                "reviewed": _REVIEWED.search(page).group(1),
            },
        )
        assert r.status_code == 302, r.status_code

    for _ in range(20):
        cycle()
    t0, w0 = time.thread_time(), time.perf_counter()
    for _ in range(cycles):
        cycle()
    cpu_ms = (time.thread_time() - t0) * 1000 / cycles
    wall_ms = (time.perf_counter() - w0) * 1000 / cycles
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    for _ in range(cycles):
        cycle()
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    packages: Counter[str] = Counter()
    total = 0.0
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        total += tottime
        if "site-packages/" in filename:
            key = filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
        elif f"{ROOT}/portal/" in filename:
            key = "portal/" + filename.split(f"{ROOT}/portal/", 1)[1].split("/", 1)[0]
        elif filename.startswith("~"):
            key = "builtins"
        else:
            key = "stdlib and other"
        packages[key] += tottime
    portal_cum = sorted(
        (
            (f"{fn.split(str(ROOT) + '/', 1)[-1]}:{name}", ct)
            for (fn, _l, name), (_c, _n, _t, ct, _) in stats.items()
            if f"{ROOT}/portal/" in fn and "/templates/" not in fn
        ),
        key=lambda r: -r[1],
    )[:25]
    with app.app_context():
        from portal.extensions import db

        db.engine.dispose()
    return {
        "cycles": cycles,
        "cpu_ms_per_order": cpu_ms,
        "wall_ms_per_order": wall_ms,
        "packages": [(k, v / total) for k, v in packages.most_common(14)],
        "portal_cumulative": [(k, v / total) for k, v in portal_cum],
    }


def calibrate(args, world: World, conninfo: str, best: str, scenarios: list[str], flows: list[str]) -> dict:
    """One buyer alone: the uncontended cost of each request (server time, its CPU, SQL, statements) and
    the SQL time per statement text. No queueing, no lock waits: what one order costs the machine.
    The browser flow's rows go to ``requests``, the API flow's (its one request, ``place``) to
    ``api_requests``."""
    workers, threads = (int(x) for x in best.split("x"))
    sdir = DATA / "checkout-sql"
    sdir.mkdir(parents=True, exist_ok=True)
    for old in sdir.glob("sql-*.json"):
        old.unlink()
    one = World(world.buyers[:1], world.hot_id, world.hot_stock, world.random_skus)
    out: dict = {"gunicorn": best, "requests": {}, "api_requests": {}, "statements": []}
    server = Gunicorn(
        args.app, workers, threads, args.port, args.database_url, {"BENCH_SQL_STATS_DIR": str(sdir)}
    )
    try:
        for flow, scenario in [(flow, scenario) for flow in flows for scenario in scenarios]:
            quiet = prepare(conninfo, "next pass")
            print(f"calibration (1 buyer, {flow}) {scenario}: running ...", file=sys.stderr)
            ns = argparse.Namespace(**{**vars(args), "warmup": 2.0, "duration": 10.0})
            samples, meta = asyncio.run(_with_cpu(server, one, scenario, ns, [], flow=flow))
            w0, w1 = meta["window"]
            inside = [s for s in samples if w0 <= s.start and s.end <= w1]
            rows = {}
            for kind in ("place",) if flow == "api" else ("add", "review", "place"):
                chosen = [s for s in inside if s.kind == kind and s.server]
                rows[kind] = {
                    k: pct([s.server[k] for s in chosen if k in s.server], 50)
                    for k in ("total", "cpu", "sql", "n")
                }
                rows[kind]["client"] = pct([s.ms for s in chosen], 50)
            orders = len([s for s in inside if s.kind == "place" and s.outcome == "ordered"])
            rows["orders_per_s"] = orders / ns.duration
            rows["quiet_before"] = quiet
            rows["cpu"] = meta["cpu"]
            out["requests" if flow == "browser" else "api_requests"][scenario] = rows
        time.sleep(4)  # the workers' last dump
    finally:
        server.stop()
    merged: dict[tuple[str, str], list[float]] = {}
    for path in sdir.glob("sql-*.json"):
        for endpoint, statement, n, total in json.loads(path.read_text()):
            row = merged.setdefault((endpoint, statement), [0, 0.0])
            row[0] += n
            row[1] += total
    out["statements"] = sorted(([e, s, n, t] for (e, s), (n, t) in merged.items()), key=lambda r: -r[3])[:40]
    return out


async def _with_cpu(
    server: Gunicorn,
    world: World,
    scenario: str,
    args,
    errors: list[str],
    rate: float | None = None,
    flow: str = "browser",
):
    """Run the load and take CPU snapshots at the start and end of its steady-state window."""
    holder: dict = {}
    loop = asyncio.get_running_loop()

    async def snapshots():
        while "t_start" not in holder:
            await asyncio.sleep(0.01)
        await asyncio.sleep(max(holder["t_start"] + args.warmup - time.time(), 0))
        holder["a"] = await loop.run_in_executor(None, cpu_snapshot, server.proc.pid)
        await asyncio.sleep(max(holder["t_start"] + args.warmup + args.duration - time.time(), 0))
        holder["b"] = await loop.run_in_executor(None, cpu_snapshot, server.proc.pid)

    async def load():
        return await run_load(
            server.base,
            world,
            scenario,
            args.warmup,
            args.duration,
            args.seed,
            errors,
            on_start=lambda t: holder.__setitem__("t_start", t),
            rate=rate,
            flow=flow,
        )

    snap = asyncio.create_task(snapshots())
    samples, meta = await load()
    await snap
    meta["cpu"] = cpu_delta(holder["a"], holder["b"], args.duration)
    return samples, meta


if __name__ == "__main__":
    raise SystemExit(main())
