"""The quick-order pad (issue 4, point 1): rows of SKU and quantity typed, pasted or uploaded as CSV.

Parsing is pure and reports every bad row with where it came from ("Pasted line 3", "CSV row 7") and
why, so the buyer can correct exactly those rows; the good rows go on to the cart. A problem with the
input as a whole (a malformed or oversized CSV file) is a :class:`QuickOrderError` and adds nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from portal.domain.availability import BackorderRules, check_quantity, split_request

#: Rows one paste or one CSV file may hold: a bigger order is a job for the account team.
MAX_ROWS = 500
#: 500 rows of a long SKU, a quantity and a few extra columns fit with room to spare.
MAX_CSV_BYTES = 256 * 1024
MAX_LINE_QUANTITY = 100_000
MAX_SKU_LENGTH = 40

_QUANTITY = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")
#: "SKU, qty" / "SKU; qty" / "SKU qty" / "SKU<TAB>qty": the SKU has no spaces or separators.
_LINE = re.compile(r"(?P<sku>[^\s,;]+)(?:\s*[,;]\s*|\s+)(?P<quantity>\S.*?)[\s,;]*")
_SKU_HEADERS = {"sku", "item", "item number", "product", "product code", "code"}
_QUANTITY_HEADERS = {"quantity", "qty", "quantity ordered", "units", "amount"}


class QuickOrderError(ValueError):
    """The input as a whole cannot be used (nothing of it is added)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One requested line. ``error`` is set exactly when ``quantity`` cannot be used as given."""

    #: "Row", "Pasted line" or "CSV row": where the buyer finds it.
    source: str
    #: 1-based position in its source (CSV: the file's line number, as a spreadsheet shows it).
    number: int
    sku: str
    quantity_text: str
    quantity: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def where(self) -> str:
        return f"{self.source} {self.number}"

    def refused(self, reason: str) -> Row:
        return replace(self, error=reason)


def normalise_sku(raw: str) -> str:
    return (raw or "").strip().upper()


def parse_quantity(raw: str) -> tuple[int | None, str | None]:
    """A whole number of units from 1 to ``MAX_LINE_QUANTITY`` ("1,000" is a thousand)."""
    text = (raw or "").strip()
    if not text:
        return None, "Enter a quantity."
    if len(text) > 12 or not _QUANTITY.fullmatch(text):
        return None, "Enter a whole number of units, like 12."
    value = int(text.replace(",", ""))
    if not 1 <= value <= MAX_LINE_QUANTITY:
        return None, f"Enter a quantity from 1 to {MAX_LINE_QUANTITY:,}."
    return value, None


def make_row(source: str, number: int, raw_sku: str, raw_quantity: str) -> Row:
    sku, quantity_text = normalise_sku(raw_sku), (raw_quantity or "").strip()
    if not sku:
        return Row(source, number, sku, quantity_text, error="Enter a SKU.")
    if len(sku) > MAX_SKU_LENGTH:
        return Row(source, number, sku[:MAX_SKU_LENGTH], quantity_text,
                   error=f"Unknown SKU: a SKU has at most {MAX_SKU_LENGTH} characters.")
    quantity, error = parse_quantity(quantity_text)
    return Row(source, number, sku, quantity_text, quantity, error)


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> list[Row]:
    """The pad's input rows; rows left blank are skipped (their numbers stay as on screen)."""
    return [make_row("Row", number, sku or "", quantity or "")
            for number, (sku, quantity) in enumerate(pairs, start=1)
            if (sku or "").strip() or (quantity or "").strip()]


def parse_text(text: str) -> list[Row]:
    """A pasted block: one "SKU, qty" (or "SKU qty", "SKU<TAB>qty", "SKU; qty") per line."""
    lines = [(n, line.strip()) for n, line in enumerate((text or "").splitlines(), start=1) if line.strip()]
    if len(lines) > MAX_ROWS:
        raise QuickOrderError(f"Paste at most {MAX_ROWS} lines at a time; this has {len(lines)}.")
    rows = []
    for number, line in lines:
        match = _LINE.fullmatch(line)
        if match is None:
            rows.append(Row("Pasted line", number, normalise_sku(line)[:MAX_SKU_LENGTH], "",
                            error='Write a SKU and a quantity, like "ABC-123, 5".'))
        else:
            rows.append(make_row("Pasted line", number, match["sku"], match["quantity"]))
    return rows


def parse_csv(data: bytes) -> list[Row]:
    """A CSV file with columns SKU and quantity, with or without a header row.

    With a header, the columns are found by name (``sku``, ``quantity`` or ``qty``) in any order and
    other columns are ignored; without one, the first column is the SKU and the second the quantity.
    Comma, semicolon and tab separators are recognised.
    """
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text), strict=True)
    sku_col, quantity_col, rows = 0, 1, []
    seen_first = seen_header = False
    try:
        for record in reader:
            cells = [cell.strip() for cell in record]
            if not any(cells):
                continue
            if not seen_first:
                seen_first = True
                header = _header_columns(cells)
                if header is not None:
                    (sku_col, quantity_col), seen_header = header, True
                    continue
            if len(rows) == MAX_ROWS:
                raise QuickOrderError(f"A CSV file may hold at most {MAX_ROWS} rows; this one has more. "
                                      "Split it into smaller files.")
            rows.append(_csv_row(reader.line_num, cells, sku_col, quantity_col, headed=seen_header))
    except csv.Error:
        raise QuickOrderError(
            f"The CSV file is malformed near line {reader.line_num}: check for a stray quote mark, save "
            "it again as CSV (comma-separated) and upload it again.") from None
    if not rows:
        raise QuickOrderError("The CSV file has no rows of SKU and quantity.")
    return rows


def _decode(data: bytes) -> str:
    if len(data) > MAX_CSV_BYTES:
        raise QuickOrderError(f"The file is larger than {MAX_CSV_BYTES // 1024} KB. Upload at most "
                              f"{MAX_ROWS} rows at a time.")
    if b"\x00" in data:
        raise QuickOrderError("This file is not a CSV text file. Save the sheet as CSV and upload that.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")  # what older spreadsheet programs save
    except UnicodeDecodeError:
        raise QuickOrderError("This file is not a CSV text file. Save the sheet as CSV (UTF-8) "
                              "and upload that.") from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _header_columns(cells: list[str]) -> tuple[int, int] | None:
    """(SKU column, quantity column) when the row is a header, else None."""
    names = [cell.lower() for cell in cells]
    sku = next((i for i, name in enumerate(names) if name in _SKU_HEADERS), None)
    if sku is None:
        return None
    quantity = next((i for i, name in enumerate(names) if name in _QUANTITY_HEADERS), None)
    if quantity is None:
        raise QuickOrderError('The CSV header has a SKU column but no quantity column: name it "quantity".')
    return sku, quantity


def _csv_row(number: int, cells: list[str], sku_col: int, quantity_col: int, *, headed: bool) -> Row:
    while cells and not cells[-1]:
        cells = cells[:-1]
    sku = cells[sku_col] if len(cells) > sku_col else ""
    if len(cells) <= max(sku_col, quantity_col):
        return Row("CSV row", number, normalise_sku(sku)[:MAX_SKU_LENGTH], "",
                   error="Expected a SKU and a quantity on this row.")
    if not headed and len(cells) > 2:
        # "A-1,1,000" is a thousand with an unquoted separator, or 1 and a stray column: never guess.
        return Row("CSV row", number, normalise_sku(sku)[:MAX_SKU_LENGTH], ",".join(cells[1:])[:20],
                   error=f"Expected two columns (SKU, quantity) but found {len(cells)}. Write quantities "
                         'without a thousands separator, or add a header row "sku,quantity".')
    return make_row("CSV row", number, cells[sku_col], cells[quantity_col])


def add_problems(quantity: int, *, active: bool, minimum: int, multiple: int, available: int,
                 rules: BackorderRules, backordered_open: int) -> list[str]:
    """Why ``quantity`` of a product cannot go in the cart as asked (empty: it can).

    The words never reveal a hidden backorder's mechanics: a cap reads as plain availability.
    """
    if not active:
        return ["This product is no longer sold."]
    problems = check_quantity(quantity, minimum, multiple)
    split = split_request(quantity, available, rules, backordered_open)
    if split.accepted == 0:
        problems.append("Out of stock: it cannot be ordered until it is back in stock.")
    elif split.refused:
        problems.append(f"Only {split.accepted} can be ordered now.")
    return problems
