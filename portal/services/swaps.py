"""Swapping a late backorder to an alternative on a placed order (issue 7; DESIGN §4, §6, §7).

When units still on backorder are expected after the buyer's deadline (``backorders.is_late``), the order
page offers the line's alternatives (curated first, then automatic: ``catalog.alternatives``) that ship
the whole backordered quantity now, each at the company's price for that quantity (price list, volume
breaks). One click swaps, in one transaction: stock rows of both products locked in product-id order,
then the line; every rule checked again against the locked stock; the backordered units cancelled
(``backorders.cancel_units``: PO links released, the queue's ETAs recomputed); a new line for the
alternative allocated from stock; the order's totals recomputed from its lines; a timeline row and an
audit entry.

A stale or replayed choice is refused before anything changes: the form carries the line's version (a
digest of its quantities, ETA and deadline) and the unit price it showed.

Money. The cancelled units are settled the usual way after commit (``backorders.settle_cancelled``:
refunded on the card charge that paid them, or credited on account). The new line:

- on account: the order's value grows by the new line; when that exceeds the cancelled units' value the
  increase is credit-checked under the company lock (over the limit: refused with the amount).
- card charged at order: before the transaction, the new line's value is authorized off-session on the
  order's card (manual capture), keyed ``swap:<order id>:<product id>:<one-time token>`` in
  ``card_charges`` — Stripe is never called while we hold locks. A decline, or a bank asking for
  authentication, refuses the swap with nothing written. The transaction requires that authorization
  (this company's, unused, for exactly the new line's value) and links it to the order; if the
  transaction fails, the authorization is cancelled. After commit it is captured. So no state exists in
  which the swap is written without its payment held, or money is held without a swap.
- card charged per shipment: nothing is charged now; the new line is charged when it ships.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from portal.database import write_transaction
from portal.domain.availability import check_quantity
from portal.domain.display import Badge
from portal.domain.pricing import line_total, unit_price_for
from portal.extensions import db
from portal.formatting import money
from portal.integrations import stripe as gateway
from portal.models import CardCharge, Company, Order, OrderLine, Product, User
from portal.services import NotFound, ServiceError, audit, backorders, catalog, credit, payments, refunds
from portal.services import backorder_ops as ops
from portal.services.alternatives import alternatives_of
from portal.services.pricing import PriceBook
from portal.services.scope import company_filter

#: Alternatives looked at per late line (as many as the checkout and the product page offer).
MAX_OPTIONS = 4


class SwapRefused(ServiceError):
    """The swap cannot be made as asked; the message says why (every reason at once). Nothing changed."""


@dataclass(frozen=True)
class Option:
    """An alternative that ships the late line's whole backordered quantity now, priced for it."""

    product: Product
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    badge: Badge


@dataclass(frozen=True)
class Choice:
    line: OrderLine
    #: The line's version when the page was drawn (see :func:`line_version`).
    version: str
    options: list[Option]


@dataclass(frozen=True)
class SwapRequest:
    line_id: int
    alternative_id: int
    #: The quantity the page showed: the line's backordered units.
    quantity: int
    version: str
    #: One per page drawn: names the card authorization, so a double click holds the card once.
    token: str
    #: The unit price the page showed.
    unit_price: Decimal


@dataclass(frozen=True)
class Swapped:
    late: OrderLine
    new: OrderLine
    #: The money back for the cancelled units (None: the payment service could not be reached).
    settlement: refunds.Settlement | None
    #: What was charged to the card now for the new line (None: nothing was).
    charged: Decimal | None


def line_version(line: OrderLine) -> str:
    """A digest of what a swap decision depends on: any change (stock set aside, units shipped or
    cancelled, a new ETA or deadline) makes a choice shown before it stale."""
    state = (line.id, line.quantity, line.allocated, line.backordered, line.shipped, line.cancelled,
             line.eta, line.need_by)
    return hashlib.sha256(repr(state).encode()).hexdigest()[:16]


def may_act(user: User, order: Order) -> bool:
    """Buyers on their company's orders, reps on their assigned companies', admins on all."""
    return db.session.scalar(select(Company.id).where(Company.id == order.company_id,
                                                      company_filter(user))) is not None


# --- what the order page offers ----------------------------------------------------------------------


def options_for(line: OrderLine, company: Company, today: date) -> list[Option]:
    """The alternatives a late line may be swapped to now, best first."""
    product = db.session.get(Product, line.product_id)
    book = PriceBook.for_company(company)
    cards = catalog.alternatives(product, book, today, limit=MAX_OPTIONS)
    breaks = book.breaks([card.product.id for card in cards])
    found = []
    for card in cards:
        alternative, quantity = card.product, line.backordered
        if card.facts.available < quantity or check_quantity(quantity, alternative.order_minimum,
                                                             alternative.order_multiple):
            continue
        unit = unit_price_for(quantity, card.unit_price, breaks.get(alternative.id, []))
        found.append(Option(alternative, quantity, unit, line_total(quantity, unit), card.facts.badge()))
    return found


def choices(order: Order, today: date) -> list[Choice]:
    """One choice per late line of ``order`` (empty when nothing is late)."""
    if order.status == "cancelled":
        return []
    late = [line for line in order.lines if backorders.is_late(line)]
    return [Choice(line, line_version(line), options_for(line, order.company, today)) for line in late]


# --- swapping ------------------------------------------------------------------------------------------


def swap_backorder(actor: User, request: SwapRequest, today: date) -> Swapped:
    """Swap the late line's backordered units to the alternative; see the module docstring."""
    line = db.session.get(OrderLine, request.line_id)
    if line is None or not may_act(actor, line.order):
        raise NotFound("That order line does not exist.")
    order = line.order
    charge = None
    if order.payment_method == "card" and order.charge_policy == "at_order":
        priced = _checked(line, order, request, today, _available(request.alternative_id))
        charge = _authorize(order, priced.line_total, request)
    try:
        late, new = _write(actor, request, today, charge.id if charge else None)
    except Exception:
        if charge is not None:
            payments._release(charge.id)  # the card is held for nothing: let it go
        raise
    if charge is not None:
        payments._capture(charge.id)
    reason = f"swapped for {new.sku}"
    settlement = backorders.settle_cancelled(late, request.quantity, reason)
    return Swapped(late, new, settlement, charge.amount if charge else None)


@dataclass(frozen=True)
class _Priced:
    product: Product
    unit_price: Decimal
    line_total: Decimal


def _available(product_id: int) -> int:
    from portal.services.stock_facts import available_by_product

    return available_by_product([product_id]).get(product_id, 0)


def _checked(line: OrderLine, order: Order, request: SwapRequest, today: date, available: int) -> _Priced:
    """The new line's price when the swap is allowed as asked; SwapRefused with every reason otherwise."""
    sku = line.sku
    if order.status == "cancelled" or line.backordered == 0:
        raise SwapRefused(f"Nothing of {sku} is on backorder any more (it has been set aside, shipped or "
                          "cancelled): there is nothing to swap.")
    if not backorders.is_late(line):
        raise SwapRefused(f"{sku} is expected by your deadline: there is nothing to swap.")
    if request.version != line_version(line):
        raise SwapRefused(f"{sku} changed since the page was shown (its expected date or quantities): "
                          "look at the order again and choose again.")
    problems = []
    if request.quantity != line.backordered:
        problems.append(f"A swap replaces all {line.backordered} units of {sku} on backorder, "
                        f"not {request.quantity}.")
    alternative = db.session.get(Product, request.alternative_id)
    offered = {card.product.id for card in catalog.alternatives(
        db.session.get(Product, line.product_id), PriceBook.for_company(order.company), today,
        limit=MAX_OPTIONS)}
    if alternative is None or alternative.id == line.product_id or (
            alternative.id not in offered and alternative not in alternatives_of(line.product_id)):
        problems.append(f"That product is not one of the alternatives offered for {sku}.")
        raise SwapRefused(" ".join(problems))
    if not alternative.active:
        problems.append(f"{alternative.sku} is no longer sold.")
    elif alternative.id not in offered or available < line.backordered:
        problems.append(f"Only {max(available, 0)} units of {alternative.sku} are in stock now: it cannot "
                        f"replace the {line.backordered} units of {sku} on backorder.")
    problems += [f"{alternative.sku}: {p}" for p in check_quantity(
        line.backordered, alternative.order_minimum, alternative.order_multiple)]
    book = PriceBook.for_company(order.company)
    unit = unit_price_for(line.backordered, book.unit_prices([alternative])[alternative.id],
                          book.breaks([alternative.id]).get(alternative.id, []))
    if not problems and request.unit_price != unit:
        problems.append(f"The price of {alternative.sku} is now {money(unit)} a unit (the page showed "
                        f"{money(request.unit_price)}): look at the order again.")
    if problems:
        raise SwapRefused(" ".join(problems))
    return _Priced(alternative, unit, line_total(line.backordered, unit))


def _write(actor: User, request: SwapRequest, today: date,
           charge_id: int | None) -> tuple[OrderLine, OrderLine]:
    with write_transaction() as session:
        found = session.get(OrderLine, request.line_id)
        placed = session.get(Order, found.order_id)
        if placed.payment_method == "on_account":  # the company row before stock rows, as ordering does
            credit.lock_company(session, placed.company_id)
        stocks = ops.lock_stock(session, [found.product_id, request.alternative_id])
        line = session.scalar(select(OrderLine).where(OrderLine.id == request.line_id).with_for_update()
                              .execution_options(populate_existing=True))
        order = session.scalar(select(Order).where(Order.id == line.order_id)
                               .execution_options(populate_existing=True))
        shelf = stocks.get(request.alternative_id, [])
        priced = _checked(line, order, request, today, sum(s.on_hand - s.allocated for s in shelf))
        if order.payment_method == "on_account":
            _check_credit(session, order, line, request.quantity, priced.line_total)
        if charge_id is not None:
            _use_charge(session, order, charge_id, priced.line_total)
        backorders.cancel_units(session, actor, line, order, request.quantity,
                                f"swapped for {priced.product.sku}, which ships now")
        new = _add_line(session, order, line, priced, request.quantity, shelf)
        order.subtotal += new.line_total
        order.total = order.subtotal + order.adjustments_total
        ops.refresh_order_status(order, session.scalars(select(OrderLine)
                                                        .where(OrderLine.order_id == order.id)))
        ops.add_event(session, order.id, "allocated", f"{new.quantity} × {new.sku} added in place of "
                      f"{line.sku} and set aside from stock: ready to ship", actor)
        audit.record(actor, "backorder_swapped", "order_line", line.id,
                     {"sku": line.sku, "backordered": request.quantity, "eta": line.eta},
                     {"order_line_id": new.id, "sku": new.sku, "quantity": new.quantity,
                      "unit_price": new.unit_price, "card_charge_id": charge_id})
        session.flush()
        ops.recompute_etas(session, [line.product_id], today, actor)
    return line, new


def _add_line(session, order: Order, late: OrderLine, priced: _Priced, quantity: int, shelf) -> OrderLine:
    """The alternative's line, its units promised from the locked stock rows warehouse by warehouse."""
    new = OrderLine(order_id=order.id, product_id=priced.product.id, sku=priced.product.sku,
                    name=priced.product.name, quantity=quantity, allocated=quantity, backordered=0,
                    unit_price=priced.unit_price, line_total=priced.line_total, need_by=late.need_by)
    session.add(new)
    ops.take_from_stock(shelf, quantity)  # checked against the same locked rows
    session.flush()
    return new


def _check_credit(session, order: Order, line: OrderLine, quantity: int, new_total: Decimal) -> None:
    """On account, the order's value grows by the new line and the cancelled units are credited: an
    increase is checked against the credit limit under the company lock (as placing an order is)."""
    increase = new_total - refunds.cancellation_value(line, quantity)
    if increase <= 0:
        return
    company = credit.lock_company(session, order.company_id)
    result = credit.check(company, increase)
    if result.over_by > 0:
        raise SwapRefused(f"This swap adds {money(increase)} to your account: {money(result.over_by)} over "
                          f"your credit limit of {money(result.limit)} ({money(result.exposure)} is already "
                          "on account). Ask your sales rep, or cancel the line and order the alternative "
                          "paying by card.")


def _use_charge(session, order: Order, charge_id: int, amount: Decimal) -> None:
    charge = session.scalar(select(CardCharge).where(CardCharge.id == charge_id).with_for_update())
    if (charge is None or charge.company_id != order.company_id or charge.status != "authorized"
            or charge.order_id is not None or charge.amount != amount):
        raise SwapRefused("The card payment does not match this swap: look at the order again.")
    charge.order_id = order.id


def _authorize(order: Order, amount: Decimal, request: SwapRequest) -> CardCharge:
    """Hold the new line's value on the order's card, off-session (see the module docstring)."""
    card = order.payment_card
    if card is None or card.removed_at is not None:
        raise SwapRefused("The card this order was paid with has been removed: cancel the line instead and "
                          "order the alternative with another card.")
    key = f"swap:{order.id}:{request.alternative_id}:{request.token}"
    charge, fresh = payments._claim(order.company_id, key, "order", amount, card)
    if not fresh:
        if charge.status == "failed":
            raise SwapRefused(f"Your card was declined: {charge.failure_message} Nothing was changed.")
        raise SwapRefused("This swap is already being processed: look at the order again in a moment.")
    try:
        intent = gateway.authorize_off_session(
            amount=amount, currency=charge.currency, customer_id=order.company.stripe_customer_id,
            payment_method_id=card.stripe_payment_method_id, idempotency_key=key,
            metadata={"order": order.number, "swap_line_id": str(request.line_id)})
    except gateway.CardDeclined as exc:
        payments.update_charge(charge.id, "failed", exc.message)
        raise SwapRefused(f"Your card was declined: {exc.message} Nothing was changed.") from exc
    except gateway.StripeUnavailable as exc:
        payments.update_charge(charge.id, "failed", str(exc))
        raise SwapRefused(f"{exc} Nothing was changed.") from exc
    charge = payments.update_charge(charge.id, payments.status_of_intent(intent), intent.error,
                                    stripe_payment_intent_id=intent.id, stripe_charge_id=intent.charge_id)
    if charge.status == "authorized":
        return charge
    if charge.status == "requires_action":
        _cancel_intent(charge)
        raise SwapRefused("Your bank wants to confirm this payment with you, which a swap cannot ask for: "
                          "cancel the line instead and order the alternative at checkout. Nothing was "
                          "changed.")
    raise SwapRefused(f"Your card was declined: {charge.failure_message or 'no reason given.'} "
                      "Nothing was changed.")


def _cancel_intent(charge: CardCharge) -> None:
    try:
        gateway.cancel_payment_intent(charge.stripe_payment_intent_id)
    except (gateway.StripeUnavailable, gateway.CardDeclined):
        current_app.logger.exception("Could not cancel payment intent %s", charge.stripe_payment_intent_id)
        return
    payments.update_charge(charge.id, "canceled")
