"""A card refund recorded while Stripe was unreachable (DESIGN §7, issue 5): it reads "refund pending" until
sent, and a retry (``refunds.retry_refunds``, ``flask refunds retry``, the admin's button) sends it once.
localstripe ignores idempotency keys, so "once" rests on our own claim of the row: two retries at once,
a retry after an answer that got lost, and a retry while another attempt holds the row all end with
exactly one refund at Stripe. Every test runs on SQLite and PostgreSQL against localstripe.
"""

from __future__ import annotations

import socket
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import CardCharge, CardRefund, Order, OrderLine
from portal.models.base import utcnow
from portal.services import backorders, payments, refunds
from tests.factories import make_product, make_user
from tests.integration.test_payments_stripe import buyer, card_cart, pay_and_place, save_card
from tests.localstripe import (
    localstripe_url,  # noqa: F401 - the fixture
    stripe_settings,
)
from tests.localstripe import refunds as localstripe_refunds

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def stripe_on(any_app, localstripe_url):  # noqa: F811
    any_app.config.update(stripe_settings(localstripe_url))
    any_app.extensions.pop("stripe_client", None)
    yield localstripe_url
    any_app.extensions.pop("stripe_client", None)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once the socket closes


class StripeDown:
    """Point the Stripe client at a closed port while inside (a gateway error for every call)."""

    def __init__(self, app, url: str):
        self.app, self.url = app, url

    def __enter__(self):
        self.app.config["STRIPE_API_BASE"] = closed_port_url()
        self.app.extensions.pop("stripe_client", None)

    def __exit__(self, *exc):
        self.app.config["STRIPE_API_BASE"] = self.url
        self.app.extensions.pop("stripe_client", None)


def paid_backorder(url: str, price: str = "7.50", quantity: int = 4) -> tuple[Order, OrderLine]:
    user, company = buyer()
    card = save_card(url, company)
    waiting = make_product(price=price, policy="allow")
    card_cart(user, company, card, (waiting, quantity))
    order = pay_and_place(user, company)
    return order, db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))


def cancelled_while_stripe_is_down(app, url: str, quantity: int = 2) -> tuple[Order, CardCharge]:
    order, line = paid_backorder(url)
    with StripeDown(app, url):
        done = backorders.cancel_and_settle(make_user("admin"), line.id, quantity, "Not needed", TODAY)
    assert done.settlement is None  # cancelled; the money could not be sent
    db.session.rollback()
    return order, db.session.scalar(select(CardCharge).where(CardCharge.order_id == order.id))


def stripe_refunds(url: str, charge: CardCharge) -> list[int]:
    return [r["amount"] for r in localstripe_refunds(url, charge.stripe_payment_intent_id)]


def refund_row(charge: CardCharge) -> CardRefund:
    db.session.rollback()
    return db.session.scalar(select(CardRefund).where(CardRefund.card_charge_id == charge.id))


def test_a_refund_stripe_could_not_take_is_pending_and_one_retry_sends_it_once(any_app, stripe_on):
    order, charge = cancelled_while_stripe_is_down(any_app, stripe_on)
    row = refund_row(charge)
    assert (row.amount, row.stripe_refund_id) == (Decimal("15.00"), None)
    assert charge.amount_refunded == Decimal("15.00")  # recorded: never refunded twice from our side
    assert stripe_refunds(stripe_on, charge) == []
    said = payments.payment_status(db.session.get(Order, order.id))
    assert "Refund pending: $15.00 for cancelled items, not sent to your card yet." in said
    assert "Refunded" not in said
    assert [r.id for r in refunds.unsent_refunds(order.id)] == [row.id]

    with StripeDown(any_app, stripe_on):  # still down: the retry says so and keeps it pending
        (still,) = refunds.retry_refunds(order.id)
    assert still.status == "failed" and "could not reach" in still.message
    assert refund_row(charge).stripe_refund_id is None

    (sent,) = refunds.retry_refunds(order.id)
    assert (sent.refund_id, sent.status, sent.amount) == (row.id, "sent", Decimal("15.00"))
    assert stripe_refunds(stripe_on, charge) == [1500]
    assert refund_row(charge).stripe_refund_id.startswith("re_")
    assert refunds.retry_refunds(order.id) == []  # a second retry does nothing
    assert refunds.retry_refunds() == []
    assert stripe_refunds(stripe_on, charge) == [1500]
    said = payments.payment_status(db.session.get(Order, order.id))
    assert "Refunded $15.00 for cancelled items." in said and "pending" not in said


def test_two_retries_at_once_refund_once(any_app, stripe_on):
    order, charge = cancelled_while_stripe_is_down(any_app, stripe_on)
    barrier = threading.Barrier(2)
    results: list[list[str]] = [[], []]

    def retry(index: int) -> None:
        with any_app.app_context():
            try:
                barrier.wait()
                results[index] = [o.status for o in refunds.retry_refunds(order.id)]
            finally:
                db.session.remove()

    threads = [threading.Thread(target=retry, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert stripe_refunds(stripe_on, charge) == [1500], results
    statuses = results[0] + results[1]
    assert statuses.count("sent") == 1 and set(statuses) <= {"sent", "busy", "done"}, results
    assert refund_row(charge).stripe_refund_id.startswith("re_")


def test_a_retry_after_a_lost_answer_records_the_refund_stripe_already_made(any_app, stripe_on):
    """Stripe made the refund but the answer never reached us (or the process died mid-call): the retry
    finds it by the key in its metadata instead of refunding again."""
    order, charge = cancelled_while_stripe_is_down(any_app, stripe_on)
    row = refund_row(charge)
    made = gateway.refund(charge.stripe_payment_intent_id, row.amount, row.idempotency_key,
                          metadata={"refund_key": row.idempotency_key})
    (outcome,) = refunds.retry_refunds(order.id)
    assert outcome.status == "found"
    assert refund_row(charge).stripe_refund_id == made
    assert stripe_refunds(stripe_on, charge) == [1500]


def test_a_refund_held_by_another_attempt_is_left_alone_until_its_lease_runs_out(any_app, stripe_on):
    order, charge = cancelled_while_stripe_is_down(any_app, stripe_on)
    row = refund_row(charge)
    held_until = utcnow() + timedelta(minutes=5)
    with write_transaction() as s:
        s.get(CardRefund, row.id).stripe_refund_id = f"sending:{held_until.isoformat()}"
    (busy,) = refunds.retry_refunds(order.id)
    assert busy.status == "busy"
    assert stripe_refunds(stripe_on, charge) == []
    assert "Refund pending" in payments.payment_status(db.session.get(Order, order.id))
    (sent,) = refunds.retry_refunds(order.id, now=held_until + timedelta(seconds=1))  # that attempt died
    assert sent.status == "sent"
    assert stripe_refunds(stripe_on, charge) == [1500]


def test_settling_the_same_cancellation_again_sends_a_pending_refund_once(any_app, stripe_on):
    order, charge = cancelled_while_stripe_is_down(any_app, stripe_on)
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    key = f"line:{line.id}:cancelled:{line.cancelled}"
    again = refunds.settle_cancellation(line.id, 2, key, "Not needed")
    assert again.kind == "refund" and again.reference.startswith("re_")
    assert refunds.settle_cancellation(line.id, 2, key) == again
    assert stripe_refunds(stripe_on, charge) == [1500]


def test_flask_refunds_retry_sends_what_is_pending_and_says_what_is_left(any_app, stripe_on):
    order, charge = cancelled_while_stripe_is_down(any_app, stripe_on)
    number, intent = order.number, charge.stripe_payment_intent_id  # the command ends the session
    runner = any_app.test_cli_runner()
    with StripeDown(any_app, stripe_on):
        down = runner.invoke(args=["refunds", "retry"])
    assert down.exit_code == 1 and "1 still pending" in down.output, down.output
    unknown = runner.invoke(args=["refunds", "retry", "--order", "SO-NOPE"])
    assert unknown.exit_code != 0 and "No order SO-NOPE" in unknown.output
    done = runner.invoke(args=["refunds", "retry", "--order", number])
    assert done.exit_code == 0 and ": sent" in done.output and "0 still pending" in done.output, done.output
    again = runner.invoke(args=["refunds", "retry"])
    assert again.exit_code == 0 and "0 handled, 0 still pending" in again.output
    assert [r["amount"] for r in localstripe_refunds(stripe_on, intent)] == [1500]


def test_a_refund_sent_at_once_leaves_nothing_to_retry(stripe_on):
    order, line = paid_backorder(stripe_on, quantity=3)
    done = backorders.cancel_and_settle(make_user("admin"), line.id, 1, "Not needed", TODAY)
    assert done.settlement.kind == "refund" and done.settlement.reference.startswith("re_")
    assert refunds.retry_refunds(order.id) == []
    db.session.rollback()
    charge = db.session.scalar(select(CardCharge).where(CardCharge.order_id == order.id))
    assert stripe_refunds(stripe_on, charge) == [750]
