#!/usr/bin/env python3
"""Many engines in one process (release build): start time, RSS and aggregate
market events per second, for each engine count given.

  python3 scripts/scale_figures.py target/release/commodore 100 1000

Engines alternate KC and CC (ids E0000, E0001, ...), feed.speed 600 (10 bars a
second each). Start: spawn -> first 200 from /readyz (every engine running).
RSS: VmRSS 5 s after ready. Events/s: the sum of every engine's events_in over
15 s, from /v1/status. Prints JSON lines like the other figures.
"""
import atexit, http.client, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

BIN = sys.argv[1]
COUNTS = [int(x) for x in sys.argv[2:]] or [100, 1000]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, token=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    r = c.getresponse()
    return r.status, r.read()


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def events_in(port, token):
    _, body = get(port, "/v1/status", token)
    return sum(e["activity"]["events_in"] for e in json.loads(body)["engines"])


for n in COUNTS:
    data = tempfile.mkdtemp(prefix="commodore-scale-")
    cfg = os.path.join(data, "engines.toml")
    with open(cfg, "w") as f:
        for i in range(n):
            f.write(f'[[engines]]\nid = "E{i:04d}"\nsymbol = "{"KC" if i % 2 == 0 else "CC"}"\n\n')
    port = free_port()
    env = dict(os.environ, NO_COLOR="1", RUST_LOG="warn", COMMODORE__DATA_DIR=data,
               COMMODORE__CONTROL__LISTEN=f"127.0.0.1:{port}", COMMODORE__FEED__SPEED="600",
               COMMODORE__LOG__STATUS_EVERY="0s")
    t = time.perf_counter()
    p = subprocess.Popen([BIN, "run", "--config", cfg], env=env, stderr=subprocess.DEVNULL)
    # Whatever happens below, the daemon does not outlive this script (an
    # orphan with 1,000 engines would skew every later measurement).
    atexit.register(lambda p=p: p.poll() is None and p.kill())
    while True:
        try:
            if get(port, "/readyz")[0] == 200:
                break
        except OSError:
            pass
        if time.perf_counter() - t > 120 or p.poll() is not None:
            sys.exit(f"{n} engines: not ready within 120 s (exit {p.poll()})")
        time.sleep(0.005)
    start = time.perf_counter() - t
    token = open(os.path.join(data, "control.token")).read().strip()
    time.sleep(2)  # the status view refreshes every second
    e0, t0 = events_in(port, token), time.perf_counter()
    time.sleep(3)
    rss = rss_mib(p.pid)
    # The view is up to a second old at either end: a long window (5 s gave
    # 0.92-1.07x of the offered rate from one run to the next).
    time.sleep(12)
    e1, t1 = events_in(port, token), time.perf_counter()
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
    shutil.rmtree(data, ignore_errors=True)
    print(json.dumps({"figure": f"{n} engines: start to ready", "value": start * 1e3, "baseline": 0,
                      "unit": "ms", "target": "<= 1000 ms"}))
    print(json.dumps({"figure": f"{n} engines: RSS", "value": rss, "baseline": 0, "unit": "MiB",
                      "target": "<= 200 MiB at 1000"}))
    print(json.dumps({"figure": f"{n} engines: market events/s", "value": (e1 - e0) / (t1 - t0),
                      "baseline": n * 10.0, "unit": "ev/s", "target": "= offered (10/s/engine)"}))
