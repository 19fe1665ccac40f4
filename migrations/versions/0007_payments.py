"""payments: cards, payment intents, webhook events, terms and credit limits

Revision ID: 0007_payments
Revises: 0006_search_speed
Create Date: 2026-12-01 14:00:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0007_payments'
down_revision = '0006_search_speed'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
