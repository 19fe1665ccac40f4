"""shipment payments: payment-due planned shipments, charge/invoice -> shipment foreign keys

Card orders charged per shipment (``at_shipment``) are charged before anything ships. A declined charge,
or one the bank wants authenticated, leaves the planned shipment "payment due" (planned_shipments and
their lines) with no stock moved. The order timeline gets a "payment" event kind.

Also adds the foreign keys card_charges.shipment_id and invoices.shipment_id -> shipments.id that waited
for shipments. Rows that point at no shipment (there should be none) are set to NULL first, so the
keys can be created on any existing database.

Revision ID: 0010_shipment_payments
Revises: 0009_rep_workspace
Create Date: 2026-12-01 16:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_shipment_payments'
down_revision = '0009_rep_workspace'
branch_labels = None
depends_on = None

OLD_KINDS = ("kind IN ('placed', 'eta_changed', 'allocated', 'shipped', 'cancelled', 'goodwill', "
             "'priority', 'po_linked')")
NEW_KINDS = ("kind IN ('placed', 'eta_changed', 'allocated', 'shipped', 'cancelled', 'goodwill', "
             "'priority', 'po_linked', 'payment')")


def upgrade():
    op.create_table('planned_shipments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('card_charge_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('tracking_number', sa.String(length=60), nullable=False),
    sa.Column('carrier', sa.String(length=60), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=True),
    sa.Column('override_reason', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('payment_due', 'shipped', 'cancelled')",
                       name=op.f('ck_planned_shipments_status_known')),
    sa.ForeignKeyConstraint(['card_charge_id'], ['card_charges.id'],
                            name=op.f('fk_planned_shipments_card_charge_id_card_charges')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                            name=op.f('fk_planned_shipments_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'],
                            name=op.f('fk_planned_shipments_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'],
                            name=op.f('fk_planned_shipments_shipment_id_shipments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_planned_shipments')),
    sa.UniqueConstraint('card_charge_id', name=op.f('uq_planned_shipments_card_charge_id')),
    sa.UniqueConstraint('shipment_id', name=op.f('uq_planned_shipments_shipment_id')),
    sa.UniqueConstraint('token', name=op.f('uq_planned_shipments_token'))
    )
    with op.batch_alter_table('planned_shipments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_planned_shipments_order_id'), ['order_id'], unique=False)

    op.create_table('planned_shipment_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('planned_shipment_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_planned_shipment_lines_quantity_positive')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'],
                            name=op.f('fk_planned_shipment_lines_order_line_id_order_lines'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['planned_shipment_id'], ['planned_shipments.id'],
                            name=op.f('fk_planned_shipment_lines_planned_shipment_id_planned_shipments'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_planned_shipment_lines'))
    )
    with op.batch_alter_table('planned_shipment_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_planned_shipment_lines_order_line_id'), ['order_line_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_planned_shipment_lines_planned_shipment_id'),
                              ['planned_shipment_id'], unique=False)

    # The foreign keys that waited for shipments: dangling references (none expected) become NULL first.
    op.execute("UPDATE card_charges SET shipment_id = NULL WHERE shipment_id IS NOT NULL "
               "AND shipment_id NOT IN (SELECT id FROM shipments)")
    op.execute("UPDATE invoices SET shipment_id = NULL WHERE shipment_id IS NOT NULL "
               "AND shipment_id NOT IN (SELECT id FROM shipments)")
    with op.batch_alter_table('card_charges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_charges_shipment_id'), ['shipment_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_card_charges_shipment_id_shipments'), 'shipments',
                                    ['shipment_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_invoices_shipment_id_shipments'), 'shipments',
                                    ['shipment_id'], ['id'])

    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_order_events_kind_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_order_events_kind_known'), NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM order_events WHERE kind = 'payment'")
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_order_events_kind_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_order_events_kind_known'), OLD_KINDS)

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_invoices_shipment_id_shipments'), type_='foreignkey')
    with op.batch_alter_table('card_charges', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_card_charges_shipment_id_shipments'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_card_charges_shipment_id'))

    with op.batch_alter_table('planned_shipment_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_planned_shipment_lines_planned_shipment_id'))
        batch_op.drop_index(batch_op.f('ix_planned_shipment_lines_order_line_id'))
    op.drop_table('planned_shipment_lines')
    with op.batch_alter_table('planned_shipments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_planned_shipments_order_id'))
    op.drop_table('planned_shipments')
