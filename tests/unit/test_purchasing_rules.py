"""PO status table, pack rounding, suggestions from demand and PO values against the vendor's minimum
(portal.domain.purchasing): no app."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from portal.domain.purchasing import (
    PO_TRANSITIONS,
    FreeIncoming,
    ProductDemand,
    TransitionRefused,
    Uncovered,
    check_transition,
    po_value,
    round_up_to_pack,
    status_after_receipt,
    suggest,
)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("draft", "sent"),
        ("draft", "cancelled"),
        ("sent", "partially_received"),
        ("sent", "received"),
        ("partially_received", "received"),
        ("sent", "cancelled"),
    ],
)
def test_allowed_transitions_pass(current, target):
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (
            "draft",
            "received",
            "A draft purchase order cannot become received. It can become: cancelled, sent.",
        ),
        (
            "received",
            "cancelled",
            "A received purchase order cannot become cancelled. Its status can no longer",
        ),
        ("cancelled", "sent", "A cancelled purchase order cannot become sent."),
        ("sent", "draft", "A sent purchase order cannot become draft."),
    ],
)
def test_invalid_transitions_are_refused_with_a_sentence(current, target, message):
    with pytest.raises(TransitionRefused, match=message):
        check_transition(current, target)


def test_an_unknown_status_is_refused():
    with pytest.raises(TransitionRefused, match="not a purchase order status"):
        check_transition("draft", "lost")


def test_closed_statuses_lead_nowhere():
    assert PO_TRANSITIONS["received"] == PO_TRANSITIONS["cancelled"] == frozenset()


def test_status_after_receipt_is_received_only_when_every_line_is_complete():
    assert status_after_receipt([(10, 10), (5, 6)]) == "received"
    assert status_after_receipt([(10, 10), (5, 4)]) == "partially_received"


@pytest.mark.parametrize(
    ("quantity", "pack", "expected"),
    [(0, 12, 0), (1, 12, 12), (12, 12, 12), (13, 12, 24), (7, 1, 7), (-3, 6, 0)],
)
def test_quantities_round_up_to_whole_packs(quantity, pack, expected):
    assert round_up_to_pack(quantity, pack) == expected


def test_a_pack_holds_at_least_one_unit():
    with pytest.raises(ValueError):
        round_up_to_pack(5, 0)


def _demand(**kw) -> ProductDemand:
    values = {"product_id": 1, "vendor_id": 9, "available": 0, "incoming": 0, "backordered": 0}
    return ProductDemand(**{**values, **kw})


def test_uncovered_backorders_are_ordered_rounded_to_the_pack_and_linked_in_queue_order():
    demand = _demand(backordered=7, uncovered=(Uncovered(11, 4), Uncovered(12, 3)), pack_size=6)
    result = suggest(demand)
    assert result.order_quantity == 12
    assert result.new_links == ((11, 4), (12, 3))
    assert result.existing_links == ()


def test_free_units_on_planned_lines_are_used_before_ordering_more():
    demand = _demand(
        backordered=7,
        incoming=5,
        uncovered=(Uncovered(11, 4), Uncovered(12, 3)),
        free_lines=(FreeIncoming(70, date(2026, 12, 20), 2), FreeIncoming(71, date(2026, 12, 10), 3)),
    )
    result = suggest(demand)
    assert result.existing_links == ((71, 11, 3), (70, 11, 1), (70, 12, 1))
    assert result.order_quantity == 2
    assert result.new_links == ((12, 2),)


def test_a_covered_position_orders_nothing():
    assert suggest(_demand(backordered=5, incoming=5)).empty


def test_below_the_reorder_point_tops_up_to_the_maximum():
    result = suggest(_demand(available=3, reorder_min=5, reorder_max=20, pack_size=4))
    assert result.order_quantity == 20  # 17 rounded up to packs of 4
    assert suggest(_demand(available=5, reorder_min=5, reorder_max=20)).empty


def test_reorder_top_up_also_covers_backorders():
    result = suggest(_demand(backordered=4, uncovered=(Uncovered(1, 4),), reorder_min=2, reorder_max=10))
    assert result.order_quantity == 14
    assert result.new_links == ((1, 4),)


# --- PO value against the vendor's minimum order value -------------------------------------------------


def test_a_po_is_worth_its_lines_at_unit_cost_and_lines_without_a_cost_are_counted():
    value = po_value([(10, Decimal("2.50")), (3, Decimal("0.33")), (5, None)], Decimal("100"))
    assert (value.total, value.lines_without_cost) == (Decimal("25.99"), 1)
    assert value.below_minimum and value.shortfall == Decimal("74.01")


@pytest.mark.parametrize(("minimum", "below"), [(Decimal("25.00"), False), (Decimal("25.01"), True),
                                                (Decimal("0"), False), (None, False)])
def test_exactly_the_minimum_is_enough_and_no_minimum_is_never_short(minimum, below):
    value = po_value([(10, Decimal("2.50"))], minimum)
    assert value.below_minimum is below
    assert value.shortfall == (Decimal("0.01") if below else Decimal("0"))


def test_an_empty_po_is_worth_nothing():
    assert po_value([], Decimal("50")).total == Decimal("0.00")
