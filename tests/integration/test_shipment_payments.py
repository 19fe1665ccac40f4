"""Card orders charged per shipment (``at_shipment``), against localstripe, on SQLite and PostgreSQL.

Shipping charges the card off-session before anything ships; a decline (card 4000000000000341) or a
bank asking for authentication moves nothing and keeps the shipment "payment due" until the buyer pays
on-session (then staff ship it) or staff ship it unpaid with a reason. The invariants of DESIGN §5 are
checked after each step (and after each test by the conftest).
"""

from __future__ import annotations

import json
import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import (
    AuditLog,
    CardCharge,
    Company,
    Notification,
    Order,
    OrderEvent,
    OrderLine,
    OutboxMessage,
    PlannedShipment,
    Shipment,
    Stock,
    StockMovement,
    User,
)
from portal.services import (
    NotFound,
    ServiceError,
    backorders,
    cards,
    manual_goodwill,
    ordering,
    payment_due,
    payments,
    shipping,
)
from tests.factories import make_product, make_user, set_stock
from tests.integration.test_payments_stripe import TODAY, buyer, card_cart, deliver, save_card
from tests.invariants import assert_invariants
from tests.localstripe import (
    DECLINED_ON_CHARGE,
    NEEDS_AUTHENTICATION,
    browser_authenticates_payment,
    events,
    localstripe_url,  # noqa: F401 - the fixture
    stripe_settings,
)


@pytest.fixture(autouse=True)
def stripe_on(any_app, localstripe_url):  # noqa: F811
    any_app.config.update(stripe_settings(localstripe_url))
    any_app.extensions.pop("stripe_client", None)
    return localstripe_url


def per_shipment_order(url: str, number: str = "4242424242424242", price: str = "6.00", units: int = 3,
                       stock: int = 5):
    """An ``at_shipment`` card order of ``units`` of one product, all allocated; and an admin."""
    user, company = buyer("at_shipment")
    card = save_card(url, company, number)
    product = make_product(price=price, policy="allow")
    set_stock(product, stock)
    card_cart(user, company, card, (product, units))
    db.session.rollback()
    me = db.session.get(User, user.id)
    review = ordering.review_cart(me, db.session.get(Company, company.id), TODAY)
    order = ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
    admin = make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")
    return order, company, product, admin, user


def line_of(order: Order) -> OrderLine:
    db.session.rollback()
    return db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))


def ship(admin, order, units: int, token: str | None = None, tracking: str = "1Z-1"):
    line = line_of(order)
    return shipping.ship_order(db.session.get(User, admin.id), order.id, token or uuid.uuid4().hex,
                               {line.id: units}, tracking, "UPS", TODAY)


def count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def stock_of(product) -> tuple[int, int]:
    db.session.rollback()
    row = db.session.scalar(select(Stock).where(Stock.product_id == product.id))
    return row.on_hand, row.allocated


def charges(order) -> list[CardCharge]:
    db.session.rollback()
    return payments.charges_of(order.id)


def notices(user, topic: str) -> list[dict]:
    db.session.rollback()
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient_user_id == user.id,
                                                          OutboxMessage.topic == topic))
    return [json.loads(row.payload) for row in rows]


def test_a_shipment_is_charged_off_session_for_its_units_then_ships(stripe_on):
    order, _, product, admin, _ = per_shipment_order(stripe_on)
    token = uuid.uuid4().hex
    shipment = ship(admin, order, 2, token)
    assert_invariants()
    (charge,) = charges(order)
    assert (charge.amount, charge.status, charge.purpose) == (Decimal("12.00"), "succeeded", "shipment")
    assert charge.idempotency_key == f"shipment:{token}" and charge.shipment_id == shipment.id
    assert charge.stripe_payment_intent_id and charge.stripe_charge_id
    assert stock_of(product) == (3, 1)
    assert (line_of(order).shipped, line_of(order).allocated) == (2, 1)
    assert count(PlannedShipment) == 0


def test_two_shipments_charge_amounts_that_add_up_to_the_order_total(stripe_on):
    order, _, product, admin, _ = per_shipment_order(stripe_on, price="3.33", units=3)
    manual_goodwill.grant_goodwill(db.session.get(User, admin.id), order.id, None, None, Decimal("1.00"),
                                   "Late delivery")
    db.session.rollback()
    total = db.session.get(Order, order.id).total
    assert total == Decimal("8.99")
    first = ship(admin, order, 1)
    assert_invariants()
    second = ship(admin, order, 2)
    assert_invariants()
    amounts = {c.shipment_id: c.amount for c in charges(order)}
    assert amounts == {first.id: Decimal("2.33"), second.id: Decimal("6.66")}
    assert sum(amounts.values()) == total
    assert db.session.get(Order, order.id).status == "shipped" and stock_of(product) == (2, 0)


def test_a_double_submit_of_the_shipping_form_charges_once_and_ships_once(stripe_on):
    order, _, product, admin, _ = per_shipment_order(stripe_on)
    token = uuid.uuid4().hex
    first = ship(admin, order, 2, token)
    again = ship(admin, order, 2, token)
    assert first.id == again.id
    assert len(charges(order)) == 1 and count(Shipment) == 1
    assert count(StockMovement, StockMovement.kind == "shipment") == 1
    assert stock_of(product) == (3, 1)


def test_two_submits_of_one_shipping_form_at_once_charge_once_and_ship_once(stripe_on, any_app):
    order, _, product, admin, _ = per_shipment_order(stripe_on)
    token, line_id = uuid.uuid4().hex, line_of(order).id
    barrier = threading.Barrier(2)
    results = ["", ""]

    def submit(index: int) -> None:
        with any_app.app_context():
            try:
                barrier.wait()
                results[index] = shipping.ship_order(db.session.get(User, admin.id), order.id, token,
                                                     {line_id: 2}, "", "", TODAY).number
            except ServiceError as exc:
                results[index] = f"refused: {exc}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert count(CardCharge) == 1 and count(Shipment) == 1, results
    assert stock_of(product) == (3, 1)
    # The loser was told it is being processed, or found the same shipment.
    assert all(r.startswith("SH-") or "being processed" in r for r in results), results


def test_a_declined_shipment_moves_nothing_and_is_payment_due_then_paid_and_shipped(stripe_on):
    order, company, product, admin, user = per_shipment_order(stripe_on, DECLINED_ON_CHARGE)
    token = uuid.uuid4().hex
    with pytest.raises(shipping.PaymentDue) as refused:
        ship(admin, order, 2, token)
    assert "Nothing was shipped" in str(refused.value) and "declined" in str(refused.value)
    assert_invariants()
    # Nothing moved: no shipment, the stock and the allocation as they were.
    assert count(Shipment) == 0 and stock_of(product) == (5, 3)
    assert (line_of(order).allocated, line_of(order).shipped) == (3, 0)
    (charge,) = charges(order)
    assert (charge.status, charge.amount, charge.shipment_id) == ("failed", Decimal("12.00"), None)
    plan = db.session.scalar(select(PlannedShipment))
    assert (plan.status, plan.token, plan.card_charge_id) == ("payment_due", token, charge.id)
    assert [(pl.order_line_id, pl.quantity) for pl in plan.lines] == [(line_of(order).id, 2)]
    # The buyer is told, and sees the payment due on the order page.
    (notice,) = notices(user, "payment_failed")
    assert notice["order_number"] == order.number and notice["amount"] == "12.00" and notice["message"]
    assert count(Notification, Notification.user_id == user.id, Notification.topic == "payment_failed") == 1
    assert [c.id for c in payment_due.due_charges(order.id)] == [charge.id]
    assert "payment is due" in payments.payment_status(db.session.get(Order, order.id))
    assert count(OrderEvent, OrderEvent.kind == "payment", OrderEvent.buyer_visible.is_(True)) == 1

    # A double submit charges nothing more and plans nothing more.
    with pytest.raises(shipping.PaymentDue):
        ship(admin, order, 2, token)
    assert len(charges(order)) == 1 and count(PlannedShipment) == 1
    # The held units cannot leave in another shipment; the one unit left can (and is charged).
    with pytest.raises(shipping.ShipmentRefused) as held:
        ship(admin, order, 2)
    assert "wait for payment" in str(held.value)
    with pytest.raises(shipping.PaymentDue):  # the same card, declined again for the free unit
        ship(admin, order, 1)
    assert [c.amount for c in charges(order)] == [Decimal("12.00"), Decimal("6.00")]
    assert_invariants()

    # Staff cannot ship it before it is paid without a reason.
    with pytest.raises(ServiceError, match="give the reason"):
        shipping.ship_planned(db.session.get(User, admin.id), order.id, plan.id)
    assert count(Shipment) == 0

    # The buyer pays on-session with another card; staff ship the planned units.
    good = save_card(stripe_on, company)
    paid = payment_due.pay_due(company.id, order.id, charge.id, good.id)
    assert paid.status == "succeeded"
    shipment = shipping.ship_planned(db.session.get(User, admin.id), order.id, plan.id)
    assert_invariants()
    db.session.rollback()
    assert stock_of(product) == (3, 1) and line_of(order).shipped == 2
    plan = db.session.get(PlannedShipment, plan.id)
    assert (plan.status, plan.shipment_id, plan.override_reason) == ("shipped", shipment.id, "")
    assert db.session.get(CardCharge, charge.id).shipment_id == shipment.id
    assert shipment.tracking_number == "1Z-1" and shipment.token == token
    # A second click finds the same shipment.
    assert shipping.ship_planned(db.session.get(User, admin.id), order.id, plan.id).id == shipment.id
    assert count(Shipment) == 1 and count(StockMovement, StockMovement.kind == "shipment") == 1


def test_staff_override_ships_unpaid_with_a_reason_and_the_charge_stays_due(stripe_on):
    order, _, product, admin, user = per_shipment_order(stripe_on, DECLINED_ON_CHARGE)
    with pytest.raises(shipping.PaymentDue):
        ship(admin, order, 3)
    plan = db.session.scalar(select(PlannedShipment))
    staff = db.session.get(User, admin.id)
    for blank in ("", "   "):
        with pytest.raises(ServiceError) as refused:
            shipping.ship_planned(staff, order.id, plan.id, blank)
        assert str(refused.value) == ("The payment for this shipment is still due: to ship it unpaid, give "
                                      "the reason.")
    with pytest.raises(ServiceError, match="at most 500"):
        shipping.ship_planned(staff, order.id, plan.id, "x" * 501)
    with pytest.raises(NotFound):
        shipping.ship_planned(staff, order.id + 1000, plan.id, "Regular customer")
    assert count(Shipment) == 0 and stock_of(product) == (5, 3)

    shipment = shipping.ship_planned(staff, order.id, plan.id, "  Long-standing customer, CFO approved ")
    assert_invariants()
    assert stock_of(product) == (2, 0) and db.session.get(Order, order.id).status == "shipped"
    db.session.rollback()
    plan = db.session.get(PlannedShipment, plan.id)
    assert (plan.status, plan.shipment_id) == ("shipped", shipment.id)
    assert plan.override_reason == "Long-standing customer, CFO approved"
    (charge,) = charges(order)
    assert charge.status == "failed" and charge.shipment_id == shipment.id
    assert [c.id for c in payment_due.due_charges(order.id)] == [charge.id]  # still due for the buyer
    (audit,) = db.session.scalars(select(AuditLog).where(AuditLog.action == "shipment_payment_overridden"))
    assert audit.actor_id == admin.id and audit.entity_id == order.id
    assert json.loads(audit.after)["reason"] == "Long-standing customer, CFO approved"
    (event,) = db.session.scalars(select(OrderEvent).where(OrderEvent.kind == "payment",
                                                           OrderEvent.buyer_visible.is_(False)))
    assert "staff override" in event.text and "CFO approved" in event.text
    assert notices(user, "order_shipped")  # the goods did ship


def test_a_bank_asking_for_authentication_makes_the_shipment_payment_due_until_the_buyer_confirms(stripe_on):
    order, company, product, admin, user = per_shipment_order(stripe_on, NEEDS_AUTHENTICATION)
    with pytest.raises(shipping.PaymentDue, match="confirm the payment"):
        ship(admin, order, 2)
    assert count(Shipment) == 0 and stock_of(product) == (5, 3)
    (charge,) = charges(order)
    assert charge.status == "requires_action"
    (notice,) = notices(user, "payment_due")
    assert notice["amount"] == "12.00" and notices(user, "payment_failed") == []
    card = cards.active_cards(company.id)[0]
    attempt = payment_due.pay_due(company.id, order.id, charge.id, card.id)
    browser_authenticates_payment(stripe_on, attempt.client_secret)
    assert payment_due.refresh(company.id, order.id, charge.id).status == "succeeded"
    plan = db.session.scalar(select(PlannedShipment))
    assert "ready to ship" in shipping.due_message(plan)
    shipment = shipping.ship_planned(db.session.get(User, admin.id), order.id, plan.id)
    assert stock_of(product) == (3, 1) and shipment.number.startswith("SH-")
    assert sum(c.amount for c in charges(order)) == Decimal("12.00")


def test_a_removed_card_makes_the_shipment_payment_due_payable_with_another_card(stripe_on):
    order, company, product, admin, user = per_shipment_order(stripe_on)
    cards.remove_card(company.id, db.session.get(Order, order.id).payment_card_id)
    with pytest.raises(shipping.PaymentDue, match="was removed"):
        ship(admin, order, 1)
    (charge,) = charges(order)
    assert charge.status == "failed" and not charge.stripe_payment_intent_id
    good = save_card(stripe_on, company)
    assert payment_due.pay_due(company.id, order.id, charge.id, good.id).status == "succeeded"
    plan = db.session.scalar(select(PlannedShipment))
    shipping.ship_planned(db.session.get(User, admin.id), order.id, plan.id)
    assert stock_of(product) == (4, 2)


def test_on_account_and_at_order_orders_ship_without_a_shipment_charge(stripe_on):
    user, company = buyer("at_order")
    card = save_card(stripe_on, company)
    product = make_product(price="5.00")
    set_stock(product, 5)
    card_cart(user, company, card, (product, 2))
    db.session.rollback()
    me = db.session.get(User, user.id)
    review = ordering.review_cart(me, db.session.get(Company, company.id), TODAY)
    order = payments.place_order_paid_by_card(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
    admin = make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")
    ship(admin, order, 2)
    assert [c.purpose for c in charges(order)] == ["order"] and stock_of(product) == (3, 0)


def test_the_payment_intent_succeeded_webhook_lets_staff_ship_the_planned_shipment(stripe_on, any_app):
    order, company, product, admin, _ = per_shipment_order(stripe_on, NEEDS_AUTHENTICATION)
    with pytest.raises(shipping.PaymentDue):
        ship(admin, order, 2)
    (charge,) = charges(order)
    attempt = payment_due.pay_due(company.id, order.id, charge.id, cards.active_cards(company.id)[0].id)
    browser_authenticates_payment(stripe_on, attempt.client_secret)  # the buyer's page then closes
    db.session.rollback()
    intent_id = db.session.get(CardCharge, charge.id).stripe_payment_intent_id
    plan = db.session.scalar(select(PlannedShipment))
    with pytest.raises(ServiceError, match="give the reason"):  # our row does not know yet
        shipping.ship_planned(db.session.get(User, admin.id), order.id, plan.id)
    (event,) = [e for e in events(stripe_on, "payment_intent.succeeded")
                if e["data"]["object"]["id"] == intent_id]
    assert deliver(any_app.test_client(), event).status_code == 200
    assert charges(order)[0].status == "succeeded"
    shipping.ship_planned(db.session.get(User, admin.id), order.id, plan.id)
    assert stock_of(product) == (3, 1) and count(PlannedShipment, PlannedShipment.status == "shipped") == 1


def test_staff_cancel_an_unpaid_planned_shipment_and_its_units_ship_again(stripe_on):
    order, company, product, admin, _ = per_shipment_order(stripe_on, DECLINED_ON_CHARGE)
    with pytest.raises(shipping.PaymentDue):
        ship(admin, order, 3)
    plan = db.session.scalar(select(PlannedShipment))
    staff = db.session.get(User, admin.id)
    with pytest.raises(NotFound):
        shipping.cancel_planned(staff, order.id + 1000, plan.id)
    shipping.cancel_planned(staff, order.id, plan.id)
    assert_invariants()
    db.session.rollback()
    assert db.session.get(PlannedShipment, plan.id).status == "cancelled"
    assert payment_due.due_charges(order.id) == [] and charges(order)[0].status == "canceled"
    with pytest.raises(ServiceError, match="no longer waiting"):
        shipping.cancel_planned(staff, order.id, plan.id)
    with pytest.raises(ServiceError, match="no longer waiting"):
        shipping.ship_planned(staff, order.id, plan.id, "A reason")
    # The units are free again; with a good card the next shipment is charged their full value.
    good = save_card(stripe_on, company)
    with write_transaction() as s:
        s.get(Order, order.id).payment_card_id = good.id
    ship(admin, order, 3)
    assert stock_of(product) == (2, 0)
    assert [(c.status, c.amount) for c in charges(order)] == [("canceled", Decimal("18.00")),
                                                              ("succeeded", Decimal("18.00"))]


def test_a_paid_planned_shipment_cannot_be_cancelled(stripe_on):
    order, company, _, admin, _ = per_shipment_order(stripe_on, DECLINED_ON_CHARGE)
    with pytest.raises(shipping.PaymentDue):
        ship(admin, order, 1)
    (charge,) = charges(order)
    good = save_card(stripe_on, company)
    assert payment_due.pay_due(company.id, order.id, charge.id, good.id).status == "succeeded"
    plan = db.session.scalar(select(PlannedShipment))
    with pytest.raises(ServiceError, match="ship it instead"):
        shipping.cancel_planned(db.session.get(User, admin.id), order.id, plan.id)
    assert db.session.get(PlannedShipment, plan.id).status == "payment_due"


def test_stripe_unreachable_charges_and_ships_nothing_and_the_same_form_can_try_again(stripe_on, monkeypatch):
    order, _, product, admin, _ = per_shipment_order(stripe_on)
    token = uuid.uuid4().hex

    def down(**_kwargs):
        raise gateway.StripeUnavailable("We could not reach the card processor. Please try again.")

    with monkeypatch.context() as patch:
        patch.setattr(gateway, "charge_off_session", down)
        with pytest.raises(ServiceError, match="Nothing was charged or shipped"):
            ship(admin, order, 2, token)
    assert count(CardCharge) == 0 and count(Shipment) == 0 and count(PlannedShipment) == 0
    assert stock_of(product) == (5, 3)
    shipment = ship(admin, order, 2, token)
    assert shipment.token == token and [c.amount for c in charges(order)] == [Decimal("12.00")]


def test_units_held_by_a_payment_due_shipment_cannot_be_cancelled_from_under_it(stripe_on):
    order, _, product, admin, _ = per_shipment_order(stripe_on, DECLINED_ON_CHARGE)
    with pytest.raises(shipping.PaymentDue):
        ship(admin, order, 2)  # 2 of the 3 allocated units wait for payment
    staff = db.session.get(User, admin.id)
    line_id = line_of(order).id
    with pytest.raises(backorders.LineRefused, match="2 units of .* wait for payment .* cancel at most 1"):
        backorders.cancel_line(staff, line_id, 3, "Customer changed plans", TODAY)
    db.session.rollback()
    assert (line_of(order).allocated, line_of(order).cancelled) == (3, 0) and stock_of(product) == (5, 3)
    backorders.cancel_line(staff, line_id, 1, "Customer changed plans", TODAY)  # the unit not held
    db.session.rollback()
    assert (line_of(order).allocated, line_of(order).cancelled) == (2, 1)
    assert_invariants()
