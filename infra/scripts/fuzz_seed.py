"""infra/scripts/fuzz_seed.py <base-url>: the state infra/scripts/fuzz_api.sh fuzzes against.

Random merchant ids rarely have a paid plan and saved settings, so most generated webhooks
would stop at "invoicing disabled". This gives the merchant ids the fuzzer produces most often
(`m1`, the examples' merchant in docs/openapi.yaml, and `0`, Hypothesis's simplest string of the
merchant-id pattern) what a live merchant has: a paid card plan with auto-renew, a bound card,
and invoice settings that issue at any trigger, plus one issued invoice each. Generated orders
for them then go through the whole issuing path (numbers, proof codes, Wixtar upload).

Every step goes through the public HTTP contract, signed like the platform and the gateway.
"""

import json
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone

sys.path.insert(0, __import__("os").path.dirname(__file__))
from fuzz_hooks import PAYMENT_SECRET, PLATFORM_SECRET, signature  # noqa: E402

MERCHANTS = ["m1", "0"]
UBN = "04595257"


def call(base: str, method: str, path: str, body=None, secret: str = PLATFORM_SECRET) -> dict:
    data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    t = int(datetime.now(timezone.utc).timestamp())
    request = urllib.request.Request(
        base.rstrip("/") + path,
        data=data if method != "GET" else None,
        method=method,
        headers={"Content-Type": "application/json", "X-Signature": signature(secret, t, method, path, data)},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise SystemExit(f"fuzz seed: {method} {path} answered {e.code}: {e.read().decode(errors='replace')}")


def seed(base: str, merchant: str) -> None:
    order = call(base, "POST", f"/v1/merchants/{merchant}/plan/checkout", {
        "ubn": UBN, "months": 12, "payment_method": "card", "auto_renew": True,
        "contact": {"name": "王小明", "email": "ming@example.com.tw", "phone": "0912-345-678"},
        "company": {"name": "小明商行", "ubn": UBN, "address": "台北市中山區南京東路一段1號", "invoice_email": "ap@example.com"},
    })
    paid_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    call(base, "POST", "/v1/payments/notify", {
        "order_id": order["order_id"], "status": "paid", "paid_at": paid_at,
        "card_token": f"tok_fuzz_{merchant}", "card_last4": "4242",
    }, secret=PAYMENT_SECRET)
    call(base, "PUT", f"/v1/merchants/{merchant}/invoice-settings", {
        "enabled": True, "provider": "wixtar", "show_at_checkout": True,
        "issue_on": ["payment", "shipment", "pickup"],
        "credentials": {"ubn": UBN, "store_code": "S001", "pos_code": "P01", "pid": "PID-1",
                        "rid": "RID-Secret-0001", "pname": "小明商行", "aes_key": "0123456789abcdef0123456789ABCDEF"},
    })
    for order_id in ["0", "o-1001"]:
        answer = call(base, "POST", "/v1/webhooks/orders", {
            "event_id": f"fuzz-seed-{merchant}-{order_id}", "occurred_at": paid_at, "merchant_id": merchant,
            "order": {"id": order_id, "currency": "TWD", "payment_status": "paid", "delivery_status": "shipped",
                      "cancelled": False, "logistics": "tcat",
                      "lines": [{"sku": "TEA-1", "name": "烏龍茶", "quantity": 2, "unit_price": 150}],
                      "shipping_fee": 60, "discount": 0, "total": 360,
                      "buyer": {"name": "陳小姐", "email": "chen@example.com", "carrier": {"type": "mobile", "id": "/ABC1234"}}},
        })
        # A stack fuzzed before may have voided it since; what matters is that it was claimed.
        if answer["invoice"]["status"] in ("waiting", "disabled", "not_issuable"):
            raise SystemExit(f"fuzz seed: the seeded order {merchant}/{order_id} was not invoiced: {answer}")


def main() -> None:
    base = sys.argv[1]
    for merchant in MERCHANTS:
        seed(base, merchant)
    print(f"fuzz seed: merchants {', '.join(MERCHANTS)} have a paid plan, settings and an invoice", file=sys.stderr)


if __name__ == "__main__":
    main()
