"""How a placed order line reads to buyers and to staff (DESIGN §3: hidden backorders, deadlines)."""

from __future__ import annotations

from datetime import date

import pytest

from portal.domain.display import HIDDEN_NOTE
from portal.domain.order_status import PlacedLine, placed_line_view

ETA = date(2026, 12, 12)
BEFORE_ETA = date(2026, 12, 5)
AFTER_ETA = date(2026, 12, 20)


def line(**kw) -> PlacedLine:
    values = {"quantity": 10, "allocated": 4, "backordered": 6, "eta_date": ETA, "eta_estimated": False}
    return PlacedLine(**{**values, **kw})


def parts(view) -> tuple[int, int, int, int]:
    return view.ships_now, view.backordered, view.shipped, view.cancelled


@pytest.mark.parametrize("staff", [False, True])
def test_a_shown_backorder_reads_the_same_to_everyone(staff):
    view = placed_line_view(line(), staff=staff)
    assert parts(view) == (4, 6, 0, 0)
    assert (view.label, view.tone, view.eta_date, view.at_risk) == ("Backorder — ships about 12 Dec", "info",
                                                                    ETA, False)
    assert view.staff_note is None


def test_an_estimated_eta_says_so():
    view = placed_line_view(line(eta_estimated=True), staff=False)
    assert view.label == "Backorder — ships about 12 Dec (estimated)" and view.eta_estimated


def test_a_hidden_backorder_reads_available_to_the_buyer_without_an_eta():
    view = placed_line_view(line(backorder_hidden=True), staff=False)
    assert parts(view) == (10, 0, 0, 0)
    assert (view.label, view.eta_date, view.staff_note) == ("Available", None, None)


def test_staff_see_a_hidden_backorder_as_it_is_with_a_note():
    view = placed_line_view(line(backorder_hidden=True), staff=True)
    assert parts(view) == (4, 6, 0, 0)
    assert view.label.startswith("Backorder") and view.staff_note == HIDDEN_NOTE


def test_a_hidden_backorder_that_misses_the_deadline_is_told_to_the_buyer():
    view = placed_line_view(line(backorder_hidden=True, need_by=BEFORE_ETA, accepted_late=True), staff=False)
    assert parts(view) == (4, 6, 0, 0)
    assert (view.at_risk, view.accepted_late, view.tone) == (True, True, "warning")
    assert view.label == "Backorder — ships about 12 Dec, after your deadline (accepted)"


def test_a_late_line_nobody_accepted_is_flagged_in_red_and_staff_read_whose_deadline():
    view = placed_line_view(line(need_by=BEFORE_ETA), staff=True)
    assert (view.at_risk, view.accepted_late, view.tone) == (True, False, "danger")
    assert view.label.endswith("after the buyer's deadline")


def test_a_deadline_after_the_eta_is_not_at_risk():
    view = placed_line_view(line(need_by=AFTER_ETA), staff=False)
    assert not view.at_risk and view.need_by == AFTER_ETA


def test_nothing_backordered_is_never_at_risk():
    view = placed_line_view(line(allocated=10, backordered=0, eta_date=None, need_by=BEFORE_ETA), staff=False)
    assert (view.label, view.at_risk) == ("Ships now", False)


@pytest.mark.parametrize(("kw", "label"), [
    ({"allocated": 0, "backordered": 0, "shipped": 10, "eta_date": None}, "Shipped"),
    ({"allocated": 0, "backordered": 0, "shipped": 7, "cancelled": 3, "eta_date": None}, "Shipped"),
    ({"allocated": 0, "backordered": 0, "cancelled": 10, "eta_date": None}, "Cancelled"),
    ({"allocated": 0, "backordered": 4, "shipped": 6}, "Backorder — ships about 12 Dec"),
])
def test_shipped_and_cancelled_units_are_counted_and_the_label_tells_what_is_still_open(kw, label):
    view = placed_line_view(line(**kw), staff=False)
    assert view.label == label
    assert sum(parts(view)) == view.ordered == 10
