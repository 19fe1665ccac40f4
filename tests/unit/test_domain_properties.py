"""Properties that hold for any quantities, rules and PO lines (Hypothesis)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from portal.domain.availability import BackorderRules, backorder_room, split_request
from portal.domain.display import line_view
from portal.domain.eta import Eta, OpenPoLine, WaitingBackorder, assign_etas, eta_for_new_backorder
from tests.unit.builders import LEAD_DAYS, TODAY

quantities = st.integers(min_value=0, max_value=500)


@st.composite
def rules(draw, policy: str | None = None) -> BackorderRules:
    policy = policy or draw(st.sampled_from(["block", "allow", "allow_up_to"]))
    return BackorderRules(
        policy,  # type: ignore[arg-type]
        draw(quantities) if policy == "allow_up_to" else None,
        draw(st.sampled_from(["show", "hide"])),
        draw(st.sampled_from(["exact", "level"])),
        draw(st.integers(min_value=0, max_value=50)),
    )


@st.composite
def po_lines(draw) -> list[OpenPoLine]:
    specs = draw(st.lists(st.tuples(st.integers(-10, 90), st.integers(0, 30)), max_size=6))
    return [OpenPoLine(i, TODAY + timedelta(days=offset), open_) for i, (offset, open_) in enumerate(specs)]


unlinked_queue = st.lists(st.integers(1, 30), max_size=8).map(
    lambda sizes: [WaitingBackorder(i, size) for i, size in enumerate(sizes)]
)


def walk(lines, queue) -> list[Eta]:
    return list(assign_etas(lines, queue, today=TODAY, lead_time_days=LEAD_DAYS).values())


@given(quantities, quantities, rules(), quantities)
def test_a_split_accounts_for_every_requested_unit(requested, available, rules, backordered_open):
    split = split_request(requested, available, rules, backordered_open)
    assert split.allocatable + split.backorderable + split.refused == requested
    assert min(split.allocatable, split.backorderable, split.refused) >= 0
    assert split.allocatable == min(requested, available)
    assert (split.reason is not None) == (split.refused > 0)


@given(quantities, quantities, rules("block"), quantities)
def test_block_never_backorders(requested, available, rules, backordered_open):
    assert split_request(requested, available, rules, backordered_open).backorderable == 0


@given(quantities, quantities, rules("allow_up_to"), quantities)
def test_backorders_never_exceed_the_remaining_cap(requested, available, rules, backordered_open):
    split = split_request(requested, available, rules, backordered_open)
    assert rules.cap is not None
    assert backordered_open + split.backorderable <= max(rules.cap, backordered_open)
    assert split.backorderable <= backorder_room(rules, backordered_open)


@given(quantities, quantities, rules("allow"), quantities)
def test_allow_never_refuses(requested, available, rules, backordered_open):
    assert split_request(requested, available, rules, backordered_open).refused == 0


@given(po_lines(), unlinked_queue)
def test_etas_never_decrease_along_a_queue_without_links(lines, queue):
    dates = [eta.date for eta in walk(lines, queue)]
    assert dates == sorted(dates)


@given(po_lines(), unlinked_queue)
def test_an_eta_is_estimated_only_when_po_cover_runs_out(lines, queue):
    total_open = sum(line.open_quantity for line in lines)
    waiting_so_far = 0
    for backorder, eta in zip(queue, walk(lines, queue), strict=True):
        waiting_so_far += backorder.quantity
        assert eta.estimated == (waiting_so_far > total_open)


@given(po_lines(), unlinked_queue)
def test_a_covered_eta_is_its_po_lines_date_never_in_the_past(lines, queue):
    by_id = {line.po_line_id: line for line in lines}
    for eta in walk(lines, queue):
        assert eta.date >= TODAY
        if not eta.estimated:
            assert eta.date == max(by_id[eta.po_line_id].expected_date, TODAY)


@given(po_lines(), unlinked_queue, st.integers(1, 30))
def test_a_new_backorder_gets_the_eta_it_would_have_at_the_end_of_the_queue(lines, queue, quantity):
    new = eta_for_new_backorder(lines, queue, quantity, today=TODAY, lead_time_days=LEAD_DAYS)
    extended = [*queue, WaitingBackorder(len(queue), quantity)]
    assert new == walk(lines, extended)[-1]


@given(st.integers(1, 500), quantities, rules(), quantities, st.booleans())
def test_a_line_view_accounts_for_every_requested_unit(requested, available, rules, backordered_open, staff):
    view = line_view(requested, available, rules, None, backordered_open=backordered_open, staff=staff)
    assert view.ships_now + view.backordered + view.refused == requested


@given(st.integers(1, 500), quantities, rules(), quantities)
def test_buyers_never_see_a_hidden_backorder_without_a_missed_deadline(requested, available, rules, open_):
    eta = Eta(TODAY + timedelta(days=30), estimated=True)
    view = line_view(requested, available, rules, eta, backordered_open=open_)
    if rules.visibility == "hide":
        assert (view.backordered, view.eta) == (0, None)
