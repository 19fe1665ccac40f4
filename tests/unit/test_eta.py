"""ETA rules: open PO lines in expected-date order, net of earlier backorders and links (DESIGN §4)."""

from __future__ import annotations

import pytest

from portal.domain.eta import (
    Eta,
    OpenPoLine,
    PoLink,
    WaitingBackorder,
    assign_etas,
    eta_for_new_backorder,
    lead_time_days,
)
from tests.unit.builders import LEAD_DAYS, TODAY, day, po_line, waiting


def etas(lines, queue):
    return assign_etas(lines, queue, today=TODAY, lead_time_days=LEAD_DAYS)


def new_eta(lines, queue, quantity):
    return eta_for_new_backorder(lines, queue, quantity, today=TODAY, lead_time_days=LEAD_DAYS)


def covered(offset: int, po_line_id: int) -> Eta:
    return Eta(day(offset), estimated=False, po_line_id=po_line_id)


def estimated(offset: int) -> Eta:
    return Eta(day(offset), estimated=True)


# -- without PO cover ------------------------------------------------------------------------------------


def test_without_open_po_lines_the_eta_is_today_plus_lead_time_and_estimated():
    assert etas([], [waiting(1, 5)]) == {1: estimated(LEAD_DAYS)}


def test_the_lead_time_is_the_product_override_else_the_vendors():
    assert lead_time_days(product_days=3, vendor_days=21) == 3
    assert lead_time_days(product_days=None, vendor_days=21) == 21
    assert lead_time_days(product_days=0, vendor_days=21) == 0


def test_a_negative_lead_time_is_rejected():
    with pytest.raises(ValueError, match="lead time"):
        lead_time_days(product_days=None, vendor_days=-1)


# -- with PO cover ---------------------------------------------------------------------------------------


def test_a_covering_po_line_gives_its_expected_date():
    assert etas([po_line(7, day(10), 20)], [waiting(1, 5)]) == {1: covered(10, 7)}


def test_a_backorder_covered_exactly_by_the_open_quantity_is_not_estimated():
    assert etas([po_line(7, day(10), 5)], [waiting(1, 5)]) == {1: covered(10, 7)}


def test_partial_cover_is_estimated_because_the_last_unit_has_no_po():
    result = etas([po_line(7, day(3), 4)], [waiting(1, 5)])
    assert result == {1: estimated(LEAD_DAYS)}


def test_an_estimate_is_never_earlier_than_the_po_lines_covering_the_other_units():
    result = etas([po_line(7, day(40), 4)], [waiting(1, 5)])
    assert result == {1: estimated(40)}


def test_the_eta_is_the_date_of_the_line_covering_the_last_unit_across_several_lines():
    lines = [po_line(7, day(5), 3), po_line(8, day(12), 3), po_line(9, day(30), 3)]
    assert etas(lines, [waiting(1, 5)]) == {1: covered(12, 8)}


def test_po_lines_are_walked_in_expected_date_order_whatever_order_they_come_in():
    lines = [po_line(9, day(30), 10), po_line(7, day(5), 10)]
    assert etas(lines, [waiting(1, 5)]) == {1: covered(5, 7)}


def test_quantities_promised_to_earlier_backorders_are_not_promised_again():
    lines = [po_line(7, day(5), 10), po_line(8, day(12), 10)]
    queue = [waiting(1, 6), waiting(2, 4), waiting(3, 1), waiting(4, 9), waiting(5, 1)]
    assert etas(lines, queue) == {
        1: covered(5, 7),
        2: covered(5, 7),
        3: covered(12, 8),
        4: covered(12, 8),
        5: estimated(LEAD_DAYS),
    }


def test_lines_with_zero_open_quantity_cover_nothing():
    lines = [po_line(7, day(2), 0), po_line(8, day(9), 5)]
    assert etas(lines, [waiting(1, 5)]) == {1: covered(9, 8)}


def test_lines_due_the_same_day_are_taken_in_po_line_id_order():
    lines = [po_line(9, day(10), 2), po_line(8, day(10), 2)]
    assert etas(lines, [waiting(1, 2), waiting(2, 2)]) == {1: covered(10, 8), 2: covered(10, 9)}


def test_an_overdue_po_line_promises_today_not_a_past_date():
    assert etas([po_line(7, day(-3), 5)], [waiting(1, 5)]) == {1: Eta(TODAY, estimated=False, po_line_id=7)}


def test_once_po_cover_runs_out_the_estimate_is_not_earlier_than_the_last_promised_line():
    # Backorder 1 waits for the line due in 60 days; stock from a new PO in 14 days would go to it first.
    result = etas([po_line(7, day(60), 5)], [waiting(1, 5), waiting(2, 1)])
    assert result[2] == estimated(60)


# -- links -----------------------------------------------------------------------------------------------


def test_linked_quantities_are_consumed_by_their_linked_backorder_first():
    lines = [po_line(7, day(5), 4, linked=4), po_line(8, day(20), 10)]
    queue = [waiting(1, 4), waiting(2, 4, po7=4)]
    assert etas(lines, queue) == {1: covered(20, 8), 2: covered(5, 7)}


def test_a_partly_linked_backorder_gets_the_rest_from_unlinked_cover():
    lines = [po_line(7, day(5), 4, linked=3), po_line(8, day(20), 10)]
    queue = [waiting(1, 1), waiting(2, 5, po7=3)]
    # Backorder 1 takes the single unlinked unit of line 7; backorder 2's last units come from line 8.
    assert etas(lines, queue) == {1: covered(5, 7), 2: covered(20, 8)}


def test_quantity_linked_to_backorders_outside_the_queue_stays_reserved():
    lines = [po_line(7, day(5), 10, linked=8)]
    assert etas(lines, [waiting(1, 3)]) == {1: estimated(LEAD_DAYS)}


def test_a_link_to_a_line_no_longer_open_needs_cover_like_any_other_unit():
    lines = [po_line(8, day(9), 5)]
    assert etas(lines, [waiting(1, 5, po7=5)]) == {1: covered(9, 8)}


def test_links_beyond_the_open_quantity_go_to_the_earlier_backorder_in_the_queue():
    lines = [po_line(7, day(5), 4, linked=4)]
    queue = [waiting(1, 3, po7=3), waiting(2, 3, po7=3)]
    assert etas(lines, queue) == {1: covered(5, 7), 2: estimated(LEAD_DAYS)}


def test_a_linked_backorder_waits_for_its_latest_line():
    lines = [po_line(7, day(30), 2, linked=2), po_line(8, day(5), 10)]
    assert etas(lines, [waiting(1, 5, po7=2)]) == {1: covered(30, 7)}


# -- a new backorder -------------------------------------------------------------------------------------


def test_a_new_backorder_joins_the_end_of_the_queue():
    lines = [po_line(7, day(5), 10), po_line(8, day(12), 10)]
    assert new_eta(lines, [waiting(1, 9)], 1) == covered(5, 7)
    assert new_eta(lines, [waiting(1, 9)], 2) == covered(12, 8)
    assert new_eta(lines, [waiting(1, 9)], 12) == estimated(LEAD_DAYS)


def test_a_new_backorder_needs_at_least_one_unit():
    with pytest.raises(ValueError, match="at least one unit"):
        new_eta([], [], 0)


# -- values keep their invariants ------------------------------------------------------------------------


def test_a_po_line_cannot_link_more_than_it_has_open():
    with pytest.raises(ValueError, match="linked_quantity"):
        OpenPoLine(7, day(5), open_quantity=3, linked_quantity=4)


def test_a_backorder_cannot_link_more_than_it_waits_for():
    with pytest.raises(ValueError, match="more than"):
        WaitingBackorder(1, 3, (PoLink(7, 2), PoLink(8, 2)))


def test_a_one_line_link_can_be_written_briefly():
    assert WaitingBackorder.linked(1, 5, po_line_id=7, linked_quantity=3) == waiting(1, 5, po7=3)


def test_an_eta_is_estimated_exactly_when_no_po_line_backs_it():
    with pytest.raises(ValueError, match="estimated"):
        Eta(day(3), estimated=True, po_line_id=7)
    with pytest.raises(ValueError, match="estimated"):
        Eta(day(3), estimated=False)


def test_backorder_ids_in_a_queue_are_distinct():
    with pytest.raises(ValueError, match="distinct"):
        etas([], [waiting(1, 1), waiting(1, 2)])


def test_po_line_ids_are_distinct():
    with pytest.raises(ValueError, match="distinct"):
        etas([po_line(7, day(1), 1), po_line(7, day(2), 1)], [waiting(1, 1)])
