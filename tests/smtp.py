"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 and a free port, in a thread.

``smtp_server`` starts it and points the app's MAIL_SERVER/MAIL_PORT at it. ``stop()`` and ``start()``
take it down and bring it back on the same port (the "server down" tests). Each accepted message is
parsed with the modern email policy, so tests read its parts as a mail client would.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, subtype: str) -> str:
        """The text/plain or text/html body, decoded."""
        found = self.message.get_body(preferencelist=(subtype,))
        assert found is not None and found.get_content_subtype() == subtype, f"no text/{subtype} part"
        return found.get_content()


class Inbox:
    """The aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        #: Seconds to wait before answering DATA (makes concurrent workers overlap).
        self.delay = 0.0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


class SmtpServer:
    def __init__(self) -> None:
        self.port = _free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture(name="smtp_server")
def smtp_server_fixture(request) -> Iterator[SmtpServer]:
    """A running SMTP server; the app of the test (``any_app`` or ``app``) sends to it."""
    server = SmtpServer()
    server.start()
    for name in ("any_app", "app"):
        if name in request.fixturenames:
            app = request.getfixturevalue(name)
            app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_USE_TLS=False,
                              MAIL_USERNAME="", MAIL_TIMEOUT_SECONDS=5)
            break
    yield server
    server.stop()
