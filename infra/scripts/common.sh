#!/usr/bin/env bash
# Shared by ./infra/run and ./infra/test: project-local virtualenvs with pinned Python
# tools (moto server, cfn-lint; checkov), and helpers to start and stop moto on 127.0.0.1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/infra/.venv"
REQUIREMENTS="$ROOT/infra/requirements.txt"
# checkov pins boto3 (1.35): in infra/.venv it would downgrade moto's botocore, so it has its own.
CHECKOV_VENV="$ROOT/infra/.venv-checkov"
CHECKOV_REQUIREMENTS="$ROOT/infra/requirements-checkov.txt"
# aws-sam-cli pins boto3 too: `sam build` (infra/run-benchmarks) has its own as well.
SAM_VENV="$ROOT/infra/.venv-sam"
SAM_REQUIREMENTS="$ROOT/infra/requirements-sam.txt"

log() { printf '\033[1m[infra +%ss]\033[0m %s\n' "$SECONDS" "$*" >&2; }

# Creates or refreshes the virtualenv when requirements.txt changed (idempotent).
ensure_venv() { ensure_venv_at "$VENV" "$REQUIREMENTS"; }

# The template scanner's virtualenv (infra/requirements-checkov.txt).
ensure_checkov_venv() { ensure_venv_at "$CHECKOV_VENV" "$CHECKOV_REQUIREMENTS"; }

# aws-sam-cli, cargo-lambda and zig (infra/requirements-sam.txt), plus the Rust target
# `sam build` cross-compiles the arm64 functions for.
ensure_sam_venv() {
  ensure_venv_at "$SAM_VENV" "$SAM_REQUIREMENTS"
  ensure_arm64_rust_target
}

# The Rust standard library for Lambda's arm64 (aarch64-unknown-linux-gnu), via rustup.
ensure_arm64_rust_target() {
  rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu \
    || rustup target add aarch64-unknown-linux-gnu >&2
}

# Runs a command as root: directly when this is root (CI), else through `sudo -n`.
as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo -n "$@"; fi
}

# Installs Debian packages (apt-get update, then install). Non-zero when it cannot.
apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_venv_at() { # venv requirements
  local venv="$1" requirements="$2"
  local stamp="$venv/.requirements.sha256"
  local want
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  log "installing Python tools into ${venv#"$ROOT/"} (${requirements#"$ROOT/"})"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url seconds
  local url="$1" deadline=$((SECONDS + ${2:-30}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if (( SECONDS > deadline )); then log "timed out waiting for $url"; return 1; fi
    sleep 0.2
  done
}

# Starts moto on 127.0.0.1:$1 in the background; sets MOTO_PID and exports the AWS variables
# every SDK client (functions, tests) needs to talk to it.
start_moto() {
  local port="$1"
  "$VENV/bin/python" "$ROOT/infra/scripts/moto_serialized.py" 127.0.0.1 "$port" > "${MOTO_LOG:-/dev/null}" 2>&1 &
  MOTO_PID=$!
  wait_http "http://127.0.0.1:$port/moto-api/" 30
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_REGION="${AWS_REGION:-ap-northeast-1}"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
  export AWS_EC2_METADATA_DISABLED=true
}

# Kills a process group / pid list quietly.
stop_pids() {
  local pid
  for pid in "$@"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done
  for pid in "$@"; do
    [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
  done
}

# Runs arm64 Lambda binaries on this x86_64 machine: Debian's qemu-user-static and the arm64
# C library (multiarch), so `qemu-aarch64-static bootstrap` finds /lib/ld-linux-aarch64.so.1.
# Idempotent; installs only what is missing. Returns non-zero when it cannot.
ensure_arm64_emulation() {
  if command -v qemu-aarch64-static >/dev/null && [[ -e /lib/ld-linux-aarch64.so.1 ]]; then
    return 0
  fi
  log "installing qemu-user-static and libc6:arm64 (Debian multiarch) to run the arm64 binaries"
  as_root dpkg --add-architecture arm64 && apt_install qemu-user-static libc6:arm64 libgcc-s1:arm64
}

# The arm64 smoke (infra/bench/tests/arm64_smoke.rs): the Rust target, a cross C compiler and
# linker for it (ring's C and assembly; Debian's gcc-aarch64-linux-gnu) and the emulator.
# Idempotent; returns non-zero when something cannot be installed.
ensure_arm64_cross() {
  ensure_arm64_rust_target || return
  if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    log "installing gcc-aarch64-linux-gnu (Debian) to cross-build the arm64 smoke"
    apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross || return
  fi
  ensure_arm64_emulation
}

# The invoice-proof tests (tests/tests/proof.rs) rasterise the SVG with rsvg-convert, read the
# codes back with zbarimg and screenshot it with headless Chromium; a CJK font draws its
# Chinese. Installs the Debian packages that are missing (idempotent; CI runs as root on a
# clean machine). If they cannot be installed the proof tests fail and say what is missing.
ensure_proof_tools() {
  local missing=()
  command -v rsvg-convert >/dev/null || missing+=(librsvg2-bin)
  command -v zbarimg >/dev/null || missing+=(zbar-tools)
  command -v chromium >/dev/null || missing+=(chromium)
  fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)
  (( ${#missing[@]} == 0 )) && return 0
  log "installing ${missing[*]} (Debian) for the invoice-proof tests"
  apt_install "${missing[@]}" || log "ERROR: could not install ${missing[*]}: tests/tests/proof.rs will fail"
}
