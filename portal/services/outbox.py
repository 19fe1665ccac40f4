"""Sending the outbox: ``flask outbox run`` workers, or a thread of the web process in development.

A worker repeats: **claim** a batch of due messages in one short transaction (PostgreSQL: ``SELECT ...
FOR UPDATE SKIP LOCKED``, so workers running at once take different rows; SQLite: ``BEGIN IMMEDIATE``
serialises the claims), setting ``claimed_by`` and moving ``available_at`` to the end of a lease
(``OUTBOX_LEASE_SECONDS``); then, with no transaction open, **render and send** each message by SMTP; and
**record** the outcome of each in its own short transaction: sent, suppressed (the recipient switched
that email off) or failed (``attempts`` and ``last_error`` kept, ``available_at`` pushed back by a
capped exponential backoff). Nothing is ever deleted or given up on: a message is retried until sent.

Guarantees:

- **Never lost**: a message leaves the pending state only when its send succeeded or its recipient
  opted out. A failed send, a crash at any point, or a database error leaves it pending; at worst it
  waits for its lease to run out.
- **Never sent by two workers**: a message is claimed by one worker at a time, and a worker starts a
  send only while its lease has more than the SMTP timeout left, so a send that began under a lease
  ends before any other worker may claim the message.
- **At most one duplicate per crash**: a worker killed after the SMTP server accepted a message but
  before it recorded it as sent leaves the message claimed; when the lease runs out another worker
  sends it again, once. Both copies carry the same Message-ID (derived from the row id), so mail
  clients can recognise the repeat. SMTP offers no way to make "send and record" atomic; this window
  is the price of never losing a message.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import select, update

from portal.database import write_transaction
from portal.domain.outbox import lease_left, retry_delay
from portal.extensions import db
from portal.integrations import mail
from portal.models import OutboxMessage
from portal.models.base import utcnow
from portal.services import notifications

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Claimed:
    """A claimed message as plain values (no session needed while sending)."""

    id: int
    topic: str
    recipient_user_id: int | None
    recipient_email: str
    payload: str
    created_at: datetime
    attempts: int
    lease_ends: datetime


@dataclass
class Report:
    claimed: int = 0
    sent: list[int] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)


def worker_name() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# --- rendering ---------------------------------------------------------------------------------------


def render(topic: str, payload: dict, to: str, message_id: str, to_user: bool = True) -> mail.Email:
    """The email for a topic from ``templates/email/<topic>.txt`` and ``.html`` (the generic pair for
    a topic without templates), with the payload as context. ``to_user``: the recipient has an account
    (the footer says how to choose emails); a vendor does not."""
    env = current_app.jinja_env
    names = ["email/generic"]
    if notifications.valid_topic_name(topic):
        names.insert(0, f"email/{topic}")
    info = notifications.topic_of(topic)
    link = info.link(payload)
    context = {**payload, "payload": payload, "topic": topic, "when": notifications.when,
               "site_name": notifications.SITE_NAME, "portal_url": _portal_url(),
               "link": _absolute(*link) if link else None, "to_user": to_user}
    text = env.select_template([f"{name}.txt" for name in names]).render(context)
    html = env.select_template([f"{name}.html" for name in names]).render(context)
    return mail.Email(to=to, subject=notifications.subject_of(topic, payload), text=text, html=html,
                      message_id=message_id)


def _portal_url() -> str:
    return current_app.config["PORTAL_URL"].rstrip("/")


def _absolute(endpoint: str, values: dict) -> str:
    """A link into the portal without a request (the worker has none): PORTAL_URL + the route's path."""
    return _portal_url() + current_app.url_map.bind("localhost").build(endpoint, values)


# --- claiming and recording --------------------------------------------------------------------------


def _due(now: datetime):
    return OutboxMessage.sent_at.is_(None) & (OutboxMessage.available_at <= now)


def claim(worker: str, batch: int, now: datetime) -> list[Claimed]:
    """Take up to ``batch`` due messages, oldest first, for ``worker`` until the lease ends.

    An idle worker looks with a plain read first: on SQLite a claim takes the database's write lock
    (``BEGIN IMMEDIATE``), which polling must not do every few seconds for nothing."""
    found = db.session.scalar(select(OutboxMessage.id).where(_due(now)).limit(1))
    db.session.rollback()
    if found is None:
        return []
    lease_ends = now + timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    with write_transaction() as session:
        rows = list(session.scalars(
            select(OutboxMessage).where(_due(now))
            .order_by(OutboxMessage.available_at, OutboxMessage.id).limit(batch)
            .with_for_update(skip_locked=True)))
        for row in rows:
            row.claimed_by, row.claimed_at, row.available_at = worker, now, lease_ends
            row.attempts += 1
        return [Claimed(r.id, r.topic, r.recipient_user_id, r.recipient_email, r.payload, r.created_at,
                        r.attempts, lease_ends) for r in rows]


def _pending(message_id: int):
    return (OutboxMessage.id == message_id) & OutboxMessage.sent_at.is_(None)


def mark_sent(message_id: int, now: datetime) -> None:
    """Recorded whoever holds the lease now: the SMTP server has the message, whatever happens next."""
    with write_transaction() as session:
        session.execute(update(OutboxMessage).where(_pending(message_id)).values(
            sent_at=now, status="sent", claimed_by=None, last_error=""))


def mark_suppressed(message_id: int, now: datetime) -> None:
    with write_transaction() as session:
        session.execute(update(OutboxMessage).where(_pending(message_id)).values(
            sent_at=now, status="suppressed", claimed_by=None))


def mark_failed(message_id: int, worker: str, attempts: int, error: str, now: datetime) -> None:
    """Back off and keep the error; only while this worker still holds the message."""
    cfg = current_app.config
    delay = retry_delay(attempts, cfg["OUTBOX_RETRY_SECONDS"], cfg["OUTBOX_RETRY_MAX_SECONDS"])
    with write_transaction() as session:
        session.execute(update(OutboxMessage).where(_pending(message_id), OutboxMessage.claimed_by == worker)
                        .values(available_at=now + delay, last_error=error[:2000], claimed_by=None))


def release(message_id: int, worker: str, now: datetime) -> None:
    """Give a claimed message back unsent (its lease ran short): due again at once, attempt not counted."""
    with write_transaction() as session:
        session.execute(update(OutboxMessage).where(_pending(message_id), OutboxMessage.claimed_by == worker)
                        .values(available_at=now, claimed_by=None, attempts=OutboxMessage.attempts - 1))


# --- the worker ----------------------------------------------------------------------------------------


def send_batch(worker: str, batch: int = 20, clock: Clock = utcnow) -> Report:
    """Claim one batch and deliver it; see the module docstring for what is guaranteed."""
    claimed = claim(worker, batch, clock())
    report = Report(claimed=len(claimed))
    if not claimed:
        return report
    db.session.rollback()  # no transaction stays open while sending
    off = notifications.opted_out(db.session, [c.recipient_user_id for c in claimed if c.recipient_user_id])
    db.session.rollback()
    margin = timedelta(seconds=current_app.config["MAIL_TIMEOUT_SECONDS"])
    sender = mail.SmtpSettings.from_config()
    with mail.SmtpConnection(sender) as connection:
        for message in claimed:
            _deliver(message, worker, connection, sender.sender, off, margin, clock, report)
    return report


def _deliver(message: Claimed, worker: str, connection: mail.SmtpConnection, sender: str,
             off: set[tuple[int, str]], margin: timedelta, clock: Clock, report: Report) -> None:
    group = notifications.topic_of(message.topic).group
    if message.recipient_user_id is not None and (message.recipient_user_id, group) in off:
        mark_suppressed(message.id, clock())
        report.suppressed.append(message.id)
        return
    if not lease_left(message.lease_ends, clock(), margin):
        release(message.id, worker, clock())
        report.released.append(message.id)
        return
    try:
        payload = json.loads(message.payload or "{}")
        email = render(message.topic, payload, message.recipient_email,
                       mail.message_id(message.id, message.created_at, sender),
                       to_user=message.recipient_user_id is not None)
        connection.send(email, clock())
    except Exception as exc:  # noqa: BLE001 - any failure (template, payload, SMTP) is retried later
        log.warning("outbox message %s (%s) not sent: %s", message.id, message.topic, exc)
        mark_failed(message.id, worker, message.attempts, f"{exc.__class__.__name__}: {exc}", clock())
        report.failed.append(message.id)
        return
    # A crash here sends the message once more after the lease: see the module docstring.
    mark_sent(message.id, clock())
    report.sent.append(message.id)


def run(*, once: bool = False, batch: int = 20, poll_interval: float = 5.0,
        stop: threading.Event | None = None, clock: Clock = utcnow, worker: str | None = None) -> Report:
    """Send due messages until ``stop`` is set; with ``once``, until none is due. Returns the totals.

    A batch that fails as a whole (database unreachable) is logged and tried again after the poll
    interval; its messages stay claimed until their lease runs out."""
    worker = worker or worker_name()
    stop = stop or threading.Event()
    total = Report()
    while not stop.is_set():
        try:
            report = send_batch(worker, batch, clock)
        except Exception:
            if once:
                raise
            log.exception("outbox batch failed; retrying in %s s", poll_interval)
            db.session.rollback()
            stop.wait(poll_interval)
            continue
        for name in ("sent", "suppressed", "failed", "released"):
            getattr(total, name).extend(getattr(report, name))
        total.claimed += report.claimed
        if report.claimed == 0:
            if once:
                break
            stop.wait(poll_interval)
    return total


# --- in-process worker (development) -----------------------------------------------------------------


class InlineWorker:
    """A daemon thread of the web process running :func:`run` (``OUTBOX_WORKER=inline``, development).

    It starts with the first request rather than in ``create_app``: CLI commands (``flask db upgrade``,
    ``flask seed-demo``) build the app too and must not start a sender, and under the reloader only the
    serving child process gets requests."""

    def __init__(self, app: Flask):
        self.app = app
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        if self.thread is not None:
            return
        with self._lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="outbox-inline", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        with self.app.app_context():
            try:
                run(poll_interval=self.app.config["OUTBOX_POLL_SECONDS"], stop=self.stop)
            finally:
                db.session.remove()

    def shutdown(self, timeout: float = 10) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)


def init_app(app: Flask) -> None:
    """Start the inline worker with the first request when ``OUTBOX_WORKER=inline``."""
    if app.config["OUTBOX_WORKER"] != "inline":
        return
    worker = InlineWorker(app)
    app.extensions["outbox_worker"] = worker
    app.before_request(worker.ensure_started)
