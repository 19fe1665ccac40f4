"""The outbox page (issue 7): admins see what waits, what keeps failing and why, each email as it will be
sent, and can make a message backing off due again now (audit-logged); a sent message cannot be retried."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import AuditLog, OutboxMessage
from portal.models.base import utcnow
from portal.services import outbox_monitor
from tests.conftest import post_form


def _confirmation(world) -> OutboxMessage:
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient_user_id == world.buyer_a)
                             .order_by(OutboxMessage.id.desc()).limit(1))


def _failing(message_id: int, minutes: int = 30) -> None:
    with write_transaction() as session:
        message = session.get(OutboxMessage, message_id)
        message.attempts, message.last_error = 3, "SMTP 451: mailbox busy"
        message.available_at = utcnow() + timedelta(minutes=minutes)


def test_the_outbox_lists_waiting_and_failing_messages_with_their_error(app, world, client_for):
    message = _confirmation(world)
    admin = client_for("admin")
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert f'/admin/outbox/{message.id}"' in page and "Order confirmed" in page and "Due now" in page

    _failing(message.id)
    failing = admin.get("/admin/outbox?status=failing").get_data(as_text=True)
    assert f'/admin/outbox/{message.id}"' in failing
    assert "SMTP 451: mailbox busy" in failing and "Next try" in failing
    assert 'id="count-failing">1<' in failing
    sent = admin.get("/admin/outbox?status=sent").get_data(as_text=True)
    assert f'/admin/outbox/{message.id}"' not in sent


def test_a_message_page_shows_the_email_as_it_will_be_sent(app, world, client_for):
    message = _confirmation(world)
    page = client_for("admin").get(f"/admin/outbox/{message.id}").get_data(as_text=True)
    assert f"Order {world.order_a} confirmed" in page  # the subject
    assert 'id="email-text"' in page and world.order_a in page.split('id="email-text"')[1]
    assert client_for("admin").get("/admin/outbox/999999").status_code == 404


def test_try_again_now_makes_a_backing_off_message_due_and_is_audited(app, world, client_for):
    message = _confirmation(world)
    _failing(message.id)
    assert outbox_monitor.state(db.session.get(OutboxMessage, message.id), utcnow()) == "backing_off"
    response = post_form(client_for("admin"), f"/admin/outbox/{message.id}/retry", {})
    assert response.status_code == 302
    db.session.expire_all()
    after = db.session.get(OutboxMessage, message.id)
    assert outbox_monitor.state(after, utcnow()) == "due"
    assert (after.attempts, after.last_error) == (3, "SMTP 451: mailbox busy")  # history kept
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "outbox_retry_now"))
    assert audit.entity_id == message.id and audit.actor_id == world.admin


def test_a_sent_message_cannot_be_retried(app, world, client_for):
    message = _confirmation(world)
    sent_at = utcnow() - timedelta(hours=1)
    with write_transaction() as session:
        row = session.get(OutboxMessage, message.id)
        row.sent_at, row.status = sent_at, "sent"
    admin = client_for("admin")
    response = post_form(admin, f"/admin/outbox/{message.id}/retry", {})
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "nothing to retry" in page and "Try again now" not in page
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).status == "sent"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "outbox_retry_now")) is None


def test_the_recipient_filter_matches_literally(app, world, client_for):
    message = _confirmation(world)
    admin = client_for("admin")
    local = message.recipient_email.split("@")[0]
    found = admin.get("/admin/outbox", query_string={"status": "all", "recipient": local})
    assert f'/admin/outbox/{message.id}"' in found.get_data(as_text=True)
    for pattern in ("%", "_", "nobody-here"):
        page = admin.get("/admin/outbox", query_string={"status": "all", "recipient": pattern})
        assert page.status_code == 200
        assert f'/admin/outbox/{message.id}"' not in page.get_data(as_text=True)
    assert admin.get("/admin/outbox?status=bogus&before=abc").status_code == 200
