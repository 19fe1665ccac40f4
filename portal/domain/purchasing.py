"""Purchase orders as pure rules: the status table, and what to order from demand (DESIGN §4, STYLE 5).

Generating POs looks at each product's *stock position*: available units plus units on planned PO lines
(draft, sent, partly received) minus units waiting on backorder. Waiting backorders not yet linked to a PO
line are linked first to PO lines with unreserved units (earliest expected first), then to the new
quantity. Without a reorder rule a product is ordered up to a position of zero (exactly the uncovered
backorders); with one, a position below ``reorder_min`` is topped up to ``reorder_max``. Quantities are
rounded up to the pack size. Running it again finds the position covered and orders nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

#: Which status may follow which. Receiving moves sent/partially_received on; staff send and cancel.
PO_TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"sent", "cancelled"}),
    "sent": frozenset({"partially_received", "received", "cancelled"}),
    "partially_received": frozenset({"partially_received", "received", "cancelled"}),
    "received": frozenset(),
    "cancelled": frozenset(),
}
STATUS_LABELS = {"draft": "Draft", "sent": "Sent", "partially_received": "Partly received",
                 "received": "Received", "cancelled": "Cancelled"}


class TransitionRefused(ValueError):
    """The PO cannot move to that status; the message says why, in words."""


def check_transition(current: str, target: str) -> None:
    if target not in PO_TRANSITIONS:
        raise TransitionRefused(f"“{target}” is not a purchase order status.")
    if target not in PO_TRANSITIONS.get(current, frozenset()):
        allowed = sorted(STATUS_LABELS[s].lower() for s in PO_TRANSITIONS.get(current, ()) if s != current)
        then = f" It can become: {', '.join(allowed)}." if allowed else " Its status can no longer change."
        raise TransitionRefused(
            f"A {STATUS_LABELS.get(current, current).lower()} purchase order cannot become "
            f"{STATUS_LABELS[target].lower()}.{then}")


def status_after_receipt(lines: Sequence[tuple[int, int]]) -> str:
    """``received`` when every (ordered, received) line is complete, else ``partially_received``."""
    return "received" if all(received >= ordered for ordered, received in lines) else "partially_received"


@dataclass(frozen=True, slots=True)
class PoValue:
    """A PO's value at its lines' unit costs, against the vendor's minimum order value (0: none).
    Lines without a unit cost add nothing and are counted, so the page can say the value is incomplete."""

    total: Decimal
    minimum: Decimal
    lines_without_cost: int = 0

    @property
    def shortfall(self) -> Decimal:
        """How much is missing to reach the minimum (0 when it is reached or there is none)."""
        return max(self.minimum - self.total, Decimal("0.00"))

    @property
    def below_minimum(self) -> bool:
        return self.shortfall > 0


def po_value(lines: Sequence[tuple[int, Decimal | None]], minimum: Decimal | None) -> PoValue:
    """``lines``: (quantity ordered, unit cost or None)."""
    total = sum((Decimal(cost) * quantity for quantity, cost in lines if cost is not None), Decimal("0.00"))
    missing = sum(1 for _, cost in lines if cost is None)
    return PoValue(total.quantize(Decimal("0.01")), Decimal(minimum or 0), missing)


def round_up_to_pack(quantity: int, pack_size: int) -> int:
    if pack_size < 1:
        raise ValueError("a pack holds at least one unit")
    if quantity <= 0:
        return 0
    return -(-quantity // pack_size) * pack_size


@dataclass(frozen=True, slots=True)
class Uncovered:
    """A waiting backorder's units not yet linked to any PO line, in queue order."""

    order_line_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class FreeIncoming:
    """Units of a planned PO line not reserved by links."""

    po_line_id: int
    expected_date: date | None
    quantity: int


@dataclass(frozen=True, slots=True)
class ProductDemand:
    product_id: int
    vendor_id: int
    available: int
    #: Open units on planned PO lines (linked or not).
    incoming: int
    #: All units waiting on backorder (linked or not).
    backordered: int
    uncovered: tuple[Uncovered, ...] = ()
    free_lines: tuple[FreeIncoming, ...] = ()
    pack_size: int = 1
    reorder_min: int | None = None
    reorder_max: int | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What to do for one product: links onto existing PO lines, units to add to the vendor's draft, and
    the backorders those new units cover."""

    product_id: int
    vendor_id: int
    order_quantity: int
    existing_links: tuple[tuple[int, int, int], ...] = ()  # (po_line_id, order_line_id, quantity)
    new_links: tuple[tuple[int, int], ...] = ()  # (order_line_id, quantity)
    reasons: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.order_quantity or self.existing_links or self.new_links)


def suggest(demand: ProductDemand) -> Suggestion:
    position = demand.available + demand.incoming - demand.backordered
    raw = max(-position, 0)
    reasons = []
    if raw:
        reasons.append(f"{raw} backordered units not covered")
    if demand.reorder_min is not None and demand.reorder_max is not None and position < demand.reorder_min:
        raw = max(raw, demand.reorder_max - position)
        reasons.append(f"stock position {position} below the reorder point {demand.reorder_min}")
    quantity = round_up_to_pack(raw, demand.pack_size)
    existing, new = _links(demand.uncovered, demand.free_lines, quantity)
    return Suggestion(demand.product_id, demand.vendor_id, quantity, existing, new, tuple(reasons))


def _links(uncovered: Sequence[Uncovered], free_lines: Sequence[FreeIncoming],
           new_quantity: int) -> tuple[tuple[tuple[int, int, int], ...], tuple[tuple[int, int], ...]]:
    """Link uncovered backorders, in queue order, to free PO units (earliest first), then to new units."""
    pool = [[line.po_line_id, line.quantity] for line in sorted(
        free_lines, key=lambda f: (f.expected_date or date.max, f.po_line_id)) if line.quantity > 0]
    existing: dict[tuple[int, int], int] = {}
    new: list[tuple[int, int]] = []
    left_new = new_quantity
    for backorder in uncovered:
        need = backorder.quantity
        for slot in pool:
            if not need:
                break
            take = min(need, slot[1])
            if take:
                slot[1] -= take
                need -= take
                key = (slot[0], backorder.order_line_id)
                existing[key] = existing.get(key, 0) + take
        take = min(need, left_new)
        if take:
            left_new -= take
            new.append((backorder.order_line_id, take))
    return tuple((po, ol, q) for (po, ol), q in existing.items()), tuple(new)
