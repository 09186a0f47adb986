#!/usr/bin/env bash
# The soak run (a benchmark, not a test): the release daemon on the bundled
# data for 130 market days at a high feed speed (about 14 minutes); RSS,
# journal size, queues and outboxes sampled once per reconciled day, RSS
# growth judged after the bounded buffers have filled (--warmup 116), then
# check-journal.
#   scripts/soak.sh [--days 130] [--warmup 116] [--speed 20000] [--retention 2d] [--out DIR]
# Exit 1 when a verdict fails (see scripts/soak.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 scripts/soak.py "$@"
