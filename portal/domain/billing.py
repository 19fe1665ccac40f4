"""Billing an on-account order (DESIGN §7): what units are worth, what is left to invoice, and what one
invoice of a shipment is made of. Pure: plain values in, plain values out.

Invoices bill an order cumulatively (``shipping.invoice_due``): each one bills the value of every unit
shipped so far, less the order's own goodwill (order-level credit, used up by the first invoices), less
what earlier invoices billed. A unit's value is its share of the line total and of the goodwill given on
that line, rounded half-up to cents on the whole count of units, so no cent is lost between shipments.

Cancelled units were never shipped, so never invoiced: cancelling them lowers what is left to invoice
and gives the buyer no credit note. A credit note is due only when invoices already billed more than the
order is now worth (:func:`invoiced_beyond`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def unit_share(amount: Decimal, quantity: int, units: int) -> Decimal:
    """``units`` out of ``quantity`` units' share of ``amount`` (a line total, or line total plus its
    goodwill), rounded half-up to cents."""
    if units <= 0 or quantity <= 0:
        return ZERO
    return (amount * units / quantity).quantize(CENT, rounding=ROUND_HALF_UP)


def billable(unit_values: Iterable[Decimal], order_credit: Decimal) -> Decimal:
    """What the order bills in all when every unit in ``unit_values`` ships: their value less the
    order-level credit (``order_credit`` is zero or negative), never below zero."""
    return max(sum(unit_values, ZERO) + order_credit, ZERO).quantize(CENT)


def left_to_invoice(billable_value: Decimal, invoiced: Decimal) -> Decimal:
    """The part of an order no invoice has billed yet (never negative: an over-billed order is
    settled by a credit note, not by a negative balance)."""
    return max(billable_value - invoiced, ZERO)


def invoiced_beyond(billable_value: Decimal, invoiced: Decimal, credited: Decimal) -> Decimal:
    """How much the order's invoices billed beyond what it is now worth, net of the credit notes
    already issued against it: the credit note a cancellation owes the buyer (usually zero)."""
    return max(invoiced - credited - billable_value, ZERO)


def order_credit_used(shipped_before: Decimal, shipped_after: Decimal, order_credit: Decimal) -> Decimal:
    """The part of the order-level credit (``order_credit``, zero or negative) one invoice takes: the
    credit is used up by the first invoices, as far as the value shipped reaches. Answered as a
    negative amount (or zero)."""
    credit = -order_credit
    used = min(max(shipped_after, ZERO), credit) - min(max(shipped_before, ZERO), credit)
    return -used


@dataclass(frozen=True, slots=True)
class ShippedLine:
    """One order line as far as one shipment goes: ``before`` units shipped earlier, ``units`` now."""

    sku: str
    name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal
    goodwill: Decimal
    before: int
    units: int


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    #: The goods' value (their share of the line total).
    value: Decimal
    #: Goodwill given on the line, for these units (zero or negative).
    goodwill: Decimal

    @property
    def net(self) -> Decimal:
        return self.value + self.goodwill


@dataclass(frozen=True, slots=True)
class InvoiceBreakdown:
    lines: tuple[InvoiceLine, ...]
    #: The part of the order's own goodwill this invoice uses (zero or negative).
    order_credit: Decimal
    #: What reconciles the lines with the invoice total otherwise: goodwill granted on goods that earlier
    #: invoices had already billed is taken off the next invoice (zero almost always).
    correction: Decimal
    total: Decimal

    @property
    def goods(self) -> Decimal:
        return sum((line.value for line in self.lines), ZERO)

    @property
    def goodwill(self) -> Decimal:
        return sum((line.goodwill for line in self.lines), ZERO)


def invoice_breakdown(shipped: Iterable[ShippedLine], shipped_value_before: Decimal, order_credit: Decimal,
                      total: Decimal) -> InvoiceBreakdown:
    """The lines of one shipment's invoice and how they add up to its ``total``.

    ``shipped_value_before`` is the value (goodwill included) of every unit of the order shipped by earlier
    shipments. Each line bills the difference of cumulative shares, exactly as the invoice total did."""
    lines = []
    for item in shipped:
        after = item.before + item.units
        value = (unit_share(item.line_total, item.quantity, after)
                 - unit_share(item.line_total, item.quantity, item.before))
        gross = item.line_total + item.goodwill
        net = unit_share(gross, item.quantity, after) - unit_share(gross, item.quantity, item.before)
        lines.append(InvoiceLine(item.sku, item.name, item.units, item.unit_price, value, net - value))
    net_total = sum((line.net for line in lines), ZERO)
    credit = order_credit_used(shipped_value_before, shipped_value_before + net_total, order_credit)
    correction = total - net_total - credit
    return InvoiceBreakdown(tuple(lines), credit, correction, total)
