"""What buyers (and staff) are told about a product's stock and an order line (DESIGN §3).

Visibility ``hide`` makes a backorder look "Available" to buyers, with one exception: when a buyer gave
a deadline the backorder cannot meet, the truth is told plainly. Staff always see the truth. Labels are
plain English with locale-free dates ("12 Dec"); the ``Eta`` travels with them for the web layer to
reformat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from portal.domain.availability import BackorderRules, backorder_room, split_request
from portal.domain.eta import Eta

#: Bootstrap contextual colours.
Tone = Literal["success", "warning", "danger", "info", "secondary"]
BadgeStatus = Literal["in_stock", "low_stock", "limited", "backorder", "available", "out_of_stock"]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HIDDEN_NOTE = 'Hidden from buyers: they see "Available".'


@dataclass(frozen=True, slots=True)
class Badge:
    """A product's availability as a buyer sees it.

    ``eta`` is set only when the label shows a backorder date; ``orderable`` is False only when not a
    single unit can be ordered (a ``block`` product or a used-up cap, at zero stock).
    """

    label: str
    tone: Tone
    detail: str | None
    status: BadgeStatus
    eta: Eta | None = None
    orderable: bool = True


@dataclass(frozen=True, slots=True)
class LineView:
    """An order line's quantities as shown to its reader.

    Invariant: ``ships_now + backordered + refused == requested``. For a buyer under hidden visibility,
    backordered units count as shipping now and ``eta`` is None, unless ``deadline_missed``.
    ``hidden_from_buyer`` tells staff that the buyer sees this backorder as "Available".
    """

    requested: int
    ships_now: int
    backordered: int
    refused: int
    label: str
    tone: Tone
    eta: Eta | None = None
    deadline_missed: bool = False
    message: str | None = None
    refusal: str | None = None
    hidden_from_buyer: bool = False


def short_date(day: date) -> str:
    """A locale-free calendar date: ``12 Dec``."""
    return f"{day.day} {MONTHS[day.month - 1]}"


def eta_phrase(eta: Eta) -> str:
    """``about 12 Dec``, with ``(estimated)`` when no PO backs the date."""
    return arrival_phrase(eta.date, eta.estimated)


def arrival_phrase(day: date, estimated: bool) -> str:
    """``about 12 Dec``, with ``(estimated)`` when no PO backs the date (for stored ETAs, which keep the
    date and the flag but not the PO line)."""
    suffix = " (estimated)" if estimated else ""
    return f"about {short_date(day)}{suffix}"


def backorder_label(eta: Eta | None) -> str:
    return "Backorder" if eta is None else f"Backorder — ships {eta_phrase(eta)}"


def buyer_badge(
    available: int,
    rules: BackorderRules,
    eta: Eta | None,
    requested: int | None = None,
    *,
    backordered_open: int = 0,
    staff: bool = False,
) -> Badge:
    """The availability badge for ``requested`` units (one when not given).

    ``eta`` is the ETA a new backorder of the shortfall would get; ``backordered_open`` is what is already
    on backorder across open orders, so that a used-up cap reads as out of stock.
    """
    want = 1 if requested is None else requested
    if want < 1:
        raise ValueError("requested must be at least 1")
    if available >= want:
        return _stock_badge(available, rules)
    room = backorder_room(rules, backordered_open)
    if room == 0:
        return _short_badge(available)
    shortfall = want - available
    if room is not None and shortfall > room:
        return _limited_badge(available, room, rules, staff)
    if rules.hides_backorders and not staff:
        return Badge("Available", "success", None, "available")
    detail = f"{available} ship now, {shortfall} on backorder" if available and requested else None
    if rules.hides_backorders:
        detail = " ".join(part for part in (detail, HIDDEN_NOTE) if part)
    return Badge(backorder_label(eta), "info", detail, "backorder", eta=eta)


def _stock_badge(available: int, rules: BackorderRules) -> Badge:
    low = available < rules.low_stock_threshold
    status: BadgeStatus = "low_stock" if low else "in_stock"
    tone: Tone = "warning" if low else "success"
    if rules.stock_display == "exact":
        return Badge(f"{available} in stock", tone, None, status)
    return Badge("Low stock" if low else "In stock", tone, None, status)


def _short_badge(available: int) -> Badge:
    """Nothing more can be backordered (``block`` or a used-up cap)."""
    if available == 0:
        return Badge("Out of stock", "danger", None, "out_of_stock", orderable=False)
    return Badge(f"Only {available} available", "warning", None, "limited")


def _limited_badge(available: int, room: int, rules: BackorderRules, staff: bool) -> Badge:
    """The cap leaves room for some of the shortfall, not all of it."""
    limit = available + room
    if rules.hides_backorders and not staff:
        return Badge(f"Only {limit} available", "warning", None, "limited")
    return Badge(f"Only {limit} can be ordered", "warning", _cap_detail(available, room), "limited")


def _cap_detail(available: int, room: int) -> str:
    if available == 0:
        return f"{room} can be backordered"
    return f"{available} available now and {room} on backorder"


def line_view(
    requested: int,
    available: int,
    rules: BackorderRules,
    eta: Eta | None,
    *,
    backordered_open: int = 0,
    deadline: date | None = None,
    staff: bool = False,
) -> LineView:
    """How an order line for ``requested`` units reads: ships now N, backordered M with ETA, refused K.

    ``eta`` is the backordered part's ETA (None when unknown: then no deadline can be judged missed).
    The deadline is missed when units go on backorder and the ETA falls after it.
    """
    if requested < 1:
        raise ValueError("requested must be at least 1")
    split = split_request(requested, available, rules, backordered_open)
    missed = deadline is not None and eta is not None and split.backorderable > 0 and eta.date > deadline
    truthful = staff or missed or not rules.hides_backorders
    if truthful:
        ships_now, backordered = split.allocatable, split.backorderable
    else:
        ships_now, backordered = split.accepted, 0
    shown_eta = eta if backordered else None
    refusal = None
    if split.refused:
        room = backorder_room(rules, backordered_open)
        refusal = split.reason if truthful else _buyer_refusal(available, room)
    label, tone = _line_label(ships_now, backordered, split.refused, shown_eta, missed, rules, truthful)
    return LineView(
        requested=requested,
        ships_now=ships_now,
        backordered=backordered,
        refused=split.refused,
        label=label,
        tone=tone,
        eta=shown_eta,
        deadline_missed=missed,
        message=_deadline_message(split.allocatable, split.backorderable, eta, deadline) if missed else None,
        refusal=refusal,
        hidden_from_buyer=staff and rules.hides_backorders and split.backorderable > 0 and not missed,
    )


def _buyer_refusal(available: int, room: int | None) -> str:
    """The refusal reason under hidden visibility: backorder room counts as plain availability."""
    return f"only {available + (room or 0)} available"


def _line_label(
    ships_now: int,
    backordered: int,
    refused: int,
    eta: Eta | None,
    missed: bool,
    rules: BackorderRules,
    truthful: bool,
) -> tuple[str, Tone]:
    if backordered:
        if missed:
            return backorder_label(eta), "danger"
        return backorder_label(eta), "warning" if refused else "info"
    if not ships_now:
        return "Out of stock", "danger"
    if refused:
        return f"Only {ships_now} available", "warning"
    if not truthful:
        return "Available", "success"
    return "In stock", "success"


def _deadline_message(allocatable: int, backorderable: int, eta: Eta | None, deadline: date | None) -> str:
    """The plain sentence for a backorder that misses the buyer's deadline."""
    assert eta is not None and deadline is not None  # only called when the deadline is missed
    return _deadline_sentence(allocatable, backorderable, eta_phrase(eta), deadline)


def _deadline_sentence(allocatable: int, backorderable: int, when: str, deadline: date) -> str:
    total = allocatable + backorderable
    by = short_date(deadline)
    if allocatable == 0:
        if total == 1:
            return f"We cannot deliver it by {by}: it arrives {when}."
        return f"We cannot deliver all {total} by {by}: they arrive {when}."
    ship_verb = "ships" if allocatable == 1 else "ship"
    arrive_verb = "arrives" if backorderable == 1 else "arrive"
    return (
        f"We cannot deliver all {total} by {by}: "
        f"{allocatable} {ship_verb} now, {backorderable} {arrive_verb} {when}."
    )


@dataclass(frozen=True, slots=True)
class OrderSplit:
    """A planned or placed order line as its reader sees it: ships now, backordered with an ETA.

    Invariant: ``ships_now + backordered`` is the accepted quantity. For a buyer under hidden visibility
    the backordered units count as shipping now and there is no ETA, unless the line is ``late`` (its
    ETA misses the buyer's deadline): then the truth is told, and ``message`` says it in a sentence.
    """

    ships_now: int
    backordered: int
    eta_date: date | None
    eta_estimated: bool
    late: bool
    message: str | None = None
    #: Staff only: the buyer sees this backorder as "Available".
    hidden_from_buyer: bool = False


def order_split(
    allocated: int,
    backordered: int,
    eta_date: date | None,
    eta_estimated: bool,
    deadline: date | None,
    hidden: bool,
    *,
    staff: bool = False,
) -> OrderSplit:
    """How a line of ``allocated`` units now and ``backordered`` units arriving ``eta_date`` reads.

    Takes the stored parts of an ETA (order lines keep the date and the flag); pass ``eta.date`` and
    ``eta.estimated`` for a planned line.
    """
    late = bool(backordered and eta_date is not None and deadline is not None and eta_date > deadline)
    if hidden and not late and not staff:
        return OrderSplit(allocated + backordered, 0, None, False, False)
    message = None
    if late:
        assert eta_date is not None and deadline is not None
        when = arrival_phrase(eta_date, eta_estimated)
        message = _deadline_sentence(allocated, backordered, when, deadline)
    shown = eta_date if backordered else None
    return OrderSplit(allocated, backordered, shown, bool(shown and eta_estimated), late, message,
                      hidden_from_buyer=staff and hidden and bool(backordered) and not late)
