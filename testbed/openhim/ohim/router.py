"""The openHIM router listener: authenticate, match a channel, authorise, forward, record.

Follows openhim-core-js src/koaMiddleware.js (middleware order), basicAuthentication.js,
customTokenAuthentication.js, requestMatching.js, authorisation.js, router.js, messageStore.js.
"""
import base64
import gzip
import http.client
import json
import re
import socket
import ssl
import threading
import time
import traceback
import urllib.parse
import zlib

from .httpbase import BaseHandler
from .util import check_client_password, now_iso

CUSTOM_TOKEN_PATTERN = re.compile(r"^ *(?:[Cc][Uu][Ss][Tt][Oo][Mm]) +([A-Za-z0-9\-._~+/]+=*) *$")
BASIC_PATTERN = re.compile(r"^ *(?:[Bb][Aa][Ss][Ii][Cc]) +([A-Za-z0-9._~+/-]+=*) *$")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
              "te", "trailer"}
COMPRESSIBLE = re.compile(r"^text/|\+(?:json|text|xml)$|^application/(?:json|xml|javascript)",
                          re.I)
REDACTED = "[redacted]"


def transform_path(path, expression):
    """router.js transformPath: sed-like s/from/to[/g]; \\/ escapes a slash."""
    s = expression.replace("\\/", ":")
    sub = s.split("/")
    frm = sub[1].replace(":", "/")
    to = sub[2].replace(":", "/") if len(sub) > 2 else ""
    count = 0 if (len(sub) > 3 and sub[3] == "g") else 1
    to = re.sub(r"\$(\d)", r"\\\1", to)  # JS $1 -> Python \1
    return re.sub(_js_regex(frm), to, path, count=count)


def _js_regex(pat):
    # JS named groups (?<n>..) -> Python (?P<n>..); otherwise JS and Python syntax agree for the
    # patterns channels use.
    return re.sub(r"\(\?<(?![=!])", "(?P<", pat)


_regex_cache = {}


def url_matches(pattern, path):
    """requestMatching.js: new RegExp(channel.urlPattern).test(ctx.request.path) — an
    UNANCHORED search; anchor the pattern (^...$) to match a whole path."""
    rx = _regex_cache.get(pattern)
    if rx is None:
        try:
            rx = re.compile(_js_regex(pattern))
        except re.error:
            rx = False
        _regex_cache[pattern] = rx
    return bool(rx) and rx.search(path) is not None


def headers_dict(msg):
    """Node/Koa request headers: lower-case names, duplicates joined with ', '."""
    out = {}
    for k, v in msg.items():
        k = k.lower()
        out[k] = (out[k] + ", " + v) if k in out else v
    return out


def decode_body(b, content_type):
    if b is None:
        return None
    m = re.search(r"charset=([^;,\r\n]+)", content_type or "", re.I)
    cs = m.group(1).strip().strip('"') if m else "utf-8"
    try:
        return b.decode(cs, "replace")
    except LookupError:
        return b.decode("utf-8", "replace")


class RouteError(Exception):
    pass


class RouterHandler(BaseHandler):
    def _dispatch(self):
        app = self.server.app
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path or "/", url.query
        fault = app.faults.down("router", path)
        if fault == "close":
            return self.drop()
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return self.send(400, "Bad Request")
        if fault == "503":
            return self.send(503, "Service Unavailable")
        hdrs = headers_dict(self.headers)
        method = self.command

        # ---- authentication (customToken, then basic); never rejects on its own
        client = None
        auth_header = hdrs.get("authorization", "")
        if app.custom_token:
            m = CUSTOM_TOKEN_PATTERN.match(auth_header)
            if m:
                client = app.store.client_by("customTokenID", m.group(1))
        if client is None:
            m = BASIC_PATTERN.match(auth_header)
            if m:
                try:
                    user, _, pw = base64.b64decode(m.group(1)).decode("utf-8").partition(":")
                except (ValueError, UnicodeDecodeError):
                    user, pw = None, None
                if user is not None:
                    c = app.store.client_by("clientID", user)
                    if c is not None and check_client_password(c, pw):
                        client = c
        if client is not None:
            hdrs["X-OpenHIM-ClientID"] = client["clientID"]

        # ---- request matching
        channel = None
        ctype = hdrs.get("content-type", "")
        for ch in app.store.channels_in_priority_order():
            if not url_matches(ch["urlPattern"], path):
                continue
            if ch.get("methods") and method.upper() not in ch["methods"]:
                continue  # OHM-1078 (PR #1135): method is part of matching
            if ch.get("matchContentTypes"):
                if ctype.split(";")[0].strip() not in ch["matchContentTypes"]:
                    continue
            channel = ch
            break

        # ---- authorisation
        if channel is None:
            return self.send(404, "Not Found")
        ip = self.client_address[0]
        ok_ip = not channel.get("whitelist") or ip in channel["whitelist"]
        ok_client = client is not None and (
            any(r in (client.get("roles") or []) for r in channel.get("allow") or [])
            or client["clientID"] in (channel.get("allow") or []))
        if not (ok_ip and (channel.get("authType") == "public" or ok_client)):
            h = [("WWW-Authenticate", "Basic")] if app.basic_auth_header else []
            return self.send(401, "Unauthorized", headers=h)

        lat = app.faults.latency(path)
        if lat > 0:
            time.sleep(lat)

        # ---- message store: initiate the transaction
        rec_headers = dict(hdrs)
        if "authorization" in rec_headers:
            rec_headers["authorization"] = REDACTED
        host = hdrs.get("host", "")
        req_ts = now_iso()
        tx = {
            "status": "Processing",
            "clientID": client["_id"] if client else None,
            "channelID": channel["_id"],
            "clientIP": ip,
            "request": {"host": host.split(":")[0] if host else None,
                        "port": host.split(":")[1] if ":" in host else None,
                        "path": path, "headers": rec_headers, "querystring": query,
                        "body": body.decode("utf-8", "replace") if body else "",
                        "method": method, "timestamp": req_ts},
            "canRerun": True, "autoRetry": False, "orchestrations": [], "routes": [],
        }
        if channel.get("requestBody") is False:
            tx["request"]["body"] = ""
        tid = app.store.new_transaction(tx)
        hdrs["X-OpenHIM-TransactionID"] = tid

        routes = [r for r in channel.get("routes") or [] if r.get("status", "enabled") == "enabled"]
        if sum(1 for r in routes if r.get("primary")) > 1:
            err = "Cannot route transaction: Channel contains multiple primary routes and only " \
                  "one primary is allowed"
            self._finish_error(tid, err)
            return self.send(500, "Internal Server Error")
        timeout_ms = channel.get("timeout")
        nonprimary = []
        for r in routes:
            if not r.get("primary"):
                t = threading.Thread(target=self._nonprimary, daemon=True,
                                     args=(app, tid, channel, r, path, query, method, hdrs, body,
                                           timeout_ms, req_ts))
                t.start()
                nonprimary.append(t)
        primary = next((r for r in routes if r.get("primary")), None)

        resp_status, resp_headers, resp_body, mediator, error = 500, {}, b"", None, None
        if primary is None:
            # no primary route: Koa's default 404 for an untouched response
            resp_status, resp_body = 404, b"Not Found"
            resp_headers = {"content-type": "text/plain; charset=utf-8"}
        else:
            try:
                status, rh, rb = forward(app, primary, path, query, method, hdrs, body,
                                         timeout_ms)
                ct = rh.get("content-type", "")
                if "application/json+openhim" in ct:
                    mediator = json.loads(rb.decode("utf-8"))
                    inner = mediator.get("response") or {}
                    resp_status = int(inner.get("status"))
                    resp_headers = {str(k).lower(): v for k, v in (inner.get("headers") or {}).items()}
                    ib = inner.get("body")
                    if ib is None:
                        resp_body = b""
                    elif isinstance(ib, str):
                        resp_body = ib.encode("utf-8")
                    else:
                        resp_body = json.dumps(ib).encode()
                        resp_headers.setdefault("content-type", "application/json; charset=utf-8")
                    if mediator.get("error") is not None:
                        error = mediator["error"]
                else:
                    resp_status, resp_headers, resp_body = status, rh, rb
                resp_headers["X-OpenHIM-TransactionID"] = tid
            except Exception as e:  # route failure -> handleServerError
                resp_status, resp_headers = 500, {"content-type": "text/plain; charset=utf-8"}
                resp_body = b"An internal server error occurred"
                error = {"message": str(e) or e.__class__.__name__,
                         "stack": "".join(traceback.format_exception_only(type(e), e)).strip()}
                mediator = None

        resp_ts = now_iso()
        rec_rh = {k.lower(): v for k, v in resp_headers.items()}
        resp_rec = {"status": resp_status, "headers": rec_rh,
                    "body": decode_body(resp_body, rec_rh.get("content-type")),
                    "timestamp": resp_ts, "timestampEnd": resp_ts}
        if channel.get("responseBody") is False:
            resp_rec["body"] = ""

        def apply(t):
            t["request"]["timestampEnd"] = req_ts
            t["response"] = resp_rec
            if error is not None:
                t["error"] = error
                t["autoRetry"] = True
            if mediator:
                t["orchestrations"] = list(mediator.get("orchestrations") or [])
                if mediator.get("properties") is not None:
                    t["properties"] = mediator["properties"]
                if mediator.get("x-mediator-urn"):
                    t["mediatorURN"] = mediator["x-mediator-urn"]
        app.store.update_transaction_internal(tid, apply)
        app.store.store_body(tid, resp_rec)
        for o in (mediator or {}).get("orchestrations") or []:
            for part in ("request", "response"):
                if isinstance(o, dict) and isinstance(o.get(part), dict):
                    app.store.store_body(tid, o[part])

        def finalise():
            for t in nonprimary:
                t.join()
            app.store.update_transaction_internal(
                tid, lambda t: t.__setitem__("status", final_status(t, mediator, resp_status)))
        if nonprimary:
            threading.Thread(target=finalise, daemon=True).start()
        else:
            finalise()  # before answering, so a client sees the final status at once

        self._reply(resp_status, resp_headers, resp_body, hdrs)

    def _finish_error(self, tid, msg):
        def f(t):
            t["error"] = {"message": msg}
            t["response"] = {"status": 500, "timestamp": now_iso()}
            t["status"] = "Failed"
        self.server.app.store.update_transaction_internal(tid, f)

    def _nonprimary(self, app, tid, channel, r, path, query, method, hdrs, body, timeout_ms,
                    req_ts):
        dest = destination_path(r, path)
        robj = {"name": r.get("name"),
                "request": {"host": r.get("host"), "port": r.get("port"), "path": dest,
                            "headers": {k: (REDACTED if k.lower() == "authorization" else v)
                                        for k, v in hdrs.items()},
                            "querystring": query, "method": method, "timestamp": req_ts}}
        try:
            status, rh, rb = forward(app, r, path, query, method, hdrs, body, timeout_ms)
            if "application/json+openhim" in rh.get("content-type", ""):
                m = json.loads(rb.decode("utf-8"))
                robj["mediatorURN"] = m.get("x-mediator-urn")
                robj["orchestrations"] = m.get("orchestrations")
                robj["properties"] = m.get("properties")
                robj["response"] = m.get("response")
            else:
                robj["response"] = {"status": status, "headers": rh,
                                    "body": decode_body(rb, rh.get("content-type")),
                                    "timestamp": now_iso()}
        except Exception as e:
            robj["error"] = {"message": str(e) or e.__class__.__name__}
            robj["response"] = {"status": 500, "timestamp": req_ts}
        if channel.get("responseBody") is False and isinstance(robj.get("response"), dict):
            robj["response"]["body"] = ""
        if isinstance(robj.get("response"), dict):
            app.store.store_body(tid, robj["response"])

        def add(t):
            t.setdefault("routes", []).append(robj)
            if robj.get("error"):
                t["autoRetry"] = True
        app.store.update_transaction_internal(tid, add)

    def _reply(self, status, headers, body, req_hdrs):
        app = self.server.app
        out = []
        ctype = None
        for k, v in headers.items():
            lk = k.lower()
            if lk in ("content-length", "content-encoding", "transfer-encoding") or lk in HOP_BY_HOP:
                continue
            if lk == "content-type":
                ctype = v
                continue
            for one in (v if isinstance(v, list) else [v]):
                out.append((k, str(one)))
        if ctype is None and body:
            ctype = "application/octet-stream"
        # koa-compress({threshold: 8}) in front of the router
        ae = req_hdrs.get("accept-encoding", "")
        if (app.compress and len(body) >= 8 and ctype and COMPRESSIBLE.search(ctype.split(";")[0])
                and re.search(r"\bgzip\b", ae) and self.command != "HEAD"):
            body = gzip.compress(body)
            out.append(("Content-Encoding", "gzip"))
            out.append(("Vary", "Accept-Encoding"))
        self.send(status, body, headers=out, content_type=ctype)


def destination_path(route, path):
    if route.get("path"):
        return route["path"]
    if route.get("pathTransform"):
        return transform_path(path, route["pathTransform"])
    return path


def forward(app, route, path, query, method, hdrs, body, channel_timeout_ms):
    """router.js sendHttpRequest: returns (status, lower-case headers, decompressed body)."""
    dest = destination_path(route, path)
    if query:
        dest += "?" + query
    timeout_ms = channel_timeout_ms if channel_timeout_ms is not None else route.get("timeout")
    if timeout_ms is None:
        timeout_ms = app.router_timeout_ms
    out = {}
    for k, v in hdrs.items():
        lk = k.lower()
        if lk in HOP_BY_HOP or lk in ("host", "content-length"):
            continue
        if lk == "authorization" and not route.get("forwardAuthHeader"):
            continue
        out[k] = v
    if route.get("username") and route.get("password"):
        out["Authorization"] = "Basic " + base64.b64encode(
            ("%s:%s" % (route["username"], route["password"])).encode()).decode()
    port = int(route.get("port") or (443 if route.get("secured") else 80))
    timeout = float(timeout_ms) / 1000.0
    if route.get("secured"):
        ctx = ssl.create_default_context()
        if app.insecure_routes:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(route["host"], port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(route["host"], port, timeout=timeout)
    try:
        send_body = body if (body or method in ("POST", "PUT", "PATCH")) else None
        try:
            conn.request(method, dest, body=send_body, headers=out)
            resp = conn.getresponse()
            raw = resp.read()
        except (socket.timeout, TimeoutError):
            raise RouteError("Request took longer than %dms" % int(timeout_ms))
        rh = headers_dict(resp.headers)
        enc = rh.get("content-encoding", "")
        if enc == "gzip":
            raw = gzip.decompress(raw)
        elif enc == "deflate":
            raw = zlib.decompress(raw)
        return resp.status, rh, raw
    finally:
        conn.close()


def final_status(tx, mediator, status):
    """messageStore.setFinalStatus."""
    if mediator and mediator.get("status") is not None:
        return mediator["status"]
    route_failures, route_success = False, True
    for r in tx.get("routes") or []:
        s = (r.get("response") or {}).get("status") or 0
        if 500 <= s <= 599:
            route_failures = True
        if not 200 <= s <= 299:
            route_success = False
    st = "Processing"
    if 500 <= status <= 599:
        st = "Failed"
    else:
        if route_failures:
            st = "Completed with error(s)"
        if 200 <= status <= 299 and route_success:
            st = "Successful"
        if 400 <= status <= 499 and route_success:
            st = "Completed"
    if st == "Processing":
        st = "Completed"
    return st
