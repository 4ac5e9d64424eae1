"""In-memory versioned FHIR resource store for the MFL stand-in (stdlib only).

Every resource version is kept as compact JSON text plus a few parsed fields
(id, versionId, lastUpdated in ms, references), which keeps 300k resources in
a few hundred MB. Per resource type there is

  * a search index: sorted list of (lastUpdated_ms, id) of the live resources,
    so a _lastUpdated range and one page are found with bisect;
  * a history list: every version (creates, updates, deletes) sorted by
    (lastUpdated_ms, sequence number).

All methods are thread-safe (one lock).
"""
import bisect
import datetime
import json
import random
import re
import threading
import time

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

# references followed by _include, per search parameter name
INCLUDE_PARAMS = {
    "organization": "organization", "managingorganization": "organization",
    "endpoint": "endpoint", "partof": "partof",
}


class StoreError(Exception):
    def __init__(self, status, message, code="processing"):
        super().__init__(message)
        self.status = status
        self.code = code


def instant_from_ms(ms):
    dt = _EPOCH + datetime.timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def ms_from_instant(s):
    """A resource's meta.lastUpdated (full instant) -> ms since the epoch."""
    dt = datetime.datetime.fromisoformat(s.replace("z", "Z"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return (dt - _EPOCH) // datetime.timedelta(milliseconds=1)


_SEARCH_DT = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def parse_search_instant(value):
    """A FHIR date/dateTime/instant search value -> [lo_ms, hi_ms) it covers.

    The range follows the value's precision (2014 covers the whole year,
    2014-03-01T10:00:00Z one second, ...). A time without a zone is UTC.
    """
    v = value.strip().replace(" ", "+")      # an unencoded '+' arrives as ' '
    m = _SEARCH_DT.match(v)
    if not m:
        raise StoreError(400, "invalid date/time value %r" % value, "invalid")
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        if mo is None:
            lo = datetime.datetime(int(y), 1, 1, tzinfo=datetime.timezone.utc)
            hi = lo.replace(year=lo.year + 1)
        elif d is None:
            lo = datetime.datetime(int(y), int(mo), 1, tzinfo=datetime.timezone.utc)
            hi = (lo.replace(year=lo.year + 1, month=1) if lo.month == 12
                  else lo.replace(month=lo.month + 1))
        elif hh is None:
            lo = datetime.datetime(int(y), int(mo), int(d), tzinfo=datetime.timezone.utc)
            hi = lo + datetime.timedelta(days=1)
        else:
            zone = datetime.timezone.utc
            if tz and tz != "Z":
                sign = 1 if tz[0] == "+" else -1
                zone = datetime.timezone(sign * datetime.timedelta(hours=int(tz[1:3]),
                                                                   minutes=int(tz[4:6])))
            lo = datetime.datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0),
                                   tzinfo=zone)
            if ss is None:
                hi = lo + datetime.timedelta(minutes=1)
            elif frac is None:
                hi = lo + datetime.timedelta(seconds=1)
            else:
                digits = frac[:3]
                lo = lo + datetime.timedelta(milliseconds=int(digits.ljust(3, "0")))
                hi = lo + datetime.timedelta(milliseconds=10 ** (3 - len(digits)))
    except ValueError as e:
        raise StoreError(400, "invalid date/time value %r: %s" % (value, e), "invalid")
    one = datetime.timedelta(milliseconds=1)
    return (lo - _EPOCH) // one, (hi - _EPOCH) // one


def last_updated_bounds(values):
    """_lastUpdated parameter values (with prefixes) -> one [lo, hi) range."""
    lo, hi = None, None
    for raw in values:
        prefix, val = "eq", raw
        if len(raw) > 2 and raw[:2] in ("eq", "ne", "gt", "ge", "lt", "le", "sa", "eb", "ap"):
            prefix, val = raw[:2], raw[2:]
        a, b = parse_search_instant(val)
        if prefix in ("gt", "sa"):
            rng = (b, None)
        elif prefix == "ge":
            rng = (a, None)
        elif prefix in ("lt", "eb"):
            rng = (None, a)
        elif prefix == "le":
            rng = (None, b)
        elif prefix == "eq":
            rng = (a, b)
        else:
            raise StoreError(400, "_lastUpdated prefix %r is not supported" % prefix,
                             "not-supported")
        if rng[0] is not None:
            lo = rng[0] if lo is None else max(lo, rng[0])
        if rng[1] is not None:
            hi = rng[1] if hi is None else min(hi, rng[1])
    return lo, hi


class Version:
    """One immutable version of a resource (or a delete marker)."""
    __slots__ = ("rtype", "id", "vid", "ms", "json", "deleted", "seq", "refs", "ident",
                 "facility", "method")

    def __init__(self, rtype, rid, vid, ms, text, deleted, seq, refs=(), ident=(),
                 facility=False, method="PUT"):
        self.rtype, self.id, self.vid, self.ms, self.json = rtype, rid, vid, ms, text
        self.deleted, self.seq, self.refs, self.ident = deleted, seq, refs, ident
        self.facility, self.method = facility, method

    @property
    def last_updated(self):
        return instant_from_ms(self.ms)

    def resource(self):
        return json.loads(self.json)


def _refs_and_ident(res):
    refs = []
    if res.get("resourceType") == "Location":
        mo = (res.get("managingOrganization") or {}).get("reference")
        if mo:
            refs.append(("organization", mo))
        for ep in res.get("endpoint") or []:
            if ep.get("reference"):
                refs.append(("endpoint", ep["reference"]))
        po = (res.get("partOf") or {}).get("reference")
        if po:
            refs.append(("partof", po))
    ident = tuple("%s|%s" % (i.get("system", ""), i.get("value", ""))
                  for i in res.get("identifier") or [] if isinstance(i, dict))
    facility = any(c.get("code") == "si"
                   for c in (res.get("physicalType") or {}).get("coding") or [])
    return tuple(refs), ident, facility


class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.current = {}        # (rtype, id) -> latest Version (maybe a delete marker)
        self.versions = {}       # (rtype, id) -> [Version, ...] oldest first
        self.index = {}          # rtype -> sorted [(ms, id)] of live resources
        self.history = {}        # rtype -> [Version] sorted by (ms, seq)
        self.hkeys = {}          # rtype -> [(ms, seq)] parallel to history
        self.seq = 0
        self.clock_ms = 0
        self._loading = True

    # ---------------------------------------------------------------- loading
    def load(self, resource, text=None):
        """Add a resource version from a data file / generator (bulk load).

        A resource without meta.versionId/lastUpdated gets "1"/now. A second
        resource with the same type and id becomes its next version.
        Call finish_load() afterwards.
        """
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if not rtype or not rid:
            raise StoreError(400, "resource without resourceType or id")
        meta = resource.get("meta") or {}
        key = (rtype, rid)
        prev = self.current.get(key)
        if "versionId" not in meta or "lastUpdated" not in meta:
            meta = dict(meta)
            meta.setdefault("versionId", str(prev.vid + 1 if prev else 1))
            meta.setdefault("lastUpdated", instant_from_ms(self._now()))
            resource = dict(resource, meta=meta)
            text = None
        if text is None:
            text = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        try:
            vid = int(meta["versionId"])
        except ValueError:
            vid = (prev.vid + 1) if prev else 1
        refs, ident, facility = _refs_and_ident(resource)
        self.seq += 1
        v = Version(rtype, rid, vid, ms_from_instant(meta["lastUpdated"]), text, False,
                    self.seq, refs, ident, facility, "PUT" if prev else "POST")
        self.current[key] = v
        self.versions.setdefault(key, []).append(v)
        self.history.setdefault(rtype, []).append(v)

    def finish_load(self):
        with self.lock:
            self.index = {}
            for (rtype, rid), v in self.current.items():
                if not v.deleted:
                    self.index.setdefault(rtype, []).append((v.ms, rid))
            for lst in self.index.values():
                lst.sort()
            for rtype, lst in self.history.items():
                lst.sort(key=lambda v: (v.ms, v.seq))
                self.hkeys[rtype] = [(v.ms, v.seq) for v in lst]
            self.clock_ms = max(self.clock_ms,
                                max((v.ms for v in self.current.values()), default=0))
            self._loading = False

    # ------------------------------------------------------------------ reads
    def _now(self):
        self.clock_ms = max(self.clock_ms, int(time.time() * 1000))
        return self.clock_ms

    def get(self, rtype, rid):
        with self.lock:
            return self.current.get((rtype, rid))

    def vread(self, rtype, rid, vid):
        with self.lock:
            for v in self.versions.get((rtype, rid), []):
                if v.vid == vid:
                    return v
        return None

    def counts(self):
        with self.lock:
            out = {}
            for rtype, idx in self.index.items():
                out[rtype] = len(idx)
            out["facilities"] = sum(1 for v in self.current.values()
                                    if v.facility and not v.deleted)
            out["versions"] = sum(len(h) for h in self.history.values())
            out["deleted"] = sum(1 for v in self.current.values() if v.deleted)
            return out

    def search(self, rtype, lo=None, hi=None, ids=None, identifiers=None, descending=False,
               offset=0, count=20):
        """Live resources of rtype with lo <= lastUpdated < hi, sorted by
        (lastUpdated, id) (or reversed). Returns (total, [Version] of the page)."""
        with self.lock:
            idx = self.index.get(rtype, [])
            i = 0 if lo is None else bisect.bisect_left(idx, (lo,))
            j = len(idx) if hi is None else bisect.bisect_left(idx, (hi,))
            j = max(i, j)
            if ids is None and identifiers is None:
                total = j - i
                if descending:
                    end = j - offset
                    start = max(i, end - count)
                    keys = idx[start:end][::-1] if end > i else []
                else:
                    keys = idx[i + offset:min(j, i + offset + count)]
            else:
                sel = []
                for k in idx[i:j]:
                    if ids is not None and k[1] not in ids:
                        continue
                    if identifiers is not None:
                        v = self.current[(rtype, k[1])]
                        if not any(self._ident_match(x, identifiers) for x in v.ident):
                            continue
                    sel.append(k)
                if descending:
                    sel.reverse()
                total = len(sel)
                keys = sel[offset:offset + count]
            return total, [self.current[(rtype, rid)] for _, rid in keys]

    @staticmethod
    def _ident_match(stored, wanted):
        system, _, value = stored.partition("|")
        for w in wanted:
            if "|" in w:
                ws, _, wv = w.partition("|")
                if (not ws or ws == system) and (not wv or wv == value):
                    return True
            elif w == value:
                return True
        return False

    def includes(self, page, params):
        """Resources referenced from the page's matches via the given _include
        params (organization / endpoint / partof), each once, never one that
        is already a match on the page."""
        with self.lock:
            seen = {(v.rtype, v.id) for v in page}
            out = []
            for v in page:
                for param, ref in v.refs:
                    if param not in params:
                        continue
                    t, _, rid = ref.partition("/")
                    key = (t, rid)
                    if key in seen:
                        continue
                    seen.add(key)
                    inc = self.current.get(key)
                    if inc is not None and not inc.deleted:
                        out.append(inc)
            return out

    def history_page(self, rtype, since=None, rid=None, newest_first=False, offset=0, count=20):
        """Versions of rtype (or of one resource) with lastUpdated >= since.
        Returns (total, [Version])."""
        with self.lock:
            if rid is not None:
                lst = [v for v in self.versions.get((rtype, rid), [])
                       if since is None or v.ms >= since]
                lst.sort(key=lambda v: (v.ms, v.seq))
            else:
                hist = self.history.get(rtype, [])
                i = 0 if since is None else bisect.bisect_left(self.hkeys.get(rtype, []), (since,))
                total = len(hist) - i
                if newest_first:
                    end = len(hist) - offset
                    start = max(i, end - count)
                    page = hist[start:end][::-1] if end > i else []
                else:
                    page = hist[i + offset:i + offset + count]
                return total, page
            if newest_first:
                lst.reverse()
            return len(lst), lst[offset:offset + count]

    # ----------------------------------------------------------------- writes
    def _append(self, v, prev):
        key = (v.rtype, v.id)
        idx = self.index.setdefault(v.rtype, [])
        if prev is not None and not prev.deleted:
            k = (prev.ms, prev.id)
            i = bisect.bisect_left(idx, k)
            if i < len(idx) and idx[i] == k:
                del idx[i]
        if not v.deleted:
            bisect.insort(idx, (v.ms, v.id))
        self.current[key] = v
        self.versions.setdefault(key, []).append(v)
        hist = self.history.setdefault(v.rtype, [])
        hk = self.hkeys.setdefault(v.rtype, [])
        i = bisect.bisect_right(hk, (v.ms, v.seq))
        hist.insert(i, v)
        hk.insert(i, (v.ms, v.seq))

    def put(self, rtype, rid, resource):
        """Create or update; returns (Version, created)."""
        if resource.get("resourceType") != rtype:
            raise StoreError(400, "resourceType %r does not match the URL (%s)"
                             % (resource.get("resourceType"), rtype), "invalid")
        if resource.get("id") not in (None, rid):
            raise StoreError(400, "resource id %r does not match the URL id %r"
                             % (resource.get("id"), rid), "invalid")
        with self.lock:
            prev = self.current.get((rtype, rid))
            ms = self._now()
            vid = prev.vid + 1 if prev else 1
            res = dict(resource)
            res["resourceType"] = rtype
            res["id"] = rid
            meta = dict(res.get("meta") or {})
            meta["versionId"] = str(vid)
            meta["lastUpdated"] = instant_from_ms(ms)
            # keep the key order stable: resourceType, id, meta first
            res = {"resourceType": rtype, "id": rid, "meta": meta,
                   **{k: v for k, v in res.items() if k not in ("resourceType", "id", "meta")}}
            refs, ident, facility = _refs_and_ident(res)
            self.seq += 1
            created = prev is None or prev.deleted
            v = Version(rtype, rid, vid, ms,
                        json.dumps(res, ensure_ascii=False, separators=(",", ":")),
                        False, self.seq, refs, ident, facility, "POST" if prev is None else "PUT")
            self._append(v, prev)
            return v, created

    def delete(self, rtype, rid):
        """Delete; returns the delete marker, or None when the id never existed."""
        with self.lock:
            prev = self.current.get((rtype, rid))
            if prev is None:
                return None
            if prev.deleted:
                return prev
            self.seq += 1
            v = Version(rtype, rid, prev.vid + 1, self._now(), None, True, self.seq,
                        facility=prev.facility, method="DELETE")
            self._append(v, prev)
            return v

    def touch(self, ids=None, count=None, pick="oldest", seed=None, name_suffix=None,
              rtype="Location"):
        """Bump versionId/lastUpdated of the given ids, or of `count` live
        facility Locations (pick 'oldest' = smallest lastUpdated first, or
        'random' with seed). Optionally append name_suffix to the name."""
        with self.lock:
            if ids is None:
                live = [rid for _, rid in self.index.get(rtype, [])
                        if self.current[(rtype, rid)].facility or rtype != "Location"]
                n = min(int(count or 0), len(live))
                if pick == "random":
                    ids = random.Random(seed).sample(live, n)
                elif pick == "newest":
                    ids = live[len(live) - n:]
                else:
                    ids = live[:n]
            out = []
            for rid in ids:
                cur = self.current.get((rtype, rid))
                if cur is None or cur.deleted:
                    raise StoreError(404, "%s/%s not found (or deleted)" % (rtype, rid),
                                     "not-found")
                res = cur.resource()
                if name_suffix:
                    res["name"] = (res.get("name") or "") + name_suffix
                v, _ = self.put(rtype, rid, res)
                out.append(v)
            return out
