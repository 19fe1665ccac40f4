"""Planning an order from a cart against live stock (DESIGN §4, §6): pure, so checkout's rules are tested
without a database. The service gathers each product's state (under lock when placing) and asks here.

A plan line is what will happen to a cart line: units allocated now, units backordered with an ETA,
and the problems that stop the order (every problem of every line, not the first one only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from portal.domain.availability import BackorderRules, check_quantity, split_request
from portal.domain.eta import Eta
from portal.domain.pricing import Break, line_total, unit_price_for


@dataclass(frozen=True, slots=True)
class LineRequest:
    product_id: int
    quantity: int
    #: The deadline for this line (its own, else the order's).
    need_by: date | None = None
    #: The buyer accepted an ETA after the deadline.
    accept_late: bool = False


@dataclass(frozen=True, slots=True)
class ProductState:
    """What the rules need to know about a product right now."""

    product_id: int
    sku: str
    name: str
    rules: BackorderRules
    available: int
    backordered_open: int
    unit_price: Decimal
    breaks: tuple[Break, ...] = ()
    minimum: int = 1
    multiple: int = 1
    active: bool = True
    #: ETA a new backorder would get, per backordered quantity (the service computes it for the plan).
    eta: Eta | None = None


@dataclass(frozen=True, slots=True)
class PlanLine:
    product_id: int
    sku: str
    name: str
    quantity: int
    allocate: int
    backorder: int
    unit_price: Decimal
    line_total: Decimal
    eta: Eta | None
    need_by: date | None
    accept_late: bool
    hidden: bool
    problems: tuple[str, ...] = ()

    @property
    def late(self) -> bool:
        """Units wait past the buyer's deadline."""
        return bool(self.backorder and self.eta and self.need_by and self.eta.date > self.need_by)

    @property
    def needs_decision(self) -> bool:
        """A late line the buyer has not yet accepted: the order cannot be placed with it."""
        return self.late and not self.accept_late

    def fingerprint(self) -> tuple:
        """What the buyer reviewed: if any of it differs when placing, the review is outdated."""
        eta = self.eta.date.isoformat() if (self.eta and self.backorder) else None
        return (self.product_id, self.quantity, self.allocate, self.backorder, str(self.unit_price), eta)


def plan_line(request: LineRequest, state: ProductState) -> PlanLine:
    problems: list[str] = []
    if not state.active:
        problems.append("This product is no longer sold.")
    problems += check_quantity(request.quantity, state.minimum, state.multiple)
    split = split_request(request.quantity, state.available, state.rules, state.backordered_open)
    if split.refused:
        problems.append(_refusal(split.reason, state))
    unit = unit_price_for(request.quantity, state.unit_price, state.breaks)
    return PlanLine(
        product_id=state.product_id, sku=state.sku, name=state.name, quantity=request.quantity,
        allocate=split.allocatable, backorder=split.backorderable, unit_price=unit,
        line_total=line_total(request.quantity, unit), eta=state.eta if split.backorderable else None,
        need_by=request.need_by, accept_late=request.accept_late,
        hidden=state.rules.hides_backorders, problems=tuple(problems))


def _refusal(reason: str | None, state: ProductState) -> str:
    """Buyers never see a hidden backorder's mechanics: the cap reads as plain availability."""
    if state.rules.hides_backorders:
        room = 0
        if state.rules.policy == "allow_up_to":
            room = max((state.rules.cap or 0) - state.backordered_open, 0)
        return f"Only {state.available + room} can be ordered now."
    if state.rules.policy == "block":
        return f"Only {state.available} in stock, and this product cannot be backordered."
    return f"Cannot order this many: {reason}."


def plan(requests: Iterable[LineRequest], states: dict[int, ProductState]) -> list[PlanLine]:
    return [plan_line(r, states[r.product_id]) for r in requests]


def blocking_problems(lines: Sequence[PlanLine]) -> list[tuple[PlanLine, str]]:
    """Every reason the order cannot be placed, line by line."""
    found = [(line, problem) for line in lines for problem in line.problems]
    found += [(line, "Arrives after your deadline: keep it and accept the later date, swap it, or remove it.")
              for line in lines if line.needs_decision]
    return found


def changed_lines(reviewed: Sequence[Sequence], now: Sequence[PlanLine]) -> list[PlanLine]:
    """Lines whose figures differ from what the buyer reviewed. If the set of lines itself changed
    (a line added or removed meanwhile, e.g. in another tab), every line counts as changed."""
    before = {fp[0]: tuple(fp) for fp in reviewed}
    if set(before) != {line.product_id for line in now}:
        return list(now)
    return [line for line in now if before[line.product_id] != line.fingerprint()]


def subtotal(lines: Iterable[PlanLine]) -> Decimal:
    return sum((line.line_total for line in lines), Decimal("0.00"))
