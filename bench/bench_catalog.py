"""Measure catalog pages through the Flask app beside the raw SQL of the same page.

    python bench/bench_catalog.py --database-url sqlite:///bench/data/catalog.db
    python bench/bench_catalog.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_catalog

Needs a database from ``bench/generate_catalog.py`` (it has the buyer login used here). Brings the schema
to the head revision first (a no-op when it is current).

For every case of every scenario (at least 200 varied cases each, after a warm-up pass):

- **app**: ``GET`` of the page through ``app.test_client()``, signed in as the buyer: routing, session and
  login checks, the service, the ORM and the Jinja template; every SQL statement it runs is captured.
- **svc**: ``portal.services.catalog.search(CatalogQuery(...), PriceBook, today)`` called directly (listing
  scenarios only).
- **sql**: every statement the app request ran, replayed on a bare DBAPI cursor (execute + fetchall, no
  SQLAlchemy, no Flask; on PostgreSQL without server-side prepared statements): the floor of the
  page's database work.
- **search sql**: the search's own statements (the capped count and the id page query), replayed raw.
- **top stmt**: the slowest single statement of the replay.

Reports p50 / p95 / max in milliseconds per column, the app/sql ratio, and statements per page, as a
markdown table; ``--json`` keeps every sample, ``--slowest`` lists the slowest cases with their top
statement.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event, select  # noqa: E402

from bench.generate_catalog import (  # noqa: E402
    BUYER_EMAIL,
    BUYER_PASSWORD,
    CATEGORY_VOCAB,
    DEFAULT_URL,
    FEATURES,
    RARE_WORDS,
    absolute_url,
    bench_environ,
)

TARGETS = {"search_p95_ms": 50.0, "app_over_raw": 3.0, "product_p95_ms": 30.0}
_CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')
_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9]+")


@dataclass
class Case:
    scenario: str
    url: str
    #: keyword arguments of CatalogQuery for the service-level timing (None: no service call)
    query: dict | None = None


@dataclass
class Sample:
    scenario: str
    url: str
    status: int
    app_ms: float
    statements: int
    sql_ms: float
    top_ms: float
    top_sql: str
    svc_ms: float | None = None
    search_sql_ms: float | None = None
    results: int | None = None


@dataclass
class Capture:
    statements: list[tuple[str, object]] = field(default_factory=list)
    active: bool = False


# --- cases -------------------------------------------------------------------------------------------------


def build_cases(app, n: int, seed: int) -> dict[str, list[Case]]:
    from portal.extensions import db
    from portal.models import Category, Product, Vendor

    rng = random.Random(seed)
    with app.app_context():
        categories = db.session.execute(select(Category.id, Category.slug).order_by(Category.id)).all()
        vendor_ids = list(db.session.scalars(select(Vendor.id)))
        max_id = db.session.scalar(select(Product.id).order_by(Product.id.desc()).limit(1))
        sample_ids = rng.sample(range(1, max_id + 1), min(3 * n, max_id))
        rows = db.session.execute(select(Product.sku, Product.name, Product.description, Product.active)
                                  .where(Product.id.in_(sample_ids))).all()
    skus = [r.sku for r in rows if r.active]
    names = [r.name for r in rows]
    models = [m for r in rows for m in re.findall(r"Model ([A-Z]{2}\d+)", r.description)]
    brands = sorted({name.split()[0] for name in names})

    nouns = [noun for vocab in CATEGORY_VOCAB for noun, _, _ in vocab.items]
    grades = [grade for vocab in CATEGORY_VOCAB for grade, _ in vocab.grades]
    common = sorted({w.lower() for phrase in nouns + grades for w in _WORDS.findall(phrase)}
                    | {"pack", "steel", "white", "box", "standard", "led", "cable", "tape", "valve", "safety",
                       "m8", "18"})
    feature_words = sorted({w.lower() for f in FEATURES for w in _WORDS.findall(f) if len(w) > 4})

    def multi_word() -> str:
        name = rng.choice(names)
        words = [w for w in re.split(r"[\s,()]+", name) if w][1:]  # without the brand
        k = rng.choice((2, 2, 3))
        start = rng.randrange(max(len(words) - k, 0) + 1)
        return " ".join(words[start:start + k])

    def prefix() -> str:
        word = rng.choice(common + feature_words)
        return word[: rng.choice((2, 3, 3, 4, 5))]

    def nonsense() -> str:
        return "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(rng.randint(4, 9)))

    generators: list[tuple[float, Callable[[], str]]] = [
        (22, lambda: rng.choice(common)),                       # one common word: huge result sets
        (6, lambda: rng.choice(feature_words)),                 # a description word: large sets
        (8, lambda: rng.choice(RARE_WORDS)),                    # rare word: ~50 results
        (6, lambda: rng.choice(brands)),                        # a brand: Zipf, small to large
        (6, lambda: rng.choice(models)),                        # a model code: 1-3 results
        (20, multi_word),                                       # 2-3 words from a real name
        (10, lambda: rng.choice(skus)),                         # exact SKU
        (3, lambda: rng.choice(skus)[:-2]),                     # SKU prefix
        (14, prefix),                                           # type-ahead prefix, 2-5 letters
        (5, nonsense),                                          # no results
    ]
    weights = [w for w, _ in generators]

    def text() -> str:
        return rng.choices(generators, weights=weights)[0][1]()

    def listing(scenario: str, **query) -> Case:
        args = {"q": query.get("text"), "category": query.get("category_id"),
                "vendor": query.get("vendor_id"),
                "in_stock": "1" if query.get("in_stock") else None,
                "orderable": "1" if query.get("orderable") else None, "sort": query.get("sort"),
                "page": query.get("page")}
        qs = urlencode({k: v for k, v in args.items() if v not in (None, "")})
        return Case(scenario, f"/catalog/search?{qs}", query)

    sorts = ("relevance", "name", "price_asc", "price_desc", "newest")
    cases: dict[str, list[Case]] = {"search": [], "search+filters": [], "category p1": [],
                                    "category deep": [], "product": []}
    for _ in range(n):
        t = text()
        cases["search"].append(listing("search", text=t, sort="relevance"))

        query: dict = {"text": text() if rng.random() < 0.8 else ""}
        if rng.random() < 0.5:
            query["category_id"] = rng.choice(categories).id
        if rng.random() < 0.25:
            query["vendor_id"] = rng.choice(vendor_ids)
        if rng.random() < 0.4:
            query["in_stock"] = True
        if rng.random() < 0.3:
            query["orderable"] = True
        query["sort"] = rng.choice(sorts) if query["text"] else rng.choice(sorts[1:])
        query["page"] = rng.choice((1, 1, 1, 2, 3))
        cases["search+filters"].append(listing("search+filters", **query))

        for scenario, pages in (("category p1", (1,)), ("category deep", range(10, 401))):
            cat = rng.choice(categories)
            sort = rng.choice(sorts[1:])
            page = rng.choice(pages)
            query = {"category_id": cat.id, "sort": sort, "page": page}
            params = {"sort": sort, "page": page}
            if scenario == "category p1" and rng.random() < 0.3:
                query["in_stock"], params["in_stock"] = True, "1"
            cases[scenario].append(Case(scenario, f"/catalog/c/{cat.slug}?{urlencode(params)}", query))

        cases["product"].append(Case("product", f"/catalog/p/{rng.choice(skus)}"))
    return cases


# --- measuring ---------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Bench:
    def __init__(self, database_url: str):
        from flask_migrate import upgrade

        from portal import create_app
        from portal.extensions import db

        database_url = absolute_url(database_url)
        self.app = create_app({"environ": bench_environ(database_url), "RATELIMIT_ENABLED": False})
        with self.app.app_context():
            upgrade()
            self.engine = db.engine
        self.capture = Capture()
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        self.raw = self.engine.raw_connection()
        self.replay_options: dict = {}
        if self.engine.dialect.name == "postgresql":
            self.raw.driver_connection.autocommit = True
            # Plan every replayed statement for its own parameters. With psycopg's automatic server-side
            # prepared statements, this long-lived connection drifts onto PostgreSQL's generic plans for
            # the text-search queries (p95 384 ms against 225 ms unprepared; see RESULTS.md), which would
            # measure plan caching rather than the query.
            self.replay_options = {"prepare": False}
        self.client = self.app.test_client()
        self._login()

    def _on_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.capture.active:
            self.capture.statements.append((statement, parameters))

    def _login(self) -> None:
        page = self.client.get("/login")
        token = _CSRF.search(page.get_data(as_text=True))
        response = self.client.post("/login", data={"csrf_token": token.group(1) if token else "",
                                                    "email": BUYER_EMAIL, "password": BUYER_PASSWORD})
        if response.status_code != 302:
            raise SystemExit(f"login as {BUYER_EMAIL} failed ({response.status_code}): generate the database "
                             "with bench/generate_catalog.py first")

    def captured(self, fn: Callable[[], object]) -> tuple[float, object, list[tuple[str, object]]]:
        self.capture.statements = []
        self.capture.active = True
        try:
            started = time.perf_counter()
            result = fn()
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            self.capture.active = False
        return elapsed, result, self.capture.statements

    def replay(self, statements: list[tuple[str, object]]) -> tuple[float, float, str]:
        """Run the statements on a bare DBAPI cursor; (total ms, slowest ms, slowest statement)."""
        total, top, top_sql = 0.0, 0.0, ""
        cursor = self.raw.cursor()
        try:
            for statement, parameters in statements:
                if statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT")):
                    continue
                started = time.perf_counter()
                cursor.execute(statement, parameters or (), **self.replay_options)
                if cursor.description is not None:
                    cursor.fetchall()
                elapsed = (time.perf_counter() - started) * 1000
                total += elapsed
                if elapsed > top:
                    top, top_sql = elapsed, statement
        finally:
            cursor.close()
        if self.engine.dialect.name == "sqlite":
            self.raw.driver_connection.rollback()
        return total, top, top_sql

    def service(self, query: dict) -> tuple[float, int, list[tuple[str, object]]]:
        from portal.clock import today
        from portal.extensions import db
        from portal.models import Company
        from portal.services import catalog
        from portal.services.pricing import PriceBook

        with self.app.app_context():
            book = PriceBook.for_company(db.session.get(Company, 1))
            book.percent_off  # noqa: B018 - load the price list outside the timing
            day = today()
            cq = catalog.CatalogQuery(**{k: v for k, v in query.items() if v not in (None, "")})
            elapsed, results, statements = self.captured(lambda: catalog.search(cq, book, day))
            db.session.remove()
        return elapsed, results.total, statements

    def run_case(self, case: Case, repeat: int = 1) -> Sample:
        """Measure one case; with ``repeat`` > 1, each column is the median of that many runs (damps
        interference from other processes on a shared machine)."""
        runs = [self._run_once(case) for _ in range(repeat)]
        if repeat == 1:
            return runs[0]
        sample = runs[0]
        for name in ("app_ms", "sql_ms", "top_ms", "svc_ms", "search_sql_ms"):
            values = [getattr(r, name) for r in runs if getattr(r, name) is not None]
            setattr(sample, name, statistics.median(values) if values else None)
        return sample

    def _run_once(self, case: Case) -> Sample:
        app_ms, response, statements = self.captured(lambda: self.client.get(case.url))
        sql_ms, top_ms, top_sql = self.replay(statements)
        sample = Sample(case.scenario, case.url, response.status_code, app_ms, len(statements), sql_ms,
                        top_ms, " ".join(top_sql.split())[:300])
        if case.query is not None:
            svc_ms, total, svc_statements = self.service(case.query)
            search = [s for s in svc_statements if _is_search_statement(s[0])]
            sample.svc_ms, sample.results = svc_ms, total
            sample.search_sql_ms = self.replay(search)[0] if search else None
        return sample


def _is_search_statement(statement: str) -> bool:
    """The capped count and the id page query built by catalog.search (select(func.count()) over the
    filtered ids, and select(Product.id) ordered and limited)."""
    flat = " ".join(statement.split()).lower()
    return flat.startswith("select count(*)") or flat.startswith("select products.id from products")


# --- reporting ---------------------------------------------------------------------------------------------


def summarize(samples: list[Sample]) -> dict:
    def col(name):
        values = [getattr(s, name) for s in samples if getattr(s, name) is not None]
        if not values:
            return None
        return {"p50": percentile(values, 50), "p95": percentile(values, 95), "max": max(values)}

    summary = {k: col(k) for k in ("app_ms", "svc_ms", "sql_ms", "search_sql_ms", "top_ms")}
    summary["n"] = len(samples)
    summary["statements"] = statistics.median(s.statements for s in samples)
    summary["statements_max"] = max(s.statements for s in samples)
    summary["errors"] = sum(1 for s in samples if s.status != 200)
    summary["ratio_p50"] = summary["app_ms"]["p50"] / summary["sql_ms"]["p50"]
    summary["ratio_p95"] = summary["app_ms"]["p95"] / summary["sql_ms"]["p95"]
    return summary


def _fmt(col: dict | None) -> str:
    if col is None:
        return "–"
    return f"{col['p50']:.1f} / {col['p95']:.1f} / {col['max']:.0f}"


def markdown(backend: str, summaries: dict[str, dict]) -> str:
    lines = [f"**{backend}** — milliseconds, p50 / p95 / max",
             "",
             "| scenario | n | app (HTTP) | svc `catalog.search` | sql (all, raw) | search sql (raw) "
             "| top stmt (raw) | app ÷ sql p50 · p95 | stmts/page | target | met |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for scenario, s in summaries.items():
        if scenario == "product":  # the product page target is its p95 only
            target = f"p95 ≤ {TARGETS['product_p95_ms']:.0f} ms"
            verdict = "yes" if s["app_ms"]["p95"] <= TARGETS["product_p95_ms"] else "**no**"
        else:
            target = f"p95 ≤ {TARGETS['search_p95_ms']:.0f} ms · ≤ {TARGETS['app_over_raw']:.0f}× sql"
            met = s["app_ms"]["p95"] <= TARGETS["search_p95_ms"]
            ratio_ok = s["ratio_p95"] <= TARGETS["app_over_raw"]
            verdict = ("yes" if met else "**no**") + " · " + ("yes" if ratio_ok else "**no**")
        errors = f" ({s['errors']} non-200)" if s["errors"] else ""
        most = s["statements_max"]
        stmts = f"{s['statements']:.0f}" + (f"–{most}" if most != s["statements"] else "")
        lines.append(
            f"| {scenario}{errors} | {s['n']} | {_fmt(s['app_ms'])} | {_fmt(s['svc_ms'])} "
            f"| {_fmt(s['sql_ms'])} | {_fmt(s['search_sql_ms'])} | {_fmt(s['top_ms'])} "
            f"| {s['ratio_p50']:.1f}× · {s['ratio_p95']:.1f}× | {stmts} | {target} | {verdict} |")
    return "\n".join(lines)


def slowest(samples: list[Sample], k: int) -> str:
    lines = []
    for s in sorted(samples, key=lambda s: s.app_ms, reverse=True)[:k]:
        lines.append(f"- {s.app_ms:7.1f} ms app, {s.sql_ms:7.1f} ms sql, top {s.top_ms:6.1f} ms "
                     f"`{s.url}`\n  top: `{s.top_sql[:200]}`")
    return "\n".join(lines)


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "portal", "migrations"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in portal/ or migrations/" if dirty else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("-n", "--queries", type=int, default=200, help="cases per scenario")
    parser.add_argument("--warmup", type=int, default=40, help="warm-up cases per scenario")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scenarios", default="", help="comma-separated subset")
    parser.add_argument("--json", type=Path, help="write every sample here")
    parser.add_argument("--slowest", type=int, default=5, help="list the k slowest cases per scenario")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; each column takes the median")
    args = parser.parse_args(argv)
    run(Bench(args.database_url), args)


def run(bench: Bench, args: argparse.Namespace) -> None:
    backend = bench.engine.dialect.name
    cases = build_cases(bench.app, args.queries, args.seed)
    if args.scenarios:
        wanted = {s.strip() for s in args.scenarios.split(",")}
        cases = {k: v for k, v in cases.items() if k in wanted}

    for scenario_cases in cases.values():  # warm-up: templates, statement caches, database pages
        for case in scenario_cases[: args.warmup]:
            bench.run_case(case)
    started = time.perf_counter()
    samples: dict[str, list[Sample]] = {}
    loads: dict[str, str] = {}
    for scenario, scenario_cases in cases.items():
        samples[scenario] = []
        before = os.getloadavg()[0]
        for i, case in enumerate(scenario_cases, 1):
            samples[scenario].append(bench.run_case(case, args.repeat))
            sys.stderr.write(f"\r{backend} {scenario:<15} {i:>4}/{len(scenario_cases)}")
            sys.stderr.flush()
        sys.stderr.write("\n")
        loads[scenario] = f"{before:.2f} → {os.getloadavg()[0]:.2f}"
    summaries = {k: summarize(v) for k, v in samples.items()}
    print(markdown(f"{backend}", summaries))
    print(f"\n(measured in {time.perf_counter() - started:.0f} s at commit {_commit()}, {args.repeat} run(s) "
          "per case; "
          f"1-minute load average before → after each scenario: "
          + ", ".join(f"{k} {v}" for k, v in loads.items()) + ")")
    if args.slowest:
        for scenario, scenario_samples in samples.items():
            print(f"\nSlowest {scenario}:\n{slowest(scenario_samples, args.slowest)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"backend": backend, "summaries": summaries,
                                         "samples": {k: [asdict(s) for s in v] for k, v in samples.items()}},
                                        indent=1))


if __name__ == "__main__":
    main()
