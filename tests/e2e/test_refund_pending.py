"""A buyer cancels paid backordered units while Stripe is unreachable: the order page says "refund
pending"; once Stripe answers again an admin sends it from the same page, once (issue 5).

The portal talks to localstripe through a small TCP relay the test can switch off, so "Stripe is down"
is a real connection failure seen by the Stripe client, not a patched function. The browser loads
Stripe.js from localstripe directly.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import (
    MOBILE,
    ROOT,
    LiveServer,
    _flask,
    _free_port,
    _run,
    _server_env,
    _wait_until_healthy,
    assert_no_horizontal_scroll,
    check_a11y,
    screenshot,
)
from tests.e2e.test_card_payments import _mock_shadowing, order_by_card, save_card, sign_in
from tests.localstripe import localstripe_url, stripe_settings  # noqa: F401 - the fixture
from tests.localstripe import refunds as localstripe_refunds


class Relay:
    """Forwards TCP connections to ``target`` while ``up``; refuses them (closes at once) while down."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.up = target, True
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # a reset: the client sees a connection error
                continue
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def relayed(tmp_path_factory, _browser_pieces, localstripe_url) -> Iterator[tuple[LiveServer, Relay]]:  # noqa: F811
    host, port = localstripe_url.removeprefix("http://").split(":")
    relay = Relay((host, int(port)))
    folder = tmp_path_factory.mktemp("e2e-refunds")
    database = folder / "portal-e2e.db"
    env = {**_server_env(database), **stripe_settings(localstripe_url),
           "STRIPE_API_BASE": f"http://127.0.0.1:{relay.port}"}
    _run(_flask("db", "upgrade"), env)
    _run(_flask("seed-demo"), env)
    server_port = _free_port()
    url = f"http://127.0.0.1:{server_port}"
    log = folder / "server.log"
    with log.open("w") as out:
        command = _flask("run", "--no-reload", "--host", "127.0.0.1", "--port", str(server_port))
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(url, server, log)
        yield LiveServer(url=url, database=database), relay
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        relay.close()


@pytest.fixture
def open_page(browser: Browser, relayed) -> Iterator[Callable[..., Page]]:
    server, _ = relayed
    problems: list[str] = []
    contexts = []

    def _open(mobile: bool = False) -> Page:
        options = {"viewport": MOBILE, "is_mobile": True, "has_touch": True} if mobile else {}
        context = browser.new_context(base_url=server.url, **options)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: problems.append(f"CSP: {m.text}")
                if m.type == "error" and "Content Security Policy" in m.text else None)
        page.on("pageerror", lambda error: None if _mock_shadowing(error) else problems.append(
            f"JavaScript error on {page.url}: {error}"))
        return page

    yield _open
    for context in contexts:
        context.close()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


def test_a_refund_stripe_could_not_take_is_pending_until_an_admin_sends_it(open_page, relayed,
                                                                           localstripe_url):  # noqa: F811
    server, relay = relayed
    buyer = open_page()
    sign_in(buyer, "buyer@acme-hardware.example")
    save_card(buyer, "4242424242424242", "4242")
    order_by_card(buyer, "DEMO-BACKORDER-SHOW", "4242")
    buyer.get_by_role("button", name=re.compile(r"^Place order and pay \$")).click()
    expect(buyer.get_by_role("heading", level=1)).to_contain_text("Thank you")
    number, intent = server.query("SELECT o.number, c.stripe_payment_intent_id FROM orders o "
                                  "JOIN card_charges c ON c.order_id = o.id ORDER BY o.id DESC LIMIT 1")[0]

    relay.up = False
    buyer.goto(f"/account/orders/{number}")
    buyer.get_by_label("Units of DEMO-BACKORDER-SHOW to cancel").fill("2")
    buyer.get_by_role("button", name="Cancel these units").click()
    expect(buyer.get_by_role("status").filter(has_text="Stripe could not be reached")).to_be_visible()
    pending = buyer.locator("#refunds-pending")
    expect(pending).to_contain_text("Refund pending")
    expect(pending).to_contain_text("not sent to the card yet")
    expect(buyer.locator("#payment-status")).to_contain_text("Refund pending")
    check_a11y(buyer, "an order with a refund pending (buyer)")
    screenshot(buyer, "order-refund-pending-buyer")
    phone = open_page(mobile=True)
    sign_in(phone, "buyer@acme-hardware.example")
    phone.goto(f"/account/orders/{number}")
    expect(phone.locator("#refunds-pending")).to_be_visible()
    assert_no_horizontal_scroll(phone)
    screenshot(phone, "order-refund-pending-phone")
    assert localstripe_refunds(localstripe_url, intent) == []

    relay.up = True
    admin = open_page()
    sign_in(admin, "admin@northwind.example")
    admin.goto(f"/account/orders/{number}")
    expect(admin.locator("#refunds-pending")).to_contain_text("Refund pending")
    check_a11y(admin, "an order with a refund pending (admin)")
    screenshot(admin, "order-refund-pending-admin")
    admin.get_by_role("button", name="Send pending refunds now").click()
    expect(admin.get_by_role("status").filter(has_text=re.compile(r"Refund of \$[\d,.]+ sent to the card"))) \
        .to_be_visible()
    expect(admin.locator("#refunds-pending")).to_have_count(0)
    expect(admin.locator("#payment-status")).to_contain_text("Refunded")
    screenshot(admin, "order-refund-sent-admin")
    assert len(localstripe_refunds(localstripe_url, intent)) == 1
    assert server.query("SELECT stripe_refund_id FROM card_refunds")[0][0].startswith("re_")


def test_the_statement_lists_orders_not_yet_invoiced_and_credit_notes(open_page):
    for mobile in (False, True):
        page = open_page(mobile=mobile)
        sign_in(page, "buyer@bluebird.example")
        page.goto("/account/statement")
        expect(page.get_by_role("heading", name="Orders not yet invoiced", level=2)).to_be_visible()
        expect(page.get_by_role("heading", name="Credit notes", level=2)).to_be_visible()
        check_a11y(page, "the statement")
        if mobile:
            assert_no_horizontal_scroll(page)
        screenshot(page, "statement-phone" if mobile else "statement")
