#!/usr/bin/env python3
"""End-to-end benchmark of mflsync (issue 8): a full sync of N synthetic
facilities through the four services and the loopback stand-ins, the GET+parse
limit on the same pages, a re-sync with no change and an incremental sync of
100 changes. Not a test: it prints figures (and writes them as JSON).

For each N the whole stack is started fresh (new data folder, new processes,
so every peak RSS is per N):
  * MFL stand-in serving a pre-generated NDJSON file (synthetic_mfl.py, made
    once per N and cached in the data folder),
  * openIMIS stand-in on its fast path (--fast),
  * fetcher, mapper, writer, scheduler with config/loopback/*.json through
    scripts/stack-service.sh (the same launcher as scripts/stack.sh), every
    port below 32768 (--http-port, --grpc-port), the schedule off, the scheduler logging JSON
    at debug level (one "batch done" line per batch → batch latency).
Then, in order:
  1. limit: mfl_get_parse GETs + parses every page of the fetcher's search
     (same query, page size, _include) with the same HTTP client, no
     processing;
  2. full sync (`mflsync sync`): wall time, facilities/s, per-stage timings
     (Run.stages), p50/p99 batch latency, CPU seconds of every process;
  3. re-sync with no change (`mflsync sync --full`): writes must be 0; the
     writer reads openIMIS in full (its index verified);
  3b. an incremental sync with no change (`mflsync sync`);
  4. incremental: POST /$testbed/touch 100 facilities with a renamed name,
     `mflsync sync`: time and writes (must be exactly 100);
  5. peak RSS (VmHWM) of every process;
  6. the raw loop: build/bench/writer/writer_real_bench against the same
     openIMIS stand-in at the writer's connection count (one mutation per
     request, then its mutation-log poll): the incremental run's write stage
     (updates per second of its `write` stage) against the raw loop's
     updates/s; then everything is stopped.

Usage (from the repo root; `ninja -C build bench_e2e` runs the default):
  python3 bench/e2e/e2e_bench.py [--sizes 1000,10000,100000] [--build-dir build]
      [--data-dir /tmp/mflsync-e2e] [--http-port 19081] [--grpc-port 21150] [--changes 100]
      [--get-parse BIN] [--json OUT.json] [--perf SERVICE]
Python 3 standard library only.
"""
import argparse
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVICES = ["fetcher", "mapper", "writer", "scheduler"]
ORDER = ["mfl", "openimis"] + SERVICES
CLK_TCK = os.sysconf("SC_CLK_TCK")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    except (OSError, IndexError, ValueError):
        return float("nan")


def vm_hwm_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def wait_port(port, limit_s, proc, name):
    deadline = time.time() + limit_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on port {port} within {limit_s} s")


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Stack:
    def __init__(self, args, n, data):
        self.args, self.n, self.data = args, n, data
        # Ports below Linux's ephemeral range (32768-60999), where an outgoing
        # connection can take a port before a service binds it.
        self.port = {"mfl": args.http_port, "openimis": args.http_port + 1,
                     "scheduler": args.grpc_port, "fetcher": args.grpc_port + 1,
                     "mapper": args.grpc_port + 2, "writer": args.grpc_port + 3}
        self.procs = {}
        self.logs = os.path.join(data, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.env = dict(os.environ)
        for svc in SERVICES:
            self.env[f"MFLSYNC_{svc.upper()}_ADDRESS"] = f"127.0.0.1:{self.port[svc]}"
        self.env["MFLSYNC_SOURCES__DEMO__SCHEDULE"] = "off"
        # The suite's own cost: the MFL and openIMIS directly, not through openHIM's channels.
        self.env["MFLSYNC_VIA_OPENHIM"] = "0"
        self.env["MFLSYNC_BUILD_DIR"] = args.build_dir
        for k in ("MFLSYNC_LOG__LEVEL", "MFLSYNC_LOG__FORMAT", "MFLSYNC_CONFIG"):
            self.env.pop(k, None)
        # The stack's gRPC credentials (mutual TLS, scripts/pki.sh), and the
        # operator's token for the mflsync command and grpcurl.
        self.pki = os.path.join(data, "grpc")
        subprocess.run(["sh", os.path.join(ROOT, "scripts/pki.sh"), self.pki],
                       check=True, stdout=subprocess.DEVNULL)
        self.env["MFLSYNC_CA_FILE"] = os.path.join(self.pki, "ca.pem")
        self.env["MFLSYNC_TOKEN_FILE"] = os.path.join(self.pki, "operator.token")
        # The openIMIS stand-in's Admin password, random, where
        # scripts/stack-service.sh points the writer (no default passwords).
        secrets_dir = os.path.join(data, "secrets")
        os.makedirs(secrets_dir, mode=0o700, exist_ok=True)
        self.openimis_password = secrets.token_hex(16)
        with open(os.path.join(secrets_dir, "openimis-password"), "w") as f:
            f.write(self.openimis_password + "\n")

    def openimis_env(self):
        """An openimis.env (the file testbed/openimis-real writes) naming the
        stand-in, for writer_real_bench's raw loop; its path."""
        path = os.path.join(self.data, "openimis-standin.env")
        with open(path, "w") as f:
            f.write(f"OPENIMIS_URL=http://127.0.0.1:{self.port['openimis']}/api\n"
                    f"OPENIMIS_USER=Admin\nOPENIMIS_PASSWORD={self.openimis_password}\n"
                    "OPENIMIS_PG_PORT=0\n")
        return path

    def launch(self, name, cmd, env=None):
        log = open(os.path.join(self.logs, f"{name}.log"), "wb")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            env=env or self.env, cwd=ROOT)

    def start(self, ndjson):
        self.launch("mfl", [sys.executable, os.path.join(ROOT, "testbed/mfl/mfl_standin.py"),
                            "--host", "127.0.0.1", "--port", str(self.port["mfl"]),
                            "--base-path", "/fhir", "--data", ndjson])
        self.launch("openimis", [sys.executable,
                                 os.path.join(ROOT, "testbed/openimis/openimis_standin.py"),
                                 "--host", "127.0.0.1", "--port", str(self.port["openimis"]),
                                 "--db", os.path.join(self.data, "openimis-standin.db"),
                                 "--areas", os.path.join(
                                     ROOT, "mapper/mappings/synthetic-openimis-areas.json"),
                                 "--password", self.openimis_password, "--fast"])
        for svc in SERVICES:
            env = dict(self.env)
            env.update({"MFLSYNC_LISTEN_ADDRESS": f"127.0.0.1:{self.port[svc]}",
                        "MFLSYNC_STACK_ROOT": ROOT, "MFLSYNC_STACK_DATA": self.data,
                        "MFLSYNC_STACK_MFL_PORT": str(self.port["mfl"]),
                        "MFLSYNC_STACK_OPENIMIS_PORT": str(self.port["openimis"])})
            if svc == "scheduler":
                env["MFLSYNC_LOG__LEVEL"] = "debug"   # "batch done" lines
                env["MFLSYNC_LOG__FORMAT"] = "json"
            # stack-service.sh execs the binary: the Popen pid is the service's.
            self.launch(svc, [os.path.join(ROOT, "scripts/stack-service.sh"), svc], env)
            # One at a time: the scheduler's channels must not meet a peer
            # that is not listening yet (gRPC would back off ~1 s).
            wait_port(self.port[svc], 60, self.procs[svc], svc)
        for name in ORDER:
            wait_port(self.port[name], 180, self.procs[name], name)

    def stop(self):
        for name in reversed(ORDER):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()

    def pids(self):
        return {name: p.pid for name, p in self.procs.items()}

    def cpu(self):
        return {name: cpu_seconds(pid) for name, pid in self.pids().items()}

    def hwm(self):
        return {name: vm_hwm_mb(pid) for name, pid in self.pids().items()}

    def cli(self, *cmd):
        return subprocess.run([os.path.join(self.args.build_dir, "cli/mflsync"),
                               "--scheduler", f"127.0.0.1:{self.port['scheduler']}", *cmd],
                              capture_output=True, text=True, env=self.env)

    def grpcurl_credentials(self):
        with open(os.path.join(self.pki, "operator.token")) as f:
            token = f.read().strip()
        return ["-cacert", os.path.join(self.pki, "ca.pem"),
                "-H", f"authorization: Bearer {token}"]

    def newest_run(self, trigger="RUN_TRIGGER_MANUAL"):
        """The newest run started by `trigger` (a manual sync by default: the
        scheduler's own retry runs may have started since)."""
        grpcurl = os.path.join(ROOT, ".deps/bin/grpcurl")
        out = subprocess.run([grpcurl, *self.grpcurl_credentials(), "-d", '{"page_size": 50}',
                              f"127.0.0.1:{self.port['scheduler']}",
                              "mflsync.v1.SchedulerService/ListRuns"],
                             capture_output=True, text=True, check=True).stdout
        # grpcurl prints proto field names (run_id) or JSON names (runId)
        # depending on its version; use snake_case.
        runs = [{re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), k): v
                 for k, v in run.items()} for run in json.loads(out)["runs"]]
        return next(r for r in runs if r.get("trigger") == trigger)

    def open_failures(self):
        """The open failure-queue entries: {Location id: transient}."""
        grpcurl = os.path.join(ROOT, ".deps/bin/grpcurl")
        out, token = {}, ""
        while True:
            req = json.dumps({"source_id": "demo", "page_size": 1000, "page_token": token})
            page = json.loads(subprocess.run(
                [grpcurl, *self.grpcurl_credentials(), "-d", req,
                 f"127.0.0.1:{self.port['scheduler']}",
                 "mflsync.v1.SchedulerService/ListFailures"],
                capture_output=True, text=True, check=True).stdout)
            for f in page.get("failures", []):
                out[f.get("location_id", f.get("locationId"))] = bool(f.get("transient"))
            token = page.get("next_page_token", page.get("nextPageToken", ""))
            if not token:
                return out

    def mfl_post(self, path, body):
        return http_json(self.port["mfl"], "POST", path, body)


def http_json(port, method, path, body=None, timeout=60):
    """A JSON request to a stand-in on loopback; its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def batch_latencies(log_path, run_id, writes_only=False):
    """Milliseconds per batch (map → write → commit) from the scheduler's
    "batch done" debug lines; writes_only keeps the batches that wrote."""
    out = []
    with open(log_path, errors="replace") as f:
        for line in f:
            if '"batch done"' not in line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            fields = ev.get("fields", ev)
            if fields.get("run") == run_id and (not writes_only or "write_millis" in fields):
                out.append(float(fields["millis"]))
    return out


def sync(stack, label, *flags):
    cpu0, load0, t0 = stack.cpu(), loadavg(), time.monotonic()
    r = stack.cli("sync", "--source", "demo", *flags)
    wall = time.monotonic() - t0
    cpu1, load1 = stack.cpu(), loadavg()
    if r.returncode != 0:
        raise RuntimeError(
            f"{label}: mflsync sync failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    run = stack.newest_run()
    counts = {k: int(v) for k, v in run.get("counts", {}).items()}
    stages = {s["stage"]: int(s.get("millis", 0)) for s in run.get("stages", [])}
    lat = batch_latencies(os.path.join(stack.logs, "scheduler.log"), run["run_id"])
    wlat = batch_latencies(os.path.join(stack.logs, "scheduler.log"), run["run_id"], True)
    res = {"label": label, "run_id": run["run_id"], "state": run["state"],
           "wall_s": round(wall, 3), "run_s": int(run.get("duration_millis", 0)) / 1000.0,
           "counts": counts,
           "writes": counts.get("created", 0) + counts.get("updated", 0),
           "stages_ms": stages, "batches": len(lat),
           "batch_p50_ms": round(percentile(lat, 50), 1),
           "batch_p99_ms": round(percentile(lat, 99), 1),
           "write_batches": len(wlat),
           "write_batch_p50_ms": round(percentile(wlat, 50), 1),
           "write_batch_p99_ms": round(percentile(wlat, 99), 1),
           "cpu_s": {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0},
           "index_refresh": last_index_refresh(os.path.join(stack.logs, "writer.log")),
           "load_before": load0, "load_after": load1}
    fetched = max(1, counts.get("fetched", 0))
    res["suite_cpu_ms_per_record"] = round(
        1000 * sum(res["cpu_s"].get(k, 0) for k in SERVICES) / fetched, 3)
    res["openimis_cpu_ms_per_record"] = round(1000 * res["cpu_s"].get("openimis", 0) / fetched, 3)
    return res


def last_index_refresh(writer_log):
    """The writer's newest index refresh: mode, facilities read, millis
    (its "openIMIS index read in full" / "openIMIS index refreshed" line)."""
    found = None
    with open(writer_log, errors="replace") as f:
        for line in f:
            m = re.search(r"openIMIS index (read in full|refreshed) (.*)", line)
            if m:
                fields = dict(kv.split("=", 1) for kv in m.group(2).split() if "=" in kv)
                found = {"mode": "full" if m.group(1) == "read in full" else "incremental",
                         "read": int(fields.get("read", 0)),
                         "millis": int(fields.get("millis", 0)),
                         "drift": int(fields.get("drift", 0))}
    return found


def get_parse(args, stack, rounds):
    best = None
    runs = []
    for _ in range(rounds):
        load0 = loadavg()
        cpu0 = stack.cpu()["mfl"]
        out = subprocess.run([args.get_parse, "--base",
                              f"http://127.0.0.1:{stack.port['mfl']}/fhir",
                              "--page-size", str(args.page_size)],
                             capture_output=True, text=True, check=True).stdout
        res = json.loads(out)
        res["mfl_cpu_s"] = round(stack.cpu()["mfl"] - cpu0, 2)
        res["load_before"], res["load_after"] = load0, loadavg()
        runs.append(res)
        if best is None or res["wall_s"] < best["wall_s"]:
            best = res
    return best, runs


def facility_ids(ndjson):
    ids = []
    with open(ndjson) as f:
        for line in f:
            if line.startswith('{"resourceType":"Location","id":"fac-'):
                ids.append(json.loads(line)["id"])
    return ids


def raw_loop(build_dir, env_file, n, connections, district):
    """writer_real_bench against the openIMIS `env_file` names (the real one, or
    the stand-in): the writer and a raw loop (one mutation per request, then its
    mutation-log poll) at `connections`, N creates then N updates in `district`.
    Returns {writer,raw}_{creates,updates}_s."""
    out = subprocess.run([os.path.join(build_dir, "bench/writer/writer_real_bench"),
                          "--openimis-env", env_file, "--n", str(n),
                          "--connections", str(connections), "--district", district],
                         capture_output=True, text=True, check=True).stdout
    print(out, end="", flush=True)
    row = [line for line in out.splitlines() if line.startswith(f"| {connections} |")][-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    return {"writer_creates_s": float(cells[1]), "raw_creates_s": float(cells[2]),
            "writer_updates_s": float(cells[4]), "raw_updates_s": float(cells[5])}


def write_stage_vs_raw(incremental, raw):
    """The incremental run's write stage (updates per second of its `write`
    stage) and its ratio to the raw loop's updates/s, or {} without writes.
    A run as both benchmarks describe it: `stages_ms` and `counts`."""
    write_s = incremental["stages_ms"].get("write", 0) / 1000.0
    updated = incremental.get("counts", {}).get("updated", 0)
    if write_s <= 0 or not updated or not raw.get("raw_updates_s"):
        return {}
    rate = updated / write_s
    return {"write_stage_updates_s": round(rate, 1),
            "write_stage_vs_raw": round(rate / raw["raw_updates_s"], 2)}


def loopback_connections():
    """The writer's openimis.connections in config/loopback/writer.json (the
    stack's), or the writer's default."""
    with open(os.path.join(ROOT, "config/loopback/writer.json")) as f:
        return int(json.load(f).get("openimis", {}).get("connections", 16))


def perf_profile(seconds, out_prefix):
    """cpu-clock samples of the whole machine for `seconds` (hardware counters
    are not available in this VM; `-p PID` would miss the threads a service
    starts later, such as the scheduler's batch threads): read the service's
    share with `perf report -i OUT.data --pid PID` (PID in the JSON's "pids").
    Returns the Popen of perf record."""
    return subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "499", "-g", "-a",
                             "-o", out_prefix + ".data", "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fresh_data(args, n):
    """An empty data folder for N, and the synthetic MFL of N facilities
    (NDJSON, made once and kept in --data-dir)."""
    data = os.path.join(args.data_dir, f"n{n}")
    subprocess.run(["rm", "-rf", data], check=True)
    os.makedirs(data)
    ndjson = os.path.join(args.data_dir, f"mfl-{n}.ndjson")
    if not os.path.exists(ndjson):
        subprocess.run([sys.executable, os.path.join(ROOT, "testbed/data_tools/synthetic_mfl.py"),
                        "--count", str(n), "--out", ndjson + ".tmp"], check=True,
                       stderr=subprocess.DEVNULL)
        os.rename(ndjson + ".tmp", ndjson)
    return data, ndjson


def bench_one(args, n):
    data, ndjson = fresh_data(args, n)
    stack = Stack(args, n, data)
    result = {"n": n, "pids": None}
    try:
        t0 = time.monotonic()
        stack.start(ndjson)
        result["startup_s"] = round(time.monotonic() - t0, 1)
        result["pids"] = stack.pids()
        result["rss_idle_mb"] = {k: round(v, 1) for k, v in stack.hwm().items()}
        limit, limit_runs = get_parse(args, stack, 3 if n <= 10000 else 1)
        result["limit"], result["limit_runs"] = limit, limit_runs
        perf = None
        if args.perf and n == args.largest:
            print(f"perf: {args.perf} is pid {stack.pids()[args.perf]}", flush=True)
            perf = perf_profile(args.perf_seconds, os.path.join(data, "perf-" + args.perf))
        full = sync(stack, "full")
        if perf is not None:
            perf.wait()
        full["facilities_per_s"] = round(n / full["run_s"], 1) if full["run_s"] else None
        full["ratio_to_limit"] = (round(limit["wall_s"] / full["run_s"], 3) if full["run_s"]
                                  else None)
        result["full"] = full
        result["rss_after_full_mb"] = {k: round(v, 1) for k, v in stack.hwm().items()}
        result["resync"] = sync(stack, "resync-no-change", "--full")
        result["idle"] = sync(stack, "incremental-no-change")
        # Change facilities that are in openIMIS: the mapper rejects a few
        # synthetic facilities (they are in the failure queue), and a change to
        # one of those cannot be written, so they are not picked.
        rejected = stack.open_failures()
        ids = [i for i in facility_ids(ndjson) if i not in rejected]
        ids = random.Random(8).sample(ids, min(args.changes, len(ids)))
        touched = stack.mfl_post("/$testbed/touch", {"ids": ids, "name_suffix": " (bench)"})
        result["rejected_not_touched"] = len(rejected)
        result["touched"] = len(touched["touched"])
        result["incremental"] = sync(stack, f"incremental-{args.changes}")
        result["rss_peak_mb"] = {k: round(v, 1) for k, v in stack.hwm().items()}
        result["raw"] = raw_loop(args.build_dir, stack.openimis_env(), args.changes,
                                 loopback_connections(), "SY0101")
        result.update(write_stage_vs_raw(result["incremental"], result["raw"]))
    finally:
        stack.stop()
    return result


def print_summary(results):
    print()
    print("| N | limit GET+parse (s) | full sync (s) | facilities/s | pipeline/limit | "
          "batch p50 / p99 (ms) | write batches p50 / p99 (ms) | load (1/5/15 min) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        f = r["full"]
        print(f"| {r['n']:,} | {r['limit']['wall_s']:.2f} | {f['run_s']:.2f} | "
              f"{f['facilities_per_s']:,.0f} | {f['ratio_to_limit']:.0%} | "
              f"{f['batch_p50_ms']} / {f['batch_p99_ms']} | "
              f"{f['write_batch_p50_ms']} / {f['write_batch_p99_ms']} | "
              f"{f['load_before']} → {f['load_after']} |")
    print()
    print("| N | stage ms: " + " / ".join(["index", "fetch", "map", "reconcile", "write"])
          + " | CPU s: " + " / ".join(ORDER) + " |")
    print("|---:|---|---|")
    for r in results:
        f = r["full"]
        st = " / ".join(str(f["stages_ms"].get(s, 0))
                        for s in ["index", "fetch", "map", "reconcile", "write"])
        cpu = " / ".join(f"{f['cpu_s'].get(s, 0):.1f}" for s in ORDER)
        print(f"| {r['n']:,} | {st} | {cpu} |")
    print()
    print("| N | peak RSS MB: " + " / ".join(ORDER) + " |")
    print("|---:|---|")
    for r in results:
        print(f"| {r['n']:,} | " + " / ".join(f"{r['rss_peak_mb'].get(s, 0):.1f}" for s in ORDER)
              + " |")
    print()
    print("| N | re-sync (--full) no change: s, writes, unchanged | incremental, no change: s, "
          "fetched | incremental: touched, s, writes | load |")
    print("|---:|---|---|---|---|")
    for r in results:
        a, i, b = r["resync"], r["idle"], r["incremental"]
        print(f"| {r['n']:,} | {a['run_s']:.2f} s, {a['writes']}, "
              f"{a['counts'].get('unchanged', 0)} | {i['run_s']:.2f} s, "
              f"{i['counts'].get('fetched', 0)} | "
              f"{r['touched']}, {b['run_s']:.2f} s, {b['writes']} | {b['load_after']} |")
    print()
    print("| N | writer index refresh per run (mode, facilities read, ms): full sync / "
          "re-sync --full / no change / incremental | suite CPU ms per record: full / "
          "incremental | openIMIS stand-in CPU ms per record: full |")
    print("|---:|---|---|---|")
    for r in results:
        runs = [r[k] for k in ("full", "resync", "idle", "incremental")]
        idx = " / ".join(f"{x['index_refresh']['mode']}, {x['index_refresh']['read']:,}, "
                         f"{x['index_refresh']['millis']:,}" if x.get("index_refresh") else "-"
                         for x in runs)
        print(f"| {r['n']:,} | {idx} | {r['full']['suite_cpu_ms_per_record']} / "
              f"{r['incremental']['suite_cpu_ms_per_record']} | "
              f"{r['full']['openimis_cpu_ms_per_record']} |")
    print()
    print("| N | incremental write stage (updates/s) | raw loop updates/s (same stand-in, "
          "same connections) | write stage / raw |")
    print("|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['n']:,} | {r.get('write_stage_updates_s', '-')} | "
              f"{r['raw']['raw_updates_s']} | {r.get('write_stage_vs_raw', '-')} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data-dir", default="/tmp/mflsync-e2e")
    ap.add_argument("--http-port", type=int, default=19081,
                    help="the MFL stand-in's port; openIMIS's is the next one")
    ap.add_argument("--grpc-port", type=int, default=21150,
                    help="the scheduler's port; fetcher, mapper, writer follow")
    ap.add_argument("--page-size", type=int, default=1000,
                    help="must match sources.demo.page_size in config/loopback/fetcher.json")
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--get-parse", default=None, help="mfl_get_parse binary")
    ap.add_argument("--json", default=None, help="write all figures here")
    ap.add_argument("--perf", choices=["fetcher", "mapper", "writer", "scheduler"],
                    help="perf record (cpu-clock) this service during the largest N's full sync")
    ap.add_argument("--perf-seconds", type=float, default=20)
    args = ap.parse_args()
    args.build_dir = os.path.abspath(args.build_dir)
    if args.get_parse is None:
        args.get_parse = os.path.join(args.build_dir, "bench/e2e/mfl_get_parse")
    os.makedirs(args.data_dir, exist_ok=True)
    sizes = [int(x) for x in args.sizes.split(",") if x]
    args.largest = max(sizes)
    results = []
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f
                      if line.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {model}; load at start {loadavg()}", flush=True)
    for n in sizes:
        print(f"== N = {n:,}", flush=True)
        r = bench_one(args, n)
        results.append(r)
        f = r["full"]
        print(json.dumps({"n": n, "limit_s": r["limit"]["wall_s"], "full_s": f["run_s"],
                          "fps": f["facilities_per_s"], "ratio": f["ratio_to_limit"],
                          "counts": f["counts"], "stages_ms": f["stages_ms"],
                          "p50": f["batch_p50_ms"], "p99": f["batch_p99_ms"],
                          "cpu_s": f["cpu_s"], "rss": r["rss_peak_mb"],
                          "resync_writes": r["resync"]["writes"],
                          "incr_s": r["incremental"]["run_s"],
                          "incr_writes": r["incremental"]["writes"],
                          "load": f["load_after"]}), flush=True)
        if args.json:
            with open(args.json, "w") as out:
                json.dump({"machine": model, "cores": os.cpu_count(), "results": results},
                          out, indent=1)
    print_summary(results)
    bad = [r["n"] for r in results if r["resync"]["writes"] != 0
           or r["incremental"]["writes"] != r["touched"]
           or r["full"]["state"] != "RUN_STATE_SUCCEEDED"]
    if bad:
        print(f"CHECK FAILED for N = {bad}: re-sync writes must be 0, incremental writes must "
              f"equal the changes, the full sync must succeed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
