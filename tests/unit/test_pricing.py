from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.pricing import Break, company_unit_price, line_total, price_table, unit_price_for

D = Decimal


def test_a_fixed_price_list_price_replaces_the_percentage():
    assert company_unit_price(D("10.00"), D("5"), fixed_price=D("8.50")) == D("8.50")


def test_a_percentage_price_list_discounts_the_list_price_rounded_half_up():
    assert company_unit_price(D("9.99"), D("12")) == D("8.79")  # 8.7912
    assert company_unit_price(D("0.05"), D("10")) == D("0.05")  # 0.045 rounds up


def test_without_a_price_list_the_list_price_applies():
    assert company_unit_price(D("12.34")) == D("12.34")


def test_a_percentage_outside_0_to_100_is_refused():
    with pytest.raises(ValueError):
        company_unit_price(D("10"), D("101"))


def test_the_largest_volume_break_reached_applies():
    breaks = [Break(50, D("10")), Break(10, D("5"))]
    assert unit_price_for(9, D("20.00"), breaks) == D("20.00")
    assert unit_price_for(10, D("20.00"), breaks) == D("19.00")
    assert unit_price_for(49, D("20.00"), breaks) == D("19.00")
    assert unit_price_for(50, D("20.00"), breaks) == D("18.00")


def test_the_price_table_starts_at_one_unit_and_is_in_quantity_order():
    table = price_table(D("20.00"), [Break(50, D("10")), Break(10, D("5"))])
    assert [(t.min_quantity, t.unit_price) for t in table] == [(1, D("20.00")), (10, D("19.00")),
                                                               (50, D("18.00"))]


def test_line_totals_are_in_cents():
    assert line_total(3, D("0.335")) == D("1.01")


@given(
    price=st.decimals(min_value=0, max_value=10000, places=2),
    qty=st.integers(min_value=1, max_value=10000),
    pcts=st.lists(st.decimals(min_value=D("0.01"), max_value=D("99.99"), places=2), max_size=4),
)
def test_more_units_never_cost_more_per_unit_when_breaks_grow(price, qty, pcts):
    breaks = [Break(10 * (i + 1), p) for i, p in enumerate(sorted(pcts))]
    assert unit_price_for(qty + 1, price, breaks) <= unit_price_for(qty, price, breaks) <= price
