"""What buyers and staff are shown, under every policy, visibility and stock display (DESIGN §3)."""

from __future__ import annotations

from datetime import date

import pytest

from portal.domain.display import Badge, buyer_badge, line_view, short_date
from portal.domain.eta import Eta
from tests.unit.builders import make_rules

ETA = Eta(date(2025, 12, 12), estimated=False, po_line_id=7)
ESTIMATED = Eta(date(2025, 12, 12), estimated=True)
LATE_ETA = Eta(date(2025, 12, 19), estimated=False, po_line_id=8)
DEADLINE = date(2025, 12, 5)

POLICIES = ["block", "allow", "allow_up_to"]
VISIBILITIES = ["show", "hide"]
DISPLAYS = ["exact", "level"]
EVERY_COMBINATION = [(p, v, d) for p in POLICIES for v in VISIBILITIES for d in DISPLAYS]


def label_and_tone(badge: Badge) -> tuple[str, str]:
    return badge.label, badge.tone


# -- badge: every policy x visibility x display ----------------------------------------------------------


@pytest.mark.parametrize(("policy", "visibility", "display"), EVERY_COMBINATION)
def test_plenty_of_stock_reads_in_stock_whatever_the_backorder_rules(policy, visibility, display):
    badge = buyer_badge(42, make_rules(policy, None, visibility, display), ETA)
    expected = {"exact": ("42 in stock", "success"), "level": ("In stock", "success")}[display]
    assert label_and_tone(badge) == expected
    assert (badge.status, badge.eta, badge.orderable) == ("in_stock", None, True)


@pytest.mark.parametrize(("policy", "visibility", "display"), EVERY_COMBINATION)
def test_stock_under_the_threshold_reads_low_whatever_the_backorder_rules(policy, visibility, display):
    badge = buyer_badge(3, make_rules(policy, None, visibility, display, low_stock_threshold=10), ETA)
    expected = {"exact": ("3 in stock", "warning"), "level": ("Low stock", "warning")}[display]
    assert label_and_tone(badge) == expected
    assert badge.status == "low_stock"


@pytest.mark.parametrize(("policy", "visibility", "display"), EVERY_COMBINATION)
def test_at_zero_stock_the_policy_and_visibility_decide_the_badge(policy, visibility, display):
    badge = buyer_badge(0, make_rules(policy, None, visibility, display), ETA)
    if policy == "block":
        expected = ("Out of stock", "danger", "out_of_stock", None, False)
    elif visibility == "show":
        expected = ("Backorder — ships about 12 Dec", "info", "backorder", ETA, True)
    else:
        expected = ("Available", "success", "available", None, True)
    assert (badge.label, badge.tone, badge.status, badge.eta, badge.orderable) == expected


def test_stock_at_the_threshold_is_not_low():
    rules = make_rules(stock_display="level", low_stock_threshold=10)
    assert buyer_badge(10, rules, None).label == "In stock"


def test_a_threshold_of_zero_never_reads_low():
    assert buyer_badge(1, make_rules(stock_display="level", low_stock_threshold=0), None).label == "In stock"


def test_an_estimated_eta_says_so():
    badge = buyer_badge(0, make_rules("allow"), ESTIMATED)
    assert badge.label == "Backorder — ships about 12 Dec (estimated)"
    assert badge.eta == ESTIMATED


def test_a_backorder_without_a_known_eta_reads_backorder():
    assert buyer_badge(0, make_rules("allow"), None).label == "Backorder"


@pytest.mark.parametrize("visibility", VISIBILITIES)
def test_a_capped_product_with_the_cap_used_up_is_out_of_stock(visibility):
    rules = make_rules("allow_up_to", cap=20, visibility=visibility)
    badge = buyer_badge(0, rules, ETA, backordered_open=20)
    assert (badge.label, badge.status, badge.orderable) == ("Out of stock", "out_of_stock", False)


def test_a_capped_product_one_unit_below_the_cap_is_still_backorderable():
    badge = buyer_badge(0, make_rules("allow_up_to", cap=20), ETA, backordered_open=19)
    assert badge.status == "backorder"


def test_block_policy_with_some_stock_says_only_n_available_for_a_larger_request():
    badge = buyer_badge(5, make_rules("block"), None, requested=8)
    assert (badge.label, badge.tone, badge.status) == ("Only 5 available", "warning", "limited")


def test_a_partly_backordered_request_says_what_ships_now():
    badge = buyer_badge(12, make_rules("allow"), ETA, requested=30)
    assert badge.label == "Backorder — ships about 12 Dec"
    assert badge.detail == "12 ship now, 18 on backorder"


def test_a_request_beyond_the_remaining_cap_says_how_many_can_be_ordered():
    rules = make_rules("allow_up_to", cap=20)
    badge = buyer_badge(5, rules, ETA, requested=30, backordered_open=18)
    assert (badge.label, badge.detail) == ("Only 7 can be ordered", "5 available now and 2 on backorder")


def test_under_hidden_visibility_a_cap_limit_does_not_mention_backorders():
    rules = make_rules("allow_up_to", cap=20, visibility="hide")
    badge = buyer_badge(5, rules, ETA, requested=30, backordered_open=18)
    assert (badge.label, badge.detail) == ("Only 7 available", None)


def test_staff_see_the_backorder_behind_a_hidden_badge():
    badge = buyer_badge(0, make_rules("allow", visibility="hide"), ETA, staff=True)
    assert badge.label == "Backorder — ships about 12 Dec"
    assert badge.detail == 'Hidden from buyers: they see "Available".'


def test_a_badge_request_must_be_at_least_one_unit():
    with pytest.raises(ValueError, match="at least 1"):
        buyer_badge(5, make_rules(), None, requested=0)


def test_dates_are_shown_day_and_short_month_without_locale():
    assert short_date(date(2026, 1, 5)) == "5 Jan"


# -- order line: every policy x visibility x display -----------------------------------------------------


@pytest.mark.parametrize(("policy", "visibility", "display"), EVERY_COMBINATION)
def test_a_short_line_reads_by_policy_and_visibility_whatever_the_display(policy, visibility, display):
    view = line_view(30, 12, make_rules(policy, None, visibility, display), ETA)
    if policy == "block":
        expected = (12, 0, 18, "Only 12 available", None, "only 12 available")
    elif visibility == "show":
        expected = (12, 18, 0, "Backorder — ships about 12 Dec", ETA, None)
    else:
        expected = (30, 0, 0, "Available", None, None)
    assert (view.ships_now, view.backordered, view.refused, view.label, view.eta, view.refusal) == expected
    assert view.deadline_missed is False


def test_a_line_within_stock_ships_now():
    view = line_view(5, 12, make_rules("allow"), None)
    assert (view.ships_now, view.backordered, view.label, view.tone) == (5, 0, "In stock", "success")


def test_a_block_line_at_zero_stock_is_out_of_stock():
    view = line_view(5, 0, make_rules("block"), None)
    assert (view.ships_now, view.refused, view.label, view.tone) == (0, 5, "Out of stock", "danger")


def test_a_hidden_backorder_stays_hidden_when_it_meets_the_deadline():
    view = line_view(30, 12, make_rules("allow", visibility="hide"), ETA, deadline=date(2025, 12, 12))
    assert (view.ships_now, view.backordered, view.label, view.deadline_missed) == (30, 0, "Available", False)


def test_a_hidden_backorder_that_misses_the_deadline_is_told_plainly():
    view = line_view(30, 12, make_rules("allow", visibility="hide"), LATE_ETA, deadline=DEADLINE)
    assert view.deadline_missed is True
    assert (view.ships_now, view.backordered, view.eta) == (12, 18, LATE_ETA)
    assert view.message == "We cannot deliver all 30 by 5 Dec: 12 ship now, 18 arrive about 19 Dec."
    assert view.tone == "danger"


def test_a_shown_backorder_that_misses_the_deadline_is_at_risk_with_the_same_sentence():
    view = line_view(30, 12, make_rules("allow", visibility="show"), LATE_ETA, deadline=DEADLINE)
    assert view.deadline_missed is True
    assert view.message == "We cannot deliver all 30 by 5 Dec: 12 ship now, 18 arrive about 19 Dec."


def test_a_missed_deadline_with_nothing_in_stock_says_when_they_arrive():
    view = line_view(30, 0, make_rules("allow", visibility="hide"), LATE_ETA, deadline=DEADLINE)
    assert view.message == "We cannot deliver all 30 by 5 Dec: they arrive about 19 Dec."


def test_a_missed_deadline_for_a_single_unit_reads_naturally():
    view = line_view(1, 0, make_rules("allow"), LATE_ETA, deadline=DEADLINE)
    assert view.message == "We cannot deliver it by 5 Dec: it arrives about 19 Dec."


def test_a_missed_deadline_with_one_unit_each_side_reads_naturally():
    view = line_view(2, 1, make_rules("allow"), LATE_ETA, deadline=DEADLINE)
    assert view.message == "We cannot deliver all 2 by 5 Dec: 1 ships now, 1 arrives about 19 Dec."


def test_a_missed_deadline_on_an_estimated_eta_says_estimated():
    late_estimate = Eta(date(2025, 12, 19), estimated=True)
    view = line_view(30, 12, make_rules("allow", visibility="hide"), late_estimate, deadline=DEADLINE)
    assert view.message == (
        "We cannot deliver all 30 by 5 Dec: 12 ship now, 18 arrive about 19 Dec (estimated)."
    )


def test_no_deadline_is_judged_missed_without_an_eta():
    view = line_view(30, 12, make_rules("allow", visibility="hide"), None, deadline=DEADLINE)
    assert (view.deadline_missed, view.label) == (False, "Available")


def test_a_line_that_ships_entirely_now_never_misses_the_deadline():
    view = line_view(5, 12, make_rules("allow"), LATE_ETA, deadline=DEADLINE)
    assert (view.deadline_missed, view.message, view.eta) == (False, None, None)


def test_staff_see_the_truth_under_hidden_visibility():
    view = line_view(30, 12, make_rules("allow", visibility="hide"), ETA, staff=True)
    assert (view.ships_now, view.backordered, view.eta) == (12, 18, ETA)
    assert view.hidden_from_buyer is True


def test_staff_are_not_told_a_backorder_is_hidden_once_the_buyer_sees_it_for_a_missed_deadline():
    view = line_view(30, 12, make_rules("allow", visibility="hide"), LATE_ETA, deadline=DEADLINE, staff=True)
    assert (view.hidden_from_buyer, view.deadline_missed) == (False, True)


def test_a_capped_line_refuses_the_excess_with_the_true_reason_when_backorders_show():
    rules = make_rules("allow_up_to", cap=20)
    view = line_view(30, 5, rules, ETA, backordered_open=18)
    assert (view.ships_now, view.backordered, view.refused) == (5, 2, 23)
    assert view.refusal == "only 7 can be ordered: 5 available now and 2 on backorder"
    assert view.tone == "warning"


def test_a_capped_line_under_hidden_visibility_refuses_without_mentioning_backorders():
    rules = make_rules("allow_up_to", cap=20, visibility="hide")
    view = line_view(30, 5, rules, ETA, backordered_open=18)
    assert (view.ships_now, view.backordered, view.refused) == (7, 0, 23)
    assert (view.label, view.refusal) == ("Only 7 available", "only 7 available")


def test_a_line_request_must_be_at_least_one_unit():
    with pytest.raises(ValueError, match="at least 1"):
        line_view(0, 5, make_rules(), None)
