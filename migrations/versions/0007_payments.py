"""payments: cards, payment intents, webhook events, terms and credit limits

New tables: saved cards, card charges (keyed by what they pay for), applied Stripe webhook events,
credit-limit exceptions, invoices and manual payments. New columns on companies (Stripe customer,
charge policy), carts and orders (chosen card, charge policy).

The new columns are added with plain ``ALTER TABLE ... ADD COLUMN`` carrying their constraints inline,
which SQLite and PostgreSQL both accept. Batch mode would recreate ``companies``, ``carts`` and
``orders`` on SQLite, and dropping the old table with foreign keys on deletes (ON DELETE CASCADE) the
rows that refer to it, such as every order line: not something an upgrade of a live database may do.

Revision ID: 0007_payments
Revises: 0006_search_speed
Create Date: 2026-12-01 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_payments'
down_revision = '0006_search_speed'
branch_labels = None
depends_on = None

NEW_COLUMNS = (
    ('companies', 'stripe_customer_id', 'VARCHAR(255)'),
    ('companies', 'charge_policy',
     "VARCHAR(20) DEFAULT 'at_order' NOT NULL CONSTRAINT ck_companies_charge_policy_known"
     " CHECK (charge_policy IN ('at_order', 'at_shipment'))"),
    ('carts', 'payment_card_id',
     'INTEGER CONSTRAINT fk_carts_payment_card_id_payment_cards REFERENCES payment_cards (id)'),
    ('orders', 'payment_card_id',
     'INTEGER CONSTRAINT fk_orders_payment_card_id_payment_cards REFERENCES payment_cards (id)'),
    ('orders', 'charge_policy',
     "VARCHAR(20) CONSTRAINT ck_orders_charge_policy_known"
     " CHECK (charge_policy IS NULL OR charge_policy IN ('at_order', 'at_shipment'))"),
)


def _money(name, **kw):
    return sa.Column(name, sa.Numeric(precision=12, scale=2), nullable=False, **kw)


def _created(name='created_at'):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade():
    op.create_table('payment_cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('stripe_payment_method_id', sa.String(length=255), nullable=False),
    sa.Column('brand', sa.String(length=30), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('exp_month', sa.Integer(), nullable=False),
    sa.Column('exp_year', sa.Integer(), nullable=False),
    _created(),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_payment_cards_company_id_companies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_cards')),
    sa.UniqueConstraint('stripe_payment_method_id', name=op.f('uq_payment_cards_stripe_payment_method_id'))
    )
    op.create_index(op.f('ix_payment_cards_company_id'), 'payment_cards', ['company_id'], unique=False)

    op.create_table('card_charges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('shipment_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('payment_card_id', sa.Integer(), nullable=True),
    sa.Column('stripe_payment_method_id', sa.String(length=255), nullable=False),
    sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_charge_id', sa.String(length=255), nullable=True),
    _money('amount'),
    _money('amount_refunded'),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('failure_message', sa.String(length=255), nullable=False),
    _created(),
    _created('updated_at'),
    sa.CheckConstraint("purpose IN ('order', 'shipment')", name=op.f('ck_card_charges_purpose_known')),
    sa.CheckConstraint("status IN ('pending', 'requires_action', 'authorized', 'succeeded', 'failed', 'canceled')", name=op.f('ck_card_charges_status_known')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_card_charges_amount_positive')),
    sa.CheckConstraint('amount_refunded >= 0 AND amount_refunded <= amount', name=op.f('ck_card_charges_refund_range')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_card_charges_company_id_companies')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_card_charges_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['payment_card_id'], ['payment_cards.id'], name=op.f('fk_card_charges_payment_card_id_payment_cards'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_charges')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_card_charges_idempotency_key')),
    sa.UniqueConstraint('stripe_payment_intent_id', name=op.f('uq_card_charges_stripe_payment_intent_id'))
    )
    op.create_index(op.f('ix_card_charges_company_id'), 'card_charges', ['company_id'], unique=False)
    op.create_index(op.f('ix_card_charges_order_id'), 'card_charges', ['order_id'], unique=False)

    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    _created('received_at'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )

    op.create_table('credit_exceptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    _money('amount'),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    _created(),
    sa.Column('used_by_order_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_credit_exceptions_amount_positive')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_credit_exceptions_company_id_companies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['granted_by_id'], ['users.id'], name=op.f('fk_credit_exceptions_granted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['used_by_order_id'], ['orders.id'], name=op.f('fk_credit_exceptions_used_by_order_id_orders'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_exceptions')),
    sa.UniqueConstraint('used_by_order_id', name=op.f('uq_credit_exceptions_used_by_order_id'))
    )
    op.create_index(op.f('ix_credit_exceptions_company_id'), 'credit_exceptions', ['company_id'], unique=False)

    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=True),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    _money('total'),
    _money('amount_paid'),
    sa.Column('status', sa.String(length=20), nullable=False),
    _created(),
    sa.CheckConstraint("status IN ('open', 'paid', 'void')", name=op.f('ck_invoices_status_known')),
    sa.CheckConstraint('total >= 0', name=op.f('ck_invoices_total_nonnegative')),
    sa.CheckConstraint('amount_paid >= 0 AND amount_paid <= total', name=op.f('ck_invoices_paid_range')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_invoices_company_id_companies')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_invoices_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('number', name=op.f('uq_invoices_number')),
    sa.UniqueConstraint('shipment_id', name=op.f('uq_invoices_shipment_id'))
    )
    op.create_index(op.f('ix_invoices_company_id'), 'invoices', ['company_id'], unique=False)
    op.create_index(op.f('ix_invoices_order_id'), 'invoices', ['order_id'], unique=False)

    op.create_table('manual_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=60), nullable=False),
    _money('amount'),
    _money('applied'),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    _created(),
    sa.CheckConstraint("method IN ('bank_transfer', 'cheque')", name=op.f('ck_manual_payments_method_known')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_manual_payments_amount_positive')),
    sa.CheckConstraint('applied >= 0 AND applied <= amount', name=op.f('ck_manual_payments_applied_range')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_manual_payments_company_id_companies')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_manual_payments_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_manual_payments_recorded_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_manual_payments'))
    )
    op.create_index(op.f('ix_manual_payments_company_id'), 'manual_payments', ['company_id'], unique=False)
    op.create_index(op.f('ix_manual_payments_invoice_id'), 'manual_payments', ['invoice_id'], unique=False)

    op.create_table('card_refunds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_charge_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=True),
    _money('amount'),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('stripe_refund_id', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.String(length=255), nullable=False),
    _created(),
    sa.CheckConstraint('amount > 0', name=op.f('ck_card_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['card_charge_id'], ['card_charges.id'], name=op.f('fk_card_refunds_card_charge_id_card_charges')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_card_refunds_order_line_id_order_lines'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_refunds')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_card_refunds_idempotency_key'))
    )
    op.create_index(op.f('ix_card_refunds_card_charge_id'), 'card_refunds', ['card_charge_id'], unique=False)

    op.create_table('credit_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=True),
    _money('amount'),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    _created(),
    sa.CheckConstraint('amount > 0', name=op.f('ck_credit_notes_amount_positive')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_credit_notes_company_id_companies')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_credit_notes_order_id_orders')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_credit_notes_order_line_id_order_lines'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_notes')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_credit_notes_idempotency_key')),
    sa.UniqueConstraint('number', name=op.f('uq_credit_notes_number'))
    )
    op.create_index(op.f('ix_credit_notes_company_id'), 'credit_notes', ['company_id'], unique=False)
    op.create_index(op.f('ix_credit_notes_order_id'), 'credit_notes', ['order_id'], unique=False)

    for table, column, ddl in NEW_COLUMNS:
        op.execute(f'ALTER TABLE {table} ADD COLUMN {column} {ddl}')
    op.create_index(op.f('ix_companies_stripe_customer_id'), 'companies', ['stripe_customer_id'], unique=True)


def downgrade():
    op.drop_index(op.f('ix_companies_stripe_customer_id'), table_name='companies')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot drop a column that carries a foreign key: batch mode recreates the table.
        for table in ('orders', 'carts', 'companies'):
            with op.batch_alter_table(table, schema=None) as batch_op:
                for name, column, ddl in NEW_COLUMNS:
                    if name == table:
                        if ' CHECK ' in ddl:
                            batch_op.drop_constraint(op.f(f'ck_{table}_{column}_known'), type_='check')
                        batch_op.drop_column(column)
    else:
        for table, column, _ in reversed(NEW_COLUMNS):
            op.drop_column(table, column)
    op.drop_table('credit_notes')
    op.drop_table('card_refunds')
    op.drop_table('manual_payments')
    op.drop_table('invoices')
    op.drop_table('credit_exceptions')
    op.drop_table('stripe_events')
    op.drop_table('card_charges')
    op.drop_table('payment_cards')
