"""kept sums: each company's uninvoiced on-account amount, each product's units on backorder

Revision ID: 0013_kept_sums
Revises: 0012_api_keys
Create Date: 2026-12-01 23:55:00

Both start empty: a missing row is unknown, summed from the tables when next needed.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_kept_sums'
down_revision = '0012_api_keys'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('company_balances',
    sa.Column('company_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('uninvoiced', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_company_balances_company_id_companies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('company_id', name=op.f('pk_company_balances'))
    )
    op.create_table('product_backorders',
    sa.Column('product_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('units', sa.Integer(), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_backorders_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_product_backorders'))
    )


def downgrade():
    op.drop_table('product_backorders')
    op.drop_table('company_balances')
