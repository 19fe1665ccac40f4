"""Swapping a late backorder to an alternative on a placed order (issue 7), on SQLite and PostgreSQL,
against localstripe for card orders. tests/integration/conftest.py asserts the DESIGN §5 invariants
(stock, order lines, PO links) after every test.

On account the order's value changes (an increase is credit-checked); a card order charged at order gets
the new line charged off-session and the cancelled units refunded; charged per shipment, nothing is
charged now. A decline, or a failure after the card was held, leaves nothing changed and nothing held.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import (
    CardCharge,
    Company,
    Order,
    OrderLine,
    PoLineLink,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Stock,
    User,
)
from portal.services import alternatives, backorders, carts, credit, ordering, payments, swaps
from portal.services.swaps import SwapRefused, SwapRequest
from tests.factories import (
    make_address,
    make_category,
    make_company,
    make_product,
    make_user,
    make_vendor,
    set_stock,
)
from tests.localstripe import (
    DECLINED_ON_CHARGE,
    browser_confirms_setup,
    localstripe_url,  # noqa: F401 - the fixture
    stripe_settings,
)
from tests.localstripe import refunds as localstripe_refunds

TODAY = date(2026, 12, 1)
NEED_BY = TODAY + timedelta(days=3)
SLIPPED = TODAY + timedelta(days=9)


@pytest.fixture(autouse=True)
def stripe_on(any_app, localstripe_url):  # noqa: F811
    any_app.config.update(stripe_settings(localstripe_url))
    any_app.extensions.pop("stripe_client", None)
    return localstripe_url


class World:
    """A company's order of 5 × LATE (1 on the shelf, 4 on backorder, linked to a PO whose date slipped
    past the deadline), LATE's curated alternative READY (50 in stock, 8.00) and another company's
    4 × LATE waiting behind it on the same PO."""

    def __init__(self, stripe_url: str, policy: str | None = None, limit: str = "5000"):
        admin = make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")
        self.company = make_company(f"Co {uuid.uuid4().hex[:6]}", credit_limit=Decimal(limit),
                                    charge_policy=policy or "at_order")
        make_address(self.company, is_default_shipping=True)
        self.buyer = make_user(company=self.company, email=f"{uuid.uuid4().hex[:8]}@example.com")
        category, vendor = make_category(), make_vendor(lead_time_days=30)
        self.late = make_product(sku=f"LATE-{uuid.uuid4().hex[:4].upper()}", policy="allow", price="10.00",
                                 category=category, vendor=vendor)
        self.ready = make_product(sku=f"READY-{uuid.uuid4().hex[:4].upper()}", price="8.00",
                                  category=category)
        set_stock(self.late, 1)
        set_stock(self.ready, 50)
        alternatives.add_alternative(admin, self.late.id, self.ready.sku)
        self.card = self._card(stripe_url) if policy else None
        self.order = self._place(policy is not None)
        self.line_id = db.session.scalar(select(OrderLine.id).where(OrderLine.order_id == self.order.id))
        other = make_company(f"Other {uuid.uuid4().hex[:6]}")
        self.behind = _waiting_line(other, make_user(company=other), self.late, 4)
        with write_transaction() as s:
            po = PurchaseOrder(number=f"PO-{uuid.uuid4().hex[:6]}", vendor_id=vendor.id, status="sent")
            s.add(po)
            s.flush()
            po_line = PurchaseOrderLine(purchase_order_id=po.id, product_id=self.late.id, quantity_ordered=4,
                                        expected_date=SLIPPED)
            s.add(po_line)
            s.flush()
            s.add(PoLineLink(po_line_id=po_line.id, order_line_id=self.line_id, quantity=4))
            line = s.get(OrderLine, self.line_id)
            line.eta, line.eta_estimated, line.accepted_late = SLIPPED, False, False
        db.session.rollback()

    def _card(self, url: str):
        from portal.services import cards

        intent = cards.start_setup(self.company.id)
        browser_confirms_setup(url, intent.client_secret)
        return cards.complete_setup(self.company.id, intent.client_secret.split("_secret_")[0])

    def _place(self, by_card: bool) -> Order:
        carts.add_items(self.buyer.id, self.company.id, [(self.late.id, 5)])
        cart = carts.find_cart(self.buyer.id, self.company.id)
        carts.save_details(self.buyer.id, self.company.id, carts.CheckoutDetails(
            cart.ship_to_id, "", NEED_BY, "ship_partial", payment_method="card" if by_card else "on_account",
            payment_card_id=self.card.id if by_card else None))
        db.session.rollback()
        cart = carts.find_cart(self.buyer.id, self.company.id)
        carts.accept_late(self.buyer.id, self.company.id, cart.lines[0].id)
        db.session.rollback()
        me, company = db.session.get(User, self.buyer.id), db.session.get(Company, self.company.id)
        review = ordering.review_cart(me, company, TODAY)
        token = uuid.uuid4().hex
        if by_card and company.charge_policy == "at_order":
            return payments.place_order_paid_by_card(me, company.id, token, review.fingerprint, TODAY)
        return ordering.place_order(me, company.id, token, review.fingerprint, TODAY)

    def request(self, **changes) -> SwapRequest:
        db.session.rollback()
        line = db.session.get(OrderLine, self.line_id)
        values = {"line_id": line.id, "alternative_id": self.ready.id, "quantity": line.backordered,
                  "version": swaps.line_version(line), "token": uuid.uuid4().hex,
                  "unit_price": Decimal("8.00")}
        return SwapRequest(**{**values, **changes})

    def swap(self, **changes) -> swaps.Swapped:
        request = self.request(**changes)
        return swaps.swap_backorder(db.session.get(User, self.buyer.id), request, TODAY)

    def line(self, line_id: int | None = None) -> OrderLine:
        db.session.rollback()
        return db.session.get(OrderLine, line_id or self.line_id)


def _waiting_line(company, buyer, product, quantity: int) -> int:
    from tests.backoffice_factories import make_backorder

    return make_backorder(company, buyer, product, quantity, day=30, need_by=TODAY + timedelta(days=60)).id


def _state(world: World) -> tuple:
    db.session.rollback()
    lines = db.session.execute(select(OrderLine.id, OrderLine.allocated, OrderLine.backordered,
                                      OrderLine.cancelled, OrderLine.eta).order_by(OrderLine.id)).all()
    stock = db.session.execute(select(Stock.product_id, Stock.allocated).order_by(Stock.id)).all()
    links = db.session.execute(select(PoLineLink.order_line_id, PoLineLink.quantity)).all()
    order = db.session.get(Order, world.order.id)
    return lines, stock, links, order.subtotal, order.total, order.status


def test_on_account_the_swap_cancels_the_backorder_adds_the_alternative_and_moves_the_queue_up(stripe_on):
    world = World(stripe_on)
    assert [o.product.sku for c in swaps.choices(db.session.get(Order, world.order.id), TODAY)
            for o in c.options] == [world.ready.sku]
    exposure = credit.exposure(world.company.id)
    done = world.swap()
    assert (done.new.sku, done.new.quantity, done.new.allocated, done.new.line_total) == (
        world.ready.sku, 4, 4, Decimal("32.00"))
    assert done.charged is None and done.settlement.amount == Decimal("40.00")
    late = world.line()
    assert (late.allocated, late.backordered, late.cancelled, late.eta) == (1, 0, 4, None)
    order = db.session.get(Order, world.order.id)
    assert (order.subtotal, order.total, order.status) == (Decimal("82.00"), Decimal("82.00"), "open")
    assert credit.exposure(world.company.id) == exposure - Decimal("8.00")  # 32.00 in, 40.00 out
    assert db.session.scalar(select(func.count()).select_from(PoLineLink)) == 0
    # The other company's backorder now gets the PO's 4 units.
    assert world.line(world.behind).eta == SLIPPED
    assert not backorders.is_late(late)


def test_a_stale_or_replayed_swap_is_refused_and_changes_nothing(stripe_on):
    world = World(stripe_on)
    first = world.request()
    swaps.swap_backorder(db.session.get(User, world.buyer.id), first, TODAY)
    after = _state(world)
    with pytest.raises(SwapRefused, match="on backorder any more"):
        swaps.swap_backorder(db.session.get(User, world.buyer.id), first, TODAY)
    assert _state(world) == after


@pytest.mark.parametrize("changes, message", [
    ({"quantity": 3}, "replaces all 4 units"),
    ({"version": "0" * 16}, "changed since the page was shown"),
    ({"unit_price": Decimal("7.00")}, "price of READY"),
])
def test_bad_choices_are_refused_and_change_nothing(stripe_on, changes, message):
    world = World(stripe_on)
    before = _state(world)
    with pytest.raises(SwapRefused, match=message):
        world.swap(**changes)
    assert _state(world) == before


def test_an_alternative_short_of_stock_or_not_curated_is_refused(stripe_on):
    world = World(stripe_on)
    stranger = make_product(price="8.00")
    set_stock(stranger, 50)
    before = _state(world)
    with pytest.raises(SwapRefused, match="not one of the alternatives"):
        world.swap(alternative_id=stranger.id)
    with write_transaction() as s:  # someone else's order took all but 3 of READY
        s.scalar(select(Stock).where(Stock.product_id == world.ready.id)).on_hand = 3
    with pytest.raises(SwapRefused, match="Only 3 units of READY"):
        world.swap()
    with write_transaction() as s:
        s.scalar(select(Stock).where(Stock.product_id == world.ready.id)).on_hand = 50
    assert _state(world) == before


def test_on_account_an_increase_over_the_credit_limit_is_refused_with_the_amount(stripe_on):
    world = World(stripe_on, limit="60.00")  # the order is 50.00 on account
    with write_transaction() as s:
        s.get(Product, world.ready.id).price = Decimal("20.00")  # 80.00 for 4, 40.00 more than cancelled
    before = _state(world)
    with pytest.raises(SwapRefused, match=r"adds \$40.00 to your account: \$30.00 over your credit limit"):
        world.swap(unit_price=Decimal("20.00"))
    assert _state(world) == before


def test_card_at_order_charges_the_alternative_and_refunds_the_cancelled_units(stripe_on):
    world = World(stripe_on, policy="at_order")
    done = world.swap()
    assert done.charged == Decimal("32.00") and (done.settlement.kind, done.settlement.amount) == (
        "refund", Decimal("40.00"))
    db.session.rollback()
    original, swap = db.session.scalars(select(CardCharge).order_by(CardCharge.id)).all()
    assert (original.amount, original.amount_refunded) == (Decimal("50.00"), Decimal("40.00"))
    assert (swap.amount, swap.status, swap.order_id) == (Decimal("32.00"), "succeeded", world.order.id)
    assert swap.idempotency_key.startswith(f"swap:{world.order.id}:{world.ready.id}:")
    assert gateway.retrieve_payment_intent(swap.stripe_payment_intent_id).status == "succeeded"
    assert [r["amount"] for r in localstripe_refunds(stripe_on, original.stripe_payment_intent_id)] == [4000]
    # Cancelling the alternative later refunds it on the charge that paid for it.
    admin = make_user("admin", email=f"a-{uuid.uuid4().hex[:6]}@example.com")
    later = backorders.cancel_and_settle(admin, done.new.id, 4, "Not needed after all", TODAY)
    assert (later.settlement.kind, later.settlement.amount) == ("refund", Decimal("32.00"))
    assert [r["amount"] for r in localstripe_refunds(stripe_on, swap.stripe_payment_intent_id)] == [3200]


def test_a_declined_card_refuses_the_swap_and_changes_nothing(stripe_on):
    from portal.services import cards

    world = World(stripe_on, policy="at_order")
    intent = cards.start_setup(world.company.id)
    browser_confirms_setup(stripe_on, intent.client_secret, DECLINED_ON_CHARGE)
    declining = cards.complete_setup(world.company.id, intent.client_secret.split("_secret_")[0])
    with write_transaction() as s:  # the order's card now declines (expired since, say)
        s.get(Order, world.order.id).payment_card_id = declining.id
    before = _state(world)
    with pytest.raises(SwapRefused, match="Your card was declined"):
        world.swap()
    assert _state(world) == before
    db.session.rollback()
    failed = db.session.scalar(select(CardCharge).where(CardCharge.idempotency_key.like("swap:%")))
    assert (failed.status, failed.order_id) == ("failed", None)


def test_a_swap_that_fails_after_the_card_was_held_releases_it(stripe_on, monkeypatch):
    world = World(stripe_on, policy="at_order")
    authorize = swaps._authorize

    def then_the_price_changes(order, amount, request):
        charge = authorize(order, amount, request)
        with write_transaction() as s:
            s.get(Product, world.ready.id).price = Decimal("9.00")
        return charge

    monkeypatch.setattr(swaps, "_authorize", then_the_price_changes)
    before = _state(world)
    with pytest.raises(SwapRefused, match="price of READY"):
        world.swap()
    assert _state(world) == before
    held = db.session.scalar(select(CardCharge).where(CardCharge.idempotency_key.like("swap:%")))
    assert (held.status, held.order_id) == ("canceled", None)
    assert gateway.retrieve_payment_intent(held.stripe_payment_intent_id).status == "canceled"


def test_card_at_shipment_charges_nothing_now(stripe_on):
    world = World(stripe_on, policy="at_shipment")
    done = world.swap()
    assert done.charged is None and done.settlement.kind == "none"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CardCharge)) == 0
    assert world.line(done.new.id).allocated == 4


def test_another_companys_buyer_and_a_rep_elsewhere_cannot_swap(stripe_on):
    from portal.services import NotFound

    world = World(stripe_on)
    stranger = make_user(company=make_company("Elsewhere"))
    rep = make_user("sales_rep", email=f"rep-{uuid.uuid4().hex[:6]}@example.com")
    before = _state(world)
    for actor in (stranger, rep):
        with pytest.raises(NotFound):
            swaps.swap_backorder(db.session.get(User, actor.id), world.request(), TODAY)
    assert _state(world) == before
