#!/usr/bin/env bash
# infra/scripts/fuzz_api.sh <base-url> [extra schemathesis args…]
#
# Runs schemathesis (pinned in infra/requirements.txt) against a running local stack with the
# contract in docs/openapi.yaml: every response must be a non-5xx, with a documented status,
# content type and body schema. Requests are signed like the platform's (and the payment
# gateway's for /v1/payments/notify) by infra/scripts/fuzz_hooks.py, over the exact bytes sent.
# infra/scripts/fuzz_seed.py first gives the merchants the fuzzer generates most often a paid
# plan and settings, so generated orders reach the issuing path.
#
# Bounded and reproducible: a fixed seed, no example database, one worker, FUZZ_MAX_EXAMPLES
# (default 50) test cases per operation and phase. FUZZ_SEED overrides the seed.
# Exits non-zero on any failure; the report names the request that triggered it.
source "$(dirname "$0")/common.sh"
cd "$ROOT"

URL="${1:?usage: infra/scripts/fuzz_api.sh <base-url> [schemathesis args…]}"
shift

ensure_venv

export SCHEMATHESIS_HOOKS="$ROOT/infra/scripts/fuzz_hooks.py"
# schemathesis and Hypothesis keep caches in the working directory: keep them out of the tree.
WORKDIR="$ROOT/target/fuzz"
mkdir -p "$WORKDIR"
export HYPOTHESIS_STORAGE_DIRECTORY="$WORKDIR/.hypothesis"
export PLATFORM_SIGNING_SECRET="${PLATFORM_SIGNING_SECRET:-local-signing-secret}"
export PAYMENT_SIGNING_SECRET="${PAYMENT_SIGNING_SECRET:-local-payment-secret}"

"$VENV/bin/python" "$ROOT/infra/scripts/fuzz_seed.py" "$URL"
log "schemathesis against $URL (docs/openapi.yaml)"
status=0
cd "$WORKDIR"
"$VENV/bin/schemathesis" --config-file "$ROOT/infra/scripts/fuzz_schemathesis.toml" run "$ROOT/docs/openapi.yaml" \
  --url "$URL" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${FUZZ_MAX_EXAMPLES:-50}" \
  --seed "${FUZZ_SEED:-20261125}" \
  --generation-database none \
  --generation-with-security-parameters false \
  --workers 1 \
  --request-timeout 20 \
  --no-color \
  "$@" || status=$?

# Events a function failed to handle (the local stack's dead-letter list): an order the fuzzer
# sent that the invoice-issuer could not process is a bug the HTTP answers alone do not show.
letters="$(curl -fsS "$URL/_local/dead-letters")" || { log "could not read $URL/_local/dead-letters"; exit 1; }
if [[ "$letters" != "[]" ]]; then
  log "events the functions failed to handle during fuzzing (GET /_local/dead-letters):"
  printf '%s\n' "$letters" | "$VENV/bin/python" -m json.tool --no-ensure-ascii >&2
  status=1
fi
exit "$status"
