"""The JSON ordering API: a buyer's own system (ERP, EDI gateway) places and reads orders.

Authenticated by an API key the buyer created (``Authorization: Bearer nwk_...``), not by the session
cookie, so there is no CSRF token to send: a browser never attaches the key on its own. Every answer is
JSON, errors included. The contract is in the README ("Ordering API").
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request, url_for

from portal.access import public
from portal.clock import today
from portal.domain.order_request import Problem, storable, valid_idempotency_key
from portal.extensions import csrf, limiter
from portal.services import api_orders
from portal.services.api_keys import hash_key

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


@limiter.request_filter
def _not_rate_limited() -> bool:
    """No rate limit applies to the API: its requests skip the limiter's per-request work (``exempt``
    alone still resolves every limit on every request)."""
    return request.blueprint == bp.name


#: Largest request body read (an order of 200 long lines is about 30 KB).
MAX_BODY = 256 * 1024


def _error(status: int, message: str, problems: list[Problem] | None = None, **headers):
    body = {"error": message}
    if problems is not None:
        body["problems"] = [p.as_json() for p in problems]
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def _key_hash():
    """(the hash of the key sent, None) or (None, the 401 response when none is sent)."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None, _error(401, "Send your API key as: Authorization: Bearer <key>.",
                            **{"WWW-Authenticate": 'Bearer realm="orders"'})
    return hash_key(key.strip()), None


def _refused_key(why: str):
    if why == "unknown":
        return _error(401, "This API key is not valid (unknown or revoked).",
                      **{"WWW-Authenticate": 'Bearer realm="orders", error="invalid_token"'})
    return _error(403, "This API key's user cannot place orders (not an active buyer of an active company).")


def _buyer():
    """(the key's buyer, None) or (None, the error response)."""
    key_hash, refused = _key_hash()
    if refused is not None:
        return None, refused
    buyer, why = api_orders.buyer_for_key(key_hash)
    return (buyer, None) if buyer is not None else (None, _refused_key(why))


def _order_response(view: api_orders.OrderView, status: int):
    body = view.as_json()
    body["url"] = url_for("account.order", number=view.number, _external=True)
    response = jsonify(body)
    response.status_code = status
    response.headers["Location"] = url_for("api.order", number=view.number)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/orders")
@public  # authenticated by API key below, not by session
def place_order():
    # The key itself is checked inside the order's transaction (one connection, one commit).
    key_hash, refused = _key_hash()
    if refused is not None:
        return refused
    key = request.headers.get("Idempotency-Key", "")
    if not valid_idempotency_key(key):
        return _error(400, "Send an Idempotency-Key header (1 to 100 visible ASCII characters, e.g. a UUID): "
                           "repeating a request with the same key returns the same order.")
    if (request.content_length or 0) > MAX_BODY:
        return _error(413, f"The body is larger than {MAX_BODY // 1024} KB.")
    try:
        body = json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):  # RecursionError: a body nested thousands of levels deep
        return _error(400, "The body is not valid JSON.")
    try:
        view, created = api_orders.place(key_hash, key, body, today())
    except api_orders.KeyRefused as refusal:
        return _refused_key(refusal.why)
    except api_orders.RequestInvalid as invalid:
        return _error(400, str(invalid), invalid.problems)
    except api_orders.OrderRefused as refusal:
        return _error(422, str(refusal), refusal.problems)
    if created:
        current_app.logger.info("API order %s placed", view.number)
    return _order_response(view, 201 if created else 200)


@bp.get("/orders/<number>")
@public  # authenticated by API key below, not by session
def order(number: str):
    buyer, refused = _buyer()
    if refused is not None:
        return refused
    found = api_orders.order_of_company(buyer.company_id, number) \
        if len(number) <= 20 and storable(number) else None
    if found is None:
        return _error(404, "No order with this number for your company.")
    return _order_response(api_orders.view_of(found), 200)
