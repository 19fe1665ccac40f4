"""Automatic goodwill (DESIGN §4): rules are data; this module decides which apply to which line.

- ``percent_off_late_backorder``: ``percent`` off the backordered units' value when the ETA is more than
  ``days`` days after today.
- ``credit_missed_deadline``: a fixed ``amount`` per line whose ETA misses the buyer's deadline and the
  buyer keeps the line (accepted the later date).

Amounts are negative (they reduce what the buyer pays) and never exceed the line's value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from portal.domain.checkout import PlanLine
from portal.domain.pricing import to_cents


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    name: str
    kind: str
    days: int | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Adjustment:
    product_id: int
    rule_id: int
    description: str
    #: Negative: a discount or credit.
    amount: Decimal


def _late_backorder(rule: Rule, line: PlanLine, today: date) -> Decimal | None:
    if not line.backorder or line.eta is None or rule.percent is None:
        return None
    if (line.eta.date - today).days <= (rule.days or 0):
        return None
    return to_cents(line.unit_price * line.backorder * rule.percent / Decimal(100))


def _missed_deadline(rule: Rule, line: PlanLine, today: date) -> Decimal | None:
    if not (line.late and line.accept_late) or rule.amount is None:
        return None
    return rule.amount


_APPLIES = {"percent_off_late_backorder": _late_backorder, "credit_missed_deadline": _missed_deadline}


def adjustments_for(lines: Iterable[PlanLine], rules: Iterable[Rule], today: date) -> list[Adjustment]:
    """Every rule that applies to every line, capped so a line never goes below zero."""
    found: list[Adjustment] = []
    rules = list(rules)
    for line in lines:
        remaining = line.line_total
        for rule in rules:
            value = _APPLIES[rule.kind](rule, line, today)
            if value is None or value <= 0 or remaining <= 0:
                continue
            value = min(value, remaining)
            remaining -= value
            found.append(Adjustment(line.product_id, rule.id, rule.name, -value))
    return found
