"""How a planned or placed line reads: ships now, on backorder with its ETA, and the missed-deadline truth."""

from __future__ import annotations

from datetime import date

from portal.domain.display import order_split

ETA = date(2025, 12, 19)
DEADLINE = date(2025, 12, 5)


def test_a_shown_backorder_tells_the_split_and_the_eta():
    split = order_split(12, 18, ETA, True, None, hidden=False)
    assert (split.ships_now, split.backordered, split.eta_date, split.eta_estimated, split.late) == (
        12, 18, ETA, True, False)
    assert split.message is None


def test_a_hidden_backorder_reads_as_shipping_now_for_a_buyer():
    split = order_split(12, 18, ETA, False, None, hidden=True)
    assert (split.ships_now, split.backordered, split.eta_date, split.late) == (30, 0, None, False)


def test_a_hidden_backorder_that_misses_the_deadline_is_told_plainly():
    split = order_split(12, 18, ETA, False, DEADLINE, hidden=True)
    assert (split.ships_now, split.backordered, split.eta_date, split.late) == (12, 18, ETA, True)
    assert split.message == "We cannot deliver all 30 by 5 Dec: 12 ship now, 18 arrive about 19 Dec."


def test_an_estimated_eta_says_so_in_the_sentence():
    split = order_split(0, 1, ETA, True, DEADLINE, hidden=False)
    assert split.message == "We cannot deliver it by 5 Dec: it arrives about 19 Dec (estimated)."


def test_a_deadline_the_eta_meets_is_not_late():
    assert not order_split(0, 5, DEADLINE, False, DEADLINE, hidden=False).late


def test_staff_see_the_hidden_backorder_and_that_the_buyer_does_not():
    split = order_split(2, 3, ETA, False, None, hidden=True, staff=True)
    assert (split.ships_now, split.backordered, split.hidden_from_buyer) == (2, 3, True)


def test_nothing_backordered_means_no_eta():
    split = order_split(5, 0, None, False, DEADLINE, hidden=False)
    assert (split.ships_now, split.backordered, split.eta_date, split.late) == (5, 0, None, False)
