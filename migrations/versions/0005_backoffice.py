"""back office: vendors, purchase order links, receipts, shipments, order events

Revision ID: 0005_backoffice
Revises: 0004_orders
Create Date: 2026-12-01 14:00:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0005_backoffice'
down_revision = '0004_orders'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
