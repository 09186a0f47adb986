#!/usr/bin/env bash
# The soak run (a benchmark, not a test): the release daemon on the bundled
# data for 30 market days at a high feed speed; RSS, journal size, queues and
# outboxes sampled once per reconciled day, then check-journal.
#   scripts/soak.sh [--days 30] [--speed 20000] [--retention 2d] [--out DIR]
# Exit 1 when a verdict fails (see scripts/soak.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/soak.py "$@"
