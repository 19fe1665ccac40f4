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
    if line.hidden and not line.late:
        return None  # the buyer is told these units are "Available": a discount would give it away
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


# --- rules as admins edit them ------------------------------------------------------------------------

KIND_NAMES = {"percent_off_late_backorder": "Percent off late backorders",
              "credit_missed_deadline": "Credit when we miss the buyer's deadline"}
#: The parameters each kind takes; the others must be blank.
PARAMETERS = {"percent_off_late_backorder": ("days", "percent"), "credit_missed_deadline": ("amount",)}
MAX_DAYS = 3650
MAX_AMOUNT = Decimal("9999999999.99")


def describe(kind: str, days: int | None, percent: Decimal | None, amount: Decimal | None,
             money=str) -> str:
    """What a rule does, in a sentence buyers and admins both read; ``money`` formats an amount."""
    if kind == "percent_off_late_backorder":
        share = f"{Decimal(percent or 0).normalize():f}%"
        if not days:
            return f"{share} off backordered units that arrive after the day of ordering"
        unit = "day" if days == 1 else "days"
        return f"{share} off backordered units whose ETA is more than {days} {unit} away"
    if kind == "credit_missed_deadline":
        return (f"A credit of {money(amount)} per line whose ETA misses the buyer's deadline when the buyer "
                f"keeps the line")
    return KIND_NAMES.get(kind, kind)


def rule_problems(kind: str, days: int | None, percent: Decimal | None,
                  amount: Decimal | None) -> dict[str, str]:
    """Every problem with a rule's parameters, by field (empty when the rule is valid)."""
    if kind not in PARAMETERS:
        return {"kind": "Choose the kind of rule."}
    problems: dict[str, str] = {}
    wanted = PARAMETERS[kind]
    given = {"days": days, "percent": percent, "amount": amount}
    for name in ("days", "percent", "amount"):
        if name not in wanted and given[name] is not None:
            problems[name] = f"Leave this blank: a “{KIND_NAMES[kind]}” rule does not use it."
    if "days" in wanted:
        if days is None:
            problems["days"] = "Enter the number of days (0 or more)."
        elif not 0 <= days <= MAX_DAYS:
            problems["days"] = f"Days are a whole number from 0 to {MAX_DAYS:,}."
    if "percent" in wanted:
        if percent is None:
            problems["percent"] = "Enter the percentage off (more than 0, at most 100)."
        elif not (percent.is_finite() and Decimal(0) < percent <= Decimal(100)):
            problems["percent"] = "The percentage off is more than 0 and at most 100."
    if "amount" in wanted:
        if amount is None:
            problems["amount"] = "Enter the credit amount."
        elif not (amount.is_finite() and Decimal(0) < amount <= MAX_AMOUNT):
            problems["amount"] = "The credit is more than 0 (and at most 9,999,999,999.99)."
    return problems
