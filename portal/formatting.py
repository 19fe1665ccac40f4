"""Money and date formatting with Babel, exposed as Jinja filters."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from flask import Flask, current_app


def money(value: Decimal | int | None, currency: str | None = None) -> str:
    if value is None:
        return ""
    cfg = current_app.config
    return format_currency(Decimal(value), currency or cfg["DEFAULT_CURRENCY"], locale=cfg["DEFAULT_LOCALE"])


def day(value: date | datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return format_date(value, format=fmt, locale=current_app.config["DEFAULT_LOCALE"])


def moment(value: datetime | None) -> str:
    """A date and time to the minute, in UTC (stored times are UTC), for back-office tables."""
    if value is None:
        return ""
    locale = current_app.config["DEFAULT_LOCALE"]
    return format_datetime(value, "d MMM y, HH:mm", tzinfo="UTC", locale=locale) + " UTC"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["day"] = day
    app.jinja_env.filters["moment"] = moment
