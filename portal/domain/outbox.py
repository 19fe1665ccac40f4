"""Retry timing of outbox messages: pure arithmetic, no clock (the caller passes ``now``)."""

from __future__ import annotations

from datetime import datetime, timedelta


def retry_delay(attempts: int, first_seconds: int, max_seconds: int) -> timedelta:
    """Exponential backoff: ``first_seconds`` after the first failed attempt, doubling with each further
    one, never more than ``max_seconds``. A message is retried for ever at the cap, never dropped."""
    exponent = max(attempts - 1, 0)
    if exponent >= 32:  # 2**32 × any first delay is past any sensible cap
        return timedelta(seconds=max_seconds)
    return timedelta(seconds=min(first_seconds * 2 ** exponent, max_seconds))


def lease_left(lease_ends: datetime, now: datetime, margin: timedelta) -> bool:
    """A worker may start a send only while its lease has more than ``margin`` left: a send that began
    under the lease ends before another worker may claim the message (the margin is the SMTP timeout)."""
    return now + margin < lease_ends
