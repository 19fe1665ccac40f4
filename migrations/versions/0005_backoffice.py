"""back office: vendors, purchase order links, receipts, shipments, order events

Revision ID: 0005_backoffice
Revises: 0004_orders
Create Date: 2026-12-01 14:00:00

Written by hand. Existing tables change in batch mode (SQLite copies the table when a constraint
changes); ``products`` is left alone (its search triggers would not survive a copy), so reorder points
live in their own table.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_backoffice'
down_revision = '0004_orders'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('purchase_order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('date_confirmed', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch_op.add_column(sa.Column('over_receipt_accepted', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch_op.create_check_constraint(op.f('ck_purchase_order_lines_received_within_ordered'),
                                         'quantity_received <= quantity_ordered OR over_receipt_accepted')

    op.create_index('uq_purchase_orders_vendor_draft', 'purchase_orders', ['vendor_id'], unique=True,
                    sqlite_where=sa.text("status = 'draft'"), postgresql_where=sa.text("status = 'draft'"))

    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default=sa.text('0'), nullable=False))

    with op.batch_alter_table('order_adjustments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('status', sa.String(length=20), server_default='approved', nullable=False))
        batch_op.add_column(sa.Column('approved_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(op.f('fk_order_adjustments_approved_by_id_users'), 'users',
                                    ['approved_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(op.f('ck_order_adjustments_status_known'),
                                         "status IN ('approved', 'pending', 'rejected')")

    op.create_table('po_line_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('po_line_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_po_line_links_quantity_positive')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_po_line_links_order_line_id_order_lines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['po_line_id'], ['purchase_order_lines.id'], name=op.f('fk_po_line_links_po_line_id_purchase_order_lines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_po_line_links')),
    sa.UniqueConstraint('po_line_id', 'order_line_id', name=op.f('uq_po_line_links_po_line_id'))
    )
    with op.batch_alter_table('po_line_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_po_line_links_order_line_id'), ['order_line_id'], unique=False)

    op.create_table('product_reorder_rules',
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('reorder_min', sa.Integer(), nullable=False),
    sa.Column('reorder_max', sa.Integer(), nullable=False),
    sa.Column('pack_size', sa.Integer(), nullable=True),
    sa.CheckConstraint('pack_size IS NULL OR pack_size >= 1', name=op.f('ck_product_reorder_rules_pack_size_positive')),
    sa.CheckConstraint('reorder_min >= 0 AND reorder_max >= reorder_min', name=op.f('ck_product_reorder_rules_min_max_order')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_reorder_rules_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_product_reorder_rules'))
    )

    op.create_table('receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('purchase_order_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=True),
    sa.Column('received_by_id', sa.Integer(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'], name=op.f('fk_receipts_purchase_order_id_purchase_orders')),
    sa.ForeignKeyConstraint(['received_by_id'], ['users.id'], name=op.f('fk_receipts_received_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_receipts_warehouse_id_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipts')),
    sa.UniqueConstraint('token', name=op.f('uq_receipts_token'))
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipts_purchase_order_id'), ['purchase_order_id'], unique=False)

    op.create_table('receipt_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receipt_id', sa.Integer(), nullable=False),
    sa.Column('po_line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_receipt_lines_quantity_positive')),
    sa.ForeignKeyConstraint(['po_line_id'], ['purchase_order_lines.id'], name=op.f('fk_receipt_lines_po_line_id_purchase_order_lines')),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipts.id'], name=op.f('fk_receipt_lines_receipt_id_receipts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt_lines'))
    )
    with op.batch_alter_table('receipt_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipt_lines_po_line_id'), ['po_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipt_lines_receipt_id'), ['receipt_id'], unique=False)

    op.create_table('allocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('receipt_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_allocations_quantity_positive')),
    sa.CheckConstraint("source IN ('receipt', 'manual')", name=op.f('ck_allocations_source_known')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_allocations_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_allocations_order_line_id_order_lines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipts.id'], name=op.f('fk_allocations_receipt_id_receipts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocations'))
    )
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_allocations_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_allocations_receipt_id'), ['receipt_id'], unique=False)

    op.create_table('shipments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('tracking_number', sa.String(length=60), nullable=False),
    sa.Column('carrier', sa.String(length=60), nullable=False),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_shipments_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipments_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('number', name=op.f('uq_shipments_number')),
    sa.UniqueConstraint('token', name=op.f('uq_shipments_token'))
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipments_order_id'), ['order_id'], unique=False)

    op.create_table('shipment_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_shipment_lines_quantity_positive')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_shipment_lines_order_line_id_order_lines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_shipment_lines_shipment_id_shipments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_lines'))
    )
    with op.batch_alter_table('shipment_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipment_lines_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipment_lines_shipment_id'), ['shipment_id'], unique=False)

    op.create_table('order_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('buyer_visible', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('placed', 'eta_changed', 'allocated', 'shipped', 'cancelled', 'goodwill', 'priority', 'po_linked')", name=op.f('ck_order_events_kind_known')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_order_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_events_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events'))
    )
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_events_order_id'), ['order_id'], unique=False)

    op.create_table('portal_settings',
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_portal_settings'))
    )
    op.create_table('goodwill_limits',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_goodwill_limits_amount_nonnegative')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_goodwill_limits_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_goodwill_limits'))
    )


def downgrade():
    op.drop_table('goodwill_limits')
    op.drop_table('portal_settings')
    op.drop_table('order_events')
    op.drop_table('shipment_lines')
    op.drop_table('shipments')
    op.drop_table('allocations')
    op.drop_table('receipt_lines')
    op.drop_table('receipts')
    op.drop_table('product_reorder_rules')
    op.drop_table('po_line_links')
    with op.batch_alter_table('order_adjustments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_order_adjustments_status_known'), type_='check')
        batch_op.drop_constraint(op.f('fk_order_adjustments_approved_by_id_users'), type_='foreignkey')
        batch_op.drop_column('approved_at')
        batch_op.drop_column('approved_by_id')
        batch_op.drop_column('status')
        batch_op.drop_column('reason')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_column('priority')
    op.drop_index('uq_purchase_orders_vendor_draft', table_name='purchase_orders')
    with op.batch_alter_table('purchase_order_lines', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_purchase_order_lines_received_within_ordered'), type_='check')
        batch_op.drop_column('over_receipt_accepted')
        batch_op.drop_column('date_confirmed')
