#!/usr/bin/env bash
# Market time has one source: nothing reads the wall clock outside the clock module
# (actors/src/clock.rs) and the kernel (actors/src/kernel/, which times restarts
# and probes). Everything else is handed a `Clock`, so a replay on the virtual clock
# and a live run take the same code path. Run by .ci/run; exits 1 naming each
# offending line.
#
#   scripts/check_clock.sh            # the project's sources
#   scripts/check_clock.sh DIR...     # other trees (its own test plants a read)
set -euo pipefail
cd "$(dirname "$0")/.."

roots=("$@")
[ ${#roots[@]} -eq 0 ] && roots=(actors/src src)

# A free `now_ms()` (not a method on a clock), std's or tokio's `Instant::now`,
# `SystemTime::now`, chrono's `Utc::now` / `Local::now`.
pattern='(^|[^.[:alnum:]_])now_ms\(\)|Instant::now|SystemTime::now|Utc::now|Local::now'

hits=$(grep -rnE --include='*.rs' "$pattern" "${roots[@]}" \
  | grep -vE '^actors/src/clock\.rs:|^actors/src/kernel/' \
  | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true)

if [ -n "$hits" ]; then
  echo "error: the wall clock is read outside the clock module and the kernel:" >&2
  echo "$hits" >&2
  echo "hand the code a commodore_actors::clock::Clock and ask it instead" >&2
  exit 1
fi
echo "clock check: no wall-clock read outside actors/src/clock.rs and actors/src/kernel/"
