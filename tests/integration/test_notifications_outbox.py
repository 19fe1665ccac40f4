"""Notifications through the outbox, sent by a real SMTP server (aiosmtpd on 127.0.0.1).

Each event type becomes exactly one email with its subject, recipient, text and HTML parts; with the
server down messages wait (attempts, backoff) and go out once it is back; concurrent workers deliver
each message exactly once; a worker killed between sending and recording causes at most one duplicate
(same Message-ID); email choices suppress the email and keep the in-app notice.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.integrations import mail
from portal.models import Notification, OutboxMessage, StockSubscription, Warehouse
from portal.models.base import utcnow
from portal.services import inventory, notifications, outbox, subscriptions
from tests.factories import make_company, make_product, make_user, set_stock
from tests.smtp import smtp_server_fixture  # noqa: F401 - the smtp_server fixture

PLACED = {"order_number": "SO-00042", "company": "Acme Hardware", "total": "123.40", "lines": [
    {"sku": "BOLT-10", "name": "Hex bolt", "quantity": 10, "allocated": 10, "backordered": 0,
     "hidden": False, "eta": None, "late": False},
    {"sku": "NUT-20", "name": "Wing nut", "quantity": 5, "allocated": 2, "backordered": 3,
     "hidden": False, "eta": "2026-12-12", "late": False}]}

#: topic -> (payload as its service writes it, words in the subject, words in both bodies)
EVENTS = {
    "order_confirmed": (PLACED, "Order SO-00042 confirmed",
                        ["SO-00042", "2 ship now, 3 on backorder, expected Dec 12, 2026",
                         "Backorders: 1 line"]),
    "backorder_eta_changed": (
        {"order_number": "SO-00042", "sku": "NUT-20", "name": "Wing nut", "quantity": 3, "eta": "2026-12-20",
         "estimated": False, "previous_eta": "2026-12-12", "at_risk": False},
        "New expected date for NUT-20 on order SO-00042: Dec 20, 2026", ["Dec 20, 2026", "was Dec 12, 2026"]),
    "deadline_at_risk": (
        {"order_number": "SO-00042", "sku": "NUT-20", "name": "Wing nut", "quantity": 3, "eta": "2026-12-20",
         "need_by": "2026-12-15"}, "NUT-20 on order SO-00042 may miss your deadline of Dec 15, 2026",
        ["Dec 15, 2026", "swap the line"]),
    "backorder_ready": ({"order_number": "SO-00042",
                         "lines": [{"sku": "NUT-20", "name": "Wing nut", "quantity": 3}]},
                        "3 × NUT-20 set aside for order SO-00042", ["arrived and is set aside"]),
    "order_shipped": ({"order_number": "SO-00042", "shipment": "SH-00007", "tracking_number": "1Z999",
                       "carrier": "UPS", "lines": [{"sku": "BOLT-10", "quantity": 10}]},
                      "Order SO-00042 has shipped (SH-00007)", ["10 × BOLT-10", "1Z999"]),
    "back_in_stock": ({"sku": "NUT-20", "name": "Wing nut"}, "Wing nut (NUT-20) is back in stock",
                      ["is back in stock"]),
    "payment_due": ({"order_number": "SO-00042", "amount": "12.00", "due_on": "2026-12-30"},
                    "Payment due for order SO-00042", ["$12.00", "Dec 30, 2026"]),
    "payment_failed": ({"order_number": "SO-00042", "amount": "12.00", "message": "Your card was declined."},
                       "Card payment failed for order SO-00042", ["$12.00", "Your card was declined."]),
}
PO_SENT = {"po_number": "PO-00003", "vendor": "Fastener Co", "notes": "Deliver to dock 2", "lines": [
    {"sku": "NUT-20", "name": "Wing nut", "quantity": 100, "expected_date": "2026-12-10"}]}


def a_buyer(email: str | None = None):
    company = make_company(f"Company {uuid.uuid4().hex[:6]}")
    return make_user(company=company, email=email or f"{uuid.uuid4().hex[:8]}@example.com")


def tell(user, topic: str, payload: dict) -> None:
    with write_transaction():
        notifications.notify(user, topic, payload)


def send_all(**kwargs) -> outbox.Report:
    report = outbox.run(once=True, **kwargs)
    db.session.rollback()
    return report


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes (we store UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rows() -> list[OutboxMessage]:
    db.session.rollback()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# --- each event type -------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", sorted(EVENTS))
def test_each_event_type_is_sent_as_exactly_one_email_with_its_content(app, smtp_server, topic):
    payload, subject, words = EVENTS[topic]
    buyer = a_buyer("alice@example.com")
    tell(buyer, topic, payload)

    report = send_all()

    assert len(report.sent) == 1
    (received,) = smtp_server.inbox.received
    assert received.rcpt_tos == ["alice@example.com"]
    assert str(received.message["To"]) == "alice@example.com"
    assert received.subject == subject
    text, html = received.part("plain"), received.part("html")
    assert "Choose which emails you get" in text
    for word in words:
        assert word in text, (word, text)
        assert word.replace("×", "&times;") in html or word in html, (word, html)
    (row,) = rows()
    assert received.message_id == mail.message_id(row.id, row.created_at, app.config["MAIL_FROM"])
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")


def test_a_purchase_order_goes_to_the_vendor_address_with_its_lines(app, smtp_server):
    with write_transaction():
        notifications.queue_email("orders@fastener.example", "purchase_order_sent", PO_SENT)

    send_all()

    (received,) = smtp_server.inbox.received
    assert received.rcpt_tos == ["orders@fastener.example"]
    assert received.subject == "Purchase order PO-00003 from Northwind Wholesale"
    for part in (received.part("plain"), received.part("html")):
        assert "Fastener Co" in part and "NUT-20" in part and "Dec 10, 2026" in part and "dock 2" in part
        assert "Choose which emails" not in part  # a vendor has no account with email settings


def test_an_unknown_topic_is_sent_with_the_generic_template(app, smtp_server):
    buyer = a_buyer()
    tell(buyer, "credit_limit_raised", {"order_number": "SO-00001", "new_limit": "9000.00"})

    send_all()

    (received,) = smtp_server.inbox.received
    assert received.subject == "An update from Northwind Wholesale"
    assert "New limit: 9000.00" in received.part("plain")
    assert "SO-00001" in received.part("html")


def test_the_order_page_link_in_an_email_points_at_the_portal(app, smtp_server):
    app.config["PORTAL_URL"] = "https://portal.example.com/"
    tell(a_buyer(), "backorder_ready", EVENTS["backorder_ready"][0])

    send_all()

    (received,) = smtp_server.inbox.received
    assert "https://portal.example.com/account/orders/SO-00042" in received.part("plain")
    assert 'href="https://portal.example.com/account/orders/SO-00042"' in received.part("html")


def test_html_in_a_payload_is_escaped_in_the_html_part(app, smtp_server):
    tell(a_buyer(), "back_in_stock", {"sku": "X-1", "name": "<script>alert(1)</script>"})

    send_all()

    (received,) = smtp_server.inbox.received
    assert "<script>" not in received.part("html")
    assert "&lt;script&gt;" in received.part("html")


# --- real events -------------------------------------------------------------------------------------


def test_adding_stock_tells_each_waiting_subscriber_once(any_app, smtp_server):
    product = make_product(sku="NUT-20", name="Wing nut")
    set_stock(product, 0)
    alice, bob = a_buyer("alice@example.com"), a_buyer("bob@example.com")
    for user in (alice, bob):
        subscriptions.subscribe(user, product.id)
    warehouse = db.session.scalar(select(Warehouse.id))
    admin = make_user("admin")

    inventory.adjust_stock(admin, product.id, warehouse, 5, "Found a box")
    inventory.adjust_stock(admin, product.id, warehouse, 5, "Found another box")
    send_all()

    got = sorted(r.rcpt_tos[0] for r in smtp_server.inbox.received)
    assert got == ["alice@example.com", "bob@example.com"]
    assert all(r.subject == "Wing nut (NUT-20) is back in stock" for r in smtp_server.inbox.received)
    db.session.rollback()
    waiting = select(StockSubscription.id).where(StockSubscription.notified_at.is_(None))
    assert db.session.scalar(waiting) is None
    titles = db.session.scalars(select(Notification.title).where(Notification.user_id == alice.id)).all()
    assert titles == ["Wing nut (NUT-20) is back in stock"]


def test_removing_stock_tells_nobody(any_app, smtp_server):
    product = make_product()
    set_stock(product, 10)
    subscriptions.subscribe(a_buyer(), product.id)
    warehouse = db.session.scalar(select(Warehouse.id))
    inventory.adjust_stock(make_user("admin"), product.id, warehouse, -3, "Damaged")
    assert rows() == []


# --- the SMTP server down ----------------------------------------------------------------------------


def test_with_the_smtp_server_down_messages_wait_with_backoff_and_are_sent_once_it_is_back(
        any_app, smtp_server):
    any_app.config.update(OUTBOX_RETRY_SECONDS=60, OUTBOX_RETRY_MAX_SECONDS=3600)
    tell(a_buyer("alice@example.com"), "backorder_ready", EVENTS["backorder_ready"][0])
    smtp_server.stop()
    start = utcnow()

    first = send_all(clock=lambda: start)
    (row,) = rows()
    assert first.failed == [row.id] and first.sent == []
    assert row.status == "pending" and row.sent_at is None and row.attempts == 1
    assert "Connection refused" in row.last_error or "Error" in row.last_error
    assert aware(row.available_at) == start + timedelta(seconds=60)
    assert row.claimed_by is None

    assert send_all(clock=lambda: start + timedelta(seconds=59)).claimed == 0  # still backing off
    second = send_all(clock=lambda: start + timedelta(seconds=61))
    assert second.failed == [row.id]
    assert aware(rows()[0].available_at) == start + timedelta(seconds=61 + 120)  # doubled

    smtp_server.start()
    assert send_all(clock=lambda: start + timedelta(seconds=180)).claimed == 0
    back = send_all(clock=lambda: start + timedelta(seconds=182))

    assert back.sent == [row.id]
    (received,) = smtp_server.inbox.received
    assert received.rcpt_tos == ["alice@example.com"]
    (row,) = rows()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")
    assert send_all(clock=lambda: start + timedelta(days=1)).claimed == 0
    assert len(smtp_server.inbox.received) == 1


# --- workers at once -----------------------------------------------------------------------------------


def test_workers_running_at_once_deliver_each_message_exactly_once(any_app, smtp_server):
    buyer = a_buyer("alice@example.com")
    with write_transaction():
        for n in range(60):
            line = {"sku": "NUT-20", "name": "Wing nut", "quantity": n + 1}
            notifications.notify(buyer, "backorder_ready", {**EVENTS["backorder_ready"][0], "lines": [line]})
    db.session.rollback()
    smtp_server.inbox.delay = 0.01  # each send takes a moment, so the workers overlap
    reports: list[outbox.Report] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        with any_app.app_context():
            try:
                reports.append(outbox.run(once=True, batch=4, worker=name))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    ids = [r.message_id for r in smtp_server.inbox.received]
    assert len(ids) == 60 and len(set(ids)) == 60
    assert sorted(i for report in reports for i in report.sent) == [r.id for r in rows()]
    assert sum(1 for report in reports if report.sent) >= 2, "the workers did not share the work"
    assert {(r.status, r.attempts) for r in rows()} == {("sent", 1)}


# --- a worker killed between sending and recording ---------------------------------------------------------


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs (not an Exception, so nothing catches it)."""


def test_a_worker_killed_after_sending_causes_at_most_one_duplicate_with_the_same_message_id(
        any_app, smtp_server, monkeypatch):
    any_app.config["OUTBOX_LEASE_SECONDS"] = 300
    tell(a_buyer("alice@example.com"), "order_shipped", EVENTS["order_shipped"][0])
    start = utcnow()

    def die(*_args):
        raise Killed

    monkeypatch.setattr(outbox, "mark_sent", die)
    with pytest.raises(Killed):
        outbox.run(once=True, clock=lambda: start, worker="doomed")
    monkeypatch.undo()
    db.session.rollback()
    assert len(smtp_server.inbox.received) == 1
    (row,) = rows()
    assert row.sent_at is None and row.claimed_by == "doomed"

    # The lease still holds: another worker leaves the message alone.
    assert send_all(clock=lambda: start + timedelta(seconds=200)).claimed == 0
    # The lease ran out: sent once more, with the same Message-ID, and recorded.
    assert send_all(clock=lambda: start + timedelta(seconds=301)).sent == [row.id]
    assert send_all(clock=lambda: start + timedelta(days=1)).claimed == 0

    first, again = smtp_server.inbox.received
    assert first.message_id == again.message_id
    assert rows()[0].status == "sent"


def test_a_worker_whose_lease_ran_short_gives_messages_back_unsent(any_app, smtp_server):
    any_app.config.update(OUTBOX_LEASE_SECONDS=60, MAIL_TIMEOUT_SECONDS=30)
    tell(a_buyer(), "backorder_ready", EVENTS["backorder_ready"][0])
    start = utcnow()
    times = iter([start] + [start + timedelta(seconds=45)] * 10)  # claimed, then 45 s later: 15 s left

    report = outbox.send_batch("slow-worker", clock=lambda: next(times))

    assert report.released == [rows()[0].id] and smtp_server.inbox.received == []
    (row,) = rows()
    assert row.sent_at is None and row.claimed_by is None and row.attempts == 0
    assert send_all(clock=lambda: start + timedelta(seconds=46)).sent == [row.id]


# --- email choices -----------------------------------------------------------------------------------


def test_switching_an_email_off_suppresses_it_and_keeps_the_in_app_notice(any_app, smtp_server):
    buyer = a_buyer("alice@example.com")
    notifications.save_email_choices(buyer, ["backorders", "billing"])  # orders and stock off
    tell(buyer, "order_shipped", EVENTS["order_shipped"][0])
    tell(buyer, "payment_failed", EVENTS["payment_failed"][0])

    report = send_all()

    assert len(report.suppressed) == 1 and len(report.sent) == 1
    assert [r.subject for r in smtp_server.inbox.received] == ["Card payment failed for order SO-00042"]
    assert [(r.topic, r.status) for r in rows()] == [("order_shipped", "suppressed"),
                                                     ("payment_failed", "sent")]
    db.session.rollback()
    titles = db.session.scalars(select(Notification.title).where(Notification.user_id == buyer.id)
                                .order_by(Notification.id)).all()
    assert titles == ["Order SO-00042 has shipped (SH-00007)", "Card payment failed for order SO-00042"]
    assert notifications.unread_count(buyer.id) == 2


def test_placing_an_order_queues_its_confirmation_and_in_app_notice_together(any_app, smtp_server):
    from tests.integration.test_place_order import buyer, fill_cart, place

    bolts, nuts = make_product(sku="BOLT-10"), make_product(sku="NUT-20", policy="allow")
    set_stock(bolts, 50)
    user, company = buyer()
    fill_cart(user, company, (bolts, 5), (nuts, 4))
    order = place(user, company)

    send_all()

    (received,) = smtp_server.inbox.received
    assert received.subject == f"Order {order.number} confirmed"
    text = received.part("plain")
    assert "5 × BOLT-10" in text and "ships now" in text
    assert "4 on backorder" in text and "Backorders: 1 line" in text
    db.session.rollback()
    (notice,) = db.session.scalars(select(Notification).where(Notification.user_id == user.id)).all()
    assert notice.title == received.subject and json.loads(notice.payload)["order_number"] == order.number


# --- the command and the in-process worker ------------------------------------------------------------


def test_flask_outbox_run_once_sends_what_is_due_and_exits(app, smtp_server):
    tell(a_buyer("alice@example.com"), "back_in_stock", EVENTS["back_in_stock"][0])
    db.session.rollback()

    result = app.test_cli_runner().invoke(args=["outbox", "run", "--once", "--batch", "5"])

    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output
    assert [r.rcpt_tos for r in smtp_server.inbox.received] == [["alice@example.com"]]


def test_the_inline_worker_sends_from_the_web_process_after_the_first_request(sqlite_url, smtp_server):
    from tests.conftest import build_app, wipe

    inline = build_app(sqlite_url, OUTBOX_WORKER="inline", OUTBOX_POLL_SECONDS=0.1, MAIL_SERVER="127.0.0.1",
                       MAIL_PORT=smtp_server.port)
    wipe(inline)
    try:
        with inline.app_context():
            tell(a_buyer("alice@example.com"), "back_in_stock", EVENTS["back_in_stock"][0])
            db.session.remove()
        worker = inline.extensions["outbox_worker"]
        assert worker.thread is None  # not started by create_app (CLI commands build the app too)
        inline.test_client().get("/healthz")
        for _ in range(300):  # up to 15 s on a busy machine
            if smtp_server.inbox.received:
                break
            threading.Event().wait(0.05)
        assert [r.rcpt_tos for r in smtp_server.inbox.received] == [["alice@example.com"]]
    finally:
        inline.extensions["outbox_worker"].shutdown()
        wipe(inline)
        with inline.app_context():
            db.engine.dispose()


def test_the_inline_worker_is_off_in_tests_and_refused_in_production(app, sqlite_url):
    from portal.config import ConfigError
    from tests.conftest import build_app, test_environ

    assert app.config["OUTBOX_WORKER"] == "off" and "outbox_worker" not in app.extensions
    environ = {**test_environ(sqlite_url), "PORTAL_ENV": "production", "OUTBOX_WORKER": "inline"}
    with pytest.raises(ConfigError, match="OUTBOX_WORKER=inline is for development"):
        build_app(sqlite_url, environ=environ)


# --- the back office's events, end to end -------------------------------------------------------------


def test_a_po_sent_and_received_emails_the_vendor_the_waiting_buyer_and_the_subscriber(any_app, smtp_server):
    from datetime import date

    from portal.models import PurchaseOrder
    from portal.services import purchasing, receiving
    from tests.backoffice_factories import make_backorder
    from tests.factories import make_vendor

    today = date(2026, 11, 23)
    admin = make_user("admin")
    company = make_company("Acme")
    alice, watcher = make_user(company=company, email="alice@example.com"), a_buyer("watcher@example.com")
    vendor = make_vendor()
    nut = make_product(sku="NUT-20", name="Wing nut", policy="allow", vendor=vendor)
    set_stock(nut, 0)
    make_backorder(company, alice, nut, 4)
    subscriptions.subscribe(watcher, nut.id)
    po = purchasing.create_draft(admin, vendor.id)
    purchasing.add_line(admin, po.id, "NUT-20", 10, today + timedelta(days=10))
    purchasing.change_status(admin, po.id, "sent", today)
    db.session.rollback()
    line_id = db.session.get(PurchaseOrder, po.id).lines[0].id
    receiving.receive_purchase_order(admin, po.id, uuid.uuid4().hex, {line_id: 10}, today)

    send_all()

    topics = {r.topic for r in rows()}
    assert {"purchase_order_sent", "backorder_ready", "back_in_stock"} <= topics
    assert {r.status for r in rows()} == {"sent"} and len(smtp_server.inbox.received) == len(rows())
    assert [r.subject for r in smtp_server.inbox.to(vendor.email)] == [
        f"Purchase order {po.number} from Northwind Wholesale"]
    assert any(r.subject.startswith("4 × NUT-20 set aside for order") for r in smtp_server.inbox.to(
        "alice@example.com"))
    assert [r.subject for r in smtp_server.inbox.to("watcher@example.com")] == [
        "Wing nut (NUT-20) is back in stock"]
    db.session.rollback()
    notices = db.session.scalars(select(Notification.topic).where(Notification.user_id == alice.id)).all()
    assert "backorder_ready" in notices


def test_an_oddly_shaped_payload_is_still_recorded_and_sent(app, smtp_server):
    buyer = a_buyer()
    tell(buyer, "order_shipped",
         {"order_number": "SO-1", "shipment": {"odd": "shape"}, "lines": "not a list"})

    send_all()

    (row,) = rows()
    assert row.status == "sent" and len(smtp_server.inbox.received) == 1
    assert notifications.unread_count(buyer.id) == 1


def test_a_message_that_cannot_be_rendered_waits_with_its_error_instead_of_being_dropped(app, smtp_server):
    tell(a_buyer(), "payment_due", {"order_number": "SO-1", "amount": "not money"})

    report = send_all()

    (row,) = rows()
    assert report.failed == [row.id] and smtp_server.inbox.received == []
    assert row.status == "pending" and row.attempts == 1 and "InvalidOperation" in row.last_error
