"""localstripe, the fake Stripe server from PyPI, started by the tests on 127.0.0.1 and a free port.

Import the ``localstripe_url`` fixture where it is needed. Helpers here do what Stripe.js does in a
browser (confirm a SetupIntent with card details, authenticate a payment) and sign webhook payloads as
Stripe does, so services and the webhook endpoint are tested against the real protocol.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

PUBLISHABLE_KEY = "pk_test_localstripe"
SECRET_KEY = "sk_test_localstripe"
WEBHOOK_SECRET = "whsec_test_localstripe"
VISA = "4242424242424242"
#: Saves fine, declined when charged (localstripe: PaymentMethod._charging_is_declined).
DECLINED_ON_CHARGE = "4000000000000341"
#: The bank asks for authentication (3-D Secure) when saved and when charged.
NEEDS_AUTHENTICATION = "4000002500003155"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/js.stripe.com/v3/", timeout=1) as response:  # noqa: S310
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with open(log, "wb") as out:
        command = [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"]
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"localstripe did not start on {url}: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def stripe_settings(url: str) -> dict[str, str]:
    """App config that points the portal at localstripe."""
    return {"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": url,
            "STRIPE_JS_URL": f"{url}/js.stripe.com/v3/"}


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def browser_confirms_setup(url: str, client_secret: str, number: str = VISA) -> dict:
    """What Stripe.js ``confirmCardSetup`` sends for a card typed into the card element."""
    seti = client_secret.split("_secret_")[0]
    status, body = _post(f"{url}/v1/setup_intents/{seti}/confirm", {
        "key": PUBLISHABLE_KEY, "use_stripe_sdk": True, "client_secret": client_secret,
        "payment_method_data": {"type": "card", "card": {"number": number, "exp_month": "12",
                                                         "exp_year": "2030", "cvc": "123"},
                                "billing_details": {"address": {"postal_code": "12345"}}}})
    if status == 200 and body.get("status") == "requires_action":  # the buyer completes 3-D Secure
        status, body = _post(f"{url}/v1/setup_intents/{seti}/confirm",
                             {"key": PUBLISHABLE_KEY, "use_stripe_sdk": True, "client_secret": client_secret})
    assert status == 200, body
    return body


def browser_authenticates_payment(url: str, client_secret: str, success: bool = True) -> dict:
    """What Stripe.js ``confirmCardPayment`` does when the buyer completes (or fails) 3-D Secure."""
    pi = client_secret.split("_secret_")[0]
    status, body = _post(f"{url}/v1/payment_intents/{pi}/_authenticate?success={str(success).lower()}",
                         {"key": PUBLISHABLE_KEY, "client_secret": client_secret})
    assert status == 200, body
    return body


def events(url: str, kind: str | None = None) -> list[dict]:
    """Events localstripe recorded (oldest first)."""
    query = f"?type={kind}&limit=100" if kind else "?limit=100"
    request = urllib.request.Request(f"{url}/v1/events{query}",  # noqa: S310
                                     headers={"Authorization": f"Bearer {SECRET_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        found = json.loads(response.read())["data"]
    return sorted(found, key=lambda e: (e["created"], e["id"]))


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for ``payload`` (the scheme localstripe and Stripe use)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def env_for_live_server(url: str) -> dict[str, str]:
    """Environment for a live server process that should talk to localstripe."""
    return {**os.environ, **stripe_settings(url)}


def refunds(url: str, payment_intent: str) -> list[dict]:
    """Refunds localstripe made on the charge of ``payment_intent``."""
    request = urllib.request.Request(f"{url}/v1/refunds?payment_intent={payment_intent}",  # noqa: S310
                                     headers={"Authorization": f"Bearer {SECRET_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())["data"]
