#!/usr/bin/env python3
"""Start time and idle memory of the real daemon (release build), as JSON lines in
the format of the kernel figures: {"figure", "value", "baseline", "unit", "target"}.

start to ready: spawn `commodore run` -> first 200 from GET /readyz (every engine
                running), median of RUNS; baseline: spawn -> exit of
                `commodore check-config` (process start + config load, the floor).
idle RSS:       VmRSS of the daemon 2 s after ready; baseline: peak RSS of
                `commodore check-config` (the binary and its config, nothing run;
                measured with GNU time when /usr/bin/time exists, else nan).
scrape:         GET /metrics as Prometheus asks (OpenMetrics), answered, median of
                SCRAPES in the first run; baseline: GET /v1/status, interleaved
                with it (the same server, token and connection handling).
"""
import atexit, http.client, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/commodore"
RUNS = 10
SCRAPES = 200

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def ready(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/readyz")
        return c.getresponse().status == 200
    except OSError:
        return False

def timed_get(port, path, token, accept="*/*"):
    t = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept": accept})
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or not body:
        sys.exit(f"GET {path}: {r.status}")
    return time.perf_counter() - t

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

env = dict(os.environ, NO_COLOR="1", RUST_LOG="warn")
starts, rsses, floors = [], [], []
scrapes, statuses = [], []
for _ in range(RUNS):
    t = time.perf_counter()
    subprocess.run([BIN, "check-config"], env=env, stdout=subprocess.DEVNULL, check=True)
    floors.append(time.perf_counter() - t)

    data = tempfile.mkdtemp(prefix="commodore-figures-")
    port = free_port()
    e = dict(env, COMMODORE__DATA_DIR=data, COMMODORE__CONTROL__LISTEN=f"127.0.0.1:{port}")
    t = time.perf_counter()
    p = subprocess.Popen([BIN, "run"], env=e, stderr=subprocess.DEVNULL)
    atexit.register(lambda p=p: p.poll() is None and p.kill())  # never an orphan
    deadline = t + 30
    while not ready(port):
        if time.perf_counter() > deadline:
            p.kill()
            sys.exit("the daemon did not become ready within 30 s")
        time.sleep(0.001)
    starts.append(time.perf_counter() - t)
    time.sleep(2)
    rsses.append(rss_kib(p.pid))
    if not scrapes:
        with open(os.path.join(data, "control.token")) as f:
            token = f.read().strip()
        for _ in range(SCRAPES):
            scrapes.append(timed_get(port, "/metrics", token, "application/openmetrics-text;version=1.0.0"))
            statuses.append(timed_get(port, "/v1/status", token))
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    shutil.rmtree(data, ignore_errors=True)

# Python's own getrusage(RUSAGE_CHILDREN) would count the forked Python image
# before exec; GNU time's %M is the peak of the exec'ed binary alone.
floor_rss = float("nan")
if shutil.which("/usr/bin/time"):
    probe = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "check-config"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    floor_rss = int(probe.stderr.strip().splitlines()[-1])

print(json.dumps({"figure": "daemon start to ready (median of 10)", "value": statistics.median(starts) * 1e3,
                  "baseline": statistics.median(floors) * 1e3, "unit": "ms", "target": "<= 100 ms"}))
print(json.dumps({"figure": f"GET /metrics vs /v1/status (median of {SCRAPES})", "value": statistics.median(scrapes) * 1e6,
                  "baseline": statistics.median(statuses) * 1e6, "unit": "us", "target": "-"}))
print(json.dumps({"figure": "daemon idle RSS (median of 10)", "value": statistics.median(rsses) / 1024,
                  "baseline": floor_rss / 1024, "unit": "MiB", "target": "<= 32 MiB"}))
