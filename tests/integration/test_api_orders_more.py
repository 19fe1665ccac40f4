"""The JSON ordering API's edges, on SQLite and PostgreSQL: bad input is refused (400, or 422 for what
only the database can tell) naming its line, before anything is written; keys are checked (401 for who is
unknown, 403 for who may not order); an order is read back by its own company only; and every answer under
/api/ is JSON. The checkout's rules: test_api_orders_rules.py; many clients at once and statement counts:
test_api_orders_concurrency.py."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import ApiKey, Order
from portal.models.base import utcnow
from tests.factories import make_address, make_company, make_product, make_user, set_stock
from tests.integration.test_api_orders import api_buyer, api_key, post_order
from tests.web.site import db_snapshot

TODAY = date(2026, 11, 23)
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


@pytest.fixture(autouse=True)
def _frozen_today(any_app):
    """Every test runs on SQLite and PostgreSQL, on a fixed date (deadlines and ETAs are compared to it)."""
    any_app.config["TODAY"] = TODAY.isoformat()
    return any_app


@pytest.fixture
def client(any_app):
    return any_app.test_client()


def get_order(client, key: str, number: str):
    return client.get(f"/api/v1/orders/{number}", headers={"Authorization": f"Bearer {key}"})


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


# --- bad input: 400 or 422, every problem named, nothing written ------------------------------------------


@pytest.fixture
def shop(client):
    """A buyer's key, two products on the shelf and one no longer sold; ``refused`` posts and checks that
    nothing was written."""
    _, _, key = api_buyer()
    for sku in ("BAD-A", "BAD-B"):
        set_stock(make_product(sku=sku), 10)
    set_stock(make_product(sku="RETIRED", active=False), 10)

    def refused(body, status: int | tuple[int, ...] = 400, idempotency_key: str | None = None, **kwargs):
        before = db_snapshot()
        headers = {"Authorization": f"Bearer {key}",
                   "Idempotency-Key": uuid.uuid4().hex if idempotency_key is None else idempotency_key}
        if "data" in kwargs:
            response = client.post("/api/v1/orders", headers=headers, **kwargs)
        else:
            response = client.post("/api/v1/orders", headers=headers, json=body)
        assert response.status_code in (status if isinstance(status, tuple) else (status,)), (
            response.get_data(as_text=True))
        assert response.mimetype == "application/json"
        assert response.json["error"]
        assert db_snapshot() == before, "a refused request wrote something"
        return response.json

    return refused


def line(sku: str = "BAD-A", quantity=1, **fields) -> dict:
    return {"sku": sku, "quantity": quantity, **fields}


@pytest.mark.parametrize("idempotency_key", ["", "K" * 101, "bestellung-ü", "two words"])
def test_a_missing_too_long_or_non_ascii_idempotency_key_is_refused(shop, idempotency_key):
    body = shop({"lines": [line()]}, idempotency_key=idempotency_key)
    assert "Idempotency-Key" in body["error"] and "1 to 100 visible ASCII" in body["error"]


def test_an_absent_idempotency_key_header_is_refused(client):
    _, _, key = api_buyer()
    set_stock(make_product(sku="NOKEY"), 5)
    response = client.post("/api/v1/orders", json={"lines": [line("NOKEY")]},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400 and "Idempotency-Key" in response.json["error"]
    assert count(Order) == 0


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b'{"lines": [}'])
def test_a_body_that_is_not_json_is_refused(shop, raw):
    body = shop(None, data=raw, content_type="application/json")
    assert "not valid JSON" in body["error"]


def test_a_body_sent_as_a_form_is_refused(shop):
    body = shop(None, data={"lines": "BAD-A"})
    assert "not valid JSON" in body["error"]


@pytest.mark.parametrize("payload", [[line()], "BAD-A, 1", 42])
def test_a_body_that_is_not_an_object_is_refused(shop, payload):
    body = shop(payload)
    assert "JSON object with a lines array" in body["problems"][0]["message"]


@pytest.mark.parametrize(("payload", "says"), [
    ({}, "lines must be a non-empty array"),
    ({"lines": []}, "lines must be a non-empty array"),
    ({"lines": {"sku": "BAD-A"}}, "lines must be a non-empty array"),
    ({"lines": [line(f"S-{i}") for i in range(201)]}, "at most 200 lines; this one has 201"),
])
def test_lines_missing_empty_or_too_many_are_refused(shop, payload, says):
    body = shop(payload)
    assert [p["line"] for p in body["problems"]] == [None]
    assert says in body["problems"][0]["message"]


def test_a_sku_listed_twice_is_refused_naming_both_lines(shop):
    body = shop({"lines": [line("BAD-A"), line("BAD-B"), line("bad-a", 2)]})
    (problem,) = body["problems"]
    assert (problem["line"], problem["sku"]) == (3, "BAD-A") and "already on line 1" in problem["message"]


@pytest.mark.parametrize("quantity", [0, "3", True, 100_001])
def test_a_quantity_that_is_not_a_whole_number_in_range_is_refused_naming_the_line(shop, quantity):
    body = shop({"lines": [line("BAD-A"), line("BAD-B", quantity)]})
    (problem,) = body["problems"]
    assert (problem["line"], problem["sku"]) == (2, "BAD-B")
    assert "quantity must be a whole number from 1 to 100,000" in problem["message"]


@pytest.mark.parametrize(("need_by", "says"), [
    (YESTERDAY, f"need_by {YESTERDAY} is in the past"),
    ("2026-02-30", "YYYY-MM-DD"),
    ("23/12/2026", "YYYY-MM-DD"),
    (20261223, "YYYY-MM-DD"),
])
def test_a_need_by_in_the_past_or_malformed_is_refused_at_order_and_line_level(shop, need_by, says):
    order_level = shop({"lines": [line()], "need_by": need_by})
    line_level = shop({"lines": [line("BAD-A"), line("BAD-B", need_by=need_by)]})
    assert [(p["line"], p["sku"]) for p in order_level["problems"]] == [(None, None)]
    assert says in order_level["problems"][0]["message"]
    assert [(p["line"], p["sku"]) for p in line_level["problems"]] == [(2, "BAD-B")]
    assert says in line_level["problems"][0]["message"]


def test_unknown_fields_are_refused_at_order_and_line_level(shop):
    body = shop({"lines": [line("BAD-A", unit_price="0.01")], "payment_method": "card"})
    messages = {(p["line"], p["message"]) for p in body["problems"]}
    assert messages == {(None, "Unknown field(s): payment_method."),
                        (1, "Unknown field(s) on the line: unit_price.")}


@pytest.mark.parametrize(("field", "value", "says"), [
    ("shipping_preference", "ship_whenever",
     "shipping_preference must be one of ship_partial, ship_complete"),
    ("po_reference", "P" * 61, "po_reference must be text of at most 60 characters"),
    ("ship_to_address_id", "1", "ship_to_address_id must be the id of one of your addresses"),
])
def test_bad_order_fields_are_refused(shop, field, value, says):
    body = shop({"lines": [line()], field: value})
    assert [p["message"] for p in body["problems"]] == [says + "."]


def test_every_shape_problem_is_reported_at_once(shop):
    body = shop({"lines": [line("BAD-A", 0), line("BAD-B", need_by="soon")], "po_reference": "P" * 61,
                 "shipping_preference": "asap"})
    assert [p["line"] for p in body["problems"]] == [1, 2, None, None]


def test_an_address_of_another_company_is_refused(shop):
    other = make_address(make_company())
    body = shop({"lines": [line()], "ship_to_address_id": other.id}, status=422)
    assert body["error"] == "The order was not placed."
    assert [p["message"] for p in body["problems"]] == ["ship_to_address_id is not one of your addresses."]


def test_a_product_no_longer_sold_or_unknown_is_refused_naming_the_line(shop):
    body = shop({"lines": [line("BAD-A"), line("RETIRED", 2), line("NO-SUCH-SKU")]}, status=422)
    assert [(p["line"], p["sku"]) for p in body["problems"]] == [(2, "RETIRED"), (3, "NO-SUCH-SKU")]
    assert "no longer sold" in body["problems"][0]["message"]
    assert "Unknown SKU NO-SUCH-SKU" in body["problems"][1]["message"]


def test_a_body_larger_than_the_limit_is_refused(shop):
    body = shop(None, status=413, data=b'{"lines": [' + b" " * (300 * 1024) + b"]}",
                content_type="application/json")
    assert "larger than 256 KB" in body["error"]


# --- hostile input is refused, never a server error --------------------------------------------------------

@pytest.mark.parametrize("raw", [
    pytest.param(json.dumps({"lines": [line("BAD\u0000A")]}), id="nul-in-sku"),
    pytest.param(json.dumps({"lines": [line()], "po_reference": "PO\u00001"}), id="nul-in-po-reference"),
    pytest.param('{"lines": [{"sku": "\\ud800", "quantity": 1}]}', id="surrogate-in-sku"),
    pytest.param('{"lines": [{"sku": "BAD-A", "quantity": 1}], "po_reference": "\\udc80"}',
                 id="surrogate-in-po-reference"),
    pytest.param(json.dumps({"lines": [line()], "ship_to_address_id": 2**31}), id="address-id-2**31"),
    pytest.param(json.dumps({"lines": [line()], "ship_to_address_id": 10**30}), id="address-id-10**30"),
    pytest.param("[" * 50_000 + "]" * 50_000, id="deeply-nested"),
    pytest.param("null", id="null"),
])
def test_hostile_text_is_refused_and_never_a_server_error(shop, raw):
    shop(None, status=(400, 422), data=raw.encode("utf-8", "surrogatepass"), content_type="application/json")


def test_text_beyond_ascii_is_kept(client):
    _, _, key = api_buyer()
    set_stock(make_product(sku="UTF-1"), 10)
    response = post_order(client, key, {"lines": [line("UTF-1")], "po_reference": "Bestellung äöü €"})
    assert response.status_code == 201, response.json
    assert response.json["po_reference"] == "Bestellung äöü €"


def test_an_order_number_with_a_nul_character_is_not_found(client):
    _, _, key = api_buyer()
    response = client.get("/api/v1/orders/SO%0000001", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code in (400, 404), response.get_data(as_text=True)
    assert response.mimetype == "application/json"


# --- keys: 401 for who is unknown, 403 for who may not order ---------------------------------------------


def assert_unauthenticated(response) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/json" and response.json["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def both_endpoints(client, headers: dict):
    """The same credentials against placing and reading (a real order number of someone else's)."""
    placed = client.post("/api/v1/orders", json={"lines": [line("AUTH-1")]},
                         headers={"Idempotency-Key": uuid.uuid4().hex, **headers})
    read = client.get("/api/v1/orders/SO-00001", headers=headers)
    return placed, read


@pytest.fixture
def stocked():
    set_stock(make_product(sku="AUTH-1"), 10)


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token nwk_abc", "nwk_abc",
    "Bearer nwk_" + "x" * 43, "Bearer not-even-a-key",
])
def test_a_missing_malformed_or_unknown_key_is_unauthenticated(client, stocked, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    for response in both_endpoints(client, headers):
        assert_unauthenticated(response)
    assert count(Order) == 0


def test_a_valid_key_under_another_scheme_is_unauthenticated(client, stocked):
    _, _, key = api_buyer()
    for response in both_endpoints(client, {"Authorization": f"Token {key}"}):
        assert_unauthenticated(response)
    assert count(Order) == 0


def test_a_revoked_key_is_unauthenticated_and_the_buyers_other_key_still_works(client, stocked):
    user, _, revoked = api_buyer()
    other = api_key(user)
    with write_transaction() as session:
        session.scalar(select(ApiKey).where(ApiKey.prefix == revoked[:12])).revoked_at = utcnow()
    for response in both_endpoints(client, {"Authorization": f"Bearer {revoked}"}):
        assert_unauthenticated(response)
    assert count(Order) == 0
    assert post_order(client, other, {"lines": [line("AUTH-1")]}).status_code == 201


def test_the_scheme_is_case_insensitive_and_spaces_around_the_key_are_ignored(client, stocked):
    _, _, key = api_buyer()
    response = client.post("/api/v1/orders", json={"lines": [line("AUTH-1")]},
                           headers={"Authorization": f"bearer  {key} ", "Idempotency-Key": "case-1"})
    assert response.status_code == 201, response.json


def key_of_inactive_buyer():
    company = make_company()
    make_address(company, is_default_shipping=True)
    return api_key(make_user(company=company, password=None, active=False))


def key_of_buyer_of_inactive_company():
    company = make_company(active=False)
    make_address(company, is_default_shipping=True)
    return api_key(make_user(company=company, password=None))


@pytest.mark.parametrize("make_key", [
    key_of_inactive_buyer,
    key_of_buyer_of_inactive_company,
    lambda: api_key(make_user("sales_rep", password=None)),
    lambda: api_key(make_user("admin", password=None)),
], ids=["inactive-buyer", "inactive-company", "sales-rep", "admin"])
def test_a_key_whose_user_may_not_order_is_forbidden(client, stocked, make_key):
    key = make_key()
    before = db_snapshot()
    for response in both_endpoints(client, {"Authorization": f"Bearer {key}"}):
        assert response.status_code == 403, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        assert "not an active buyer of an active company" in response.json["error"]
    assert db_snapshot() == before


def test_the_key_is_checked_before_the_body(client):
    response = client.post("/api/v1/orders", data=b"{not json", content_type="application/json")
    assert_unauthenticated(response)


INVALID_BODIES = [{"lines": []}, ["not", "an", "object"], {"lines": [line()], "ship_to_address_id": "1"}]


@pytest.mark.parametrize("body", INVALID_BODIES, ids=["no-lines", "not-an-object", "bad-address-id"])
def test_a_revoked_key_with_an_invalid_body_is_unauthenticated_not_told_about_the_body(client, body):
    user, _, revoked = api_buyer()
    with write_transaction() as session:
        session.scalar(select(ApiKey).where(ApiKey.prefix == revoked[:12])).revoked_at = utcnow()
    response = client.post("/api/v1/orders", json=body,
                           headers={"Authorization": f"Bearer {revoked}", "Idempotency-Key": "k-1"})
    assert_unauthenticated(response)
    assert "problems" not in response.json


@pytest.mark.parametrize("body", INVALID_BODIES, ids=["no-lines", "not-an-object", "bad-address-id"])
def test_a_key_that_may_not_order_with_an_invalid_body_is_forbidden_not_told_about_the_body(client, body):
    key = key_of_inactive_buyer()
    response = client.post("/api/v1/orders", json=body,
                           headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k-1"})
    assert response.status_code == 403, response.get_data(as_text=True)
    assert "problems" not in response.json


# --- reading an order; JSON errors under /api/ -----------------------------------------------------------


def test_an_order_is_read_back_by_its_company_only(client):
    buyer, company, key = api_buyer()
    colleague_key = api_key(make_user(company=company, password=None))
    _, _, stranger_key = api_buyer()
    set_stock(make_product(sku="READ-1", price="2.50"), 10)
    placed = post_order(client, key, {"lines": [line("READ-1", 4)], "po_reference": "ERP-9"})
    assert placed.status_code == 201
    number = placed.json["number"]

    mine, colleagues = get_order(client, key, number), get_order(client, colleague_key, number)
    assert mine.status_code == colleagues.status_code == 200
    assert mine.json == colleagues.json
    assert mine.json == placed.json
    assert mine.json["url"].startswith("http") and mine.json["url"].endswith(number)
    assert mine.headers["Cache-Control"] == "no-store"

    theirs = get_order(client, stranger_key, number)
    unknown = get_order(client, key, "SO-99999")
    for response in (theirs, unknown):
        assert response.status_code == 404
        assert response.mimetype == "application/json"
        assert response.json == {"error": "No order with this number for your company."}


def test_placed_at_reads_back_as_it_was_answered(client):
    """With its UTC offset on both backends (SQLite gives back naive datetimes)."""
    _, _, key = api_buyer()
    set_stock(make_product(sku="WHEN-1"), 10)
    placed = post_order(client, key, {"lines": [line("WHEN-1")]})
    read = get_order(client, key, placed.json["number"])
    assert placed.json["placed_at"].endswith("+00:00")
    assert read.json["placed_at"] == placed.json["placed_at"]


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/v1/nothing-here", 404),
    ("POST", "/api/v2/orders", 404),
    ("GET", "/api/v1/orders", 405),
    ("DELETE", "/api/v1/orders", 405),
    ("PUT", "/api/v1/orders/SO-00001", 405),
    ("POST", "/api/v1/orders/SO-00001", 405),
])
def test_unknown_paths_and_wrong_methods_under_api_answer_json(client, method, path, status):
    _, _, key = api_buyer()
    response = client.open(path, method=method, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.json["error"]
    assert "<html" not in response.get_data(as_text=True).lower()


def test_a_web_page_that_is_missing_still_answers_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"
