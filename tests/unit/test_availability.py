"""Availability rules: stock first, then backorder as the policy allows, then refusal (DESIGN §3-4)."""

from __future__ import annotations

import pytest

from portal.domain.availability import (
    BackorderRules,
    Split,
    available,
    backorder_room,
    check_quantity,
    max_orderable,
    nearest_valid_quantities,
    split_request,
)
from tests.unit.builders import make_rules

# -- available -------------------------------------------------------------------------------------------


def test_available_is_on_hand_minus_allocated():
    assert available(on_hand=50, allocated=8) == 42


def test_available_is_never_below_zero():
    assert available(on_hand=3, allocated=5) == 0


def test_available_works_on_sums_over_warehouses():
    warehouses = [(10, 4), (0, 0), (7, 7)]
    assert available(sum(w[0] for w in warehouses), sum(w[1] for w in warehouses)) == 6


def test_available_rejects_negative_quantities():
    with pytest.raises(ValueError, match="on_hand"):
        available(on_hand=-1, allocated=0)


# -- rules -----------------------------------------------------------------------------------------------


def test_allow_up_to_requires_a_cap():
    with pytest.raises(ValueError, match="cap"):
        BackorderRules("allow_up_to", None, "show", "exact", 10)


@pytest.mark.parametrize("policy", ["block", "allow"])
def test_a_cap_is_only_allowed_with_allow_up_to(policy):
    with pytest.raises(ValueError, match="cap"):
        BackorderRules(policy, 5, "show", "exact", 10)


def test_cap_must_not_be_negative():
    with pytest.raises(ValueError, match="cap"):
        BackorderRules("allow_up_to", -1, "show", "exact", 10)


def test_low_stock_threshold_must_not_be_negative():
    with pytest.raises(ValueError, match="low_stock_threshold"):
        BackorderRules("allow", None, "show", "exact", -1)


@pytest.mark.parametrize(
    ("field", "value"), [("policy", "sometimes"), ("visibility", "blur"), ("stock_display", "vague")]
)
def test_unknown_settings_are_rejected(field, value):
    settings = {"policy": "allow", "visibility": "show", "stock_display": "exact", field: value}
    with pytest.raises(ValueError, match="unknown"):
        BackorderRules(**settings)


# -- split_request ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["block", "allow", "allow_up_to"])
def test_a_request_within_stock_is_allocated_whole_under_every_policy(policy):
    assert split_request(10, 42, make_rules(policy)) == Split(10, 0, 0)


def test_block_policy_refuses_quantity_beyond_available():
    split = split_request(8, 5, make_rules("block"))
    assert split == Split(allocatable=5, backorderable=0, refused=3, reason="only 5 available")


def test_block_policy_at_zero_stock_refuses_everything():
    assert split_request(4, 0, make_rules("block")) == Split(0, 0, 4, "only 0 available")


def test_allow_policy_backorders_the_remainder_when_stock_is_short():
    assert split_request(30, 12, make_rules("allow")) == Split(12, 18, 0)


def test_allow_policy_backorders_any_quantity_at_zero_stock():
    assert split_request(10_000, 0, make_rules("allow"), backordered_open=50_000) == Split(0, 10_000, 0)


def test_allow_up_to_backorders_exactly_up_to_the_cap():
    rules = make_rules("allow_up_to", cap=20)
    assert split_request(15, 5, rules, backordered_open=10) == Split(5, 10, 0)


def test_allow_up_to_refuses_one_unit_over_the_cap():
    rules = make_rules("allow_up_to", cap=20)
    split = split_request(16, 5, rules, backordered_open=10)
    assert (split.allocatable, split.backorderable, split.refused) == (5, 10, 1)
    assert split.reason == "only 15 can be ordered: 5 available now and 10 on backorder"


def test_allow_up_to_with_the_cap_used_up_behaves_like_block():
    rules = make_rules("allow_up_to", cap=20)
    assert split_request(8, 5, rules, backordered_open=20) == Split(5, 0, 3, "only 5 available")


def test_a_cap_lowered_below_open_backorders_leaves_no_room_rather_than_negative_room():
    rules = make_rules("allow_up_to", cap=5)
    assert split_request(3, 0, rules, backordered_open=9) == Split(0, 0, 3, "only 0 available")


def test_allow_up_to_at_zero_stock_says_how_many_can_be_backordered():
    rules = make_rules("allow_up_to", cap=4)
    assert split_request(6, 0, rules).reason == "only 4 can be backordered"


def test_a_cap_of_zero_never_backorders():
    assert split_request(6, 2, make_rules("allow_up_to", cap=0)) == Split(2, 0, 4, "only 2 available")


def test_split_knows_what_the_line_accepts():
    split = split_request(16, 5, make_rules("allow_up_to", cap=20), backordered_open=10)
    assert (split.requested, split.accepted, split.is_complete) == (16, 15, False)


def test_split_rejects_negative_quantities():
    with pytest.raises(ValueError, match="requested"):
        split_request(-1, 5, make_rules())


# -- backorder room and max_orderable --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "cap", "open_", "room"),
    [
        ("block", None, 0, 0),
        ("allow", None, 99, None),
        ("allow_up_to", 20, 7, 13),
        ("allow_up_to", 20, 25, 0),
    ],
)
def test_backorder_room_follows_the_policy(policy, cap, open_, room):
    assert backorder_room(make_rules(policy, cap), open_) == room


def test_block_policy_can_order_at_most_what_is_available():
    assert max_orderable(7, make_rules("block")) == 7


def test_allow_policy_has_no_maximum():
    assert max_orderable(7, make_rules("allow")) is None


def test_allow_up_to_can_order_stock_plus_remaining_cap():
    assert max_orderable(7, make_rules("allow_up_to", cap=20), backordered_open=15) == 12


def test_allow_up_to_with_the_cap_used_up_can_order_only_stock():
    assert max_orderable(0, make_rules("allow_up_to", cap=20), backordered_open=20) == 0


# -- quantities ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [0, -1, -500])
def test_zero_or_negative_quantities_are_one_problem(quantity):
    assert check_quantity(quantity, minimum=1, multiple=1) == ["Enter a quantity of at least 1."]


def test_zero_quantity_message_names_the_smallest_valid_quantity():
    assert check_quantity(0, minimum=5, multiple=6) == ["Enter a quantity of at least 6."]


def test_a_valid_quantity_has_no_problems():
    assert check_quantity(24, minimum=12, multiple=6) == []


def test_quantity_below_the_minimum_is_a_problem():
    assert check_quantity(3, minimum=5) == ["The minimum order is 5."]


def test_quantity_below_a_minimum_off_the_multiple_suggests_the_smallest_valid_quantity():
    assert check_quantity(4, minimum=5, multiple=2) == ["The minimum order is 5: try 6."]


def test_quantity_off_the_multiple_suggests_the_nearest_valid_quantities():
    problems = check_quantity(14, minimum=1, multiple=6)
    assert problems == ["This product is sold in multiples of 6: try 12 or 18."]


def test_every_quantity_problem_is_reported_at_once():
    assert check_quantity(7, minimum=10, multiple=4) == [
        "The minimum order is 10: try 12.",
        "This product is sold in multiples of 4: try 12.",
    ]


def test_quantity_above_the_line_maximum_is_a_problem():
    assert check_quantity(10**12, maximum=100_000) == ["At most 100000 can be ordered on one line."]


def test_suggestions_stay_within_the_line_maximum():
    assert check_quantity(99, multiple=10, maximum=95) == [
        "This product is sold in multiples of 10: try 90.",
        "At most 95 can be ordered on one line.",
    ]


@pytest.mark.parametrize(
    ("quantity", "minimum", "multiple", "expected"),
    [(12, 1, 6, (12,)), (13, 1, 6, (12, 18)), (1, 1, 6, (6,)), (3, 10, 4, (12,)), (13, 10, 4, (12, 16))],
)
def test_nearest_valid_quantities(quantity, minimum, multiple, expected):
    assert nearest_valid_quantities(quantity, minimum, multiple) == expected


def test_minimum_and_multiple_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        check_quantity(5, minimum=0)
