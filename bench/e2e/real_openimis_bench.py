#!/usr/bin/env python3
"""End-to-end benchmark against the real openIMIS at the Kenya MFL's size
(issue 16): the loopback stack (scripts/stack.sh with MFLSYNC_OPENIMIS_REAL=1:
the released openIMIS backend of testbed/openimis-real, Kenya's counties and
sub-counties created in it) syncing the whole Kenya MFL (13,733 facilities,
../shared/data/kenya-mfl, converted to FHIR by
testbed/data_tools/kenya_mfl_to_fhir.py) mapped with mapper/mappings/kenya.json.
Not a test: it prints figures (and writes them as JSON).

In order:
  1. full sync into the fresh openIMIS (every accepted facility created);
  2. an incremental sync with no change;
  3. 25 facilities renamed in the MFL stand-in (POST /$testbed/touch), an
     incremental sync: wall time (target < 10 s) and its write stage;
  4. the raw loop: build/bench/writer/writer_real_bench --n 25 at the
     writer's connection count against the same openIMIS (mutation +
     mutation-log poll, nothing else); the ratio of the run's write stage
     (25 updates / write-stage seconds) to the raw loop's updates/s;
  5. CPU seconds of every suite process and of openIMIS (its gunicorn
     workers and PostgreSQL) per run, peak RSS of every service.
The fetcher and writer reach the MFL and openIMIS directly (not through the
openHIM channels), so that the figures are the suite's and openIMIS's.

Usage (from the repo root; needs ../shared, minutes: the first sync writes
~13,000 facilities at openIMIS's pace, ~20-40 per second):
  python3 bench/e2e/real_openimis_bench.py [--build-dir build]
      [--data-dir /tmp/mflsync-real-bench] [--changes 25] [--json OUT.json]
Python 3 standard library only.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_bench import cpu_seconds, loadavg, raw_loop, vm_hwm_mb, write_stage_vs_raw  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVICES = ["mediator", "fetcher", "mapper", "writer", "scheduler"]
# Ports below Linux's ephemeral range, apart from the tests' (docs/benchmarks.md).
PORT_BASE, GRPC_PORT_BASE = 700, 29050
SUMMARY = re.compile(r"summary: created (\d+), updated (\d+), unchanged (\d+), "
                     r"rejected (\d+), failed (\d+)")


def children(pid):
    """Every descendant of pid (gunicorn's workers)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    kids = {}
    pairs = [tuple(map(int, line.split())) for line in out.strip().splitlines()]
    for p, pp in pairs:
        kids.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            found.append(k)
            todo.append(k)
    return found


class RealStack:
    def __init__(self, args):
        self.args = args
        self.data = args.data_dir
        self.env = dict(os.environ)
        self.env.update({
            "MFLSYNC_DATA_DIR": self.data, "MFLSYNC_BUILD_DIR": args.build_dir,
            "MFLSYNC_PORT_BASE": str(PORT_BASE), "MFLSYNC_GRPC_PORT_BASE": str(GRPC_PORT_BASE),
            "MFLSYNC_OPENIMIS_REAL": "1", "MFLSYNC_VIA_OPENHIM": "0",
            "MFLSYNC_OPENIMIS_AREAS": os.path.join(
                ROOT, "mapper/mappings/kenya-openimis-areas.json"),
            "MFLSYNC_MFL_DATA": os.path.join(self.data, "kenya.ndjson"),
            "MFLSYNC_MAPPING_FILE": os.path.join(ROOT, "mapper/mappings/kenya.json"),
            "MFLSYNC_SOURCES__DEMO__SCHEDULE": "off",
            "MFLSYNC_SCHEDULER_ADDRESS": f"127.0.0.1:{GRPC_PORT_BASE + PORT_BASE}",
            "MFLSYNC_CA_FILE": os.path.join(self.data, "grpc/ca.pem"),
            "MFLSYNC_TOKEN_FILE": os.path.join(self.data, "grpc/operator.token"),
        })
        self.mfl_port = 8081 + PORT_BASE

    def stack(self, command):
        with open(os.path.join(self.data, f"stack-{command}.log"), "w") as log:
            r = subprocess.run([os.path.join(ROOT, "scripts/stack.sh"), command], env=self.env,
                               stdout=log, stderr=subprocess.STDOUT)
        if r.returncode != 0 and command == "start":
            raise SystemExit(f"stack start failed: see {log.name}")

    def pids(self):
        out = {}
        for name in SERVICES:
            try:
                with open(os.path.join(self.data, "run", f"{name}.pid")) as f:
                    out[name] = int(f.read().strip())
            except (OSError, ValueError):
                pass
        return out

    def openimis_pids(self):
        """gunicorn (master and workers) and PostgreSQL (postmaster and backends)."""
        real = os.path.join(self.data, "openimis-real")
        roots = []
        try:
            with open(os.path.join(real, "gunicorn.pid")) as f:
                roots.append(int(f.read().split()[0]))
            with open(os.path.join(real, "pg.path")) as f:
                with open(os.path.join(f.read().strip(), "postmaster.pid")) as g:
                    roots.append(int(g.readline().strip()))
        except (OSError, ValueError, IndexError):
            pass
        return [p for root in roots for p in [root] + children(root)]

    def cpu(self):
        out = {name: cpu_seconds(pid) for name, pid in self.pids().items()}
        out["openimis"] = sum(cpu_seconds(p) for p in self.openimis_pids())
        return out

    def cli(self, *cmd):
        return subprocess.run([os.path.join(self.args.build_dir, "cli/mflsync"), *cmd],
                              capture_output=True, text=True, env=self.env)

    def stages(self, run_id):
        grpcurl = os.path.join(ROOT, ".deps/bin/grpcurl")
        with open(self.env["MFLSYNC_TOKEN_FILE"]) as f:
            token = f.read().strip()
        out = subprocess.run(
            [grpcurl, "-cacert", self.env["MFLSYNC_CA_FILE"],
             "-H", f"authorization: Bearer {token}", "-d", json.dumps({"run_id": run_id}),
             self.env["MFLSYNC_SCHEDULER_ADDRESS"],
             "mflsync.v1.SchedulerService/GetRun"], capture_output=True, text=True, check=True)
        run = json.loads(out.stdout)["run"]
        return {s["stage"]: int(s.get("millis", 0)) for s in run.get("stages", [])}


def sync(stack, label):
    cpu0, load0, t0 = stack.cpu(), loadavg(), time.monotonic()
    r = stack.cli("sync", "--source", "demo")
    wall = time.monotonic() - t0
    cpu1 = stack.cpu()
    m = SUMMARY.search(r.stdout)
    run_id = re.search(r"run (\S+)", r.stdout)
    if r.returncode != 0 or not m or not run_id:
        raise SystemExit(f"{label}: mflsync sync failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    created, updated, unchanged, rejected, failed = map(int, m.groups())
    res = {"label": label, "run_id": run_id.group(1), "wall_s": round(wall, 2),
           "counts": {"created": created, "updated": updated, "unchanged": unchanged,
                      "rejected": rejected, "failed": failed},
           "stages_ms": stack.stages(run_id.group(1)),
           "cpu_s": {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0},
           "load_before": load0, "load_after": loadavg()}
    print(f"{label}: {wall:.1f} s; created {created}, updated {updated}, unchanged {unchanged}, "
          f"rejected {rejected}, failed {failed}; stages {res['stages_ms']}; CPU s {res['cpu_s']}",
          flush=True)
    return res


def touch(stack, n):
    """Renames n facilities the MFL serves and openIMIS holds (fac-<digits>)."""
    ids = []
    with open(stack.env["MFLSYNC_MFL_DATA"]) as f:
        for line in f:
            rid = json.loads(line).get("id", "")
            if rid.startswith("fac-") and rid[4:].isdigit():
                ids.append(rid)
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.mfl_port}/$testbed/touch",
        json.dumps({"ids": sorted(ids)[:n], "name_suffix": " (renamed)"}).encode(),
        {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return len(json.load(r)["touched"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data-dir", default="/tmp/mflsync-real-bench")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--changes", type=int, default=25)
    ap.add_argument("--connections", type=int, default=16,
                    help="the writer's openimis.connections (config/loopback/writer.json)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    csv = os.path.join(args.shared, "data/kenya-mfl/mfl_2014-05-12.csv")
    if not os.path.isfile(csv) or not os.path.isdir(os.path.join(args.shared, "peers")):
        raise SystemExit(f"needs {args.shared}/peers (the real openIMIS) and {csv}")
    shutil.rmtree(args.data_dir, ignore_errors=True)
    os.makedirs(args.data_dir)
    stack = RealStack(args)
    subprocess.run([sys.executable, os.path.join(ROOT, "testbed/data_tools/kenya_mfl_to_fhir.py"),
                    "--csv", csv, "--out", stack.env["MFLSYNC_MFL_DATA"]],
                   check=True, stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    stack.stack("start")
    print(f"stack with the real openIMIS up in {time.monotonic() - t0:.0f} s", flush=True)
    results = {"load_at_start": loadavg()}
    try:
        results["full"] = sync(stack, "full sync (Kenya, fresh openIMIS)")
        results["idle"] = sync(stack, "incremental, no change")
        results["touched"] = touch(stack, args.changes)
        results["incremental"] = sync(stack, f"incremental, {results['touched']} changes")
        results["rss_mb"] = {k: round(vm_hwm_mb(p), 1) for k, p in stack.pids().items()}
        results["raw"] = raw_loop(args.build_dir,
                                  os.path.join(stack.data, "openimis-real/openimis.env"),
                                  args.changes, args.connections, "R1D1")
    finally:
        stack.stack("stop")
    results.update(write_stage_vs_raw(results["incremental"], results["raw"]))
    print(json.dumps({k: v for k, v in results.items() if k not in ("full", "idle")}, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
