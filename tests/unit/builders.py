"""Builders for domain values with sensible defaults: tests name only what matters to them."""

from __future__ import annotations

from datetime import date, timedelta

from portal.domain.availability import BackorderRules, Policy, StockDisplay, Visibility
from portal.domain.eta import OpenPoLine, PoLink, WaitingBackorder

TODAY = date(2025, 11, 20)
LEAD_DAYS = 14


def make_rules(
    policy: Policy = "allow",
    cap: int | None = None,
    visibility: Visibility = "show",
    stock_display: StockDisplay = "exact",
    low_stock_threshold: int = 10,
) -> BackorderRules:
    """Rules for a product; ``allow_up_to`` without a cap gets a roomy one."""
    if policy == "allow_up_to" and cap is None:
        cap = 1000
    return BackorderRules(policy, cap, visibility, stock_display, low_stock_threshold)


def day(offset: int) -> date:
    """A date ``offset`` days after TODAY."""
    return TODAY + timedelta(days=offset)


def po_line(po_line_id: int, expected: date, open_quantity: int, linked: int = 0) -> OpenPoLine:
    return OpenPoLine(po_line_id, expected, open_quantity, linked)


def waiting(backorder_id: int, quantity: int, **links: int) -> WaitingBackorder:
    """A waiting backorder; ``waiting(1, 5, po7=3)`` links 3 of its units to PO line 7."""
    return WaitingBackorder(
        backorder_id, quantity, tuple(PoLink(int(key.removeprefix("po")), qty) for key, qty in links.items())
    )
