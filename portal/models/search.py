"""Full-text search objects that live outside the ORM models, because they differ by database.

SQLite: an FTS5 external-content table ``product_search`` over products' sku, name and description,
kept in step by triggers (Porter stemming, prefix indexes for type-ahead style queries).
PostgreSQL: a stored generated ``tsvector`` column ``products.search_vector`` (weights: SKU A, name B,
description D) with a GIN index. Both are created by migration 0003; autogenerate and the schema test
ignore them through :func:`include_object`.

Caution: an Alembic batch operation on ``products`` under SQLite recreates the table and drops the
triggers; a migration that does so must re-run :data:`SQLITE_DDL`'s trigger statements.
"""

from __future__ import annotations

SQLITE_DDL = (
    """CREATE VIRTUAL TABLE product_search USING fts5(
        sku, name, description, content='products', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')""",
    """CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
        INSERT INTO product_search(rowid, sku, name, description)
        VALUES (new.id, new.sku, new.name, new.description); END""",
    """CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
        INSERT INTO product_search(product_search, rowid, sku, name, description)
        VALUES ('delete', old.id, old.sku, old.name, old.description); END""",
    """CREATE TRIGGER products_search_update AFTER UPDATE OF sku, name, description ON products BEGIN
        INSERT INTO product_search(product_search, rowid, sku, name, description)
        VALUES ('delete', old.id, old.sku, old.name, old.description);
        INSERT INTO product_search(rowid, sku, name, description)
        VALUES (new.id, new.sku, new.name, new.description); END""",
    "INSERT INTO product_search(product_search) VALUES ('rebuild')",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS products_search_update",
    "DROP TRIGGER IF EXISTS products_search_delete",
    "DROP TRIGGER IF EXISTS products_search_insert",
    "DROP TABLE IF EXISTS product_search",
)
POSTGRES_DDL = (
    """ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(sku, '')), 'A')
        || setweight(to_tsvector('english', coalesce(name, '')), 'B')
        || setweight(to_tsvector('english', coalesce(description, '')), 'D')) STORED""",
    "CREATE INDEX ix_products_search_vector ON products USING gin (search_vector)",
)
POSTGRES_DROP = (
    "DROP INDEX IF EXISTS ix_products_search_vector",
    "ALTER TABLE products DROP COLUMN IF EXISTS search_vector",
)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: leave the database-specific search objects out of schema comparison."""
    if type_ == "table" and name and name.startswith("product_search"):
        return False
    if type_ == "column" and name == "search_vector":
        return False
    return not (type_ == "index" and name == "ix_products_search_vector")
