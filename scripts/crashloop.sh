#!/usr/bin/env bash
# The crashloop run of scripts/chaos.py against the release binary (built first).
#   scripts/crashloop.sh --seed N --kills M [--out DIR]
# Ends with commodore check-journal; exit 1 when an invariant fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/chaos.py crashloop "$@"
