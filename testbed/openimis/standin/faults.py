"""Fault injection for the openIMIS stand-in.

A fault is a dict:
  kind    latency | status | timeout | drop_after_commit | expire_tokens | down
  method  optional, e.g. "PUT" (case-insensitive)
  path    optional prefix; relative ("Organization/") to /api/api_fhir_r4/ or
          absolute ("/api/api_fhir_r4/login/")
  times   how many matching requests it fires on (default 1; -1 = until cleared)
  skip    let this many matching requests through first (default 0)
  + kind parameters: ms (latency), status/body (status), seconds (timeout, down),
    as ("502") for drop_after_commit.
  now     (expire_tokens, down) fire immediately when registered.
Faults never match /$testbed/ requests.
"""
import threading
import time

API_PREFIX = "/api/api_fhir_r4/"
KINDS = {"latency", "status", "timeout", "drop_after_commit", "expire_tokens", "down"}


class FaultError(ValueError):
    pass


def validate(fault):
    if not isinstance(fault, dict):
        raise FaultError("a fault must be a JSON object")
    kind = fault.get("kind")
    if kind not in KINDS:
        raise FaultError("unknown fault kind %r, expected one of %s" % (kind, sorted(KINDS)))
    f = dict(fault)
    f["times"] = int(f.get("times", 1))
    f["skip"] = int(f.get("skip", 0))
    if f.get("method"):
        f["method"] = str(f["method"]).upper()
    if f.get("path"):
        p = str(f["path"])
        f["path"] = p if p.startswith("/") else API_PREFIX + p
    if kind == "latency":
        f["ms"] = float(f.get("ms", 100))
    elif kind == "status":
        f["status"] = int(f.get("status", 503))
        if not 400 <= f["status"] <= 599:
            raise FaultError("status fault needs a 4xx/5xx status")
    elif kind == "timeout":
        f["seconds"] = float(f.get("seconds", 30))
    elif kind == "down":
        f["seconds"] = float(f.get("seconds", 5))
    elif kind == "drop_after_commit":
        if f.get("as") not in (None, "close", "502", 502):
            raise FaultError('drop_after_commit "as" must be "close" or "502"')
    f["fired"] = 0
    return f


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.pending = []
        self.down_until = 0.0
        self.fired = {}          # kind -> count

    def add(self, faults, on_now):
        """Register; faults with now=true fire immediately via on_now(fault)."""
        checked = [validate(f) for f in faults]
        immediate = []
        with self.lock:
            for f in checked:
                if f.get("now") and f["kind"] in ("expire_tokens", "down"):
                    immediate.append(f)
                else:
                    self.pending.append(f)
        for f in immediate:
            self.note_fired(f)
            on_now(f)
        return checked

    def clear(self):
        with self.lock:
            self.pending = []
            self.down_until = 0.0

    def snapshot(self):
        with self.lock:
            return {"pending": [dict(f) for f in self.pending],
                    "down_for_seconds": max(0.0, round(self.down_until - time.monotonic(), 3)),
                    "fired": dict(self.fired)}

    def note_fired(self, f):
        self.fired[f["kind"]] = self.fired.get(f["kind"], 0) + 1

    def set_down(self, seconds):
        with self.lock:
            self.down_until = max(self.down_until, time.monotonic() + seconds)

    def down_remaining(self):
        if not self.down_until:
            return 0.0
        return max(0.0, self.down_until - time.monotonic())

    def match(self, method, path):
        """Return the faults that fire for this request (consuming their times)."""
        if not self.pending:
            return []
        out = []
        with self.lock:
            keep = []
            for f in self.pending:
                hit = ((not f.get("method") or f["method"] == method)
                       and (not f.get("path") or path.startswith(f["path"])))
                if hit and f["skip"] > 0:
                    f["skip"] -= 1
                    keep.append(f)
                    continue
                if hit:
                    out.append(f)
                    f["fired"] += 1
                    self.note_fired(f)
                    if f["times"] < 0 or f["fired"] < f["times"]:
                        keep.append(f)
                else:
                    keep.append(f)
            self.pending = keep
        return out
