#!/usr/bin/env bash
# The chaos run of scripts/chaos.py against the release binary (built first).
#   scripts/chaos.sh --seed N --faults K [--out DIR]
# Ends with commodore check-journal; exit 1 when an invariant fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/chaos.py chaos "$@"
