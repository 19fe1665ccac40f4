"""Retry timing and leases of outbox messages (pure rules, no app), and the outbox settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.config import ConfigError, load
from portal.domain.outbox import lease_left, retry_delay

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_first_retry_waits_the_first_delay_and_each_further_one_doubles_it():
    assert [retry_delay(n, 60, 3600).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]


def test_the_delay_never_exceeds_the_cap_however_many_attempts_failed():
    assert retry_delay(7, 60, 3600) == timedelta(seconds=3600)
    assert retry_delay(10_000, 60, 3600) == timedelta(seconds=3600)


def test_a_message_never_attempted_is_retried_after_the_first_delay():
    assert retry_delay(0, 60, 3600) == timedelta(seconds=60)


def test_a_send_may_start_only_while_more_than_the_margin_of_the_lease_is_left():
    ends = NOW + timedelta(seconds=60)
    margin = timedelta(seconds=30)
    assert lease_left(ends, NOW + timedelta(seconds=29), margin)
    assert not lease_left(ends, NOW + timedelta(seconds=30), margin)
    assert not lease_left(ends, NOW + timedelta(seconds=90), margin)


def _settings(tmp_path, **env):
    return load(tmp_path, {"SECRET_KEY": "k" * 40, "DATABASE_URL": "sqlite://", **env})


def test_the_inline_worker_is_on_in_development_only_by_default(tmp_path):
    assert _settings(tmp_path)["OUTBOX_WORKER"] == "inline"
    assert _settings(tmp_path, PORTAL_ENV="testing")["OUTBOX_WORKER"] == "off"
    assert _settings(tmp_path, PORTAL_ENV="production")["OUTBOX_WORKER"] == "off"
    assert _settings(tmp_path, OUTBOX_WORKER="off")["OUTBOX_WORKER"] == "off"


def test_settings_that_cannot_work_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="for development"):
        _settings(tmp_path, PORTAL_ENV="production", OUTBOX_WORKER="inline")
    with pytest.raises(ConfigError, match="'inline' or 'off'"):
        _settings(tmp_path, OUTBOX_WORKER="threads")
    with pytest.raises(ConfigError, match="longer than MAIL_TIMEOUT_SECONDS"):
        _settings(tmp_path, OUTBOX_LEASE_SECONDS="30", MAIL_TIMEOUT_SECONDS="30")
