#!/usr/bin/env python3
"""Stand-in for the national MFL registry (FHIR R4) behind openHIM.

  mfl_standin.py --port 0 --ready-file /tmp/mfl.port --data mfl.ndjson
  mfl_standin.py --port 8091 --synthetic 100000 --basic-user sync --basic-password secret

Serves Location, Organization and Endpoint with HAPI-like search (_lastUpdated,
_count, _sort, _include, offset paging with next links), _history, read,
vread, PUT, DELETE, plus admin endpoints under /$testbed/ (faults, request log,
touch). See README.md in this folder for every option and fault.
Python 3.11 stdlib only.
"""
import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections import deque
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

_HERE = os.path.dirname(os.path.abspath(__file__))
_TESTBED = os.path.dirname(_HERE)
for _p in (os.path.join(_TESTBED, "data_tools"), _TESTBED, _HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import mfl_faults  # noqa: E402
from mfl_store import (  # noqa: E402
    INCLUDE_PARAMS,
    Store,
    StoreError,
    instant_from_ms,
    last_updated_bounds,
    parse_search_instant,
)
from standin_core import auth  # noqa: E402
from standin_core.server import (  # noqa: E402
    BaseHandler,
    BodyError,
    ThreadedServer,
    admin_path,
    parse_json,
    serve_in_thread,
    serve_until_signal,
    write_ready_file,
)

FHIR_JSON = "application/fhir+json; charset=utf-8"
RESOURCE_TYPES = ("Location", "Organization", "Endpoint")
SEARCH_PARAMS = {"_lastUpdated", "_count", "_getpagesoffset", "_sort", "_include", "_id",
                 "identifier", "_format", "_pretty", "_total", "_bundletype"}
HISTORY_PARAMS = {"_since", "_count", "_getpagesoffset", "_format", "_pretty"}


def operation_outcome(diagnostics, code="processing", severity="error"):
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]}


def _dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _with_bad_last_updated(text):
    """The resource JSON with an unparseable meta.lastUpdated (fault bad_last_updated)."""
    res = json.loads(text)
    res.setdefault("meta", {})["lastUpdated"] = "yesterday"
    return _dumps(res)


# Hostile page faults that change one entry's resource (see mfl_faults.py).
HOSTILE_KINDS = {"future_last_updated", "invalid_utf8", "deep_nesting", "long_string"}
BAD_BYTE_MARK = "@@mflsync-invalid-utf8@@"


def _hostile_resource(text, fault):
    """The resource JSON of one entry as a hostile page fault serves it."""
    res = json.loads(text)
    kind = fault["kind"]
    if kind == "future_last_updated":
        ms = int((time.time() + fault["seconds"]) * 1000)
        res.setdefault("meta", {})["lastUpdated"] = instant_from_ms(ms)
    elif kind == "invalid_utf8":
        res["name"] = BAD_BYTE_MARK + res.get("name", "")
    elif kind == "deep_nesting":
        deep = []
        for _ in range(fault["depth"] - 1):
            deep = [deep]
        res["_name"] = {"extension": [{"url": "https://mflsync.example/deep",
                                       "valueString": "x"}], "deep": deep}
    elif kind == "long_string":
        res["name"] = "A" * fault["bytes"]
    return _dumps(res)



def _gives_total(params, offset, count, total):
    """Whether a searchset page carries Bundle.total, as HAPI FHIR decides: always when
    asked (_total=accurate or estimate) and for a count (_count=0), never with _total=none,
    and otherwise only once the search is complete by this page (a small result, or the
    last page): HAPI answers a large search before it has counted it."""
    asked = [v for k, v in params if k == "_total"]
    if asked and asked[-1] not in ("none", "estimate", "accurate"):
        raise Reply(400, operation_outcome(
            "_total=%s is not supported (use none, estimate or accurate)" % asked[-1],
            "invalid"))
    if asked:
        return asked[-1] != "none"
    return count == 0 or offset + count >= total

class Config:
    def __init__(self, base_path="/fhir", page_size_default=20, page_size_max=1000,
                 basic_user=None, basic_password=None, custom_token=None,
                 history_order="oldest-first", verbose=False):
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.page_size_default = page_size_default
        self.page_size_max = page_size_max
        self.basic_user = basic_user
        self.basic_password = basic_password
        self.custom_token = custom_token
        self.history_order = history_order
        self.verbose = verbose

    @property
    def auth_required(self):
        return bool(self.basic_user is not None or self.custom_token)


class StandinServer(ThreadedServer):
    def __init__(self, addr, store, config):
        self.store = store
        self.config = config
        self.faults = mfl_faults.new_faults(config.base_path)
        self.requests = deque(maxlen=100000)
        self.requests_lock = threading.Lock()
        super().__init__(addr, Handler, quiet=not config.verbose)


class Reply(Exception):
    """Raised to short-cut a request with an error response."""

    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class Handler(BaseHandler):
    server_version = "mfl-standin/1.0"
    timeout = 120           # idle keep-alive connections are closed after this
    json_ensure_ascii = False
    json_type = text_type = bytes_type = FHIR_JSON

    def _base_url(self):
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return "http://%s%s" % (host, self.server.config.base_path)

    def _auth_kind(self):
        return auth.split_scheme(self.headers.get("Authorization"))[0] or None

    def _authorized(self):
        cfg = self.server.config
        scheme, cred = auth.split_scheme(self.headers.get("Authorization"))
        if scheme == "basic" and cfg.basic_user is not None:
            user_pw = auth.decode_basic(cred, strict=True)
            return user_pw is not None and (auth.same(user_pw[0], cfg.basic_user)
                                            and auth.same(user_pw[1], cfg.basic_password or ""))
        if scheme == "custom" and cfg.custom_token:
            return auth.same(cred, cfg.custom_token)
        return False

    def _log(self, method, path, query, status, page):
        entry = {"time": instant_from_ms(int(time.time() * 1000)), "method": method, "path": path,
                 "query": query, "params": parse_qsl(query, keep_blank_values=True),
                 "auth": self._auth_kind(), "auth_present": "Authorization" in self.headers,
                 "status": status, "page": page}
        with self.server.requests_lock:
            self.server.requests.append(entry)

    # ------------------------------------------------------------- dispatch
    def _dispatch(self):
        self._pending_log = None
        method = self.command
        parts = urlsplit(self.path)
        path, query = parts.path, parts.query
        cfg = self.server.config
        base = cfg.base_path
        try:
            body = self.read_body()
        except BodyError as e:
            self.close_connection = True
            return self.send(400, operation_outcome("Bad request body: %s" % e, "invalid"))
        sub = admin_path(path, base)
        if sub is not None:
            try:
                self._admin(method, sub, body)
            except Reply as r:
                self.send(r.status, r.body, r.headers)
            return

        rel = path[len(base):].strip("/") if path.startswith(base + "/") or path == base else None
        params = parse_qsl(query, keep_blank_values=True)
        if method == "POST" and rel and rel.endswith("/_search"):
            if "form-urlencoded" in (self.headers.get("Content-Type") or ""):
                params += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        segs = rel.split("/") if rel else []
        is_bundle = method in ("GET", "POST") and (
            (len(segs) == 1 and segs[0] in RESOURCE_TYPES and method == "GET")
            or (len(segs) == 2 and segs[1] == "_search")
            or (len(segs) == 2 and segs[1] == "_history" and method == "GET")
            or (len(segs) == 3 and segs[2] == "_history" and method == "GET"))
        page = self._page_number(params) if is_bundle else None
        # Logged when the answer is written (on_answer), before the client can read it and
        # ask for the log; a request left unanswered (a fault) is logged at the end.
        self._pending_log = (method, path, query, page)

        try:
            if cfg.auth_required and not self._authorized():
                raise Reply(401, operation_outcome("Authentication required", "login"),
                            {"WWW-Authenticate": "Basic"})
            if rel is None:
                raise Reply(404, operation_outcome("Not found: %s (FHIR base is %s)"
                                                   % (path, base or "/"), "not-found"))
            if self.fault_gate(self.server.faults, method, path, body, page=page,
                               bundle=is_bundle):
                return          # answered, or the connection was closed without an answer
            fault = next((f for f in self.fired_faults if f.effect is None), None)
            status, out, headers, after = self._route(method, segs, params, body, fault)
            if fault and fault["kind"] == "oversized":
                out = self._pad(out, fault["bytes"])
            self.send(status, out, headers)
            if after:
                after()
        except Reply as r:
            self.send(r.status, r.body, r.headers)
        except StoreError as e:
            self.send(e.status, operation_outcome(str(e), e.code))
        finally:
            if self._pending_log is not None:
                self._log(method, path, query, self.status_sent, page)
                self._pending_log = None

    def on_answer(self, status):
        pending = getattr(self, "_pending_log", None)
        if pending is not None:
            self._pending_log = None
            method, path, query, page = pending
            self._log(method, path, query, status, page)

    def _page_number(self, params):
        try:
            d = dict(params)
            count = int(d.get("_count") or self.server.config.page_size_default)
            count = max(1, min(count, self.server.config.page_size_max))
            return int(d.get("_getpagesoffset") or 0) // count + 1
        except ValueError:
            return None

    # fault hooks: FHIR OperationOutcomes, as openHIM in front of a FHIR server answers
    def error_body(self, status, text):
        code = {400: "invalid", 404: "not-found", 429: "throttled", 408: "timeout",
                504: "timeout"}.get(status, "transient" if status >= 500 else "processing")
        return operation_outcome(text, code)

    def fault_status(self, f):
        st = f["status"]
        headers = {}
        if f.get("retry_after") is not None:
            headers["Retry-After"] = f["retry_after"]
        if st == 401:
            headers["WWW-Authenticate"] = "Basic"
        body = f.get("body")
        if body is None:
            body = self.error_body(st, f.get("diagnostics") or "Injected fault: HTTP %d" % st)
        raise Reply(st, body, headers)

    def fault_extension(self, f):
        """The MFL kinds that answer instead of the server."""
        kind = f.kind.name
        if kind == "not_json":
            raise Reply(200, "<html><body><h1>openHIM</h1><p>Channel returned HTML, not JSON"
                             "</p></body></html>\n")
        if kind == "not_bundle":
            if f["as"] == "Patient":
                raise Reply(200, {"resourceType": "Patient", "id": "example", "active": True,
                                  "name": [{"family": "Chalmers", "given": ["Peter"]}]})
            raise Reply(200, operation_outcome("All OK", "informational", "information"))
        return False

    @staticmethod
    def _pad(out, size):
        if isinstance(out, (dict, list)):
            out = _dumps(out)
        data = out.encode("utf-8") if isinstance(out, str) else (out or b"")
        if len(data) >= size or not data.endswith(b"}"):
            return data
        return data[:-1] + b" " * (size - len(data)) + b"}"

    # ---------------------------------------------------------------- routes
    def _route(self, method, segs, params, body, fault):
        """-> (status, body, headers, after-callback)."""
        store = self.server.store
        if not segs:
            raise Reply(404, operation_outcome("no resource type in the URL", "not-found"))
        if segs == ["metadata"] and method == "GET":
            return 200, self._capability(), {}, None
        rtype = segs[0]
        if rtype not in RESOURCE_TYPES:
            raise Reply(404, operation_outcome(
                "Unknown resource type %r (this server has %s)"
                % (rtype, ", ".join(RESOURCE_TYPES)), "not-supported"))
        if len(segs) == 1 and method == "GET" or (len(segs) == 2 and segs[1] == "_search"
                                                  and method in ("GET", "POST")):
            return self._search(rtype, params, fault)
        if len(segs) == 2 and segs[1] == "_history" and method == "GET":
            return self._history(rtype, None, params, fault)
        if len(segs) == 3 and segs[2] == "_history" and method == "GET":
            return self._history(rtype, segs[1], params, fault)
        if len(segs) == 2 and method == "GET":
            v = store.get(rtype, segs[1])
            if v is None:
                raise Reply(404, operation_outcome("%s/%s is not known" % (rtype, segs[1]),
                                                   "not-found"))
            if v.deleted:
                raise Reply(410, operation_outcome("%s/%s was deleted" % (rtype, segs[1]),
                                                   "deleted"), {"ETag": 'W/"%d"' % v.vid})
            return 200, v.json, self._version_headers(v), None
        if len(segs) == 4 and segs[2] == "_history" and method == "GET":
            try:
                v = store.vread(rtype, segs[1], int(segs[3]))
            except ValueError:
                v = None
            if v is None:
                raise Reply(404, operation_outcome("no such version", "not-found"))
            if v.deleted:
                raise Reply(410, operation_outcome("version %d is a delete" % v.vid, "deleted"))
            return 200, v.json, self._version_headers(v), None
        if len(segs) == 2 and method == "PUT":
            try:
                res = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise Reply(400, operation_outcome("body is not JSON: %s" % e, "invalid"))
            if not isinstance(res, dict):
                raise Reply(400, operation_outcome("body is not a resource", "invalid"))
            v, created = store.put(rtype, segs[1], res)
            h = self._version_headers(v)
            h["Location"] = "%s/%s/%s/_history/%d" % (self._base_url(), rtype, v.id, v.vid)
            return (201 if created else 200), v.json, h, None
        if len(segs) == 2 and method == "DELETE":
            v = store.delete(rtype, segs[1])
            if v is None:
                raise Reply(404, operation_outcome("%s/%s is not known" % (rtype, segs[1]),
                                                   "not-found"))
            return 200, operation_outcome("Successfully deleted %s/%s (version %d)"
                                          % (rtype, segs[1], v.vid), "informational",
                                          "information"), {"ETag": 'W/"%d"' % v.vid}, None
        raise Reply(405, operation_outcome("%s not supported on %s" % (method, "/".join(segs)),
                                           "not-supported"))

    @staticmethod
    def _version_headers(v):
        return {"ETag": 'W/"%d"' % v.vid,
                "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                               time.gmtime(v.ms / 1000))}

    def _paging(self, params):
        cfg = self.server.config
        d = {}
        for k, v in params:
            d.setdefault(k, v)
        try:
            count = int(d["_count"]) if d.get("_count") not in (None, "") else cfg.page_size_default
            offset = int(d.get("_getpagesoffset") or 0)
        except ValueError:
            raise Reply(400, operation_outcome("_count and _getpagesoffset must be integers",
                                               "invalid")) from None
        if count < 0 or offset < 0:
            raise Reply(400, operation_outcome("_count and _getpagesoffset must be >= 0",
                                               "invalid"))
        return min(count, cfg.page_size_max), offset

    def _links(self, rtype_path, params, offset, count, total):
        base = self._base_url()
        keep = [(k, v) for k, v in params if k not in ("_getpagesoffset", "_count")]

        def url(off):
            q = keep + [("_count", str(count))] + ([("_getpagesoffset", str(off))] if off else [])
            return "%s/%s?%s" % (base, rtype_path, urlencode(q, quote_via=quote, safe=":,"))
        links = [{"relation": "self", "url": url(offset)}]
        if count > 0 and offset + count < total:
            links.append({"relation": "next", "url": url(offset + count)})
        if count > 0 and offset > 0:
            links.append({"relation": "previous", "url": url(max(0, offset - count))})
        return links

    def _search(self, rtype, params, fault):
        store = self.server.store
        unknown = sorted({k for k, _ in params if k not in SEARCH_PARAMS})
        if unknown:
            raise Reply(400, operation_outcome(
                "Unknown search parameter(s) %s for %s. Valid: %s"
                % (", ".join(unknown), rtype, ", ".join(sorted(SEARCH_PARAMS))), "not-supported"))
        count, offset = self._paging(params)
        lo, hi = last_updated_bounds([v for k, v in params if k == "_lastUpdated"])
        ids = identifiers = None
        includes = set()
        descending = False
        for k, v in params:
            if k == "_id":
                ids = (ids or set()) | set(x for x in v.split(",") if x)
            elif k == "identifier":
                identifiers = (identifiers or []) + [x for x in v.split(",") if x]
            elif k == "_sort":
                if v in ("-_lastUpdated",):
                    descending = True
                elif v not in ("_lastUpdated", ""):
                    raise Reply(400, operation_outcome(
                        "_sort=%s is not supported (use _lastUpdated or -_lastUpdated)" % v,
                        "not-supported"))
            elif k == "_include":
                t, _, p = v.partition(":")
                p = p.split(":")[0].lower()
                if t != rtype or p not in INCLUDE_PARAMS:
                    raise Reply(400, operation_outcome(
                        "_include=%s is not supported; use Location:organization, "
                        "Location:managingOrganization, Location:endpoint or Location:partof" % v,
                        "not-supported"))
                includes.add(INCLUDE_PARAMS[p])
        total, page = store.search(rtype, lo, hi, ids, identifiers, descending, offset, count)
        included = store.includes(page, includes) if includes else []
        base = self._base_url()
        kind = fault["kind"] if fault else None
        entries = []
        for i, v in enumerate(page):
            text = v.json
            full = '"fullUrl":%s,' % _dumps("%s/%s/%s" % (base, v.rtype, v.id))
            if kind == "entry_without_resource" and i == int(fault.get("index", 0)):
                entries.append('{%s"search":{"mode":"match"}}' % full)
                continue
            if kind == "location_without_id" and i == int(fault.get("index", 0)):
                res = json.loads(text)
                res.pop("id", None)
                text, full = _dumps(res), ""
            if kind == "bad_last_updated" and i == int(fault.get("index", 0)):
                text = _with_bad_last_updated(text)
            if kind in HOSTILE_KINDS and i == int(fault.get("index", 0)):
                text = _hostile_resource(text, fault)
            entries.append('{%s"resource":%s,"search":{"mode":"match"}}' % (full, text))
        if kind == "old_version":
            entries.append(self._old_version_entry(base, fault))
        if kind != "missing_include":
            for v in included:
                entries.append('{"fullUrl":%s,"resource":%s,"search":{"mode":"include"}}'
                               % (_dumps("%s/%s/%s" % (base, v.rtype, v.id)), v.json))
        if kind == "outcome_entry":
            # As HAPI FHIR does for a lenient search: the issue rides along.
            issue = {"severity": fault.get("severity", "warning"), "code": "processing",
                     "diagnostics": fault.get("diagnostics", "a search parameter was ignored")}
            entries.append('{"resource":%s,"search":{"mode":"outcome"}}'
                           % _dumps({"resourceType": "OperationOutcome", "issue": [issue]}))
        links = self._links(rtype, params, offset, count, total)
        self._fault_links(links, fault)
        head = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                "meta": {"lastUpdated": instant_from_ms(int(time.time() * 1000))},
                "type": "searchset"}
        if _gives_total(params, offset, count, total):
            head["total"] = total
        head["link"] = links
        out = _dumps(head)[:-1] + ',"entry":[' + ",".join(entries) + "]}"
        if kind == "invalid_utf8":
            out = out.encode("utf-8").replace(BAD_BYTE_MARK.encode("ascii"), b"\xff", 1)
        after = None
        if kind == "update_between_pages":
            ids_to_bump = fault.get("ids") or [v.id for v in page[:fault["count"]]]

            def after():
                for rid in ids_to_bump:
                    try:
                        store.touch(ids=[rid], rtype=rtype)
                    except StoreError:
                        pass
        return 200, out, {}, after

    def _old_version_entry(self, base, fault):
        """A match entry re-delivering an older version of Location fault["id"]."""
        store = self.server.store
        current = store.get("Location", fault["id"])
        vid = fault.get("version")
        if vid is None and current is not None:
            vid = int(current.vid) - 1
        old = store.vread("Location", fault["id"], int(vid)) if str(vid).isdigit() else None
        if old is None or old.deleted:
            raise Reply(500, operation_outcome(
                f"testbed: no version {vid} of Location/{fault['id']}", "not-found"))
        full_url = _dumps(f"{base}/Location/{old.id}")
        return f'{{"fullUrl":{full_url},"resource":{old.json},"search":{{"mode":"match"}}}}'

    def _fault_links(self, links, fault):
        if not fault or fault["kind"] not in ("foreign_next", "encoded_next"):
            return
        nxt = next((link for link in links if link["relation"] == "next"), None)
        if fault["kind"] == "foreign_next":
            src = nxt["url"] if nxt else links[0]["url"]
            sp = urlsplit(src)
            url = "http://evil.example:80%s?%s" % (sp.path, sp.query)
            if nxt:
                nxt["url"] = url
            else:
                links.append({"relation": "next", "url": url})
        elif nxt:
            nxt["url"] = quote(nxt["url"], safe="")

    def _history(self, rtype, rid, params, fault):
        store = self.server.store
        unknown = sorted({k for k, _ in params if k not in HISTORY_PARAMS})
        if unknown:
            raise Reply(400, operation_outcome(
                "Unknown _history parameter(s) %s. Valid: %s"
                % (", ".join(unknown), ", ".join(sorted(HISTORY_PARAMS))), "not-supported"))
        count, offset = self._paging(params)
        since = None
        for k, v in params:
            if k == "_since":
                since = parse_search_instant(v)[0]
        if rid is not None and store.get(rtype, rid) is None:
            raise Reply(404, operation_outcome("%s/%s is not known" % (rtype, rid), "not-found"))
        newest = self.server.config.history_order == "newest-first"
        total, page = store.history_page(rtype, since, rid, newest, offset, count)
        base = self._base_url()
        kind = fault["kind"] if fault else None
        entries = []
        for i, v in enumerate(page):
            full = _dumps("%s/%s/%s" % (base, v.rtype, v.id))
            url = _dumps("%s/%s" % (v.rtype, v.id))
            resp = '"etag":"W/\\"%d\\"","lastModified":"%s"' % (v.vid, instant_from_ms(v.ms))
            if v.deleted:
                entries.append('{"fullUrl":%s,"request":{"method":"DELETE","url":%s},'
                               '"response":{"status":"204",%s}}' % (full, url, resp))
                continue
            text = v.json
            if kind == "entry_without_resource" and i == int(fault.get("index", 0)):
                text = None
            elif kind == "location_without_id" and i == int(fault.get("index", 0)):
                res = json.loads(text)
                res.pop("id", None)
                text = _dumps(res)
            elif kind == "bad_last_updated" and i == int(fault.get("index", 0)):
                text = _with_bad_last_updated(text)
            status = "201" if v.method == "POST" else "200"
            entries.append('{"fullUrl":%s,%s"request":{"method":"%s","url":%s},'
                           '"response":{"status":"%s",%s}}'
                           % (full, ('"resource":%s,' % text) if text else "", v.method, url,
                              status, resp))
        path = rtype + ("/%s" % rid if rid else "") + "/_history"
        links = self._links(path, params, offset, count, total)
        self._fault_links(links, fault)
        head = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                "meta": {"lastUpdated": instant_from_ms(int(time.time() * 1000))},
                "type": "history", "total": total, "link": links}
        out = _dumps(head)[:-1] + ',"entry":[' + ",".join(entries) + "]}"
        if kind == "invalid_utf8":
            out = out.encode("utf-8").replace(BAD_BYTE_MARK.encode("ascii"), b"\xff", 1)
        after = None
        if kind == "update_between_pages":
            ids_to_bump = fault.get("ids") or [v.id for v in page[:fault["count"]] if not v.deleted]

            def after():
                for x in ids_to_bump:
                    try:
                        store.touch(ids=[x], rtype=rtype)
                    except StoreError:
                        pass
        return 200, out, {}, after

    def _capability(self):
        res = []
        for t in RESOURCE_TYPES:
            res.append({"type": t, "interaction": [{"code": c} for c in
                                                  ("read", "vread", "update", "delete",
                                                   "history-instance", "history-type",
                                                   "search-type")],
                        "searchParam": [{"name": "_lastUpdated", "type": "date"},
                                        {"name": "_id", "type": "token"},
                                        {"name": "identifier", "type": "token"}],
                        "searchInclude": (["Location:organization", "Location:managingOrganization",
                                           "Location:endpoint", "Location:partof"]
                                          if t == "Location" else [])})
        return {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
                "date": "2014-05-12", "fhirVersion": "4.0.1", "format": ["json"],
                "software": {"name": "mflsync MFL stand-in"},
                "rest": [{"mode": "server", "resource": res}]}

    # ----------------------------------------------------------------- admin
    def _admin_json(self, body):
        try:
            return parse_json(body)
        except ValueError as e:
            raise Reply(400, {"error": "body is not JSON: %s" % e}) from None

    def _admin(self, method, what, body):
        srv = self.server
        ct = "application/json"
        if what == "faults":
            out = srv.faults.admin(method, self._admin_json(body))
            if out is not None:
                return self.send(*out, content_type=ct)
        elif what == "requests":
            if method == "GET":
                with srv.requests_lock:
                    return self.send(200, {"requests": list(srv.requests)}, content_type=ct)
            if method == "DELETE":
                with srv.requests_lock:
                    n = len(srv.requests)
                    srv.requests.clear()
                return self.send(200, {"cleared": n}, content_type=ct)
        elif what == "touch" and method == "POST":
            req = self._admin_json(body) or {}
            if not isinstance(req, dict) or ("ids" not in req and "count" not in req):
                raise Reply(400, {"error": 'expected {"ids": [...]} or {"count": k}'})
            try:
                vs = srv.store.touch(ids=req.get("ids"), count=req.get("count"),
                                     pick=req.get("pick", "oldest"), seed=req.get("seed"),
                                     name_suffix=req.get("name_suffix"),
                                     rtype=req.get("type", "Location"))
            except StoreError as e:
                raise Reply(e.status, {"error": str(e)})
            return self.send(200, {"touched": [{"id": v.id, "versionId": str(v.vid),
                                                 "lastUpdated": v.last_updated} for v in vs]},
                              content_type=ct)
        elif what == "stats" and method == "GET":
            return self.send(200, {"counts": srv.store.counts(),
                                    "clock": instant_from_ms(srv.store.clock_ms),
                                    "base_path": srv.config.base_path}, content_type=ct)
        raise Reply(404, {"error": "unknown admin endpoint %s /$testbed/%s; have GET|POST|PUT|"
                                   "DELETE faults, GET|DELETE requests, POST touch, GET stats"
                                   % (method, what)})


# ------------------------------------------------------------------ set-up
def load_ndjson(store, path):
    n = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                res = json.loads(line)
            except ValueError as e:
                raise SystemExit("%s:%d: not JSON: %s" % (path, lineno, e))
            store.load(res, line)
            n += 1
    return n


def load_synthetic(store, count, seed=1, same_instant_every=1):
    import synthetic_mfl
    n = 0
    for res in synthetic_mfl.generate(count, seed, same_instant_every):
        store.load(res)
        n += 1
    return n


def make_server(host="127.0.0.1", port=0, store=None, config=None):
    """Create (bind) a server; call serve_forever() yourself or use start()."""
    store = store or Store()
    if store._loading:
        store.finish_load()
    return StandinServer((host, port), store, config or Config())


def start(host="127.0.0.1", port=0, store=None, config=None):
    """Start a server in a background thread: returns (server, thread).
    Stop with server.shutdown(); server.server_close()."""
    srv = make_server(host, port, store, config)
    return srv, serve_in_thread(srv, "mfl-standin", poll_interval=0.1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8091, help="0 picks a free port")
    ap.add_argument("--base-path", default="/fhir", help="FHIR base path (default %(default)s)")
    ap.add_argument("--data", action="append", default=[], metavar="FILE.ndjson",
                    help="load resources from NDJSON (repeatable)")
    ap.add_argument("--synthetic", type=int, default=0, metavar="N",
                    help="also generate N synthetic facilities in-process")
    ap.add_argument("--seed", default="1", help="seed for --synthetic (default 1)")
    ap.add_argument("--same-instant-every", type=int, default=1, metavar="K",
                    help="for --synthetic: K consecutive facilities share one lastUpdated")
    ap.add_argument("--page-size-default", type=int, default=20)
    ap.add_argument("--page-size-max", type=int, default=1000,
                    help="larger _count values are cut to this (default %(default)s)")
    ap.add_argument("--history-order", choices=("oldest-first", "newest-first"),
                    default="oldest-first", help="order of _history entries (default %(default)s)")
    ap.add_argument("--basic-user")
    ap.add_argument("--basic-password")
    ap.add_argument("--custom-token", help="accept 'Authorization: Custom <token>'")
    ap.add_argument("--ready-file", help="write the bound port here once listening")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)
    if (args.basic_user is None) != (args.basic_password is None):
        ap.error("--basic-user and --basic-password go together")

    t0 = time.monotonic()
    store = Store()
    loaded = 0
    for path in args.data:
        loaded += load_ndjson(store, path)
    if args.synthetic:
        loaded += load_synthetic(store, args.synthetic, args.seed, args.same_instant_every)
    store.finish_load()
    cfg = Config(args.base_path, args.page_size_default, args.page_size_max, args.basic_user,
                 args.basic_password, args.custom_token, args.history_order, args.verbose)
    srv = make_server(args.host, args.port, store, cfg)

    def serving():
        print(json.dumps({"listening": "http://%s:%d%s" % (args.host, srv.port, cfg.base_path),
                          "loaded": loaded, "counts": store.counts(),
                          "load_seconds": round(time.monotonic() - t0, 2)}),
              file=sys.stderr, flush=True)
        if args.ready_file:
            write_ready_file(args.ready_file, "%d\n" % srv.port)

    serve_until_signal(srv, serving=serving)
    return 0


if __name__ == "__main__":
    sys.exit(main())
