"""How a placed order line reads to its reader (DESIGN §3, §4): what ships now, what waits and until when,
what has shipped or been cancelled, and whether the line is at risk.

The visibility rule is checkout's (:func:`portal.domain.display.order_split`): a backorder of a product
whose visibility is ``hide`` reads "Available" to buyers (its units count as shipping now, with no ETA),
unless it misses the buyer's deadline, in which case the truth is told. Staff always see the truth, with a
note that the buyer does not. A backordered line whose ETA falls after its deadline is *at risk*;
"accepted" when the buyer kept it knowing the later date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from portal.domain.display import HIDDEN_NOTE, Tone, arrival_phrase, order_split


@dataclass(frozen=True, slots=True)
class PlacedLine:
    """An order line's stored facts. Invariant: ``quantity = allocated + backordered + shipped +
    cancelled``."""

    quantity: int
    allocated: int
    backordered: int
    shipped: int = 0
    cancelled: int = 0
    eta_date: date | None = None
    eta_estimated: bool = False
    need_by: date | None = None
    accepted_late: bool = False
    backorder_hidden: bool = False


@dataclass(frozen=True, slots=True)
class PlacedLineView:
    """Invariant: ``ships_now + backordered + shipped + cancelled == ordered``."""

    ordered: int
    ships_now: int
    backordered: int
    shipped: int
    cancelled: int
    label: str
    tone: Tone
    #: Shown only with backordered units (stored ETAs keep the date and the flag, not the PO line).
    eta_date: date | None
    eta_estimated: bool
    need_by: date | None
    at_risk: bool
    accepted_late: bool
    #: For staff: the buyer sees this backorder as "Available".
    staff_note: str | None = None


def placed_line_view(line: PlacedLine, *, staff: bool) -> PlacedLineView:
    split = order_split(line.allocated, line.backordered, line.eta_date, line.eta_estimated, line.need_by,
                        line.backorder_hidden, staff=staff)
    truthful = staff or split.late or not line.backorder_hidden
    when = arrival_phrase(split.eta_date, split.eta_estimated) if split.eta_date else None
    label, tone = _label(line, split.ships_now, split.backordered, when, split.late, truthful,
                         "the buyer's" if staff else "your")
    return PlacedLineView(
        ordered=line.quantity, ships_now=split.ships_now, backordered=split.backordered, shipped=line.shipped,
        cancelled=line.cancelled, label=label, tone=tone, eta_date=split.eta_date,
        eta_estimated=split.eta_estimated, need_by=line.need_by, at_risk=split.late,
        accepted_late=split.late and line.accepted_late,
        staff_note=HIDDEN_NOTE if split.hidden_from_buyer else None)


def _label(line: PlacedLine, ships_now: int, backordered: int, when: str | None, late: bool, truthful: bool,
           whose: str) -> tuple[str, Tone]:
    if backordered:
        label = f"Backorder — ships {when}" if when else "Backorder"
        if late and line.accepted_late:
            return f"{label}, after {whose} deadline (accepted)", "warning"
        if late:
            return f"{label}, after {whose} deadline", "danger"
        return label, "info"
    if ships_now:
        return ("Ships now", "success") if truthful else ("Available", "success")
    if line.shipped:
        return "Shipped", "secondary"
    return "Cancelled", "secondary"
