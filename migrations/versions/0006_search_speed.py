"""catalog speed: listing indexes, search vectors with facet tokens and SKU parts

Indexes for catalog-wide price sorts, "newest" within a category or vendor, and the in-stock probe;
the text search objects rebuilt with facet tokens (category, vendor) and, on PostgreSQL, punctuation
split like the search box splits it (see portal/models/search.py, which documents them; the statements
are copied here so this migration never changes with the code). Measured in bench/RESULTS.md.

Revision ID: 0006_search_speed
Revises: 0005_backoffice
Create Date: 2026-12-01 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_search_speed'
down_revision = '0005_backoffice'
branch_labels = None
depends_on = None

SQLITE_DDL = (
    'DROP TRIGGER IF EXISTS products_search_update',
    'DROP TRIGGER IF EXISTS products_search_delete',
    'DROP TRIGGER IF EXISTS products_search_insert',
    'DROP TABLE IF EXISTS product_search',
    """CREATE VIRTUAL TABLE product_search USING fts5(
        sku, name, description, facets, content='',
        tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')""",
    """CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
        INSERT INTO product_search(rowid, sku, name, description, facets) VALUES (new.id, new.sku, new.name, new.description, 'c' || new.category_id || ' v' || new.vendor_id); END""",
    """CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
        INSERT INTO product_search(product_search, rowid, sku, name, description, facets)
        VALUES ('delete', old.id, old.sku, old.name, old.description, 'c' || old.category_id || ' v' || old.vendor_id); END""",
    """CREATE TRIGGER products_search_update
        AFTER UPDATE OF sku, name, description, category_id, vendor_id ON products BEGIN
        INSERT INTO product_search(product_search, rowid, sku, name, description, facets)
        VALUES ('delete', old.id, old.sku, old.name, old.description, 'c' || old.category_id || ' v' || old.vendor_id);
        INSERT INTO product_search(rowid, sku, name, description, facets) VALUES (new.id, new.sku, new.name, new.description, 'c' || new.category_id || ' v' || new.vendor_id); END""",
    "INSERT INTO product_search(rowid, sku, name, description, facets) SELECT products.id, products.sku, products.name, products.description, 'c' || products.category_id || ' v' || products.vendor_id FROM products",
)

POSTGRES_DDL = (
    'DROP INDEX IF EXISTS ix_products_search_vector',
    'ALTER TABLE products DROP COLUMN IF EXISTS search_vector',
    """ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', regexp_replace(coalesce(sku, ''), '[^[:alnum:]_]+', ' ', 'g')), 'A')
        || setweight(to_tsvector('english', regexp_replace(coalesce(name, ''), '[^[:alnum:]_]+', ' ', 'g')), 'B')
        || setweight(array_to_tsvector(ARRAY['#c' || category_id::text, '#v' || vendor_id::text]), 'C')
        || setweight(to_tsvector('english', regexp_replace(coalesce(description, ''), '[^[:alnum:]_]+', ' ', 'g')), 'D')) STORED""",
    'CREATE INDEX ix_products_search_vector ON products USING gin (search_vector)',
)

# Downgrade: the search objects of 0003.
SQLITE_DDL_0003 = (
    'DROP TRIGGER IF EXISTS products_search_update',
    'DROP TRIGGER IF EXISTS products_search_delete',
    'DROP TRIGGER IF EXISTS products_search_insert',
    'DROP TABLE IF EXISTS product_search',
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

POSTGRES_DDL_0003 = (
    'DROP INDEX IF EXISTS ix_products_search_vector',
    'ALTER TABLE products DROP COLUMN IF EXISTS search_vector',
    """ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(sku, '')), 'A')
        || setweight(to_tsvector('english', coalesce(name, '')), 'B')
        || setweight(to_tsvector('english', coalesce(description, '')), 'D')) STORED""",
    'CREATE INDEX ix_products_search_vector ON products USING gin (search_vector)',
)

ACTIVE = sa.text("active")
AVAILABLE = sa.text("on_hand > allocated")


def _dialect() -> str:
    return op.get_bind().dialect.name


#: The listing indexes, all partial on active products (see portal/models/catalog.py).
LISTING = (
    ("ix_products_category_id_name", ["category_id", "name"]),
    ("ix_products_category_id_price", ["category_id", "price"]),
    ("ix_products_category_id_id", ["category_id", "id"]),
    ("ix_products_vendor_id_name", ["vendor_id", "name"]),
    ("ix_products_vendor_id_price", ["vendor_id", "price"]),
    ("ix_products_vendor_id_id", ["vendor_id", "id"]),
    ("ix_products_name", ["name"]),
    ("ix_products_price_id", ["price", "id"]),
)
#: Those of 0003, plain; replaced by partial ones.
PLAIN_0003 = LISTING[0:2] + LISTING[3:4] + LISTING[6:7]


def upgrade():
    for name, _ in PLAIN_0003:
        op.drop_index(name, table_name="products")
    for name, columns in LISTING:
        op.create_index(name, "products", columns, sqlite_where=sa.text("active = 1"),
                        postgresql_where=ACTIVE)
    op.create_index("ix_stock_available", "stock", ["product_id"], sqlite_where=AVAILABLE,
                    postgresql_where=AVAILABLE)
    statements = {"sqlite": SQLITE_DDL, "postgresql": POSTGRES_DDL}.get(_dialect(), ())
    for statement in statements:
        op.execute(statement)


def downgrade():
    statements = {"sqlite": SQLITE_DDL_0003, "postgresql": POSTGRES_DDL_0003}.get(_dialect(), ())
    for statement in statements:
        op.execute(statement)
    op.drop_index("ix_stock_available", table_name="stock")
    for name, _ in LISTING:
        op.drop_index(name, table_name="products")
    for name, columns in PLAIN_0003:
        op.create_index(name, "products", columns)
