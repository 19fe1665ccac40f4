"""Stripe's webhook endpoint (``POST /stripe/webhook``).

Public and exempt from CSRF (Stripe cannot send our token): what protects it is the signature, checked
on the raw body with the endpoint's secret before anything is read. A bad or missing signature is 400.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from portal.access import public
from portal.extensions import csrf
from portal.integrations import stripe as gateway
from portal.services import stripe_events

bp = Blueprint("payments", __name__)


@bp.post("/stripe/webhook")
@public
@csrf.exempt
def stripe_webhook():
    try:
        event = gateway.verified_event(request.get_data(cache=False), request.headers.get("Stripe-Signature"))
    except gateway.BadSignature:
        return jsonify(error="invalid signature"), 400
    try:
        applied = stripe_events.apply_event(event)
    except ValueError:
        return jsonify(error="not a Stripe event"), 400
    except gateway.StripeUnavailable:
        current_app.logger.warning("Webhook %s deferred: Stripe unreachable", event.get("id"))
        return jsonify(error="try again"), 503  # Stripe retries
    return jsonify(received=True, duplicate=not applied), 200
