"""An order as a buyer's system sends it to the JSON API: checked for shape before anything is read.

Pure: every problem of every line is collected (DESIGN §6), each naming its line (1-based) and SKU, so
the caller can answer 400 with all of them at once. Rules that need the database (unknown SKU, stock,
caps, credit) are the service's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from portal.domain.quick_order import MAX_LINE_QUANTITY, MAX_SKU_LENGTH, normalise_sku

MAX_LINES = 200
#: The largest id a PostgreSQL INTEGER column holds.
MAX_ID = 2**31 - 1
MAX_PO_REFERENCE = 60
MAX_IDEMPOTENCY_KEY = 100
SHIPPING_PREFERENCES = ("ship_partial", "ship_complete")
_FIELDS = {"lines", "po_reference", "need_by", "shipping_preference", "ship_to_address_id"}
_LINE_FIELDS = {"sku", "quantity", "need_by", "accept_late"}


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    line: int | None = None
    sku: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "sku": self.sku, "message": self.message}


@dataclass(frozen=True, slots=True)
class RequestedLine:
    sku: str
    quantity: int
    need_by: date | None = None
    accept_late: bool = False


@dataclass(frozen=True, slots=True)
class OrderRequest:
    lines: tuple[RequestedLine, ...]
    po_reference: str = ""
    need_by: date | None = None
    shipping_preference: str = "ship_partial"
    ship_to_address_id: int | None = None


def storable(text: str) -> bool:
    """Text a database can keep: no NUL character (PostgreSQL refuses it), no lone surrogate (which
    JSON's \\ud800 escapes can carry but UTF-8 cannot encode)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def valid_idempotency_key(value: str | None) -> bool:
    """1 to 100 visible ASCII characters (what clients send: UUIDs, their own order ids)."""
    return bool(value) and len(value) <= MAX_IDEMPOTENCY_KEY and all(33 <= ord(c) <= 126 for c in value)


def _date(value: Any, today: date, what: str, problems: list[Problem], line: int | None = None,
          sku: str | None = None) -> date | None:
    if value is None:
        return None
    try:
        parsed = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        parsed = None
    if parsed is None:
        problems.append(Problem(f"{what} must be a date written YYYY-MM-DD.", line, sku))
    elif parsed < today:
        problems.append(Problem(f"{what} {parsed.isoformat()} is in the past: choose a date from today on.",
                                line, sku))
        return None
    return parsed


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _line(index: int, raw: Any, today: date, problems: list[Problem]) -> RequestedLine | None:
    if not isinstance(raw, dict):
        problems.append(Problem("Each line must be an object with sku and quantity.", index))
        return None
    before = len(problems)
    sku = raw.get("sku")
    if not isinstance(sku, str) or not sku.strip():
        problems.append(Problem("Give the line's SKU.", index))
        sku = None
    elif not storable(sku):
        problems.append(Problem("Unknown SKU: a SKU has no control or unpaired surrogate characters.", index))
        sku = None
    else:
        sku = normalise_sku(sku)
        if len(sku) > MAX_SKU_LENGTH:
            problems.append(Problem(f"Unknown SKU: a SKU has at most {MAX_SKU_LENGTH} characters.", index,
                                    sku[:MAX_SKU_LENGTH]))
            sku = None
    quantity = raw.get("quantity")
    if not _whole_number(quantity) or not 1 <= quantity <= MAX_LINE_QUANTITY:
        problems.append(Problem(f"quantity must be a whole number from 1 to {MAX_LINE_QUANTITY:,}.",
                                index, sku))
    accept_late = raw.get("accept_late", False)
    if not isinstance(accept_late, bool):
        problems.append(Problem("accept_late must be true or false.", index, sku))
    unknown = sorted(set(raw) - _LINE_FIELDS)
    if unknown:
        problems.append(Problem(f"Unknown field(s) on the line: {', '.join(map(str, unknown))}.", index, sku))
    need_by = _date(raw.get("need_by"), today, "need_by", problems, index, sku)
    if len(problems) > before or sku is None:
        return None
    return RequestedLine(sku, quantity, need_by, accept_late)


def parse_order_request(body: Any, today: date) -> tuple[OrderRequest | None, list[Problem]]:
    """The request, or None and every problem found."""
    if not isinstance(body, dict):
        return None, [Problem("The body must be a JSON object with a lines array.")]
    problems: list[Problem] = []
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        problems.append(Problem(f"Unknown field(s): {', '.join(map(str, unknown))}."))
    raw_lines = body.get("lines")
    lines: list[RequestedLine] = []
    if not isinstance(raw_lines, list) or not raw_lines:
        problems.append(Problem("lines must be a non-empty array."))
    elif len(raw_lines) > MAX_LINES:
        problems.append(Problem(f"An order has at most {MAX_LINES} lines; this one has {len(raw_lines)}."))
    else:
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_lines, start=1):
            line = _line(index, raw, today, problems)
            if line is None:
                continue
            key = line.sku
            if key in seen:
                problems.append(Problem(f"This SKU is already on line {seen[key]}: list each SKU once.",
                                        index, line.sku))
                continue
            seen[key] = index
            lines.append(line)
    po_reference = body.get("po_reference", "")
    if po_reference is None:
        po_reference = ""
    if not isinstance(po_reference, str) or len(po_reference.strip()) > MAX_PO_REFERENCE:
        problems.append(Problem(f"po_reference must be text of at most {MAX_PO_REFERENCE} characters."))
        po_reference = ""
    elif not storable(po_reference):
        problems.append(Problem("po_reference has a NUL or unpaired surrogate character: remove it."))
        po_reference = ""
    preference = body.get("shipping_preference", "ship_partial")
    if preference not in SHIPPING_PREFERENCES:
        problems.append(Problem(f"shipping_preference must be one of {', '.join(SHIPPING_PREFERENCES)}."))
    ship_to = body.get("ship_to_address_id")
    if ship_to is not None and (not _whole_number(ship_to) or not 1 <= ship_to <= MAX_ID):
        problems.append(Problem("ship_to_address_id must be the id of one of your addresses."))
    need_by = _date(body.get("need_by"), today, "need_by", problems)
    if problems:
        return None, problems
    return OrderRequest(tuple(lines), po_reference.strip(), need_by, preference, ship_to), []
