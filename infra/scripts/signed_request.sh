#!/usr/bin/env bash
# Sends one request signed as the platform (or the payment gateway) signs it (docs/openapi.yaml):
#   X-Signature: t=<unix seconds>,v2=<hex HMAC-SHA256(secret, "<t>.<METHOD>.<target>." + raw body)>
# where <target> is the URL's path and ?query exactly as sent (docs/signing.md).
# Usage: SIGNING_SECRET=… infra/scripts/signed_request.sh METHOD URL [BODY]
# The URL is sent as given (curl --path-as-is), so what is signed is what goes on the wire.
# The secret comes from the environment, never the command line (process lists, shell history).
# Prints the response body, then the HTTP status on its own line. Needs curl and openssl.
set -euo pipefail
method="${1:?METHOD}" url="${2:?URL}" body="${3:-}"
: "${SIGNING_SECRET:?set SIGNING_SECRET to the platform's (or the gateway's) signing secret}"
method="${method^^}"
# The request target: everything after scheme://host[:port], "/" when there is no path.
rest="${url#*://}"
target="/${rest#*/}"
[[ "$rest" == */* ]] || target="/"
t="$(date +%s)"
sig="$(printf '%s.%s.%s.%s' "$t" "$method" "$target" "$body" | openssl dgst -sha256 -hmac "$SIGNING_SECRET" -r | cut -d' ' -f1)"
args=(-sS --path-as-is -X "$method" -H "X-Signature: t=$t,v2=$sig" -w '\n%{http_code}\n')
[[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
curl "${args[@]}" "$url"
