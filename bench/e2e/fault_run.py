#!/usr/bin/env python3
"""A sync of N synthetic facilities under openIMIS faults, then a check that
nothing was lost, duplicated or left stale (issue 11). Not a test: it prints
figures (and writes them as JSON).

The stack is e2e_bench.py's (the four services on loopback, the MFL and
openIMIS stand-ins, mutual TLS). openIMIS then answers 503 to a share of the
facility creates and updates and loses the answer, after committing, of
another share (seeded, so a run is reproducible). In order:
  1. a full sync; the scheduler retries its transient failures by itself
     (retry.initial_backoff 1s) until none is left;
  2. --changes facilities renamed and --closures closed on the MFL, and an
     incremental sync under the same faults, retried to the end too;
  3. the check: every MFL facility is in openIMIS exactly once with its
     current name and status, or has one open (not transient) failure entry;
     openIMIS holds nothing else; succeeded creates = facilities held.

Usage (from the repo root, after a build):
  python3 bench/e2e/fault_run.py [--n 20000] [--error-rate 0.3] [--lost-rate 0.1]
      [--changes 500] [--closures 100] [--json OUT.json]
Python 3 standard library only.
"""
import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_bench  # the stack and its helpers

ROOT = e2e_bench.ROOT


def faults(args):
    writes = ["createHealthFacility", "updateHealthFacility"]
    return [{"kind": "status", "status": 503, "method": "POST", "path": "/api/graphql",
             "contains": writes, "probability": args.error_rate, "seed": 11, "times": -1},
            {"kind": "drop_after_commit", "method": "POST", "path": "/api/graphql",
             "contains": writes, "probability": args.lost_rate, "seed": 12, "times": -1}]


def settle(stack, limit_s):
    """Waits until no transient entry is open; seconds waited, entries left."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        left = sum(1 for t in stack.open_failures().values() if t)
        if left == 0:
            return round(time.monotonic() - t0, 1), 0
        time.sleep(2)
    return round(time.monotonic() - t0, 1), sum(1 for t in stack.open_failures().values() if t)


def mfl_facilities(stack):
    out, offset = {}, 0
    while True:
        page = e2e_bench.http_json(stack.port["mfl"], "GET",
                                   f"/fhir/Location?_count=1000&_getpagesoffset={offset}",
                                   timeout=300)
        entries = page.get("entry", [])
        for e in entries:
            r = e.get("resource", {})
            if r.get("resourceType") == "Location" and r.get("id", "").startswith("fac-"):
                out[r["id"]] = r
        if not entries:
            return out
        offset += 1000


def check(stack):
    mfl = mfl_facilities(stack)
    held = e2e_bench.http_json(stack.port["openimis"], "GET", "/$testbed/facilities",
                               timeout=300)["facilities"]
    entries = stack.open_failures()
    codes = [f["code"] for f in held]
    by_code = {f["code"]: f for f in held}
    lost, stale, both = [], [], []
    for loc_id, loc in mfl.items():
        code = loc_id[len("fac-"):]
        in_oi, parked = code in by_code, loc_id in entries
        if in_oi and parked:
            both.append(loc_id)
        elif not in_oi and not parked:
            lost.append(loc_id)
        elif in_oi:
            want_status = "active" if loc.get("status", "active") == "active" else "inactive"
            f = by_code[code]
            if f.get("name") != loc.get("name") or f.get("status") != want_status:
                stale.append(loc_id)
    unexpected = [c for c in by_code if f"fac-{c}" not in mfl]
    stats = e2e_bench.http_json(stack.port["openimis"], "GET", "/$testbed/stats")
    creates = stats.get("graphql_mutations", {}).get("createHealthFacility", {})
    return {"mfl_facilities": len(mfl), "openimis_facilities": len(held),
            "duplicated_codes": len(codes) - len(set(codes)),
            "lost": len(lost), "stale": len(stale), "held_and_parked": len(both),
            "unexpected_in_openimis": len(unexpected),
            "open_entries": len(entries),
            "open_transient": sum(1 for t in entries.values() if t),
            "creates_succeeded": creates.get("succeeded", 0),
            "faults_fired": e2e_bench.http_json(stack.port["openimis"], "GET",
                                                "/$testbed/faults").get("fired", {}),
            "examples": {"lost": lost[:5], "stale": stale[:5], "both": both[:5]}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--error-rate", type=float, default=0.3)
    ap.add_argument("--lost-rate", type=float, default=0.1)
    ap.add_argument("--changes", type=int, default=500)
    ap.add_argument("--closures", type=int, default=100)
    ap.add_argument("--settle-limit", type=float, default=900)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data-dir", default="/tmp/mflsync-faultrun")
    ap.add_argument("--http-port", type=int, default=18081,
                    help="the MFL stand-in's port; openIMIS's is the next one")
    ap.add_argument("--grpc-port", type=int, default=21050,
                    help="the scheduler's port; fetcher, mapper, writer follow")
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    data, ndjson = e2e_bench.fresh_data(args, args.n)
    os.environ.update({"MFLSYNC_RETRY__INITIAL_BACKOFF": "1s", "MFLSYNC_RETRY__MAX_BACKOFF": "4s",
                       "MFLSYNC_RETRY__CHECK_INTERVAL": "1s"})
    stack = e2e_bench.Stack(args, args.n, data)
    result = {"n": args.n, "error_rate": args.error_rate, "lost_rate": args.lost_rate}
    try:
        stack.start(ndjson)
        e2e_bench.http_json(stack.port["openimis"], "POST", "/$testbed/faults", faults(args))
        result["full"] = e2e_bench.sync(stack, "full-under-faults")
        result["full_settle_s"], result["full_left"] = settle(stack, args.settle_limit)
        ids = [i for i in e2e_bench.facility_ids(ndjson) if i not in stack.open_failures()]
        rng = random.Random(11)
        changed = rng.sample(ids, min(args.changes + args.closures, len(ids)))
        stack.mfl_post("/$testbed/touch", {"ids": changed[:args.changes],
                                            "name_suffix": " (fault run)"})
        for loc_id in changed[args.changes:]:
            loc = e2e_bench.http_json(stack.port["mfl"], "GET", f"/fhir/Location/{loc_id}")
            loc["status"] = "inactive"
            loc.pop("meta", None)
            e2e_bench.http_json(stack.port["mfl"], "PUT", f"/fhir/Location/{loc_id}", loc)
        result["incremental"] = e2e_bench.sync(stack, "incremental-under-faults")
        result["incremental_settle_s"], result["incremental_left"] = settle(
            stack, args.settle_limit)
        result["check"] = check(stack)
        result["rss_peak_mb"] = {k: round(v, 1) for k, v in stack.hwm().items()}
    finally:
        stack.stop()
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    c = result["check"]
    bad = c["lost"] + c["stale"] + c["duplicated_codes"] + c["held_and_parked"] + \
        c["unexpected_in_openimis"] + c["open_transient"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
