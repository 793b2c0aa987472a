#!/usr/bin/env bash
# Sends one request signed as the platform (or the payment gateway) signs it (docs/openapi.yaml):
#   X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>
# Usage: SIGNING_SECRET=… infra/scripts/signed_request.sh METHOD URL [BODY]
# The secret comes from the environment, never the command line (process lists, shell history).
# Prints the response body, then the HTTP status on its own line. Needs curl and openssl.
set -euo pipefail
method="${1:?METHOD}" url="${2:?URL}" body="${3:-}"
: "${SIGNING_SECRET:?set SIGNING_SECRET to the platform's (or the gateway's) signing secret}"
t="$(date +%s)"
sig="$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$SIGNING_SECRET" -r | cut -d' ' -f1)"
args=(-sS -X "$method" -H "X-Signature: t=$t,v1=$sig" -w '\n%{http_code}\n')
[[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
curl "${args[@]}" "$url"
