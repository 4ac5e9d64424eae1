"""Fault injection for the openIMIS stand-in.

A fault is a dict:
  kind    latency | status | timeout | drop_after_commit | expire_tokens | down
  method  optional, e.g. "PUT" (case-insensitive)
  path    optional prefix; relative ("Organization/") to /api/api_fhir_r4/ or
          absolute ("/api/api_fhir_r4/login/")
  contains  optional: a substring (or a list: any of them) of the request
          body, e.g. "createHealthFacility" or "query mflsyncFacilities":
          every GraphQL call is POST /api/graphql, so this tells its
          operations apart
  probability  optional, 0..1: a matching request fires with this chance
          (default 1), drawn from the fault's own RNG seeded with `seed`
          (default 0), so a run with the same requests fires on the same ones
  times   how many matching requests it fires on (default 1; -1 = until cleared)
  skip    let this many matching requests through first (default 0)
  + kind parameters: ms (latency), status/body (status), seconds (timeout, down),
    as ("502") for drop_after_commit.
  now     (expire_tokens, down) fire immediately when registered.
Faults never match /$testbed/ requests.
"""
import random
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
    _validate_selection(f)
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


def _validate_selection(f):
    """Checks contains / probability / seed in place; the RNG is kept aside."""
    contains = f.get("contains")
    if contains is not None:
        items = [contains] if isinstance(contains, str) else contains
        if not (isinstance(items, list) and items and all(isinstance(c, str) and c for c in items)):
            raise FaultError("contains must be a non-empty string or a list of them")
        f["contains"] = items
    p = float(f.get("probability", 1.0))
    if not 0.0 <= p <= 1.0:
        raise FaultError("probability must be between 0 and 1")
    f["probability"] = p
    f["seed"] = int(f.get("seed", 0))
    f["_rng"] = random.Random(f["seed"])


def _matches(f, method, path, body):
    if f.get("method") and f["method"] != method:
        return False
    if f.get("path") and not path.startswith(f["path"]):
        return False
    if f.get("contains"):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        return any(c in text for c in f["contains"])
    return True


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
            return {"pending": [{k: v for k, v in f.items() if not k.startswith("_")}
                                for f in self.pending],
                    "down_for_seconds": max(0.0, round(self.down_until - time.monotonic(), 3)),
                    "fired": dict(self.fired)}

    def note_fired(self, f):
        self.fired[f["kind"]] = self.fired.get(f["kind"], 0) + 1

    @staticmethod
    def _roll(f):
        """Whether a probabilistic fault fires on this matching request."""
        return f["_rng"].random() < f["probability"]

    def set_down(self, seconds):
        with self.lock:
            self.down_until = max(self.down_until, time.monotonic() + seconds)

    def down_remaining(self):
        if not self.down_until:
            return 0.0
        return max(0.0, self.down_until - time.monotonic())

    def match(self, method, path, body=b""):
        """Return the faults that fire for this request (consuming their times)."""
        if not self.pending:
            return []
        out = []
        with self.lock:
            keep = []
            for f in self.pending:
                hit = _matches(f, method, path, body)
                if hit and f["skip"] > 0:
                    f["skip"] -= 1
                    keep.append(f)
                    continue
                if hit and f["probability"] < 1.0 and not self._roll(f):
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
