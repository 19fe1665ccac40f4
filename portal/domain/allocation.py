"""Who gets arriving units (DESIGN §4): backorders linked to the receiving PO line first, then the queue.

The queue is ordered by manual priority (higher first; staff re-prioritise on the backorder queue page),
then by the configured rule: ``order_date`` (oldest order first, the default), ``deadline`` (earliest
"need by" first; lines without a deadline after those with one) or ``tier`` (company tier 1 first). Ties
fall back to the order date, then the line id, so the order is total and repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

PRIORITY_RULES = {"order_date": "Order date (oldest order first)",
                  "deadline": "Deadline (earliest “need by” date first)",
                  "tier": "Company tier (tier 1 first), then order date"}
DEFAULT_RULE = "order_date"


@dataclass(frozen=True, slots=True)
class Waiting:
    """A backordered order line waiting for stock."""

    order_line_id: int
    backordered: int
    placed_at: datetime
    need_by: date | None = None
    tier: int = 2
    priority: int = 0


def queue_key(rule: str, waiting: Waiting) -> tuple:
    if rule not in PRIORITY_RULES:
        raise ValueError(f"unknown priority rule {rule!r}")
    tail = (waiting.placed_at, waiting.order_line_id)
    if rule == "deadline":
        return (-waiting.priority, waiting.need_by is None, waiting.need_by or date.max, *tail)
    if rule == "tier":
        return (-waiting.priority, waiting.tier, *tail)
    return (-waiting.priority, *tail)


def in_queue_order(rule: str, waiting: Sequence[Waiting]) -> list[Waiting]:
    return sorted(waiting, key=lambda w: queue_key(rule, w))


def allocate_arrivals(units: int, linked: Sequence[tuple[int, int]], queue: Sequence[Waiting],
                      rule: str) -> list[tuple[int, int]]:
    """Hand ``units`` out: first to ``linked`` (order_line_id, linked quantity) in queue order, then to
    the queue. Returns (order_line_id, quantity) pairs; never more than a line's backordered units, never
    more than ``units`` in total."""
    if units < 0:
        raise ValueError("units must not be negative")
    ordered = in_queue_order(rule, queue)
    waiting = {w.order_line_id: w.backordered for w in ordered}
    rank = {w.order_line_id: i for i, w in enumerate(ordered)}
    given: dict[int, int] = {}
    for line_id, quantity in sorted(linked, key=lambda pair: rank.get(pair[0], len(rank))):
        take = min(units, quantity, waiting.get(line_id, 0) - given.get(line_id, 0))
        if take > 0:
            given[line_id] = given.get(line_id, 0) + take
            units -= take
    for w in ordered:
        if not units:
            break
        take = min(units, w.backordered - given.get(w.order_line_id, 0))
        if take > 0:
            given[w.order_line_id] = given.get(w.order_line_id, 0) + take
            units -= take
    return [(line_id, given[line_id]) for line_id in sorted(given, key=lambda i: rank.get(i, 0))]
