"""purchase costs: product cost price, unit cost on PO lines

A product's cost price (what we pay its vendor per unit; optional) is copied onto each purchase order
line when the line is created, and stays editable on draft lines. With it a PO has a value, and sending
a PO worth less than its vendor's minimum order value is refused unless an admin sends it anyway with a
reason (audit-logged; no column needed).

Plain ``ALTER TABLE ... ADD COLUMN`` with the check constraint inline, as in 0007: batch mode would
recreate ``products`` on SQLite, dropping its full-text search triggers and, with foreign keys on,
cascading into the rows that refer to it. Downgrading drops the columns the same way (SQLite 3.35+
drops a column whose only constraint is its own CHECK).

Revision ID: 0011_purchase_costs
Revises: 0010_shipment_payments
Create Date: 2026-12-01 17:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011_purchase_costs'
down_revision = '0010_shipment_payments'
branch_labels = None
depends_on = None

NEW_COLUMNS = (
    ('products', 'cost_price',
     'NUMERIC(12, 2) CONSTRAINT ck_products_cost_price_nonnegative'
     ' CHECK (cost_price IS NULL OR cost_price >= 0)'),
    ('purchase_order_lines', 'unit_cost',
     'NUMERIC(12, 2) CONSTRAINT ck_purchase_order_lines_unit_cost_nonnegative'
     ' CHECK (unit_cost IS NULL OR unit_cost >= 0)'),
)


def upgrade():
    for table, column, ddl in NEW_COLUMNS:
        op.execute(f'ALTER TABLE {table} ADD COLUMN {column} {ddl}')


def downgrade():
    for table, column, _ in reversed(NEW_COLUMNS):
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
