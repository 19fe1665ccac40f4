"""What-if: the changes bench/RESULTS.md proposes, applied to the benchmark only.

``bench_catalog.py --proposals`` calls :func:`apply` before measuring: it creates the proposed indexes
in the *benchmark* database (and drops them again afterwards, see :func:`revert`) and swaps a few
functions of ``portal.services.catalog`` in this process for versions with the proposed changes. Nothing
under ``portal/`` or ``migrations/`` is touched. The replacements mirror ``portal/services/catalog.py`` as
of commit 7b6eb4f; each differs from it only where its docstring says.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, func, literal, literal_column, or_, select, text
from sqlalchemy.engine import Engine

#: dialect -> (name, CREATE statement). Partial indexes cover only active products (every catalog query
#: filters on ``active``) and, for stock, only rows with something available (the in-stock test).
INDEXES = {
    "postgresql": (
        ("ix_products_price_id_active", "CREATE INDEX ix_products_price_id_active ON products (price, id)"
                                        " WHERE active"),
        ("ix_products_category_id_id_active", "CREATE INDEX ix_products_category_id_id_active"
                                              " ON products (category_id, id) WHERE active"),
        ("ix_stock_available", "CREATE INDEX ix_stock_available ON stock (product_id)"
                               " WHERE on_hand > allocated"),
    ),
    "sqlite": (
        ("ix_products_price_id", "CREATE INDEX ix_products_price_id ON products (price, id)"),
        ("ix_products_category_id_id", "CREATE INDEX ix_products_category_id_id"
                                       " ON products (category_id, id)"),
        ("ix_stock_available", "CREATE INDEX ix_stock_available ON stock (product_id)"
                               " WHERE on_hand > allocated"),
    ),
}


def create_indexes(engine: Engine) -> list[str]:
    created = []
    with engine.connect() as conn:
        for name, ddl in INDEXES.get(engine.dialect.name, ()):
            conn.exec_driver_sql(ddl.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS"))
            created.append(name)
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return created


def revert(engine: Engine, created: list[str]) -> None:
    with engine.connect() as conn:
        for name in created:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def apply(engine: Engine) -> list[str]:
    """Patch the service in this process and create the indexes; returns the index names."""
    patch_service()
    return create_indexes(engine)


def _postgres() -> bool:
    from portal.extensions import db

    return db.engine.dialect.name == "postgresql"


def patch_service() -> None:
    """Swap the functions of portal.services.catalog in this process for the proposed versions (also
    usable from a pytest plugin, to run the project's catalog tests against the proposals)."""
    from portal.services import catalog

    original_broad = catalog._broad

    def _with_text(stmt, terms, name_only=False):
        """Change: a one-character term matches as a whole word, not as a prefix. SQLite's prefix indexes
        start at two characters, so ``"a"*`` scans every token that starts with "a" (about 95 ms for
        "outlet 13 a" against 1.4 ms as a word)."""
        if _postgres():
            weights = "AB" if name_only else ""
            parts = [f"{t}:*{weights}" if len(t) > 1 else (f"{t}:{weights}" if weights else t) for t in terms]
            tsquery = func.to_tsquery("english", " & ".join(parts))
            vector = literal_column("products.search_vector")
            return stmt.where(vector.op("@@")(tsquery)), func.ts_rank(vector, tsquery).desc()
        match = " ".join(f'"{t}"*' if len(t) > 1 else f'"{t}"' for t in terms)
        if name_only:
            match = f"{{sku name}} : ({match})"
        stmt = stmt.join(catalog._FTS, catalog._FTS.c.rowid == catalog.Product.id).where(
            text("product_search MATCH :match").bindparams(match=match))
        return stmt, literal_column(catalog._BM25)

    def _broad(query, terms, name_only):
        """Change (PostgreSQL only): the newest COUNT_CAP matches of *all* fields, ranked by ts_rank
        (SKU A, name B over description D, so name hits still rank first). A weight-restricted tsquery
        (``word:*AB``) cannot be answered by the GIN index and is estimated as if unrestricted, so the
        planner walks the primary key backwards and, for a word that is only in descriptions, reads all
        500,000 rows to find none (about 190 ms) before the fallback runs."""
        return original_broad(query, terms, name_only and not _postgres())

    def in_stock_scalar():
        return (select(literal(True)).where(catalog.Stock.product_id == catalog.Product.id,
                                            catalog.Stock.on_hand > catalog.Stock.allocated)
                .limit(1).scalar_subquery())

    def orderable_clause():
        """Change: the in-stock test inside the OR is a correlated scalar subquery instead of EXISTS.
        PostgreSQL turns an OR'ed EXISTS into a "hashed SubPlan" that reads the whole stock table first
        (about 150 ms even for the capped count); the scalar subquery probes ix_stock_available per row
        and stops with the LIMIT."""
        on_backorder = (select(func.coalesce(func.sum(catalog.OrderLine.backordered), 0))
                        .where(catalog.OrderLine.product_id == catalog.Product.id).scalar_subquery())
        return or_(catalog.Product.backorder_policy == "allow",
                   and_(catalog.Product.backorder_policy == "allow_up_to",
                        catalog.Product.backorder_cap > on_backorder),
                   in_stock_scalar().is_not(None))

    def _filtered(query, terms, name_only=False):
        """Change: ``orderable`` is not added when ``in_stock`` is (in stock implies orderable)."""
        stmt = select(catalog.Product.id).where(catalog.Product.active)
        rank = None
        if terms:
            stmt, rank = catalog._with_text(stmt, terms, name_only)
        if query.category_id:
            stmt = stmt.where(catalog.Product.category_id == query.category_id)
        if query.vendor_id:
            stmt = stmt.where(catalog.Product.vendor_id == query.vendor_id)
        if query.in_stock:
            stmt = stmt.where(exists().where(catalog.Stock.product_id == catalog.Product.id,
                                             catalog.Stock.on_hand > catalog.Stock.allocated))
        elif query.orderable:
            stmt = stmt.where(catalog.orderable_clause())
        return stmt, rank

    catalog._with_text = _with_text
    catalog._broad = _broad
    catalog.orderable_clause = orderable_clause
    catalog._filtered = _filtered
