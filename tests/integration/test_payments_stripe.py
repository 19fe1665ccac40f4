"""Cards and card charges against localstripe (a fake Stripe server started by the fixture).

Saving a card, charging at order (a decline means no order), authentication on-session, charging per
shipment off-session, and the webhook: bad signatures refused, each event applied once whatever the
order or the number of deliveries. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from portal.database import write_transaction
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import (
    CardCharge,
    Cart,
    Company,
    CreditNote,
    Order,
    OrderLine,
    PaymentCard,
    Stock,
    StripeEvent,
)
from portal.services import (
    NotFound,
    ServiceError,
    cards,
    carts,
    credit,
    ordering,
    payment_due,
    payments,
    refunds,
)
from tests.factories import make_address, make_company, make_product, make_user, set_stock
from tests.localstripe import (
    DECLINED_ON_CHARGE,
    NEEDS_AUTHENTICATION,
    browser_authenticates_payment,
    browser_confirms_setup,
    events,
    localstripe_url,  # noqa: F401 - the fixture
    signed,
    stripe_settings,
)
from tests.localstripe import refunds as localstripe_refunds

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def stripe_on(any_app, localstripe_url):  # noqa: F811
    any_app.config.update(stripe_settings(localstripe_url))
    any_app.extensions.pop("stripe_client", None)
    return localstripe_url


def buyer(policy: str = "at_order"):
    company = make_company(f"Co {uuid.uuid4().hex[:6]}", charge_policy=policy)
    make_address(company, is_default_shipping=True)
    return make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com"), company


def save_card(url: str, company, number: str = "4242424242424242") -> PaymentCard:
    intent = cards.start_setup(company.id)
    browser_confirms_setup(url, intent.client_secret, number)
    seti = intent.client_secret.split("_secret_")[0]
    return cards.complete_setup(company.id, seti)


def card_cart(user, company, card, *items):
    carts.add_items(user.id, company.id, [(p.id, q) for p, q in items])
    cart = carts.find_cart(user.id, company.id)
    carts.save_details(user.id, company.id, carts.CheckoutDetails(
        cart.ship_to_id, "", None, "ship_partial", payment_method="card", payment_card_id=card.id))


def pay_and_place(user, company, token=None):
    db.session.rollback()
    me, mine = db.session.get(type(user), user.id), db.session.get(Company, company.id)
    review = ordering.review_cart(me, mine, TODAY)
    return payments.place_order_paid_by_card(me, company.id, token or uuid.uuid4().hex, review.fingerprint,
                                             TODAY)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


# --- cards ------------------------------------------------------------------------------------------


def test_saving_a_card_creates_the_customer_once_and_mirrors_the_card(stripe_on):
    _, company = buyer()
    first = save_card(stripe_on, company)
    second = save_card(stripe_on, company, "5555555555554444")
    db.session.rollback()
    customer = db.session.get(Company, company.id).stripe_customer_id
    assert customer and customer.startswith("cus_")
    assert [(c.brand, c.last4, c.exp_month, c.exp_year) for c in cards.active_cards(company.id)] == [
        ("visa", "4242", 12, 2030), ("visa", "4444", 12, 2030)]
    assert gateway.retrieve_card(first.stripe_payment_method_id).customer == customer
    assert second.company_id == company.id


def test_a_setup_intent_of_another_company_is_not_found_and_saves_nothing(stripe_on):
    _, mine = buyer()
    _, theirs = buyer()
    cards.ensure_customer(mine.id)
    intent = cards.start_setup(theirs.id)
    browser_confirms_setup(stripe_on, intent.client_secret)
    with pytest.raises(NotFound):
        cards.complete_setup(mine.id, intent.client_secret.split("_secret_")[0])
    assert count(PaymentCard) == 0


def test_removing_a_card_detaches_it_at_stripe_and_hides_it(stripe_on):
    _, company = buyer()
    card = save_card(stripe_on, company)
    cards.remove_card(company.id, card.id)
    db.session.rollback()
    assert cards.active_cards(company.id) == []
    assert gateway.retrieve_card(card.stripe_payment_method_id).customer is None
    with pytest.raises(NotFound):
        cards.remove_card(company.id, card.id)


def test_another_companys_card_cannot_be_chosen_at_checkout(stripe_on):
    user, company = buyer()
    _, other = buyer()
    theirs = save_card(stripe_on, other)
    product = make_product(price="5.00")
    set_stock(product, 3)
    carts.add_items(user.id, company.id, [(product.id, 1)])
    cart = carts.find_cart(user.id, company.id)
    with pytest.raises(NotFound):
        carts.save_details(user.id, company.id, carts.CheckoutDetails(
            cart.ship_to_id, "", None, "ship_partial", payment_method="card", payment_card_id=theirs.id))
    db.session.rollback()
    assert db.session.scalar(select(Cart.payment_method).where(Cart.id == cart.id)) == "on_account"


# --- charging at order ------------------------------------------------------------------------------


def test_paying_at_order_charges_exactly_the_total_and_places_the_order(stripe_on):
    user, company = buyer()
    card = save_card(stripe_on, company)
    product = make_product(price="12.34", policy="allow")
    set_stock(product, 2)
    card_cart(user, company, card, (product, 3))  # 2 ship now, 1 backordered: all charged at order
    order = pay_and_place(user, company)
    db.session.rollback()
    charge = db.session.scalar(select(CardCharge))
    assert (charge.order_id, charge.status, charge.amount) == (order.id, "succeeded", Decimal("37.02"))
    assert order.payment_card_id == card.id and order.charge_policy == "at_order"
    intent = gateway.retrieve_payment_intent(charge.stripe_payment_intent_id)
    assert intent.status == "succeeded"


def test_a_declined_card_places_no_order_and_changes_no_stock(stripe_on):
    user, company = buyer()
    card = save_card(stripe_on, company, DECLINED_ON_CHARGE)  # saving works; charging is refused
    product = make_product(price="10.00")
    set_stock(product, 5)
    card_cart(user, company, card, (product, 2))
    with pytest.raises(payments.PaymentDeclined, match="declined"):
        pay_and_place(user, company)
    assert count(Order) == 0
    assert db.session.scalar(select(Stock.allocated).where(Stock.product_id == product.id)) == 0
    assert len(carts.find_cart(user.id, company.id).lines) == 1
    assert db.session.scalar(select(CardCharge.status)) == "failed"


def test_a_double_submit_charges_once_and_returns_the_same_order(stripe_on):
    user, company = buyer()
    card = save_card(stripe_on, company)
    product = make_product(price="3.00")
    set_stock(product, 5)
    card_cart(user, company, card, (product, 2))
    token = uuid.uuid4().hex
    db.session.rollback()
    me = db.session.get(type(user), user.id)
    review = ordering.review_cart(me, db.session.get(Company, company.id), TODAY)
    first = payments.place_order_paid_by_card(me, company.id, token, review.fingerprint, TODAY)
    again = payments.place_order_paid_by_card(me, company.id, token, review.fingerprint, TODAY)
    assert first.id == again.id
    assert count(CardCharge) == 1 and count(Order) == 1


def test_when_stock_changed_after_authorizing_the_card_is_released(stripe_on, monkeypatch):
    user, company = buyer()
    card = save_card(stripe_on, company)
    product = make_product(price="4.00")
    set_stock(product, 5)
    card_cart(user, company, card, (product, 2))

    def refuse(*args, **kwargs):
        raise ordering.ReviewOutdated([])

    monkeypatch.setattr(ordering, "place_order", refuse)
    with pytest.raises(ordering.ReviewOutdated):
        pay_and_place(user, company)
    db.session.rollback()
    charge = db.session.scalar(select(CardCharge))
    assert charge.status == "canceled" and charge.order_id is None
    assert gateway.retrieve_payment_intent(charge.stripe_payment_intent_id).status == "canceled"


def test_a_payment_needing_authentication_resumes_with_the_same_token(stripe_on):
    user, company = buyer()
    card = save_card(stripe_on, company, NEEDS_AUTHENTICATION)
    product = make_product(price="8.00")
    set_stock(product, 5)
    card_cart(user, company, card, (product, 1))
    token = uuid.uuid4().hex
    with pytest.raises(payments.AuthenticationRequired) as asked:
        pay_and_place(user, company, token)
    assert count(Order) == 0
    browser_authenticates_payment(stripe_on, asked.value.client_secret)
    order = pay_and_place(user, company, token)
    db.session.rollback()
    assert db.session.scalar(select(CardCharge.status)) == "succeeded"
    assert count(Order) == 1 and order.total == Decimal("8.00")


# --- charging per shipment --------------------------------------------------------------------------


def test_at_shipment_nothing_is_charged_at_order_and_each_shipment_is_charged_once(stripe_on):
    user, company = buyer("at_shipment")
    card = save_card(stripe_on, company)
    product = make_product(price="6.00", policy="allow")
    set_stock(product, 1)
    card_cart(user, company, card, (product, 3))
    db.session.rollback()
    me = db.session.get(type(user), user.id)
    review = ordering.review_cart(me, db.session.get(Company, company.id), TODAY)
    order = ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
    assert count(CardCharge) == 0 and order.charge_policy == "at_shipment"
    first = payments.charge_shipment(order.id, "t9001", Decimal("6.00"))
    again = payments.charge_shipment(order.id, "t9001", Decimal("6.00"))
    assert first.status == "succeeded" and again == first
    later = payments.charge_shipment(order.id, "t9002", Decimal("12.00"))
    assert later.status == "succeeded" and later.charge_id != first.charge_id
    db.session.rollback()
    assert sorted(c.amount for c in payments.charges_of(order.id)) == [Decimal("6.00"), Decimal("12.00")]


def test_a_shipment_charge_declined_off_session_is_reported_not_raised(stripe_on):
    user, company = buyer("at_shipment")
    card = save_card(stripe_on, company, DECLINED_ON_CHARGE)
    product = make_product(price="6.00", policy="allow")
    card_cart(user, company, card, (product, 1))
    db.session.rollback()
    me = db.session.get(type(user), user.id)
    review = ordering.review_cart(me, db.session.get(Company, company.id), TODAY)
    order = ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
    result = payments.charge_shipment(order.id, "t77", Decimal("6.00"))
    assert result.status == "failed" and "declined" in result.message


# --- webhooks ---------------------------------------------------------------------------------------


def deliver(client, event: dict, secret: str | None = None):
    payload = json.dumps(event).encode()
    header = signed(payload) if secret is None else signed(payload, secret)
    return client.post("/stripe/webhook", data=payload, content_type="application/json",
                       headers={"Stripe-Signature": header})


def payment_state() -> list[tuple]:
    db.session.rollback()
    charges = db.session.execute(select(CardCharge.id, CardCharge.status, CardCharge.stripe_charge_id)
                                 .order_by(CardCharge.id)).all()
    saved = db.session.execute(select(PaymentCard.stripe_payment_method_id, PaymentCard.last4,
                                      PaymentCard.removed_at.is_(None))
                               .order_by(PaymentCard.stripe_payment_method_id)).all()
    return [tuple(row) for row in charges] + [tuple(row) for row in saved]


def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(any_app):
    client = any_app.test_client()
    event = {"id": "evt_forged", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_x"}}}
    assert deliver(client, event, secret="whsec_wrong").status_code == 400  # noqa: S106
    payload = json.dumps(event).encode()
    tampered = client.post("/stripe/webhook", data=payload + b" ", content_type="application/json",
                           headers={"Stripe-Signature": signed(payload)})
    assert tampered.status_code == 400
    assert client.post("/stripe/webhook", data=payload, content_type="application/json").status_code == 400
    assert count(StripeEvent) == 0


def test_events_delivered_three_times_in_any_order_end_in_the_same_state(stripe_on, any_app):
    user, company = buyer()
    kept = save_card(stripe_on, company)
    dropped = save_card(stripe_on, company, "5555555555554444")
    product = make_product(price="9.00")
    set_stock(product, 10)
    card_cart(user, company, kept, (product, 1))
    pay_and_place(user, company)
    cards.remove_card(company.id, dropped.id)
    db.session.rollback()
    intent_id = db.session.scalar(select(CardCharge.stripe_payment_intent_id))
    stream = [e for e in events(stripe_on, "payment_intent.succeeded")
              if e["data"]["object"]["id"] == intent_id]
    assert stream, "localstripe recorded the payment_intent.succeeded event"
    stream += [{"id": f"evt_pm_{n}", "type": kind, "data": {"object": {"id": pm}}} for n, (kind, pm) in
               enumerate([("payment_method.attached", kept.stripe_payment_method_id),
                          ("payment_method.attached", dropped.stripe_payment_method_id),
                          ("payment_method.detached", dropped.stripe_payment_method_id)])]

    def forget_what_the_webhooks_tell():
        """Our rows as if only the browser's half had happened: no capture result, stale card mirrors."""
        with write_transaction() as s:
            s.execute(update(CardCharge).values(status="authorized"))
            s.execute(update(PaymentCard).values(removed_at=None, last4="0000"))
            s.execute(StripeEvent.__table__.delete())

    client = any_app.test_client()
    forget_what_the_webhooks_tell()
    for event in stream:
        assert deliver(client, event).status_code == 200
    in_order = payment_state()
    assert "succeeded" in {row[1] for row in in_order}
    assert (kept.stripe_payment_method_id, "4242", True) in in_order
    assert (dropped.stripe_payment_method_id, "4444", False) in in_order

    forget_what_the_webhooks_tell()
    shuffled = stream * 3
    random.Random(5).shuffle(shuffled)
    answers = [deliver(client, event).get_json() for event in shuffled]
    assert sum(not a["duplicate"] for a in answers) == len(stream)
    assert payment_state() == in_order
    assert count(StripeEvent) == len(stream)


# --- refunds and credit notes -------------------------------------------------------------------------


def cancel_backordered(line_id: int, quantity: int) -> None:
    """What cancelling backordered units does to the line (the back-office service owns this)."""
    with write_transaction() as s:
        line = s.get(OrderLine, line_id)
        line.backordered -= quantity
        line.cancelled += quantity


def test_cancelling_part_of_a_paid_backorder_refunds_exactly_its_amount(stripe_on):
    user, company = buyer()
    card = save_card(stripe_on, company)
    shelf, waiting = make_product(price="10.00"), make_product(price="7.50", policy="allow")
    set_stock(shelf, 5)
    card_cart(user, company, card, (shelf, 2), (waiting, 3))
    order = pay_and_place(user, company)
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id,
                                                     OrderLine.product_id == waiting.id))
    cancel_backordered(line.id, 2)
    first = refunds.settle_cancellation(line.id, 2, f"line:{line.id}:cancelled:2", "Customer changed mind")
    again = refunds.settle_cancellation(line.id, 2, f"line:{line.id}:cancelled:2")
    assert (first.kind, first.amount) == ("refund", Decimal("15.00")) and again == first
    db.session.rollback()
    charge = db.session.scalar(select(CardCharge))
    assert (charge.amount, charge.amount_refunded) == (Decimal("42.50"), Decimal("15.00"))
    made = localstripe_refunds(stripe_on, charge.stripe_payment_intent_id)
    assert [r["amount"] for r in made] == [1500]
    assert "Refunded $15.00" in payments.payment_status(db.session.get(Order, order.id))


def test_cancelling_never_invoiced_units_on_account_lowers_exposure_without_a_credit_note(stripe_on):
    user, company = buyer()
    waiting = make_product(price="7.50", policy="allow")
    carts.add_items(user.id, company.id, [(waiting.id, 4)])
    db.session.rollback()
    me = db.session.get(type(user), user.id)
    review = ordering.review_cart(me, db.session.get(Company, company.id), TODAY)
    order = ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    cancel_backordered(line.id, 1)
    settled = refunds.settle_cancellation(line.id, 1, f"line:{line.id}:cancelled:1")
    assert (settled.kind, settled.amount) == ("uninvoiced", Decimal("7.50"))
    assert refunds.settle_cancellation(line.id, 1, f"line:{line.id}:cancelled:1") == settled
    db.session.rollback()
    assert credit.exposure(company.id) == Decimal("22.50")
    assert count(CreditNote) == 0


def test_at_shipment_cancelling_unshipped_units_refunds_nothing(stripe_on):
    user, company = buyer("at_shipment")
    card = save_card(stripe_on, company)
    waiting = make_product(price="5.00", policy="allow")
    card_cart(user, company, card, (waiting, 2))
    db.session.rollback()
    me = db.session.get(type(user), user.id)
    review = ordering.review_cart(me, db.session.get(Company, company.id), TODAY)
    order = ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    cancel_backordered(line.id, 2)
    assert refunds.settle_cancellation(line.id, 2, "k").kind == "none"


# --- paying a due shipment payment on-session ------------------------------------------------------------


def shipment_order(stripe_url, number):
    user, company = buyer("at_shipment")
    card = save_card(stripe_url, company, number)
    product = make_product(price="6.00", policy="allow")
    card_cart(user, company, card, (product, 1))
    db.session.rollback()
    me = db.session.get(type(user), user.id)
    review = ordering.review_cart(me, db.session.get(Company, company.id), TODAY)
    return ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY), company


def test_a_declined_shipment_payment_is_paid_on_session_with_another_card(stripe_on):
    order, company = shipment_order(stripe_on, DECLINED_ON_CHARGE)
    failed = payments.charge_shipment(order.id, "t31", Decimal("6.00"))
    assert [c.id for c in payment_due.due_charges(order.id)] == [failed.charge_id]
    good = save_card(stripe_on, company)
    declined_again = payment_due.pay_due(company.id, order.id, failed.charge_id, failed_card(company).id)
    assert declined_again.status == "failed"
    paid = payment_due.pay_due(company.id, order.id, failed.charge_id, good.id)
    assert paid.status == "succeeded"
    db.session.rollback()
    assert payment_due.due_charges(order.id) == []
    assert payment_due.pay_due(company.id, order.id, failed.charge_id, good.id).status == "succeeded"
    assert count(CardCharge) == 1


def failed_card(company):
    return next(c for c in cards.active_cards(company.id) if c.last4 == "0341")


def test_a_shipment_payment_needing_authentication_is_confirmed_by_the_buyer(stripe_on):
    order, company = shipment_order(stripe_on, NEEDS_AUTHENTICATION)
    asked = payments.charge_shipment(order.id, "t41", Decimal("6.00"))
    assert asked.status == "requires_action"
    card = cards.active_cards(company.id)[0]
    attempt = payment_due.pay_due(company.id, order.id, asked.charge_id, card.id)
    assert attempt.status == "requires_action" and attempt.client_secret
    browser_authenticates_payment(stripe_on, attempt.client_secret)
    assert payment_due.refresh(company.id, order.id, asked.charge_id).status == "succeeded"


def test_another_companys_due_payment_is_not_found(stripe_on):
    order, company = shipment_order(stripe_on, DECLINED_ON_CHARGE)
    failed = payments.charge_shipment(order.id, "t51", Decimal("6.00"))
    _, other = buyer()
    theirs = save_card(stripe_on, other)
    with pytest.raises(NotFound):
        payment_due.pay_due(other.id, order.id, failed.charge_id, theirs.id)
    with pytest.raises(NotFound):
        payment_due.pay_due(company.id, order.id, failed.charge_id, theirs.id)
    db.session.rollback()
    assert db.session.get(CardCharge, failed.charge_id).status == "failed"


def test_an_event_about_an_object_stripe_does_not_know_is_recorded_and_changes_nothing(any_app):
    client = any_app.test_client()
    event = {"id": "evt_unknown_pi", "type": "payment_intent.succeeded",
             "data": {"object": {"id": "pi_DoesNotExist00"}}}
    response = deliver(client, event)
    assert response.status_code == 200 and response.get_json()["duplicate"] is False
    assert count(StripeEvent) == 1 and count(CardCharge) == 0


def test_two_submits_of_one_token_at_once_charge_once(stripe_on, any_app):
    user, company = buyer()
    card = save_card(stripe_on, company)
    product = make_product(price="5.00")
    set_stock(product, 5)
    card_cart(user, company, card, (product, 1))
    token = uuid.uuid4().hex
    db.session.rollback()
    me = db.session.get(type(user), user.id)
    fingerprint = ordering.review_cart(me, db.session.get(Company, company.id), TODAY).fingerprint
    barrier = threading.Barrier(2)
    results: list[str] = ["", ""]

    def submit(index: int) -> None:
        with any_app.app_context():
            try:
                who = db.session.get(type(user), user.id)
                barrier.wait()
                results[index] = payments.place_order_paid_by_card(who, company.id, token, fingerprint,
                                                                   TODAY).number
            except ServiceError as exc:
                results[index] = f"refused: {exc}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert count(Order) == 1 and count(CardCharge) == 1, results
    numbers = {r for r in results if not r.startswith("refused")}
    assert len(numbers) == 1, results
    assert all(r in numbers or "being processed" in r for r in results), results
    db.session.rollback()
    assert db.session.scalar(select(CardCharge.status)) == "succeeded"


def test_staff_cancelling_paid_backordered_units_refunds_them_through_the_back_office(stripe_on):
    """The back office's cancel action settles the money too: exactly the cancelled units' value,
    on the card charge that paid them; cancelling more later refunds only the new units."""
    from portal.services import backorders
    from tests.factories import make_user

    user, company = buyer()
    card = save_card(stripe_on, company)
    waiting = make_product(price="7.50", policy="allow")
    card_cart(user, company, card, (waiting, 4))
    order = pay_and_place(user, company)
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    admin = make_user("admin")
    first = backorders.cancel_and_settle(admin, line.id, 1, "Customer changed mind", TODAY)
    second = backorders.cancel_and_settle(admin, line.id, 2, "And two more", TODAY)
    assert (first.settlement.kind, first.settlement.amount) == ("refund", Decimal("7.50"))
    assert (second.settlement.kind, second.settlement.amount) == ("refund", Decimal("15.00"))
    db.session.rollback()
    charge = db.session.scalar(select(CardCharge))
    assert charge.amount_refunded == Decimal("22.50")
    assert sorted(r["amount"] for r in localstripe_refunds(stripe_on, charge.stripe_payment_intent_id)) == \
        [750, 1500]


def test_staff_cancelling_never_invoiced_on_account_units_bills_less_and_issues_no_credit_note(stripe_on):
    from portal.services import backorders
    from tests.factories import make_user

    user, company = buyer()
    waiting = make_product(price="7.50", policy="allow")
    carts.add_items(user.id, company.id, [(waiting.id, 4)])
    db.session.rollback()
    me = db.session.get(type(user), user.id)
    review = ordering.review_cart(me, db.session.get(Company, company.id), TODAY)
    order = ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    done = backorders.cancel_and_settle(make_user("admin"), line.id, 3, "Not needed", TODAY)
    assert (done.settlement.kind, done.settlement.amount) == ("uninvoiced", Decimal("22.50"))
    db.session.rollback()
    assert credit.exposure(company.id) == Decimal("7.50")
    assert count(CreditNote) == 0
