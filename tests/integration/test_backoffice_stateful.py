"""A Hypothesis state machine mixing orders, PO generation, sending, receipts (partial, over, double),
ETA changes, shipments, cancellations, re-prioritisation and PO cancellation on a real database: the
DESIGN §5 invariants (stock ledger, allocations, order-line parts, caps, PO links and receipts) hold after
every step. 300 examples on SQLite, fewer on PostgreSQL (same code, slower round trips); short runs so
the suite stays quick."""

from __future__ import annotations

import contextlib
import uuid
from datetime import date, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import (
    Order,
    OrderLine,
    PurchaseOrder,
    PurchaseOrderLine,
    Stock,
    User,
)
from portal.services import ServiceError, backorders, purchasing, receiving, shipping
from portal.services import settings as settings_service
from tests.backoffice_factories import START
from tests.conftest import wipe
from tests.factories import make_company, make_product, make_user, make_vendor, set_stock
from tests.invariants import assert_invariants

TODAY = date(2026, 12, 1)
EXAMPLES = {"sqlite": 300, "postgresql": 40}


def _pick(ids: list[int], index: int) -> int | None:
    return ids[index % len(ids)] if ids else None


class BackOffice(RuleBasedStateMachine):
    app = None

    @initialize(rule=st.sampled_from(["order_date", "deadline", "tier"]), pack=st.integers(1, 5))
    def world(self, rule, pack):
        db.session.remove()  # this context's session: TRUNCATE on PostgreSQL waits for its locks
        wipe(self.app)
        self.admin = make_user("admin", email=f"a-{uuid.uuid4().hex[:6]}@example.com")
        self.buyers = []
        for tier in (1, 3):
            company = make_company(priority_tier=tier)
            self.buyers.append((company.id, make_user(company=company).id))
        vendor = make_vendor(pack_size=pack)
        self.products = []
        for n in range(2):
            product = make_product(policy="allow", vendor=vendor)
            set_stock(product, n * 2)
            self.products.append(product.id)
        settings_service.update_settings(
            db.session.get(User, self.admin.id), rule, False, settings_service.default_goodwill_limit()
        )
        self.orders = 0
        # Start with waiting backorders on a sent PO, so short runs reach receipts and shipments.
        self.place_order(0, 0, 5, None)
        self.place_order(1, 1, 7, 3)
        self.generate()
        self.send_draft(0)

    def _actor(self) -> User:
        db.session.rollback()
        return db.session.get(User, self.admin.id)

    @rule(
        who=st.integers(0, 1),
        which=st.integers(0, 1),
        quantity=st.integers(1, 6),
        deadline=st.one_of(st.none(), st.integers(0, 30)),
    )
    def place_order(self, who, which, quantity, deadline):
        """An order line allocating what is free on the shelf and backordering the rest."""
        company_id, buyer_id = self.buyers[who]
        product_id = self.products[which]
        self.orders += 1
        with write_transaction() as s:
            stocks = list(s.scalars(select(Stock).where(Stock.product_id == product_id).with_for_update()))
            free = sum(x.on_hand - x.allocated for x in stocks)
            take = min(free, quantity)
            left = take
            for stock in stocks:
                part = min(left, stock.on_hand - stock.allocated)
                stock.allocated += part
                left -= part
            need_by = TODAY + timedelta(days=deadline) if deadline is not None else None
            order = Order(
                number=f"SO-H{self.orders:04d}",
                checkout_token=uuid.uuid4().hex,
                company_id=company_id,
                placed_by_id=buyer_id,
                placed_at=START + timedelta(hours=self.orders),
                need_by=need_by,
            )
            s.add(order)
            s.flush()
            s.add(
                OrderLine(
                    order_id=order.id,
                    product_id=product_id,
                    sku=f"P{product_id}",
                    name="x",
                    quantity=quantity,
                    allocated=take,
                    backordered=quantity - take,
                    unit_price=1,
                    line_total=quantity,
                    need_by=need_by,
                )
            )

    @rule()
    def generate(self):
        purchasing.generate_purchase_orders(self._actor(), TODAY)

    @rule(index=st.integers(0, 10))
    def send_draft(self, index):
        ids = db.session.scalars(
            select(PurchaseOrder.id).join(PurchaseOrderLine).where(PurchaseOrder.status == "draft").distinct()
        ).all()
        po_id = _pick(sorted(ids), index)
        if po_id:
            purchasing.change_status(self._actor(), po_id, "sent", TODAY)

    @rule(index=st.integers(0, 10), extra=st.integers(-1, 3), accept_over=st.booleans(), twice=st.booleans())
    def receive(self, index, extra, accept_over, twice):
        rows = db.session.execute(
            select(
                PurchaseOrderLine.id,
                PurchaseOrderLine.purchase_order_id,
                PurchaseOrderLine.quantity_ordered,
                PurchaseOrderLine.quantity_received,
            )
            .join(PurchaseOrder)
            .where(PurchaseOrder.status.in_(("sent", "partially_received")))
            .order_by(PurchaseOrderLine.id)
        ).all()
        if not rows:
            return
        line_id, po_id, ordered, received = rows[index % len(rows)]
        quantity = (
            max(ordered - received + extra, 0) if extra > 0 else max((ordered - received) // 2 + extra, 0)
        )
        token = uuid.uuid4().hex
        for _ in range(2 if twice else 1):
            with contextlib.suppress(ServiceError):
                receiving.receive_purchase_order(
                    self._actor(), po_id, token, {line_id: quantity}, TODAY, accept_over=accept_over
                )

    @rule(index=st.integers(0, 10), days=st.integers(-5, 40))
    def change_eta(self, index, days):
        rows = db.session.execute(
            select(
                PurchaseOrderLine.id, PurchaseOrderLine.purchase_order_id, PurchaseOrderLine.quantity_ordered
            )
            .join(PurchaseOrder)
            .where(PurchaseOrder.status.in_(("sent", "partially_received")))
            .order_by(PurchaseOrderLine.id)
        ).all()
        if rows:
            line_id, po_id, ordered = rows[index % len(rows)]
            purchasing.update_line(
                self._actor(), po_id, line_id, ordered, TODAY + timedelta(days=days), True, TODAY
            )

    @rule(index=st.integers(0, 10), part=st.integers(1, 6))
    def ship(self, index, part):
        rows = db.session.execute(
            select(OrderLine.id, OrderLine.order_id, OrderLine.allocated)
            .where(OrderLine.allocated > 0)
            .order_by(OrderLine.id)
        ).all()
        if rows:
            line_id, order_id, allocated = rows[index % len(rows)]
            shipping.ship_order(
                self._actor(), order_id, uuid.uuid4().hex, {line_id: min(part, allocated)}, "T"
            )

    @rule(index=st.integers(0, 10), quantity=st.integers(1, 7))
    def cancel(self, index, quantity):
        ids = db.session.scalars(
            select(OrderLine.id).where(OrderLine.allocated + OrderLine.backordered > 0).order_by(OrderLine.id)
        ).all()
        line_id = _pick(list(ids), index)
        if line_id:
            with contextlib.suppress(ServiceError):
                backorders.cancel_line(self._actor(), line_id, quantity, "test", TODAY)

    @rule(index=st.integers(0, 10), priority=st.integers(-3, 3))
    def reprioritise(self, index, priority):
        ids = db.session.scalars(
            select(OrderLine.id).where(OrderLine.backordered > 0).order_by(OrderLine.id)
        ).all()
        line_id = _pick(list(ids), index)
        if line_id:
            backorders.set_priority(self._actor(), line_id, priority, TODAY)

    @rule(index=st.integers(0, 10))
    def cancel_po(self, index):
        ids = db.session.scalars(select(PurchaseOrder.id).where(PurchaseOrder.status == "sent")).all()
        po_id = _pick(sorted(ids), index)
        if po_id:
            purchasing.change_status(self._actor(), po_id, "cancelled", TODAY)

    @invariant()
    def design_invariants_hold(self):
        if hasattr(self, "admin"):
            assert_invariants()


def test_no_mix_of_back_office_operations_breaks_an_invariant(any_app):
    BackOffice.app = any_app
    backend = db.engine.dialect.name
    run_state_machine_as_test(
        BackOffice,
        settings=settings(
            max_examples=EXAMPLES[backend],
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
