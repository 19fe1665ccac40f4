"""Goodwill rules as admins define them: which parameters each kind needs, and how a rule reads."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.domain.goodwill import describe, rule_problems

PERCENT = "percent_off_late_backorder"
CREDIT = "credit_missed_deadline"


def test_a_complete_rule_of_each_kind_has_no_problems():
    assert rule_problems(PERCENT, 14, Decimal("5"), None) == {}
    assert rule_problems(PERCENT, 0, Decimal("100"), None) == {}
    assert rule_problems(CREDIT, None, None, Decimal("0.01")) == {}


def test_every_problem_is_reported_at_once():
    assert set(rule_problems(PERCENT, None, None, Decimal("3"))) == {"days", "percent", "amount"}
    assert set(rule_problems(CREDIT, 3, Decimal("5"), None)) == {"days", "percent", "amount"}


@pytest.mark.parametrize("percent", [Decimal("0"), Decimal("-1"), Decimal("100.01"), Decimal("NaN")])
def test_a_percentage_is_more_than_0_and_at_most_100(percent):
    assert rule_problems(PERCENT, 1, percent, None) == {
        "percent": "The percentage off is more than 0 and at most 100."}


@pytest.mark.parametrize("days", [-1, 3651])
def test_days_are_0_or_more(days):
    assert "days" in rule_problems(PERCENT, days, Decimal("5"), None)


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5"), Decimal("1e12")])
def test_a_credit_is_positive(amount):
    assert "amount" in rule_problems(CREDIT, None, None, amount)


def test_an_unknown_kind_is_refused():
    assert rule_problems("free_money", None, None, None) == {"kind": "Choose the kind of rule."}


def test_rules_read_as_sentences():
    assert describe(PERCENT, 14, Decimal("5.00"), None) == \
        "5% off backordered units whose ETA is more than 14 days away"
    assert describe(PERCENT, 1, Decimal("7.50"), None) == \
        "7.5% off backordered units whose ETA is more than 1 day away"
    assert describe(PERCENT, 0, Decimal("10"), None) == \
        "10% off backordered units that arrive after the day of ordering"
    assert describe(CREDIT, None, None, Decimal("25.00"), money=lambda a: f"${a}") == \
        "A credit of $25.00 per line whose ETA misses the buyer's deadline when the buyer keeps the line"
