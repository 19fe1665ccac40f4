"""Who gets arriving units (portal.domain.allocation): linked lines first, then the queue by the rule."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from portal.domain.allocation import Waiting, allocate_arrivals, in_queue_order


def _w(line_id, units, day, need_by=None, tier=2, priority=0) -> Waiting:
    return Waiting(line_id, units, datetime(2026, 11, day), need_by, tier, priority)


QUEUE = [_w(1, 3, 1, need_by=date(2026, 12, 30), tier=3), _w(2, 3, 2, need_by=date(2026, 12, 5), tier=2),
         _w(3, 3, 3, tier=1)]


def test_order_date_serves_the_oldest_order_first():
    assert allocate_arrivals(4, [], QUEUE, "order_date") == [(1, 3), (2, 1)]


def test_deadline_first_serves_the_earliest_need_by_and_lines_without_one_last():
    assert [w.order_line_id for w in in_queue_order("deadline", QUEUE)] == [2, 1, 3]
    assert allocate_arrivals(4, [], QUEUE, "deadline") == [(2, 3), (1, 1)]


def test_company_tier_serves_tier_one_first():
    assert allocate_arrivals(4, [], QUEUE, "tier") == [(3, 3), (2, 1)]


def test_lines_linked_to_the_arriving_po_line_come_before_the_queue():
    assert allocate_arrivals(4, [(3, 2)], QUEUE, "order_date") == [(1, 2), (3, 2)]


def test_manual_priority_beats_the_rule():
    queue = [*QUEUE[:2], _w(3, 3, 3, priority=5)]
    assert allocate_arrivals(3, [], queue, "order_date") == [(3, 3)]


def test_never_more_than_waiting_or_arriving():
    given = allocate_arrivals(100, [(1, 50)], QUEUE, "order_date")
    assert given == [(1, 3), (2, 3), (3, 3)]
    assert allocate_arrivals(0, [], QUEUE, "order_date") == []


def test_an_unknown_rule_is_an_error():
    with pytest.raises(ValueError):
        allocate_arrivals(1, [], QUEUE, "random")
