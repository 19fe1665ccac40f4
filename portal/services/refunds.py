"""Money back for cancelled units (DESIGN §7): a partial refund on the card charge that paid for them;
on account, nothing was billed for them (only shipped units are invoiced), so the order simply has less
left to invoice, and a credit note is issued only for what invoices had already billed beyond what the
order is now worth (see ``portal.domain.billing``).

:func:`settle_cancellation` is called after a cancellation is committed (``backorders.cancel_line``,
with a key naming that cancellation). It is idempotent per key: the refund or credit note row is
claimed under a unique constraint first.

**Sending a refund to Stripe** happens outside any transaction, and Stripe may be unreachable: the
refund row then stays recorded but unsent ("refund pending" for buyer and staff) until
:func:`retry_refunds` (``flask refunds retry``, or the admin's button on the order page) sends it.
Our database is what makes "at most once" hold (localstripe ignores idempotency keys; Stripe forgets
them after a day): an attempt first *claims* the row under its lock, writing a lease marker
(``sending:<until>``) into ``stripe_refund_id``; a second attempt finds the marker and leaves the row
alone; the outcome replaces the marker with Stripe's refund id, or clears it after a failure. A retry
first asks Stripe for a refund carrying the row's key in its metadata (a call that reached Stripe but
whose answer was lost, or a process killed mid-call), and records that one instead of refunding again.
A lease outlives the Stripe client's timeouts, so it ends only after its call did.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.database import write_transaction
from portal.domain import billing as rules
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import CardCharge, CardRefund, CreditNote, Order, OrderAdjustment, OrderLine
from portal.models.base import utcnow
from portal.services import NotFound, audit, billing

CENT = Decimal("0.01")
#: How long one attempt may talk to Stripe about a refund (longer than the client's timeouts and retries).
LEASE = timedelta(minutes=10)
SENDING = "sending:"


@dataclass(frozen=True)
class Settlement:
    #: "refund" (card), "uninvoiced" (on account: never invoiced, so simply not billed), "credit_note"
    #: (on account: money already invoiced is credited) or "none" (nothing was charged for these units).
    kind: str
    amount: Decimal
    reference: str = ""


def cancellation_value(line: OrderLine, quantity: int) -> Decimal:
    """What ``quantity`` units of the line cost the buyer: their share of the line total and of the
    goodwill given on that line."""
    adjusted = sum((a.amount for a in db.session.scalars(select(OrderAdjustment).where(
        OrderAdjustment.order_line_id == line.id)) if getattr(a, "status", "approved") == "approved"),
        Decimal("0"))
    return rules.unit_share(line.line_total + adjusted, line.quantity, quantity)


def _insert(session, model, **values):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return session.execute(dialect.insert(model).values(**values)
                           .on_conflict_do_nothing(index_elements=["idempotency_key"])
                           .returning(model.id)).scalar_one_or_none()


def settle_cancellation(order_line_id: int, quantity: int, key: str, reason: str = "") -> Settlement:
    line = db.session.get(OrderLine, order_line_id)
    if line is None or quantity < 1 or quantity > line.cancelled:
        raise NotFound("No such cancellation.")
    order: Order = line.order
    amount = cancellation_value(line, quantity)
    if amount <= 0:
        return Settlement("none", Decimal("0.00"))
    if order.payment_method == "card":
        if order.charge_policy != "at_order":
            return Settlement("none", Decimal("0.00"))  # per shipment: unshipped units were never charged
        return _refund(order, line, amount, key, reason)
    return _on_account(order, line, amount, key, reason)


# --- card refunds ---------------------------------------------------------------------------------


def is_sent(refund: CardRefund) -> bool:
    return refund.stripe_refund_id is not None and not refund.stripe_refund_id.startswith(SENDING)


def _lease_ends(refund: CardRefund) -> datetime | None:
    marker = refund.stripe_refund_id or ""
    return datetime.fromisoformat(marker[len(SENDING):]) if marker.startswith(SENDING) else None


@dataclass(frozen=True)
class _Claim:
    refund_id: int
    marker: str
    payment_intent_id: str
    amount: Decimal
    key: str


def _claim(session, refund: CardRefund, now: datetime) -> _Claim | None:
    """Take the (locked) row for one attempt, unless it was sent or another attempt holds it."""
    ends = _lease_ends(refund)
    if is_sent(refund) or (ends is not None and ends > now):
        return None
    marker = f"{SENDING}{(now + LEASE).isoformat()}"
    refund.stripe_refund_id = marker
    charge = session.get(CardCharge, refund.card_charge_id)
    return _Claim(refund.id, marker, charge.stripe_payment_intent_id, refund.amount, refund.idempotency_key)


def paying_charge(session, order: Order, line: OrderLine, amount: Decimal) -> CardCharge | None:
    """The succeeded charge a refund for ``line`` goes on, locked. An order paid at placement has one
    charge; each swap of a late line on it (``portal.services.swaps``) adds one for the new line, keyed
    ``swap:<order id>:<product id>:<token>``. The line's own swap charge comes first, then the others
    oldest first; the first with room for ``amount`` is taken (else the one with the most room)."""
    charges = list(session.scalars(select(CardCharge).where(
        CardCharge.order_id == order.id, CardCharge.purpose == "order", CardCharge.status == "succeeded")
        .order_by(CardCharge.id).with_for_update()))
    if not charges:
        return None
    own = f"swap:{order.id}:{line.product_id}:"
    charges.sort(key=lambda charge: not charge.idempotency_key.startswith(own))  # stable: oldest first
    roomy = [charge for charge in charges if charge.amount - charge.amount_refunded >= amount]
    return roomy[0] if roomy else max(charges, key=lambda charge: charge.amount - charge.amount_refunded)


def _refund(order: Order, line: OrderLine, amount: Decimal, key: str, reason: str) -> Settlement:
    with write_transaction() as session:
        charge = paying_charge(session, order, line, amount)
        if charge is None:
            return Settlement("none", Decimal("0.00"))
        refund_id = _insert(session, CardRefund, card_charge_id=charge.id, order_line_id=line.id,
                            amount=min(amount, charge.amount - charge.amount_refunded), idempotency_key=key,
                            reason=reason[:255])
        if refund_id is not None:
            refund = session.get(CardRefund, refund_id)
            charge.amount_refunded += refund.amount
            claim = _claim(session, refund, utcnow())
        else:  # a repeat of a settlement: send what is still unsent, as a retry would
            refund = session.scalar(select(CardRefund).where(CardRefund.idempotency_key == key))
            claim = None
    if claim is not None:
        _send(claim, ask_first=False)  # raises StripeUnavailable when Stripe cannot be reached
    elif not is_sent(refund):
        outcome = _retry(refund.id)
        if outcome.status == "failed":
            raise gateway.StripeUnavailable(outcome.message)
    db.session.rollback()
    refund = db.session.get(CardRefund, refund.id)
    return Settlement("refund", refund.amount, refund.stripe_refund_id if is_sent(refund) else "")


def _send(claim: _Claim, ask_first: bool) -> tuple[str, bool]:
    """Send the claimed refund (or, with ``ask_first``, find one an earlier attempt made) and record it.
    Answers Stripe's refund id and whether it was found rather than made."""
    try:
        stripe_id = gateway.find_refund(claim.payment_intent_id, claim.key) if ask_first else None
        adopted = stripe_id is not None
        if stripe_id is None:
            stripe_id = gateway.refund(claim.payment_intent_id, claim.amount, claim.key,
                                       metadata={"refund_key": claim.key})
    except (gateway.StripeUnavailable, gateway.CardDeclined) as exc:
        _record(claim, None, str(exc))
        raise gateway.StripeUnavailable(str(exc)) from exc
    _record(claim, stripe_id, "", adopted)
    return stripe_id, adopted


def _record(claim: _Claim, stripe_id: str | None, error: str, adopted: bool = False) -> None:
    """The attempt's outcome replaces its marker (if another attempt took over after our lease ran out,
    it asked Stripe first, so it found our refund and records the same id)."""
    db.session.rollback()
    with write_transaction() as session:
        refund = session.scalar(select(CardRefund).where(CardRefund.id == claim.refund_id).with_for_update())
        if refund.stripe_refund_id == claim.marker:
            refund.stripe_refund_id = stripe_id
        after = {"stripe_refund_id": stripe_id, "adopted": adopted} if stripe_id else {"error": error[:255]}
        audit.record(None, "card_refund_sent" if stripe_id else "card_refund_failed", "card_refund",
                     refund.id, None, {"amount": refund.amount, **after})


@dataclass(frozen=True)
class RetryOutcome:
    refund_id: int
    amount: Decimal
    #: "sent", "found" (an earlier attempt had reached Stripe), "failed", "busy" (another attempt holds
    #: it) or "done" (already sent).
    status: str
    message: str = ""


def _retry(refund_id: int, now: datetime | None = None) -> RetryOutcome:
    with write_transaction() as session:
        refund = session.scalar(select(CardRefund).where(CardRefund.id == refund_id).with_for_update())
        if refund is None:
            raise NotFound("No such refund.")
        amount, sent = refund.amount, is_sent(refund)
        claim = _claim(session, refund, now or utcnow())
    if claim is None:
        return RetryOutcome(refund_id, amount, "done" if sent else "busy")
    try:
        stripe_id, adopted = _send(claim, ask_first=True)
    except gateway.StripeUnavailable as exc:
        return RetryOutcome(refund_id, amount, "failed", str(exc))
    recorded = db.session.scalar(select(CardRefund.stripe_refund_id).where(CardRefund.id == refund_id))
    if recorded != stripe_id:
        return RetryOutcome(refund_id, amount, "busy")
    return RetryOutcome(refund_id, amount, "found" if adopted else "sent")


def unsent_refunds(order_id: int | None = None) -> list[CardRefund]:
    """Refunds recorded but not confirmed by Stripe (being sent right now included), oldest first."""
    query = (select(CardRefund).where(or_(CardRefund.stripe_refund_id.is_(None),
                                          CardRefund.stripe_refund_id.startswith(SENDING)))
             .order_by(CardRefund.id).limit(500))
    if order_id is not None:
        query = query.join(CardCharge).where(CardCharge.order_id == order_id)
    return list(db.session.scalars(query))


def retry_refunds(order_id: int | None = None, now: datetime | None = None) -> list[RetryOutcome]:
    """Send every unsent refund (of one order, or all): each at most once, whoever else retries at the
    same time. A refund Stripe still cannot take stays pending for the next retry."""
    ids = [refund.id for refund in unsent_refunds(order_id)]
    db.session.rollback()
    return [_retry(refund_id, now) for refund_id in ids]


# --- on account -----------------------------------------------------------------------------------


def _on_account(order: Order, line: OrderLine, amount: Decimal, key: str, reason: str) -> Settlement:
    """Units never invoiced are simply not billed; a credit note covers only what invoices had already
    billed beyond the order's new worth (and never more than these units' value)."""
    with write_transaction() as session:
        session.scalar(select(Order.id).where(Order.id == order.id).with_for_update())
        existing = session.scalar(select(CreditNote).where(CreditNote.idempotency_key == key))
        if existing is not None:
            return Settlement("credit_note", existing.amount, existing.number)
        worth = billing.billable_values([order.id])[order.id]
        invoiced = billing.invoiced_totals([order.id]).get(order.id, Decimal("0"))
        credited = billing.credited_totals([order.id]).get(order.id, Decimal("0"))
        owed = min(rules.invoiced_beyond(worth, invoiced, credited), amount)
        if owed <= 0:
            return Settlement("uninvoiced", amount)
        note_id = _insert(session, CreditNote, number=f"T{uuid.uuid4().hex[:19]}",
                          company_id=order.company_id, order_id=order.id, order_line_id=line.id,
                          amount=owed, reason=reason[:255], idempotency_key=key)
        session.get(CreditNote, note_id).number = f"CN-{note_id:05d}"
        note = session.get(CreditNote, note_id)
        return Settlement("credit_note", note.amount, note.number)


def credit_notes_of(order_id: int) -> list[CreditNote]:
    return list(db.session.scalars(select(CreditNote).where(CreditNote.order_id == order_id)
                                   .order_by(CreditNote.id)))


def refunds_of(order_id: int) -> list[CardRefund]:
    return list(db.session.scalars(select(CardRefund).join(CardCharge).where(CardCharge.order_id == order_id)
                                   .order_by(CardRefund.id)))


# --- what the order page says ---------------------------------------------------------------------


def refunds_sentence(order_id: int) -> tuple[Decimal, str]:
    """All refunds of the order (sent or pending), and what the buyer is told about them: a refund
    Stripe has not confirmed reads "pending" until it is sent."""
    from portal.formatting import money

    refunds = refunds_of(order_id)
    sent = sum((r.amount for r in refunds if is_sent(r)), Decimal("0.00"))
    pending = sum((r.amount for r in refunds if not is_sent(r)), Decimal("0.00"))
    sentence = f" Refunded {money(sent)} for cancelled items." if sent else ""
    if pending:
        sentence += f" Refund pending: {money(pending)} for cancelled items, not sent to your card yet."
    return sent + pending, sentence


def cancelled_on_account_sentence(order_id: int) -> str:
    """On account: cancelled items that were never invoiced are simply not billed; credit notes cover
    invoiced money only."""
    from portal.formatting import money

    notes = credit_notes_of(order_id)
    credited = sum((n.amount for n in notes), Decimal("0.00"))
    not_billed = billing.cancelled_value(order_id) - credited
    sentence = (f" Cancelled items ({money(not_billed)}) were never invoiced: they are not billed."
                if not_billed > 0 else "")
    return sentence + "".join(f" Credit note {n.number}: {money(n.amount)} for invoiced items cancelled."
                              for n in notes)
