"""Parsing the quick-order pad: typed rows, pasted lines and CSV files into (where, SKU, quantity | error)."""

from __future__ import annotations

import pytest

from portal.domain.quick_order import (
    MAX_CSV_BYTES,
    MAX_ROWS,
    QuickOrderError,
    add_problems,
    parse_csv,
    parse_pairs,
    parse_quantity,
    parse_text,
)
from tests.unit.builders import make_rules


def summary(rows) -> list[tuple]:
    return [(row.where, row.sku, row.quantity, row.error) for row in rows]


# --- quantities ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("5", (5, None)),
    (" 12 ", (12, None)),
    ("1,000", (1000, None)),
    ("100,000", (100_000, None)),
    ("", (None, "Enter a quantity.")),
    ("0", (None, "Enter a quantity from 1 to 100,000.")),
    ("100001", (None, "Enter a quantity from 1 to 100,000.")),
    ("-3", (None, "Enter a whole number of units, like 12.")),
    ("2.5", (None, "Enter a whole number of units, like 12.")),
    ("1e9", (None, "Enter a whole number of units, like 12.")),
    ("10,00", (None, "Enter a whole number of units, like 12.")),
    ("five", (None, "Enter a whole number of units, like 12.")),
    ("9" * 40, (None, "Enter a whole number of units, like 12.")),
])
def test_a_quantity_is_a_whole_number_from_one_to_the_line_limit(raw, expected):
    assert parse_quantity(raw) == expected


# --- typed rows -----------------------------------------------------------------------------------------


def test_typed_rows_keep_their_on_screen_numbers_and_skip_blank_rows():
    rows = parse_pairs([("abc-1", "5"), ("", ""), (" XYZ ", "x"), ("", "3"), ("Q-1", "")])
    assert summary(rows) == [
        ("Row 1", "ABC-1", 5, None),
        ("Row 3", "XYZ", None, "Enter a whole number of units, like 12."),
        ("Row 4", "", None, "Enter a SKU."),
        ("Row 5", "Q-1", None, "Enter a quantity."),
    ]


def test_an_overlong_sku_is_reported_not_truncated_silently():
    (row,) = parse_pairs([("A" * 60, "1")])
    assert row.error.startswith("Unknown SKU") and len(row.sku) == 40


# --- pasted lines ---------------------------------------------------------------------------------------


def test_pasted_lines_accept_comma_space_tab_and_semicolon_separators():
    rows = parse_text("A-1, 5\nB-2 6\r\nC-3\t7\n\n  D-4;8  \nE-5,9,\n")
    assert summary(rows) == [
        ("Pasted line 1", "A-1", 5, None),
        ("Pasted line 2", "B-2", 6, None),
        ("Pasted line 3", "C-3", 7, None),
        ("Pasted line 5", "D-4", 8, None),
        ("Pasted line 6", "E-5", 9, None),
    ]


def test_a_pasted_quantity_may_carry_a_thousands_separator():
    assert summary(parse_text("A-1, 1,500")) == [("Pasted line 1", "A-1", 1500, None)]


def test_every_bad_pasted_line_says_why():
    rows = parse_text("JUSTSKU\nA-1 five\nB-2 3 boxes\nC-3, 0\n")
    assert summary(rows) == [
        ("Pasted line 1", "JUSTSKU", None, 'Write a SKU and a quantity, like "ABC-123, 5".'),
        ("Pasted line 2", "A-1", None, "Enter a whole number of units, like 12."),
        ("Pasted line 3", "B-2", None, "Enter a whole number of units, like 12."),
        ("Pasted line 4", "C-3", None, "Enter a quantity from 1 to 100,000."),
    ]


def test_too_many_pasted_lines_are_refused_as_a_whole():
    with pytest.raises(QuickOrderError, match=f"at most {MAX_ROWS} lines"):
        parse_text("A-1, 1\n" * (MAX_ROWS + 1))


# --- CSV files ------------------------------------------------------------------------------------------


def test_a_csv_without_header_is_sku_then_quantity():
    rows = parse_csv(b"A-1,5\nb-2,7\n")
    assert summary(rows) == [("CSV row 1", "A-1", 5, None), ("CSV row 2", "B-2", 7, None)]


def test_a_csv_header_names_the_columns_in_any_order_and_extra_columns_are_ignored():
    data = b"Qty,Description,SKU\n3,Hex bolts,A-1\n\n4,Nuts,B-2\n"
    assert summary(parse_csv(data)) == [("CSV row 2", "A-1", 3, None), ("CSV row 4", "B-2", 4, None)]


def test_semicolon_and_tab_separated_files_and_a_byte_order_mark_are_understood():
    assert summary(parse_csv("\ufeffsku;quantity\nA-1;2\n".encode())) == [("CSV row 2", "A-1", 2, None)]
    tabbed = parse_csv(b"A-1\t2\nB-2\t3\n")
    assert summary(tabbed) == [("CSV row 1", "A-1", 2, None), ("CSV row 2", "B-2", 3, None)]


def test_a_spreadsheet_saved_in_windows_encoding_is_read():
    assert parse_csv("sku,quantity\nCAFÉ-1,2\n".encode("cp1252"))[0].sku == "CAFÉ-1"


def test_bad_csv_rows_are_reported_by_their_line_number():
    rows = parse_csv(b"sku,quantity\nA-1,x\nB-2\nC-3,4\n")
    assert summary(rows) == [
        ("CSV row 2", "A-1", None, "Enter a whole number of units, like 12."),
        ("CSV row 3", "B-2", None, "Expected a SKU and a quantity on this row."),
        ("CSV row 4", "C-3", 4, None),
    ]


def test_an_unquoted_thousands_separator_without_a_header_is_not_guessed():
    (row,) = parse_csv(b"A-1,1,000\n")
    assert row.quantity is None and row.error.startswith("Expected two columns (SKU, quantity) but found 3.")


def test_trailing_empty_cells_are_not_extra_columns():
    assert summary(parse_csv(b"A-1,5,,\n")) == [("CSV row 1", "A-1", 5, None)]


@pytest.mark.parametrize(("data", "message"), [
    (b'A-1,"5\nB-2,1\n', "malformed near line"),
    (b"sku,name\nA-1,Bolt\n", "no quantity column"),
    (b"", "no rows of SKU and quantity"),
    (b"\n\n,\n", "no rows of SKU and quantity"),
    (b"PK\x03\x04\x00\x00binary", "not a CSV text file"),
    (b"A-1,1\n" * (MAX_ROWS + 1), f"at most {MAX_ROWS} rows"),
    (b"x" * (MAX_CSV_BYTES + 1), "larger than 256 KB"),
], ids=["unclosed-quote", "no-quantity-column", "empty", "blank-rows", "binary", "too-many-rows",
        "too-large"])
def test_an_unusable_csv_file_is_refused_as_a_whole(data, message):
    with pytest.raises(QuickOrderError, match=message):
        parse_csv(data)


def test_exactly_the_row_limit_is_accepted():
    assert len(parse_csv(b"sku,qty\n" + b"A-1,1\n" * MAX_ROWS)) == MAX_ROWS


# --- whether a row can go in the cart --------------------------------------------------------------------


def problems(quantity, policy="block", available=10, visibility="show", cap=None, backordered_open=0,
             minimum=1, multiple=1, active=True):
    return add_problems(quantity, active=active, minimum=minimum, multiple=multiple, available=available,
                        rules=make_rules(policy, cap, visibility), backordered_open=backordered_open)


def test_an_in_stock_quantity_can_be_added():
    assert problems(10) == []


def test_a_blocked_product_out_of_stock_cannot_be_added():
    assert problems(1, available=0) == ["Out of stock: it cannot be ordered until it is back in stock."]


def test_a_blocked_product_says_how_many_can_be_ordered():
    assert problems(12, available=10) == ["Only 10 can be ordered now."]


def test_a_hidden_cap_reads_as_plain_availability():
    assert problems(12, policy="allow_up_to", cap=5, available=3, visibility="hide", backordered_open=4) == [
        "Only 4 can be ordered now."]


def test_backorderable_quantities_can_be_added():
    assert problems(500, policy="allow", available=0) == []


def test_minimum_multiple_and_sale_status_are_all_reported():
    assert problems(7, minimum=12, multiple=6) == [
        "The minimum order is 12.", "This product is sold in multiples of 6: try 12."]
    assert problems(1, active=False) == ["This product is no longer sold."]
