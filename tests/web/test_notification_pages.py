"""The notification pages: the in-app list with unread counts, mark read (only one's own: 404
otherwise, nothing changed), and the email settings."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Notification, NotificationPreference, User
from portal.services import notifications
from tests.conftest import post_form
from tests.web.site import db_snapshot, notification_of, parse

_BADGE = re.compile(r'class="badge rounded-pill text-bg-warning nav-unread">(\d+)<')


def unread_badge(html: str) -> int | None:
    found = _BADGE.search(html)
    return int(found.group(1)) if found else None


def tell(user_id: int, topic: str, payload: dict) -> None:
    with write_transaction():
        notifications.notify(db.session.get(User, user_id), topic, payload)


def test_the_list_shows_the_users_notices_newest_first_with_the_unread_count_in_the_nav(world, client_for):
    tell(world.buyer_a, "backorder_ready",
         {"order_number": world.order_a, "lines": [{"sku": "NUT-20", "name": "Wing nut", "quantity": 3}]})
    client = client_for("buyer_a")

    html = client.get("/account/notifications").get_data(as_text=True)

    assert [h.text.strip() for h in parse(html).find("h1")] == ["Notifications"]
    assert unread_badge(html) == 2
    assert html.index(f"3 × NUT-20 set aside for order {world.order_a}") < html.index(
        f"Order {world.order_a} confirmed")
    assert f'href="/account/orders/{world.order_a}"' in html
    assert unread_badge(client_for("buyer_b").get("/catalog/").get_data(as_text=True)) is None


def test_marking_a_notice_read_lowers_the_unread_count(world, client_for):
    client = client_for("buyer_a")
    notice = notification_of(world.buyer_a)

    response = post_form(client, f"/account/notifications/{notice}/read")

    assert response.status_code == 302
    html = client.get("/account/notifications").get_data(as_text=True)
    assert unread_badge(html) is None and "Nothing unread" in html
    db.session.rollback()
    assert db.session.get(Notification, notice).read_at is not None


def test_a_user_cannot_mark_another_users_notice_read(world, client_for):
    notice = notification_of(world.buyer_a)
    clients = {persona: client_for(persona) for persona in ("buyer_b", "rep_a", "admin", "buyer_a")}
    before = db_snapshot()
    for persona in ("buyer_b", "rep_a", "admin"):
        response = post_form(clients[persona], f"/account/notifications/{notice}/read")
        assert response.status_code == 404, persona
    assert post_form(clients["buyer_a"], "/account/notifications/2147483648/read").status_code == 404
    assert db_snapshot() == before


def test_mark_all_read_marks_only_the_users_own_notices(world, client_for):
    tell(world.buyer_b, "back_in_stock", {"sku": "BOLT-10", "name": "Hex bolt"})
    tell(world.buyer_a, "back_in_stock", {"sku": "BOLT-10", "name": "Hex bolt"})

    response = post_form(client_for("buyer_a"), "/account/notifications/read-all")

    assert response.status_code == 302
    assert notifications.unread_count(world.buyer_a) == 0
    assert notifications.unread_count(world.buyer_b) == 1


def test_email_settings_are_saved_and_shown_again(world, client_for):
    client = client_for("buyer_a")
    page = client.get("/account/notifications/settings").get_data(as_text=True)
    assert page.count("checked") == 4  # every email on by default

    response = post_form(client, "/account/notifications/settings", {"orders": "y", "billing": "y"})

    assert response.status_code == 302
    db.session.rollback()
    saved = dict(db.session.execute(select(NotificationPreference.topic_group, NotificationPreference.email)
                                    .where(NotificationPreference.user_id == world.buyer_a)).all())
    assert saved == {"orders": True, "backorders": False, "stock": False, "billing": True}
    page = client.get("/account/notifications/settings").get_data(as_text=True)
    assert page.count("checked") == 2
    assert notifications.email_choices(world.buyer_b) == dict.fromkeys(saved, True)


def test_the_nav_count_costs_one_query_per_page(world, client_for):
    """The badge is one indexed count, whatever the number of notices."""
    from sqlalchemy import event

    client = client_for("buyer_a")

    def statements_for_catalog() -> int:
        seen = []

        def count(*_args):
            seen.append(1)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            client.get("/catalog/")
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    few = statements_for_catalog()
    for n in range(20):
        tell(world.buyer_a, "back_in_stock", {"sku": f"X-{n}", "name": "Thing"})
    assert statements_for_catalog() == few
