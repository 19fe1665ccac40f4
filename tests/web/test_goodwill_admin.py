"""Automatic goodwill rules, admin side (issue 4, point 5): list, create, edit, switch off and on; every
change audited; bad input refused with a message next to its field; only admins get in."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditLog, GoodwillRule, OrderAdjustment
from tests.conftest import post_form
from tests.factories import make_product, make_vendor, set_stock
from tests.web.orders import TODAY, place_order, words_of
from tests.web.site import db_snapshot

PERCENT = {"name": "Late backorder discount", "kind": "percent_off_late_backorder", "days": "14",
           "percent": "5", "amount": ""}
CREDIT = {"name": "Missed deadline credit", "kind": "credit_missed_deadline", "days": "", "percent": "",
          "amount": "25.00"}


@pytest.fixture
def admin(client_for):
    return client_for("admin")


def rule_named(name: str) -> GoodwillRule:
    db.session.rollback()
    return db.session.scalar(select(GoodwillRule).where(GoodwillRule.name == name))


def audits(rule_id: int) -> list[tuple[str, dict, dict]]:
    db.session.rollback()
    rows = db.session.scalars(select(AuditLog).where(AuditLog.entity == "goodwill_rule",
                                                     AuditLog.entity_id == rule_id).order_by(AuditLog.id))
    return [(row.action, json.loads(row.before), json.loads(row.after)) for row in rows]


# --- list and create -------------------------------------------------------------------------------


def test_the_list_says_what_each_rule_does_and_whether_it_is_active(world, admin):
    page = words_of(admin.get("/admin/goodwill"))
    assert ("Old late-backorder discount 5% off backordered units whose ETA is more than 30 days away "
            "Inactive 0 times Activate") in page
    assert "Goodwill rules" in words_of(admin.get("/admin/"))


def test_an_admin_creates_a_percentage_rule_and_the_change_is_audited(world, admin):
    response = post_form(admin, "/admin/goodwill/new", PERCENT)
    assert response.status_code == 302 and response.location == "/admin/goodwill"
    rule = rule_named("Late backorder discount")
    assert (rule.kind, rule.days, rule.percent, rule.amount, rule.active) == (
        "percent_off_late_backorder", 14, Decimal("5.00"), None, True)
    ((action, before, after),) = audits(rule.id)
    assert action == "goodwill_rule_created" and before == {}
    assert after == {"name": "Late backorder discount", "kind": "percent_off_late_backorder", "days": 14,
                     "percent": "5.00", "amount": None, "active": True}
    page = words_of(admin.get(response.location))
    assert "Goodwill rule “Late backorder discount” created." in page
    assert "5% off backordered units whose ETA is more than 14 days away Active" in page


def test_an_admin_creates_a_credit_rule(world, admin):
    assert post_form(admin, "/admin/goodwill/new", CREDIT).status_code == 302
    rule = rule_named("Missed deadline credit")
    assert (rule.kind, rule.days, rule.percent, rule.amount) == ("credit_missed_deadline", None, None,
                                                                 Decimal("25.00"))
    assert "A credit of $25.00 per line whose ETA misses the buyer's deadline" in words_of(
        admin.get("/admin/goodwill"))


@pytest.mark.parametrize(("changes", "messages"), [
    ({"name": "", "kind": ""}, ["Enter a name for the rule.", "Choose the kind of rule."]),
    ({"name": "   "}, ["Enter a name for the rule."]),
    ({"name": "x" * 121}, ["A name has at most 120 characters."]),
    ({"kind": "free_money"}, ["Choose the kind of rule."]),
    ({"days": "", "percent": ""}, ["Enter the number of days (0 or more).",
                                   "Enter the percentage off (more than 0, at most 100)."]),
    ({"percent": "0"}, ["The percentage off is more than 0 and at most 100."]),
    ({"percent": "100.01"}, ["The percentage off is more than 0 and at most 100."]),
    ({"percent": "-5"}, ["The percentage off is more than 0 and at most 100."]),
    ({"percent": "lots"}, ["Enter a percentage, like 5 or 7.5."]),
    ({"percent": "NaN"}, ["Enter a percentage, like 5 or 7.5."]),
    ({"percent": "5.555"}, ["Enter a percentage, like 5 or 7.5."]),
    ({"days": "-1"}, ["Days are a whole number from 0 to 3,650."]),
    ({"days": "1.5"}, ["Enter a whole number of days, like 14."]),
    ({"days": "99999999999999"}, ["Enter a whole number of days, like 14."]),
    ({"amount": "10"}, ["Leave this blank: a “Percent off late backorders” rule does not use it."]),
], ids=["empty", "blank-name", "long-name", "unknown-kind", "percent-params-missing", "percent-zero",
        "percent-over-100", "percent-negative", "percent-text", "percent-nan", "percent-3-places",
        "days-negative", "days-fraction", "days-huge", "amount-on-percent-rule"])
def test_bad_percentage_rules_are_refused_with_a_message_per_field(world, admin, changes, messages):
    before = db_snapshot()
    response = post_form(admin, "/admin/goodwill/new", {**PERCENT, **changes})
    assert response.status_code == 422
    page = words_of(response)
    for message in messages:
        assert message in page
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert db_snapshot() == before


@pytest.mark.parametrize(("changes", "messages"), [
    ({"amount": ""}, ["Enter the credit amount."]),
    ({"amount": "0"}, ["The credit is more than 0"]),
    ({"amount": "-3"}, ["The credit is more than 0"]),
    ({"amount": "1e12"}, ["The credit is more than 0 (and at most 9,999,999,999.99)."]),
    ({"amount": "a lot"}, ["Enter an amount, like 25.00."]),
    ({"days": "3", "percent": "5"},
     ["Leave this blank: a “Credit when we miss the buyer's deadline” rule does not use it."]),
], ids=["amount-missing", "amount-zero", "amount-negative", "amount-huge", "amount-text",
        "percent-fields-given"])
def test_bad_credit_rules_are_refused_with_a_message_per_field(world, admin, changes, messages):
    before = db_snapshot()
    response = post_form(admin, "/admin/goodwill/new", {**CREDIT, **changes})
    assert response.status_code == 422
    for message in messages:
        assert message in words_of(response)
    assert db_snapshot() == before


def test_rule_names_are_unique_ignoring_case(world, admin):
    response = post_form(admin, "/admin/goodwill/new", {**PERCENT, "name": "OLD LATE-BACKORDER DISCOUNT"})
    assert response.status_code == 422
    assert "A goodwill rule named “OLD LATE-BACKORDER DISCOUNT” already exists." in words_of(response)


# --- edit, deactivate ------------------------------------------------------------------------------


def test_an_edit_is_audited_with_before_and_after(world, admin):
    url = f"/admin/goodwill/{world.goodwill_rule}"
    form = words_of(admin.get(url))
    assert "Inactive. 5% off backordered units whose ETA is more than 30 days away." in form
    response = post_form(admin, url, {**PERCENT, "name": "Slow backorder discount", "days": "21",
                                      "percent": "7.5"})
    assert response.status_code == 302
    rule = rule_named("Slow backorder discount")
    assert (rule.days, rule.percent, rule.active) == (21, Decimal("7.50"), False)
    ((action, before, after),) = audits(rule.id)
    assert action == "goodwill_rule_updated"
    assert (before["name"], before["days"], before["percent"]) == ("Old late-backorder discount", 30, "5.00")
    assert (after["name"], after["days"], after["percent"]) == ("Slow backorder discount", 21, "7.50")


def test_saving_an_unchanged_rule_records_nothing(world, admin):
    url = f"/admin/goodwill/{world.goodwill_rule}"
    response = post_form(admin, url, {**PERCENT, "name": "Old late-backorder discount", "days": "30",
                                      "percent": "5.00"})
    assert response.status_code == 302
    assert audits(world.goodwill_rule) == []


def test_changing_the_kind_clears_the_other_kinds_parameters(world, admin):
    url = f"/admin/goodwill/{world.goodwill_rule}"
    refused = post_form(admin, url, {**CREDIT, "name": "Now a credit", "days": "30", "percent": "5"})
    assert refused.status_code == 422
    assert "does not use it" in words_of(refused)
    assert post_form(admin, url, {**CREDIT, "name": "Now a credit"}).status_code == 302
    rule = rule_named("Now a credit")
    assert (rule.kind, rule.days, rule.percent, rule.amount) == ("credit_missed_deadline", None, None,
                                                                 Decimal("25.00"))


def test_deactivating_and_activating_are_audited_once_each(world, admin):
    url = f"/admin/goodwill/{world.goodwill_rule}/active"
    assert post_form(admin, url, {"active": "yes"}).status_code == 302
    assert rule_named("Old late-backorder discount").active is True
    assert post_form(admin, url, {"active": "no"}).status_code == 302
    assert post_form(admin, url, {"active": "no"}).status_code == 302  # a second click changes nothing
    assert rule_named("Old late-backorder discount").active is False
    assert [(a, b, c) for a, b, c in audits(world.goodwill_rule)] == [
        ("goodwill_rule_activated", {"active": False}, {"active": True}),
        ("goodwill_rule_deactivated", {"active": True}, {"active": False})]
    response = post_form(admin, url, {"active": "yes", "next": "edit"})
    assert response.location == f"/admin/goodwill/{world.goodwill_rule}"
    assert "is active: it applies to orders placed from now on." in words_of(admin.get(response.location))


@pytest.mark.parametrize("data", [{}, {"active": "maybe"}])
def test_a_switch_without_a_clear_state_is_a_bad_request(world, admin, data):
    before = db_snapshot()
    assert post_form(admin, f"/admin/goodwill/{world.goodwill_rule}/active", data).status_code == 400
    assert db_snapshot() == before


@pytest.mark.parametrize("path", ["/admin/goodwill/999999", "/admin/goodwill/99999999999",
                                  "/admin/goodwill/0"])
def test_an_unknown_rule_is_not_found(world, admin, path):
    assert admin.get(path).status_code == 404
    assert post_form(admin, f"{path}/active", {"active": "no"}).status_code == 404


# --- who may --------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["buyer_a", "rep_a"])
def test_only_admins_manage_goodwill_rules(world, client_for, persona):
    client = client_for(persona)
    before = db_snapshot()
    for path in ("/admin/goodwill", "/admin/goodwill/new", f"/admin/goodwill/{world.goodwill_rule}"):
        assert client.get(path).status_code == 403
    assert post_form(client, "/admin/goodwill/new", PERCENT).status_code == 403
    assert post_form(client, f"/admin/goodwill/{world.goodwill_rule}", PERCENT).status_code == 403
    switch = post_form(client, f"/admin/goodwill/{world.goodwill_rule}/active", {"active": "yes"})
    assert switch.status_code == 403
    assert db_snapshot() == before


# --- rules at work ---------------------------------------------------------------------------------


def test_only_active_rules_apply_to_new_orders_and_the_list_counts_their_uses(world, admin):
    product = make_product(sku="SLOW-1", policy="allow", vendor=make_vendor(lead_time_days=40), price="20.00")
    set_stock(product, 0)
    place_order(world.buyer_a, [(product, 2)])  # the world's rule (30 days) is inactive: nothing applies
    assert db.session.scalar(select(func.count(OrderAdjustment.id))) == 0
    post_form(admin, f"/admin/goodwill/{world.goodwill_rule}/active", {"active": "yes"})
    number = place_order(world.buyer_a, [(product, 2)], need_by=TODAY + timedelta(days=60))
    adjustment = db.session.scalar(select(OrderAdjustment))
    assert (adjustment.rule_id, adjustment.amount) == (world.goodwill_rule, Decimal("-2.00"))
    assert "Inactive" not in words_of(admin.get("/admin/goodwill"))
    assert "Active 1 time Deactivate" in words_of(admin.get("/admin/goodwill"))
    assert "Old late-backorder discount on SLOW-1" in words_of(admin.get(f"/account/orders/{number}"))
