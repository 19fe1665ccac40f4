"""Today's date, as an input: services take ``today`` as an argument; views ask here.

``TODAY`` in the config (an ISO date, tests and demos only) freezes it."""

from __future__ import annotations

from datetime import date

from flask import current_app


def today() -> date:
    frozen = current_app.config.get("TODAY")
    if frozen:
        return frozen if isinstance(frozen, date) else date.fromisoformat(str(frozen))
    return date.today()
