"""Reading an API order request (portal.domain.order_request): shape only, every problem at once, each
naming its line (1-based) and SKU. Pure: no app, no database; today is passed in."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal.domain.order_request import (
    MAX_LINES,
    OrderRequest,
    Problem,
    RequestedLine,
    parse_order_request,
    valid_idempotency_key,
)

TODAY = date(2026, 11, 23)
TOMORROW = (TODAY + timedelta(days=1)).isoformat()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


def refused(body) -> list[Problem]:
    order, problems = parse_order_request(body, TODAY)
    assert order is None, order
    assert problems, "a refused request names at least one problem"
    return problems


def one_line(**fields) -> dict:
    return {"lines": [{"sku": "ABC-1", "quantity": 3, **fields}]}


# --- a valid request ------------------------------------------------------------------------------------


def test_a_full_request_is_read_with_skus_normalised_and_defaults_filled():
    body = {"lines": [{"sku": " abc-1 ", "quantity": 3, "need_by": TOMORROW, "accept_late": True},
                      {"sku": "XYZ-9", "quantity": 100_000}],
            "po_reference": "  ERP-77 ", "need_by": TODAY.isoformat(), "shipping_preference": "ship_complete",
            "ship_to_address_id": 12}
    order, problems = parse_order_request(body, TODAY)
    assert problems == []
    assert order == OrderRequest(
        (RequestedLine("ABC-1", 3, TODAY + timedelta(days=1), True), RequestedLine("XYZ-9", 100_000)),
        "ERP-77", TODAY, "ship_complete", 12)


def test_optional_fields_may_be_left_out_or_null():
    order, problems = parse_order_request({"lines": [{"sku": "A", "quantity": 1, "need_by": None}],
                                           "po_reference": None, "need_by": None}, TODAY)
    assert problems == []
    assert order == OrderRequest((RequestedLine("A", 1),), "", None, "ship_partial", None)


def test_exactly_the_largest_order_is_accepted():
    body = {"lines": [{"sku": f"S-{i}", "quantity": 1} for i in range(MAX_LINES)],
            "po_reference": "P" * 60}
    order, problems = parse_order_request(body, TODAY)
    assert problems == [] and len(order.lines) == MAX_LINES and order.po_reference == "P" * 60


# --- the body's shape -----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [[], [{"sku": "A", "quantity": 1}], "lines", 3, None])
def test_a_body_that_is_not_an_object_is_refused(body):
    (problem,) = refused(body)
    assert problem.line is None and "JSON object" in problem.message


@pytest.mark.parametrize("lines", [None, [], {}, "ABC-1", 5])
def test_lines_must_be_a_non_empty_array(lines):
    body = {} if lines is None else {"lines": lines}
    (problem,) = refused(body)
    assert "lines must be a non-empty array" in problem.message


def test_more_than_the_largest_order_is_refused_with_the_count():
    (problem,) = refused({"lines": [{"sku": f"S-{i}", "quantity": 1} for i in range(MAX_LINES + 1)]})
    assert f"at most {MAX_LINES} lines; this one has {MAX_LINES + 1}" in problem.message


def test_unknown_fields_are_named_at_order_and_line_level():
    problems = refused({"lines": [{"sku": "A", "quantity": 1, "price": "0.01"}], "discount": 50})
    assert [(p.line, p.sku) for p in problems] == [(None, None), (1, "A")]
    assert "Unknown field(s): discount" in problems[0].message
    assert "Unknown field(s) on the line: price" in problems[1].message


# --- lines ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [0, -1, "3", True, False, 2.5, 100_001, None])
def test_a_quantity_must_be_a_whole_number_from_one_to_the_maximum(quantity):
    (problem,) = refused({"lines": [{"sku": "OK-1", "quantity": 1}, {"sku": "abc-1", "quantity": quantity}]})
    assert (problem.line, problem.sku) == (2, "ABC-1")
    assert "quantity must be a whole number from 1 to 100,000" in problem.message


@pytest.mark.parametrize("sku", [None, "", "   ", 12])
def test_a_line_needs_its_sku(sku):
    (problem,) = refused({"lines": [{"sku": sku, "quantity": 1}]})
    assert problem.line == 1 and "SKU" in problem.message


def test_a_sku_longer_than_any_in_the_catalog_is_refused():
    (problem,) = refused({"lines": [{"sku": "X" * 41, "quantity": 1}]})
    assert problem.line == 1 and "at most 40 characters" in problem.message


def test_a_line_that_is_not_an_object_is_refused():
    (problem,) = refused({"lines": [["ABC-1", 3]]})
    assert problem.line == 1 and "object" in problem.message


def test_a_sku_listed_twice_names_the_first_line():
    (problem,) = refused({"lines": [{"sku": "A-1", "quantity": 1}, {"sku": "B-2", "quantity": 1},
                                    {"sku": "a-1 ", "quantity": 2}]})
    assert (problem.line, problem.sku) == (3, "A-1")
    assert "already on line 1" in problem.message


@pytest.mark.parametrize("accept_late", ["yes", 1, None])
def test_accept_late_must_be_a_boolean(accept_late):
    (problem,) = refused(one_line(accept_late=accept_late))
    assert problem.line == 1 and "accept_late must be true or false" in problem.message


# --- dates ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["2026-13-01", "26-12-01", "2026/12/01", "tomorrow", 20261201,
                                 "2026-12-01T00:00:00"])
def test_a_malformed_need_by_is_refused_at_either_level(raw):
    (order_level,) = refused({"lines": [{"sku": "A", "quantity": 1}], "need_by": raw})
    (line_level,) = refused(one_line(need_by=raw))
    assert order_level.line is None and "need_by must be a date written YYYY-MM-DD" in order_level.message
    assert (line_level.line, line_level.sku) == (1, "ABC-1")
    assert "YYYY-MM-DD" in line_level.message


def test_a_need_by_in_the_past_is_refused_at_either_level_and_today_is_fine():
    (order_level,) = refused({"lines": [{"sku": "A", "quantity": 1}], "need_by": YESTERDAY})
    (line_level,) = refused(one_line(need_by=YESTERDAY))
    assert order_level.line is None and f"{YESTERDAY} is in the past" in order_level.message
    assert line_level.line == 1 and "in the past" in line_level.message
    order, problems = parse_order_request(one_line(need_by=TODAY.isoformat()), TODAY)
    assert problems == [] and order.lines[0].need_by == TODAY


# --- order fields ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("preference", ["ship_fast", "", None, 1])
def test_shipping_preference_must_be_one_of_the_two(preference):
    (problem,) = refused({**one_line(), "shipping_preference": preference})
    assert "shipping_preference must be one of ship_partial, ship_complete" in problem.message


@pytest.mark.parametrize("reference", ["P" * 61, 61, ["PO"]])
def test_po_reference_is_text_of_at_most_sixty_characters(reference):
    (problem,) = refused({**one_line(), "po_reference": reference})
    assert "po_reference must be text of at most 60 characters" in problem.message


@pytest.mark.parametrize("address", [0, -3, "12", True, 1.5])
def test_ship_to_address_id_must_be_a_positive_whole_number(address):
    (problem,) = refused({**one_line(), "ship_to_address_id": address})
    assert "ship_to_address_id" in problem.message


def test_every_problem_is_reported_at_once():
    problems = refused({"lines": [{"sku": "A", "quantity": 0}, {"sku": "B", "quantity": 1, "need_by": "x"},
                                  {"sku": "C", "quantity": 1}, {"sku": "A", "quantity": 2}],
                        "po_reference": "P" * 61, "shipping_preference": "never", "need_by": YESTERDAY})
    assert [p.line for p in problems if p.line] == [1, 2]
    assert len(problems) == 5, problems


def test_a_problem_reads_as_json_with_line_sku_and_message():
    assert Problem("Only 2 in stock.", 3, "ABC-1").as_json() == {
        "line": 3, "sku": "ABC-1", "message": "Only 2 in stock."}
    assert Problem("lines must be a non-empty array.").as_json() == {
        "line": None, "sku": None, "message": "lines must be a non-empty array."}


# --- the Idempotency-Key header ---------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "valid"), [
    ("3f2b8c1e-9a4d-4e57-b6f0-0c1d2e3f4a5b", True),
    ("erp-42", True),
    ("!", True),
    ("K" * 100, True),
    ("K" * 101, False),
    ("", False),
    (None, False),
    ("has space", False),
    ("tab\there", False),
    ("bestellung-ü", False),
    ("emoji-\U0001f600", False),
    ("line\nbreak", False),
])
def test_an_idempotency_key_is_one_to_a_hundred_visible_ascii_characters(key, valid):
    assert valid_idempotency_key(key) is valid
