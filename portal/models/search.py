"""Full-text search objects that live outside the ORM models, because they differ by database.

SQLite: a contentless FTS5 table ``product_search`` with columns sku, name, description and ``facets``,
kept in step with ``products`` by triggers (Porter stemming, prefix indexes for type-ahead style
queries). ``facets`` holds one token per filter value (``c<category id>``, ``v<vendor id>``) so a text
search with a category or vendor filter is answered by the text index alone: the filter becomes part of
the match instead of a per-row check on up to 100,000 text hits. Buyers' words are matched only against
sku, name and description (a column filter), so they can never hit a facet token.

PostgreSQL: a stored generated ``tsvector`` column ``products.search_vector`` with a GIN index. Weights:
SKU A, name B, facets C, description D. Punctuation is replaced by spaces before parsing, so the index
splits "FAS-0089101" or "1/4" into words exactly as the search box does (``\\w+``); PostgreSQL's parser
would otherwise read "-0089101" as a signed number. Facet lexemes (``#c12``, ``#v46``) are built with
``array_to_tsvector``, verbatim: a lexeme starting with "#" cannot come out of a buyer's query.

Both are created by migration 0006 (first by 0003); autogenerate and the schema test ignore them
through :func:`include_object`.

Caution: an Alembic batch operation on ``products`` under SQLite recreates the table and drops the
triggers; a migration that does so must re-run :data:`SQLITE_DDL`'s trigger statements.
"""

from __future__ import annotations

_SQLITE_FACETS = "'c' || {row}.category_id || ' v' || {row}.vendor_id"
_SQLITE_COLUMNS = "rowid, sku, name, description, facets"


def _sqlite_values(row: str) -> str:
    return (f"{row}.id, {row}.sku, {row}.name, {row}.description, "
            + _SQLITE_FACETS.format(row=row))


# Every statement below is built from constants of this module only (no input reaches it).
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS products_search_update",
    "DROP TRIGGER IF EXISTS products_search_delete",
    "DROP TRIGGER IF EXISTS products_search_insert",
    "DROP TABLE IF EXISTS product_search",
)
SQLITE_DDL = (
    *SQLITE_DROP,
    """CREATE VIRTUAL TABLE product_search USING fts5(
        sku, name, description, facets, content='',
        tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')""",
    f"""CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
        INSERT INTO product_search({_SQLITE_COLUMNS}) VALUES ({_sqlite_values('new')}); END""",  # noqa: S608
    f"""CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
        INSERT INTO product_search(product_search, {_SQLITE_COLUMNS})
        VALUES ('delete', {_sqlite_values('old')}); END""",  # noqa: S608
    f"""CREATE TRIGGER products_search_update
        AFTER UPDATE OF sku, name, description, category_id, vendor_id ON products BEGIN
        INSERT INTO product_search(product_search, {_SQLITE_COLUMNS})
        VALUES ('delete', {_sqlite_values('old')});
        INSERT INTO product_search({_SQLITE_COLUMNS}) VALUES ({_sqlite_values('new')}); END""",  # noqa: S608
    f"INSERT INTO product_search({_SQLITE_COLUMNS}) SELECT {_sqlite_values('products')} FROM products",  # noqa: S608
)


def _words(column: str) -> str:
    return f"regexp_replace(coalesce({column}, ''), '[^[:alnum:]_]+', ' ', 'g')"


POSTGRES_DROP = (
    "DROP INDEX IF EXISTS ix_products_search_vector",
    "ALTER TABLE products DROP COLUMN IF EXISTS search_vector",
)
POSTGRES_DDL = (
    *POSTGRES_DROP,
    f"""ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', {_words('sku')}), 'A')
        || setweight(to_tsvector('english', {_words('name')}), 'B')
        || setweight(array_to_tsvector(ARRAY['#c' || category_id::text, '#v' || vendor_id::text]), 'C')
        || setweight(to_tsvector('english', {_words('description')}), 'D')) STORED""",
    "CREATE INDEX ix_products_search_vector ON products USING gin (search_vector)",
)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: leave the database-specific search objects out of schema comparison."""
    if type_ == "table" and name and name.startswith("product_search"):
        return False
    if type_ == "column" and name == "search_vector":
        return False
    return not (type_ == "index" and name == "ix_products_search_vector")
