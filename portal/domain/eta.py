"""When a backorder will arrive: open PO lines walked in expected-date order (DESIGN §4).

The waiting backorders of one product form a queue in priority order. Each PO line's open quantity is
promised in that order: linked quantities go to the backorders they are linked to, the rest to the
queue first come, first served. A backorder's ETA is the expected date of the line covering its last
unit; with no PO cover left it is ``today + lead time`` and marked estimated. Dates are calendar dates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class OpenPoLine:
    """One product's line on an open purchase order.

    Invariants: ``0 <= linked_quantity <= open_quantity``. ``open_quantity`` is ordered minus received;
    ``linked_quantity`` of it is reserved for the backorders linked to this line.
    """

    po_line_id: int
    expected_date: date
    open_quantity: int
    linked_quantity: int = 0

    def __post_init__(self) -> None:
        if self.open_quantity < 0:
            raise ValueError("open_quantity must not be negative")
        if not 0 <= self.linked_quantity <= self.open_quantity:
            raise ValueError("linked_quantity must be between 0 and open_quantity")


@dataclass(frozen=True, slots=True)
class PoLink:
    """Part of a backorder promised to a specific PO line."""

    po_line_id: int
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError("a link covers at least one unit")


@dataclass(frozen=True, slots=True)
class WaitingBackorder:
    """A backordered quantity waiting for stock, with its links to PO lines.

    Invariants: ``quantity >= 1``; links name distinct PO lines and add up to at most ``quantity``.
    """

    backorder_id: int
    quantity: int
    links: tuple[PoLink, ...] = ()

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError("a backorder waits for at least one unit")
        if sum(link.quantity for link in self.links) > self.quantity:
            raise ValueError("links cover more than the backordered quantity")
        if len({link.po_line_id for link in self.links}) != len(self.links):
            raise ValueError("a backorder links to each PO line at most once")

    @classmethod
    def linked(
        cls, backorder_id: int, quantity: int, po_line_id: int, linked_quantity: int
    ) -> WaitingBackorder:
        """A backorder linked to one PO line for ``linked_quantity`` of its units."""
        return cls(backorder_id, quantity, (PoLink(po_line_id, linked_quantity),))


@dataclass(frozen=True, slots=True)
class Eta:
    """An expected arrival date.

    Invariant: ``estimated`` exactly when no PO line covers the last unit (``po_line_id`` is None).
    """

    date: date
    estimated: bool
    po_line_id: int | None = None

    def __post_init__(self) -> None:
        if self.estimated != (self.po_line_id is None):
            raise ValueError("an ETA is estimated exactly when no PO line backs it")


def lead_time_days(product_days: int | None, vendor_days: int) -> int:
    """The ETA fallback lead time: the product's override, else its vendor's."""
    days = vendor_days if product_days is None else product_days
    if days < 0:
        raise ValueError("lead time must not be negative")
    return days


def assign_etas(
    lines: Sequence[OpenPoLine],
    queue: Sequence[WaitingBackorder],
    *,
    today: date,
    lead_time_days: int,
) -> dict[int, Eta]:
    """The ETA of every waiting backorder, keyed by backorder id (in queue order).

    ``queue`` is in priority order. Without links, ETAs never decrease along the queue.
    """
    ids = [backorder.backorder_id for backorder in queue]
    if len(set(ids)) != len(ids):
        raise ValueError("backorder ids in the queue must be distinct")
    etas = _walk(lines, queue, today, lead_time_days)
    return dict(zip(ids, etas, strict=True))


def eta_for_new_backorder(
    lines: Sequence[OpenPoLine],
    queue: Sequence[WaitingBackorder],
    quantity: int,
    *,
    today: date,
    lead_time_days: int,
) -> Eta:
    """The ETA a new, unlinked backorder of ``quantity`` units would get at the end of the queue.

    This is what the catalog (``quantity=1``) and checkout (the line's backordered part) show.
    """
    new = WaitingBackorder(backorder_id=-1, quantity=quantity)
    return _walk(lines, [*queue, new], today, lead_time_days)[-1]


def _walk(
    lines: Sequence[OpenPoLine], queue: Sequence[WaitingBackorder], today: date, lead_days: int
) -> list[Eta]:
    """One ETA per backorder, aligned with ``queue``.

    Links draw on their line's reserved quantity, earlier backorders first; linked units a line cannot
    cover (more linked than open, or a line no longer open) need cover like any other unit. Unreserved
    quantities are handed out along the queue in expected-date order (ties by PO line id).
    """
    if lead_days < 0:
        raise ValueError("lead time must not be negative")
    ordered = sorted(lines, key=_line_order)
    by_id = {line.po_line_id: line for line in ordered}
    if len(by_id) != len(ordered):
        raise ValueError("PO line ids must be distinct")
    link_pool = _reserved_for_links(ordered, queue)
    pool = _FreePool([(line, line.open_quantity - link_pool[line.po_line_id]) for line in ordered])
    fallback = today + timedelta(days=lead_days)
    etas: list[Eta] = []
    for backorder in queue:
        need = backorder.quantity
        latest: OpenPoLine | None = None
        for link in backorder.links:
            take = min(link.quantity, link_pool.get(link.po_line_id, 0))
            if take:
                link_pool[link.po_line_id] -= take
                need -= take
                latest = _later(latest, by_id[link.po_line_id])
        need, last_free = pool.take(need)
        if last_free is not None:
            latest = _later(latest, last_free)
        if need:
            etas.append(_estimated(fallback, pool.last_date, latest))
        else:
            assert latest is not None  # a backorder has at least one unit, so some line covered it
            etas.append(_covered(latest, today))
    return etas


class _FreePool:
    """Unreserved PO quantities, handed out in expected-date order to whoever asks first."""

    def __init__(self, free: list[tuple[OpenPoLine, int]]) -> None:
        self._free = [(line, units) for line, units in free if units > 0]
        self._cursor = 0
        self._taken = 0  # units of ``_free[_cursor]`` already handed out

    @property
    def last_date(self) -> date | None:
        """The expected date of the last line with unreserved units."""
        return self._free[-1][0].expected_date if self._free else None

    def take(self, need: int) -> tuple[int, OpenPoLine | None]:
        """Hand out up to ``need`` units: the units still missing and the last line used."""
        last: OpenPoLine | None = None
        while need and self._cursor < len(self._free):
            line, units = self._free[self._cursor]
            take = min(need, units - self._taken)
            need -= take
            self._taken += take
            last = line
            if self._taken == units:
                self._cursor, self._taken = self._cursor + 1, 0
        return need, last


def _estimated(fallback: date, last_free_date: date | None, latest: OpenPoLine | None) -> Eta:
    """Lead-time estimate for units no PO covers.

    Never earlier than the last line already promised along the queue (backorders ahead of this one
    would take any earlier stock first), nor than the lines covering this backorder's other units.
    """
    dates = [fallback]
    if last_free_date is not None:
        dates.append(last_free_date)
    if latest is not None:
        dates.append(latest.expected_date)
    return Eta(max(dates), estimated=True)


def _reserved_for_links(lines: Sequence[OpenPoLine], queue: Sequence[WaitingBackorder]) -> dict[int, int]:
    """Units of each line kept back for links: its linked quantity, or more if the queue links more.

    Never more than the line's open quantity.
    """
    demand: Counter[int] = Counter()
    for backorder in queue:
        for link in backorder.links:
            demand[link.po_line_id] += link.quantity
    return {
        line.po_line_id: min(line.open_quantity, max(line.linked_quantity, demand[line.po_line_id]))
        for line in lines
    }


def _covered(line: OpenPoLine, today: date) -> Eta:
    # An overdue PO line is expected any day now: promise today rather than a date in the past.
    return Eta(max(line.expected_date, today), estimated=False, po_line_id=line.po_line_id)


def _line_order(line: OpenPoLine) -> tuple[date, int]:
    return (line.expected_date, line.po_line_id)


def _later(current: OpenPoLine | None, line: OpenPoLine) -> OpenPoLine:
    if current is None or _line_order(line) > _line_order(current):
        return line
    return current
