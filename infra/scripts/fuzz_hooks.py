"""Schemathesis hooks for infra/scripts/fuzz_api.sh: sign every request the way the platform
(and, for the payment callback, the payment gateway) does.

`X-Signature: t=<unix seconds>,v2=<hex HMAC-SHA256(secret, "<t>.<METHOD>.<target>." + raw body)>`
(functions/adapters/src/signature.rs, docs/signing.md). The signature must cover the exact
method, target (path and query, percent-encoded as sent) and body bytes, so it is computed by a
`requests` auth callable: requests runs it on the prepared request, after the URL is encoded and
the body serialized, whatever schemathesis generated (valid JSON, broken JSON, empty).
"""

import hashlib
import hmac
import itertools
import json
import os
import re
import time

import requests
import schemathesis

PLATFORM_SECRET = os.environ.get("PLATFORM_SIGNING_SECRET", "local-signing-secret")
PAYMENT_SECRET = os.environ.get("PAYMENT_SIGNING_SECRET", "local-payment-secret")
# Routes the payment gateway calls, signed with its own secret.
PAYMENT_GATEWAY_PATHS = {"/v1/payments/notify"}
WEBHOOK_PATH = "/v1/webhooks/orders"
# Webhooks are deduplicated by event_id: generated ids repeat a lot ("0", the example's), and a
# repeat changes nothing, so three valid ids in four get a run-unique suffix to reach the
# decision logic (the fourth keeps exercising the duplicate path).
_EVENT_SEQUENCE = itertools.count(1)
_UNIQUE_ENOUGH = re.compile(r"^[!-~]{1,100}$")
CHECKOUT_PATH = "/v1/merchants/{merchant_id}/plan/checkout"
# Plan order ids are random: a generated callback never names a real order. Callbacks whose
# order_id looks like a plan order id (`po_…`, as the document's example) are pointed at the
# orders checkouts created earlier in the run, in turn, so the payment path is fuzzed too.
_PLAN_ORDERS: list[str] = []
_NOTIFY_SEQUENCE = itertools.count()


def signature(secret: str, t: int, method: str, target: str, body: bytes) -> str:
    message = f"{t}.{method.upper()}.{target}.".encode("utf-8") + body
    mac = hmac.new(secret.encode("utf-8"), message, hashlib.sha256)
    return f"t={t},v2={mac.hexdigest()}"


class Signed(requests.auth.AuthBase):
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        # path_url: the path and ?query exactly as they go on the request line.
        request.headers["X-Signature"] = signature(self.secret, int(time.time()), request.method, request.path_url, body)
        return request


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if case.operation.path == WEBHOOK_PATH and isinstance(body, dict):
        event_id = body.get("event_id")
        n = next(_EVENT_SEQUENCE)
        if n % 4 and isinstance(event_id, str) and _UNIQUE_ENOUGH.match(event_id):
            body["event_id"] = f"{event_id}~{n}"
    if case.operation.path in PAYMENT_GATEWAY_PATHS and isinstance(body, dict) and _PLAN_ORDERS:
        order_id = body.get("order_id")
        if isinstance(order_id, str) and order_id.startswith("po_"):
            body["order_id"] = _PLAN_ORDERS[next(_NOTIFY_SEQUENCE) % len(_PLAN_ORDERS)]
    secret = PAYMENT_SECRET if case.operation.path in PAYMENT_GATEWAY_PATHS else PLATFORM_SECRET
    kwargs["auth"] = Signed(secret)


@schemathesis.hook
def after_call(context, case, response):
    if case.operation.path == CHECKOUT_PATH and response.status_code == 201:
        try:
            order_id = json.loads(response.content)["order_id"]
        except (ValueError, KeyError, TypeError):
            return  # response_schema_conformance reports it
        if order_id not in _PLAN_ORDERS:
            _PLAN_ORDERS.append(order_id)
