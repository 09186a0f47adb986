#!/usr/bin/env bash
# Runs the benchmarks and prints one table: every figure next to its baseline
# measured in the same run, with the ratio and the target.
#
#   scripts/bench.sh            # everything (a few minutes on 2 cores)
#   scripts/bench.sh kernel     # only the kernel figures (2 to 3 minutes with a warm
#                               # build; the first run compiles kameo and ractor)
#
# Kernel figures (benches/peers, a crate of its own outside the workspace, so that
# kameo and ractor are compiled only here): commodore's supervised worker next to a
# bare actix actor, a kameo actor under a kameo supervisor and a ractor actor linked
# to a ractor supervisor, all on one single-threaded runtime, in the same run; the
# ratios are commodore / each of the others:
#   tell throughput   tell (kameo: tell().try_send(), ractor: cast) in batches of 256
#                     flushed by one ask; interleaved rounds, medians
#   ask round trip    ask (bare actix: send, ractor: call), interleaved rounds, medians
#   restart latency   panic in a handler -> successor answers an ask, p50 / p99,
#                     interleaved rounds; bare actix: catching a panic + starting a new
#                     bare actor + ask; ractor: the successor found by its registered name
#   heap, rss per     100,000 idle actors (commodore, kameo, ractor: under one
#   idle actor        supervisor), each library in a fresh process per measurement
#                     (3 each, medians): live heap bytes and the RSS they added
# Criterion (actors/benches/kernel.rs), commodore vs bare actix only:
#   (criterion)       tell throughput and ask round trip measured by criterion, one
#                     side after the other: more sensitive to a noisy neighbour
#
#   daemon start      `commodore run` -> /readyz 200 vs `commodore check-config`
#   daemon idle RSS   2 s after ready vs check-config's peak (scripts/daemon_figures.py)
#
#   engine pipeline   market events/s through analyzer -> engine vs a bare actix chain
#                     of two actors; tick-to-order p50/p99 (engine_figures)
#   scale             100 and 1,000 engines in one process: start to ready, RSS,
#                     market events/s (scripts/scale_figures.py)
#
#   replay            `commodore replay` over 1, 4 and 16 weeks of the bundled bars:
#                     wall time against the 1-week time scaled by the data (linear
#                     = 1.0x), bars/s, peak RSS (scripts/replay_figures.py)
#   replay year       a seeded year of KC and CC 1-minute bars (about 270,000),
#   vs Nautilus       about one order per 25 bars: `commodore replay` vs
#                     NautilusTrader's BacktestEngine on the same file, bars/s (the
#                     ratio is commodore / Nautilus), wall, peak RSS, orders; median
#                     of 3 runs each (scripts/replay_compare.py, nautilus_replay.py).
#                     NautilusTrader is installed from PyPI into target/bench-venv
#                     on the first run (needs python3's venv module; version
#                     NAUTILUS_VERSION, default below)
#   sweep             `commodore sweep` of four points over four weeks, one replay
#                     per core vs one at a time, in turn (scripts/sweep_figures.py)
#   paper market      a seeded quarter replayed on the paper broker filling from the
#                     market (latency, spread, random slippage, 5 % participation) vs
#                     fills at once: wall, fills, parts, PnL (scripts/fill_figures.py)
#
#   scripts/bench.sh daemon     # only the daemon figures (under a minute)
#   scripts/bench.sh scale      # only the many-engines figures (about a minute)
#   scripts/bench.sh replay     # only the replay figures (3 to 5 minutes on 2
#                               # cores, most of it the year vs NautilusTrader;
#                               # the first run also installs NautilusTrader)
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

[ "${1:-}" = "kernel" ] || cargo build --release --locked 2>/dev/null

# The kernel figures against bare actix, kameo and ractor (benches/peers).
kernel_figures() {
  cargo run --release --locked --quiet --manifest-path benches/peers/Cargo.toml \
    --target-dir "${CARGO_TARGET_DIR:-$PWD/target}" >"$out/kernel.jsonl"
}

# NautilusTrader for the replay comparison, in a virtualenv of the bench's own.
nautilus_venv() {
  local venv=target/bench-venv version=${NAUTILUS_VERSION:-1.221.0}
  if [ ! -x "$venv/bin/pip" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || {
      echo "error: python3 -m venv failed: the replay comparison needs Python's venv module" >&2
      echo "  (Debian/Ubuntu: apt-get install python3-venv; or any python3 >= 3.11 with venv on PATH)" >&2
      exit 1; }
  fi
  if ! "$venv/bin/python" -c "import sys, nautilus_trader as n; sys.exit(n.__version__ != '$version')" 2>/dev/null; then
    echo "installing nautilus_trader==$version into $venv ..." >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "nautilus_trader==$version" >&2 || {
      echo "error: pip could not install nautilus_trader==$version into $venv (set NAUTILUS_VERSION" >&2
      echo "  to a version with a wheel for $("$venv/bin/python" --version))" >&2
      exit 1; }
  fi
}
if [ "${1:-}" = "kernel" ]; then
  kernel_figures
  : >"$out/figures.jsonl"
elif [ "${1:-}" = "scale" ]; then
  python3 scripts/scale_figures.py target/release/commodore 100 1000 >"$out/figures.jsonl"
elif [ "${1:-}" = "replay" ]; then
  python3 scripts/replay_figures.py target/release/commodore >"$out/figures.jsonl"
  python3 scripts/sweep_figures.py target/release/commodore >>"$out/figures.jsonl"
  python3 scripts/fill_figures.py target/release/commodore >>"$out/figures.jsonl"
  nautilus_venv
  python3 scripts/replay_compare.py target/release/commodore target/bench-venv/bin/python >>"$out/figures.jsonl"
else
  python3 scripts/daemon_figures.py target/release/commodore >"$out/figures.jsonl"
fi
case "${1:-}" in daemon | scale | replay | kernel) only=1 ;; *) only= ;; esac
if [ -z "$only" ]; then
cargo bench -p commodore-actors --bench kernel -- --noplot >"$out/criterion.txt" 2>&1 || {
  cat "$out/criterion.txt"; exit 1; }
kernel_figures
cargo bench -p commodore-actors --bench engine_figures 2>/dev/null | grep '^{"figure"' >>"$out/figures.jsonl"
cargo bench -p commodore-actors --bench ib_figures 2>/dev/null | grep '^{"figure"' >>"$out/figures.jsonl"
python3 scripts/scale_figures.py target/release/commodore 100 1000 >>"$out/figures.jsonl"
python3 scripts/replay_figures.py target/release/commodore >>"$out/figures.jsonl"
python3 scripts/sweep_figures.py target/release/commodore >>"$out/figures.jsonl"
python3 scripts/fill_figures.py target/release/commodore >>"$out/figures.jsonl"
nautilus_venv
python3 scripts/replay_compare.py target/release/commodore target/bench-venv/bin/python >>"$out/figures.jsonl"
fi

touch "$out/kernel.jsonl"
python3 - "$out/figures.jsonl" "${1:-all}" "$out/kernel.jsonl" <<'PY'
import json, os, sys, platform

def estimate(group, name):
    p = os.path.join("target", "criterion", group, name, "new", "estimates.json")
    with open(p) as f:
        e = json.load(f)
    return e["median"]["point_estimate"]  # ns per iteration

BATCH = 257  # 256 tells + 1 flushing ask per iteration (see actors/benches/kernel.rs)
rows, notes = [], []
for line in open(sys.argv[1]):
    f = json.loads(line)
    if "note" in f:
        notes.append(f["note"])
    ratio = f["value"] / f["baseline"] if f["baseline"] else float("nan")
    base = f'{f["baseline"]:.2f} {f["unit"]}' if f["baseline"] else "-"
    rows.append((f["figure"].replace("_", " "), f'{f["value"]:.2f} {f["unit"]}', base, ratio, f["target"]))

if sys.argv[2] not in ("daemon", "scale", "replay", "kernel"):
    bare, sup = estimate("tell", "bare"), estimate("tell", "supervised")
    rows.append(("tell throughput (criterion)", f"{BATCH / sup * 1e3:.2f} M msg/s", f"{BATCH / bare * 1e3:.2f} M msg/s", sup and bare / sup, ">= 0.9x bare"))
    bare, sup = estimate("ask", "bare"), estimate("ask", "supervised")
    rows.append(("ask round trip (criterion)", f"{sup / 1e3:.2f} us", f"{bare / 1e3:.2f} us", sup / bare, "<= 1.1x bare"))

print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
if rows:
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':<{w}}  {'commodore':>16}  {'baseline':>16}  {'ratio':>7}  target")
    for name, v, b, r, t in rows:
        ratio = f"{r:>6.2f}x" if r == r else "      -"  # nan: no baseline
        print(f"{name:<{w}}  {v:>16}  {b:>16}  {ratio}  {t}")
for n in notes:
    print(n)

# The kernel table: commodore next to bare actix, kameo and ractor (benches/peers).
kernel = [json.loads(line) for line in open(sys.argv[3]) if line.startswith("{")]
if kernel:
    if rows:
        print()
    names = [f'{f["figure"].replace("_", " ")} ({f["unit"]})' for f in kernel]
    w = max(len(n) for n in names)
    libs = ("commodore", "bare", "kameo", "ractor")
    print(f"{'kernel figure':<{w}}  {'commodore':>10}  {'bare actix':>10}  {'kameo':>10}  {'ractor':>10}"
          f"  {'c/bare':>7}  {'c/kameo':>7}  {'c/ractor':>8}  target")
    for name, f in zip(names, kernel):
        vals = "  ".join(f"{f[k]:>10.2f}" for k in libs)
        ratios = [f["commodore"] / f[k] if f[k] else float("nan") for k in libs[1:]]
        print(f"{name:<{w}}  {vals}  {ratios[0]:>6.2f}x  {ratios[1]:>6.2f}x  {ratios[2]:>7.2f}x  {f['target']}")
PY
