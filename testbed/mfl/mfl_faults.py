"""Fault injection for the MFL stand-in.

A fault is a JSON object:
  kind     one of KINDS (see README.md)
  times    how many matching requests it fires on (default 1; -1 = until cleared)
  skip     let this many matching requests through first (default 0)
  page     only a search/history request for this page (1-based:
           _getpagesoffset // _count + 1) matches
  method   optional, e.g. "GET" (case-insensitive)
  path     optional prefix of the request path, relative to the FHIR base
           ("Location/_history") or absolute ("/fhir/Location")
  + parameters of the kind (status, retry_after, diagnostics, seconds, bytes,
    ids, as, index, id, version, depth, ...).
Hostile pages (for the fetcher's input checks): future_last_updated (one
entry dated `seconds` ahead of the server clock), old_version (an older
version of Location `id` re-delivered as an extra match), invalid_utf8 (one
byte 0xFF inside entry `index`'s name; the page is no longer UTF-8),
deep_nesting (entry `index` carries arrays nested `depth` deep),
long_string (entry `index`'s name is `bytes` long).
Faults are matched in the order they were posted; a request fires at most
one fault (the first that matches). Bundle faults (BUNDLE_KINDS) only match
searches and history requests. Faults never match /$testbed/ requests.
"""
import threading

STATUS_CODES = {400, 401, 403, 404, 408, 410, 429, 500, 502, 503, 504}
BUNDLE_KINDS = {"not_bundle", "entry_without_resource", "location_without_id",
                "bad_last_updated", "foreign_next", "encoded_next", "update_between_pages",
                "missing_include", "outcome_entry", "future_last_updated", "old_version",
                "invalid_utf8", "deep_nesting", "long_string"}
KINDS = {"status", "delay", "reset", "not_json", "oversized"} | BUNDLE_KINDS


class FaultError(ValueError):
    pass


def validate(fault, base_path):
    if not isinstance(fault, dict):
        raise FaultError("a fault must be a JSON object")
    kind = fault.get("kind")
    if kind not in KINDS:
        raise FaultError("unknown fault kind %r, expected one of %s" % (kind, sorted(KINDS)))
    f = dict(fault)
    try:
        f["times"] = int(f.get("times", 1))
        f["skip"] = int(f.get("skip", 0))
        if f.get("page") is not None:
            f["page"] = int(f["page"])
            if f["page"] < 1:
                raise FaultError("page is 1-based")
        if kind == "status":
            f["status"] = int(f.get("status", 503))
            if f["status"] not in STATUS_CODES:
                raise FaultError("status must be one of %s" % sorted(STATUS_CODES))
            if f.get("retry_after") is not None:
                f["retry_after"] = str(f["retry_after"])
        elif kind == "delay":
            f["seconds"] = float(f.get("seconds", 5))
        elif kind == "oversized":
            f["bytes"] = int(f.get("bytes", 10 * 1024 * 1024))
        elif kind == "update_between_pages":
            ids = f.get("ids")
            if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
                raise FaultError("ids must be a list of Location ids")
            f["count"] = int(f.get("count", 2))
        elif kind == "future_last_updated":
            f["seconds"] = float(f.get("seconds", 86400))
        elif kind == "old_version":
            if not isinstance(f.get("id"), str):
                raise FaultError("old_version needs the Location \"id\" to re-deliver")
            if f.get("version") is not None:
                f["version"] = str(f["version"])
        elif kind == "deep_nesting":
            f["depth"] = int(f.get("depth", 100))
        elif kind == "long_string":
            f["bytes"] = int(f.get("bytes", 1024 * 1024 + 1))
        elif kind == "not_bundle":
            f["as"] = f.get("as", "OperationOutcome")
            if f["as"] not in ("OperationOutcome", "Patient"):
                raise FaultError("as must be OperationOutcome or Patient")
    except (TypeError, ValueError) as e:
        if isinstance(e, FaultError):
            raise
        raise FaultError("bad fault parameter: %s" % e)
    if f.get("method"):
        f["method"] = str(f["method"]).upper()
    if f.get("path"):
        p = str(f["path"])
        f["path"] = p if p.startswith("/") else base_path.rstrip("/") + "/" + p
    return f


class Faults:
    def __init__(self, base_path):
        self.base_path = base_path
        self.lock = threading.Lock()
        self.pending = []
        self.fired = []      # (kind, method, path, page) of fired faults, for debugging

    def add(self, faults):
        if isinstance(faults, dict):
            faults = [faults]
        if not isinstance(faults, list):
            raise FaultError("expected a JSON list of faults (or one fault object)")
        checked = [validate(f, self.base_path) for f in faults]
        with self.lock:
            self.pending.extend(checked)
        return checked

    def list(self):
        with self.lock:
            return [dict(f) for f in self.pending]

    def clear(self):
        with self.lock:
            n = len(self.pending)
            self.pending = []
            return n

    def take(self, method, path, page, is_bundle):
        """The fault to apply to this request, or None."""
        with self.lock:
            for f in self.pending:
                if f.get("method") and f["method"] != method:
                    continue
                if f.get("path") and not path.startswith(f["path"]):
                    continue
                if f["kind"] in BUNDLE_KINDS and not is_bundle:
                    continue
                if f.get("page") is not None and f["page"] != page:
                    continue
                if f["skip"] > 0:
                    f["skip"] -= 1
                    return None
                if f["times"] > 0:
                    f["times"] -= 1
                    if f["times"] == 0:
                        self.pending.remove(f)
                self.fired.append((f["kind"], method, path, page))
                return dict(f)
            return None
