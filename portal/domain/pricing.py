"""Customer pricing: a company's unit price for a product and volume breaks (issue 3, point 6).

A company's unit price is the fixed price on its price list when there is one, otherwise the list price
less the price list's percentage. Volume breaks take a percentage off that unit price from a minimum
line quantity on; the largest break reached applies. Prices are Decimal, rounded half-up to cents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Break:
    min_quantity: int
    percent_off: Decimal


@dataclass(frozen=True, slots=True)
class PriceTier:
    """One row of the volume price table: from ``min_quantity`` units, ``unit_price`` each."""

    min_quantity: int
    unit_price: Decimal
    percent_off: Decimal


def company_unit_price(list_price: Decimal, list_percent_off: Decimal = Decimal(0),
                       fixed_price: Decimal | None = None) -> Decimal:
    """The company's price for one unit before volume breaks."""
    if fixed_price is not None:
        return to_cents(fixed_price)
    if not Decimal(0) <= list_percent_off <= HUNDRED:
        raise ValueError("a price list's percentage is between 0 and 100")
    return to_cents(list_price * (HUNDRED - list_percent_off) / HUNDRED)


def price_table(unit_price: Decimal, breaks: Iterable[Break]) -> list[PriceTier]:
    """Every tier, starting at 1 unit with the plain unit price, in quantity order."""
    tiers = [PriceTier(1, to_cents(unit_price), Decimal(0))]
    for b in sorted(breaks, key=lambda b: b.min_quantity):
        price = to_cents(unit_price * (HUNDRED - b.percent_off) / HUNDRED)
        tiers.append(PriceTier(b.min_quantity, price, b.percent_off))
    return tiers


def unit_price_for(quantity: int, unit_price: Decimal, breaks: Iterable[Break]) -> Decimal:
    """The unit price of a line of ``quantity`` units: the largest break reached, never a smaller one."""
    reached = [t for t in price_table(unit_price, breaks) if t.min_quantity <= max(quantity, 1)]
    return reached[-1].unit_price


def line_total(quantity: int, unit_price: Decimal) -> Decimal:
    return to_cents(unit_price * quantity)
