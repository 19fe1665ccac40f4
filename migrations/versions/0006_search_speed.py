"""catalog speed: listing indexes, search vector with SKU parts, category and vendor tokens

Revision ID: 0006_search_speed
Revises: 0005_backoffice
Create Date: 2026-12-01 14:00:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0006_search_speed'
down_revision = '0005_backoffice'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
