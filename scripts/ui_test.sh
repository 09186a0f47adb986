#!/usr/bin/env bash
# The dashboard (/ui) in headless Chromium against the real daemon:
# tests/ui/ui_test.mjs (playwright-core, pinned in tests/ui/package-lock.json).
# Not part of `cargo test`, which runs on a machine without a browser; .ci/run
# runs this after it.
#
#   scripts/ui_test.sh              # builds the debug binary first
#   scripts/ui_test.sh --no-build   # the debug binary `cargo test` built
#
# Needs Node.js 20 or later and Debian's `chromium` (installed here with
# apt-get when missing and running as root; CHROMIUM=/path overrides).
# Screenshots and the daemon's log: target/ui-artifacts/ (or
# $CARGO_TARGET_DIR/ui-artifacts/). Exits non-zero on any failed check.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
case "${1:-}" in
  --no-build) build=0 ;;
  "") ;;
  *) echo "usage: scripts/ui_test.sh [--no-build]" >&2; exit 2 ;;
esac

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ -z "${CHROMIUM:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  else
    echo "error: no Chromium at $chromium: install it (Debian: sudo apt-get install -y chromium) or set CHROMIUM=/path/to/chromium" >&2
    exit 1
  fi
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "error: the dashboard test needs Node.js 20 or later and npm (https://nodejs.org, or your distribution's nodejs)" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "error: Node.js $(node --version) is too old for playwright-core: 20 or later is needed" >&2
  exit 1
fi

npm ci --prefix tests/ui --no-audit --no-fund --loglevel=error
if [ "$build" = 1 ]; then
  cargo build --locked
fi
CHROMIUM="$chromium" node tests/ui/ui_test.mjs
