"""The thin adapter to an SMTP server (smtplib).

Speaks in plain values: an :class:`Email` (recipient, subject, text, HTML, Message-ID) goes out as one
multipart/alternative message. The Message-ID is derived from the outbox row (:func:`message_id`), so a
message sent twice (a worker died between sending and recording it) carries the same id both times and
mail clients can recognise the repeat. Every failure to hand a message over becomes :class:`MailError`.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from flask import current_app


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message."""


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    message_id: str


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str
    password: str
    use_tls: bool
    sender: str
    timeout: float

    @classmethod
    def from_config(cls) -> SmtpSettings:
        cfg = current_app.config
        return cls(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"],
                   bool(cfg["MAIL_USE_TLS"]), cfg["MAIL_FROM"], float(cfg["MAIL_TIMEOUT_SECONDS"]))


def message_id(outbox_id: int, created_at: datetime, sender: str) -> str:
    """``<outbox.<id>.<created, µs>@<sender's domain>>``: the same for every send of one outbox row; the
    creation time keeps ids apart across databases that reuse row ids (a reset demo database)."""
    domain = sender.rpartition("@")[2] or "localhost"
    if created_at.tzinfo is None:  # SQLite hands back naive datetimes; we store UTC
        created_at = created_at.replace(tzinfo=UTC)
    return f"<outbox.{outbox_id}.{int(created_at.timestamp() * 1_000_000)}@{domain}>"


def build_message(email: Email, sender: str, date: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = email.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


class SmtpConnection:
    """One SMTP session, opened on first use and reused for a batch; ``close`` ends it.

    After a failure the session is dropped, so the next send opens a fresh one."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, email: Email, date: datetime) -> None:
        message = build_message(email, self.settings.sender, date)
        try:
            smtp = self._smtp or self._open()
            smtp.send_message(message, from_addr=self.settings.sender, to_addrs=[email.to])
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise MailError(f"{exc.__class__.__name__}: {exc}") from exc

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.use_tls:
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
