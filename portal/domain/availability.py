"""How much of a requested quantity ships now, goes on backorder or is refused (DESIGN §3-4).

Quantities are whole units and never negative. A product's stock is summed over its warehouses before
these rules see it: ``available(sum(on_hand), sum(allocated))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Policy = Literal["block", "allow", "allow_up_to"]
Visibility = Literal["show", "hide"]
StockDisplay = Literal["exact", "level"]

POLICIES: tuple[str, ...] = get_args(Policy)
VISIBILITIES: tuple[str, ...] = get_args(Visibility)
STOCK_DISPLAYS: tuple[str, ...] = get_args(StockDisplay)


def _require_non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")


@dataclass(frozen=True, slots=True)
class BackorderRules:
    """A product's backorder settings.

    Invariants: ``cap`` is set exactly when the policy is ``allow_up_to`` and is never negative; the
    low-stock threshold is never negative. ``visibility`` and ``stock_display`` only change what buyers
    are shown, never how much they may order.
    """

    policy: Policy = "block"
    cap: int | None = None
    visibility: Visibility = "show"
    stock_display: StockDisplay = "exact"
    low_stock_threshold: int = 10

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown backorder policy {self.policy!r}")
        if self.visibility not in VISIBILITIES:
            raise ValueError(f"unknown backorder visibility {self.visibility!r}")
        if self.stock_display not in STOCK_DISPLAYS:
            raise ValueError(f"unknown stock display {self.stock_display!r}")
        if (self.policy == "allow_up_to") != (self.cap is not None):
            raise ValueError("a cap is required with allow_up_to and only with allow_up_to")
        if self.cap is not None:
            _require_non_negative(cap=self.cap)
        _require_non_negative(low_stock_threshold=self.low_stock_threshold)

    @property
    def hides_backorders(self) -> bool:
        """Buyers see "Available" instead of a backorder (staff always see the truth)."""
        return self.visibility == "hide"


@dataclass(frozen=True, slots=True)
class Split:
    """A requested quantity divided into what ships now, what waits, and what cannot be ordered.

    Invariants: every part is non-negative; ``allocatable + backorderable + refused`` is the requested
    quantity; ``reason`` is set exactly when something is refused. The reason tells the truth (staff
    wording); ``display`` rephrases it for buyers under hidden visibility.
    """

    allocatable: int
    backorderable: int
    refused: int
    reason: str | None = None

    @property
    def requested(self) -> int:
        return self.allocatable + self.backorderable + self.refused

    @property
    def accepted(self) -> int:
        """Units the order line may take: allocated now plus backordered."""
        return self.allocatable + self.backorderable

    @property
    def is_complete(self) -> bool:
        return self.refused == 0


def available(on_hand: int, allocated: int) -> int:
    """Units free to promise: ``on_hand - allocated``, never below zero.

    Pass sums over all warehouses. Over-allocation should never happen (DESIGN §5), but if it does the
    product reads as empty rather than negative.
    """
    _require_non_negative(on_hand=on_hand, allocated=allocated)
    return max(on_hand - allocated, 0)


def backorder_room(rules: BackorderRules, backordered_open: int) -> int | None:
    """Units that may still go on backorder: None for unlimited, 0 for ``block`` or a used-up cap.

    ``backordered_open`` is the units already on backorder across all open orders. A cap lowered below
    what is already backordered leaves no room, never negative room.
    """
    _require_non_negative(backordered_open=backordered_open)
    if rules.policy == "block":
        return 0
    if rules.policy == "allow":
        return None
    assert rules.cap is not None  # guaranteed by BackorderRules
    return max(rules.cap - backordered_open, 0)


def max_orderable(available: int, rules: BackorderRules, backordered_open: int = 0) -> int | None:
    """The most units one order line may take right now; None means unlimited (``allow``)."""
    _require_non_negative(available=available)
    room = backorder_room(rules, backordered_open)
    return None if room is None else available + room


def split_request(requested: int, available: int, rules: BackorderRules, backordered_open: int = 0) -> Split:
    """Divide ``requested`` units between allocation now, backorder and refusal.

    Stock is always taken first: ``allocatable = min(requested, available)``. The rest is backordered as
    far as the policy allows (``block`` never, ``allow`` always, ``allow_up_to`` within the remaining
    cap) and refused beyond that, with a reason.
    """
    _require_non_negative(requested=requested, available=available)
    allocatable = min(requested, available)
    rest = requested - allocatable
    room = backorder_room(rules, backordered_open)
    backorderable = rest if room is None else min(rest, room)
    refused = rest - backorderable
    reason = _refusal_reason(available, room) if refused else None
    return Split(allocatable, backorderable, refused, reason)


def _refusal_reason(available: int, room: int | None) -> str:
    if not room:
        return f"only {available} available"
    if available == 0:
        return f"only {room} can be backordered"
    return f"only {available + room} can be ordered: {available} available now and {room} on backorder"


def nearest_valid_quantities(quantity: int, minimum: int = 1, multiple: int = 1) -> tuple[int, ...]:
    """The valid quantities closest to ``quantity``: itself if valid, else the neighbours either side.

    Valid means at least ``minimum`` and a whole number of ``multiple``. Below the smallest valid
    quantity there is only one neighbour: the smallest valid quantity itself.
    """
    if minimum < 1 or multiple < 1:
        raise ValueError("minimum and multiple must be at least 1")
    smallest = -(-minimum // multiple) * multiple
    if quantity <= smallest:
        return (smallest,)
    lower = quantity // multiple * multiple
    if lower == quantity:
        return (quantity,)
    return (lower, lower + multiple)


def check_quantity(
    quantity: int, minimum: int = 1, multiple: int = 1, maximum: int | None = None
) -> list[str]:
    """Every problem with an ordered quantity, as buyer-facing sentences; empty when it is valid.

    Zero or negative quantities get one message (the others would be noise). Otherwise all problems are
    reported together: below the minimum, off the case-pack multiple (suggesting the nearest valid
    quantities), above an optional per-line ``maximum``.
    """
    smallest = nearest_valid_quantities(0, minimum, multiple)[0]
    if quantity < 1:
        return [f"Enter a quantity of at least {smallest}."]
    problems: list[str] = []
    if quantity < minimum:
        hint = f": try {smallest}" if smallest != minimum else ""
        problems.append(f"The minimum order is {minimum}{hint}.")
    if quantity % multiple:
        suggestions = list(nearest_valid_quantities(quantity, minimum, multiple))
        if maximum is not None:
            suggestions = [q for q in suggestions if q <= maximum] or suggestions[:1]
        tries = " or ".join(str(q) for q in suggestions)
        problems.append(f"This product is sold in multiples of {multiple}: try {tries}.")
    if maximum is not None and quantity > maximum:
        problems.append(f"At most {maximum} can be ordered on one line.")
    return problems
