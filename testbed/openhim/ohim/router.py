"""The openHIM router listener: authenticate, match a channel, authorise, forward, record.

Follows openhim-core-js src/koaMiddleware.js (middleware order), basicAuthentication.js,
customTokenAuthentication.js, requestMatching.js, authorisation.js, router.js, messageStore.js.
"""
import gzip
import http.client
import json
import re
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import zlib

from standin_core import auth
from standin_core import faults as fl
from standin_core.server import BodyError

from .store import CastError, ValidationError, cast_date, cast_orchestration, check_orchestrations
from .util import OpenhimHandler, check_client_password, now_iso

CUSTOM_TOKEN_PATTERN = re.compile(r"^ *(?:[Cc][Uu][Ss][Tt][Oo][Mm]) +([A-Za-z0-9\-._~+/]+=*) *$")
BASIC_PATTERN = re.compile(r"^ *(?:[Bb][Aa][Ss][Ii][Cc]) +([A-Za-z0-9._~+/-]+=*) *$")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
              "te", "trailer"}
COMPRESSIBLE = re.compile(r"^text/|\+(?:json|text|xml)$|^application/(?:json|xml|javascript)",
                          re.I)
REDACTED = "[redacted]"
ANSWERING_EFFECTS = {fl.STATUS, fl.CLOSE, fl.RESET, fl.TIMEOUT, fl.DROP_AFTER_COMMIT}


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
    """Node's IncomingMessage.headers: lower-case names, duplicates joined with ', ', except
    set-cookie, which Node always keeps as a list (so several cookies reach the client)."""
    out = {}
    for k, v in msg.items():
        k = k.lower()
        if k == "set-cookie":
            out.setdefault(k, []).append(v)
        else:
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


class RouterHandler(OpenhimHandler):
    def _dispatch(self):
        app = self.server.app
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path or "/", url.query
        try:
            body = self.read_body()
        except (BodyError, OSError):
            self.close_connection = True
            return self.send(400, "Bad Request")
        # faults: those that answer in place of the router now; delays before forwarding
        if self.fault_gate(app.faults, self.command, path, body, listener="router",
                           effects=ANSWERING_EFFECTS):
            return
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
            user_pw = auth.decode_basic(m.group(1)) if m else None
            if user_pw is not None:
                c = app.store.client_by("clientID", user_pw[0])
                if c is not None and check_client_password(c, user_pw[1]):
                    client = c
        if client is not None:
            hdrs["X-OpenHIM-ClientID"] = client["clientID"]

        # ---- request matching
        channel = None
        ctype = hdrs.get("content-type", "")
        for ch in app.store.channels_in_priority_order():
            if not url_matches(ch["urlPattern"], path):
                continue
            # requestMatching.js matchMethod: the method must be listed; methods [] (the
            # model's default) matches nothing
            if method.upper() not in (ch.get("methods") or []):
                continue
            if ch.get("matchContentTypes"):
                if ctype.split(";")[0].strip() not in ch["matchContentTypes"]:
                    continue
            channel = ch
            break

        # ---- authorisation. Koa's body is still the request body (rawBodyReader), so the
        # 404 and 401 answers echo it, as application/octet-stream.
        if channel is None:
            return self.send(404, body, content_type="application/octet-stream")
        ip = self.client_address[0]
        ok_ip = not channel.get("whitelist") or ip in channel["whitelist"]
        ok_client = client is not None and (
            any(r in (client.get("roles") or []) for r in channel.get("allow") or [])
            or client["clientID"] in (channel.get("allow") or []))
        if not (ok_ip and (channel.get("authType") == "public" or ok_client)):
            h = [("WWW-Authenticate", "Basic")] if app.basic_auth_header else []
            return self.send(401, body, headers=h, content_type="application/octet-stream")

        self.apply_faults(app.faults, app.faults.take(method, path, body, listener="router",
                                                      effects={fl.DELAY}))

        # ---- proxy.js: X-Forwarded-For (the client IP) and X-Forwarded-Host (its Host)
        for name, value in (("X-Forwarded-For", ip), ("X-Forwarded-Host", hdrs.get("host"))):
            if value:
                hdrs[name] = ("%s, %s" % (hdrs[name], value)) if hdrs.get(name) else value

        # ---- message store: initiate the transaction
        rec_headers = escape_keys(hdrs)
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
            "childIDs": [], "canRerun": True, "autoRetry": False, "wasRerun": False,
            "routes": [], "orchestrations": [], "__v": 0,
        }
        if channel.get("requestBody") is False or not body:
            tx["request"]["body"] = ""
            if method in ("POST", "PUT", "PATCH"):
                tx["canRerun"] = False
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

        # (status, headers as given, body bytes, the headers object was given, timestamp)
        mediator, error, route_orch = None, None, None
        resp_status, src_headers, resp_body, resp_ts = 404, {}, b"", now_iso()
        fwd_headers = {k: v for k, v in hdrs.items()
                       if k.lower() not in ("host",) and
                       (k.lower() != "authorization" or (primary or {}).get("forwardAuthHeader"))}
        if primary is not None:
            route_orch = {"name": primary.get("name"),
                          "request": {"host": primary.get("host"),
                                      "port": str(primary.get("port")),
                                      "path": destination_path(primary, path)
                                      + ("?" + query if query else ""),
                                      "headers": dict(fwd_headers),
                                      "body": body.decode("utf-8", "replace") if body else "",
                                      "method": method, "timestamp": req_ts}}
            try:
                status, rh, rb = forward(app, primary, path, query, method, hdrs, body,
                                         timeout_ms)
                up_ts = now_iso()
                route_orch["response"] = {"headers": rh, "status": status,
                                          "body": decode_body(rb, rh.get("content-type")),
                                          "timestamp": up_ts}
                ct = rh.get("content-type", "")
                if "application/json+openhim" in ct:
                    mediator = json.loads(rb.decode("utf-8"))
                    inner = mediator.get("response") or {}
                    if mediator.get("error") is not None:
                        error = mediator["error"]
                    resp_status = int(inner.get("status"))
                    src_headers = inner.get("headers")
                    ib = inner.get("body")
                    resp_ts = inner.get("timestamp")
                    if ib is None:
                        resp_body = None  # Koa: a null body turns the status into 204
                    elif isinstance(ib, str):
                        resp_body = ib.encode("utf-8")
                    else:
                        resp_body = ib  # an object: sent as JSON, stored as its toString()
                else:
                    resp_status, src_headers, resp_body, resp_ts = status, rh, rb, up_ts
            except Exception as e:  # route failure -> handleServerError
                resp_status, src_headers = 500, {}
                resp_body = b"An internal server error occurred"
                resp_ts = now_iso()
                error = {"message": str(e) or e.__class__.__name__,
                         "stack": "".join(traceback.format_exception_only(type(e), e)).strip()}
                mediator = None
                route_orch.pop("response", None)
                route_orch["error"] = dict(error)
                src_headers = None

        out_status, out_headers, out_body, stored_body = koa_response(
            resp_status, src_headers, resp_body, tid, primary is not None)
        rec_rh = {k.lower(): v for k, v in out_headers}
        resp_rec = {"status": out_status, "headers": escape_keys(rec_rh), "body": stored_body}
        if resp_ts is not None:
            resp_rec["timestamp"] = resp_ts
        if channel.get("responseBody") is False:
            resp_rec["body"] = ""

        def store_response():
            """storeResponse: one findOneAndUpdate with runValidators; if any part does not
            validate (an orchestration whose request has no timestamp, a bad date), none of
            it is stored: the transaction keeps no response."""
            try:
                rec = dict(resp_rec)
                if rec.get("timestamp") is not None:
                    rec["timestamp"] = cast_date(rec["timestamp"], "response.timestamp")
                orchs = list((mediator or {}).get("orchestrations") or [])
                check_orchestrations(orchs)
                orchs = [cast_orchestration(o, "orchestrations.%d" % i)
                         for i, o in enumerate(orchs)]
                if route_orch is not None:
                    orchs.append(cast_orchestration(route_orch, "orchestrations"))
            except (ValidationError, CastError) as e:
                if not app.quiet:
                    sys.stderr.write("could not store the response of %s: %s\n" % (tid, e))
                return

            def apply(t):
                t["response"] = rec
                if error is not None:
                    t["error"] = error
                t["orchestrations"] = orchs
                props = (mediator or {}).get("properties")
                if isinstance(props, (dict, list)) or props:  # JS truthiness: {} is stored
                    t["properties"] = props
            app.store.update_transaction_internal(tid, apply)
            app.store.store_body(tid, rec)
            for o in orchs:
                for part in ("request", "response"):
                    if isinstance(o, dict) and isinstance(o.get(part), dict):
                        app.store.store_body(tid, o[part])

        def finalise():
            for t in nonprimary:
                t.join()

            def f(t):
                t["status"] = final_status(t, mediator, out_status)
                if error is not None or any(r.get("error") for r in t.get("routes") or []):
                    t["autoRetry"] = not app.store._reached_max_attempts(t)
            app.store.update_transaction_internal(tid, f)

        # openHIM answers first; storeResponse and setFinalStatus run afterwards, unawaited
        # (messageStore.koaMiddleware, router.js), 50-200 ms later on the real server.
        self._reply(out_status, out_headers, out_body, hdrs)

        def after_answer():
            if app.store_delay_s > 0:
                time.sleep(app.store_delay_s)
            store_response()
            finalise()
        if app.store_delay_s > 0 or nonprimary:
            threading.Thread(target=after_answer, daemon=True).start()
        else:
            after_answer()

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
        out, ctype = [], None
        for k, v in headers:
            if k.lower() == "content-type":
                ctype = v
            elif k.lower() != "content-length":
                out.append((k, v))
        # koa-compress({threshold: 8}) in front of the router; it has already set Vary
        ae = req_hdrs.get("accept-encoding", "")
        if (app.compress and len(body) >= 8 and ctype and COMPRESSIBLE.search(ctype.split(";")[0])
                and re.search(r"\bgzip\b", ae) and self.command != "HEAD"
                and status not in (204, 205, 304)):
            body = gzip.compress(body)
            out.append(("Content-Encoding", "gzip"))
        self.send(status, body, headers=out, content_type=ctype)


CHARSET_TYPES = {"application/json", "application/javascript", "application/fhir+json",
                 "application/fhir+xml", "application/manifest+json", "application/elm+json"}


def koa_type(value):
    """Koa's `ctx.type = value` (mime-types contentType): a charset is added to text/* and the
    mime-db types that have one (application/json ...) when none is given."""
    v = str(value)
    base = v.split(";")[0].strip().lower()
    if "charset" not in v.lower() and (base.startswith("text/") or base in CHARSET_TYPES):
        v += "; charset=utf-8"
    return v


def koa_response(status, src_headers, body, tid, routed):
    """What Koa makes of router.js setKoaResponse: returns (status, [(name, value)], body bytes,
    the body as storeResponse stores it). src_headers None: no headers object (route failure
    or a mediator response without headers), so no X-OpenHIM-TransactionID either."""
    headers = {}
    ctype = "application/octet-stream"  # Koa's type for the request-body Buffer
    if body is None:
        status, body_bytes, stored = (204 if status not in (204, 205, 304) else status), b"", ""
        ctype = None
    elif isinstance(body, (bytes, bytearray)):
        body_bytes, stored = bytes(body), None
    else:
        body_bytes = json.dumps(body, separators=(",", ":")).encode()
        ctype = "application/json; charset=utf-8"
        stored = "[object Object]" if isinstance(body, dict) else \
            ",".join("" if x is None else str(x) for x in body)
    for k, v in (src_headers or {}).items():
        lk = str(k).lower()
        if lk in ("content-length", "content-encoding", "transfer-encoding") or lk in HOP_BY_HOP:
            continue
        if lk == "content-type":
            if ctype is not None and not (isinstance(body, (dict, list))):
                ctype = koa_type(v)
            continue
        for one in (v if isinstance(v, list) else [v]):
            headers.setdefault(str(k), [])
            headers[str(k)].append(str(one))
    if src_headers is not None and routed:
        headers["X-OpenHIM-TransactionID"] = [tid]
    out = []
    if ctype is not None:
        out.append(("Content-Type", ctype))
    out.append(("Content-Length", str(len(body_bytes))))
    out.append(("Vary", "Accept-Encoding"))
    for k, vs in headers.items():
        out.extend((k, v) for v in vs)
    if stored is None:
        stored = decode_body(body_bytes, ctype)
    return status, out, body_bytes, stored


def escape_keys(m):
    """messageStore copyMapWithEscapedReservedCharacters: the first '.' and '$' of a header
    name become U+FF0E and U+FF04 (MongoDB keys)."""
    out = {}
    for k, v in m.items():
        if "." in k or "$" in k:
            k = k.replace(".", "\uff0e", 1).replace("$", "\uff04", 1)
        out[k] = v
    return out


def destination_path(route, path):
    if route.get("path"):
        return route["path"]
    if route.get("pathTransform"):
        return transform_path(path, route["pathTransform"])
    return path


def route_tls_context(app, route):
    """constructOptionsObject: rejectUnauthorized true; `ca` is the keystore CA the route's
    `cert` names, else Node's public CAs (--insecure-route-tls turns verification off)."""
    ctx = ssl.create_default_context()
    if app.insecure_routes:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if route.get("cert"):
        ca = app.store.trusted_cert(str(route["cert"]))
        if ca is None:
            # keystore.ca.id(...) of a removed entry is null: Node then reads .data of null
            raise RouteError("Cannot read properties of null (reading 'data')")
        ctx = ssl.create_default_context(cadata=ca["data"])
    return ctx


def node_tls_message(error, host):
    """Node's text for a certificate that does not verify (as the transaction shows it)."""
    code = getattr(error, "verify_code", None)
    if code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
        return "Hostname/IP does not match certificate's altnames: %s" % host
    if code in (19, 20):  # self-signed in chain / no local issuer
        return ("self-signed certificate in certificate chain" if code == 19
                else "unable to verify the first certificate")
    return getattr(error, "verify_message", None) or str(error)


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
        if lk in HOP_BY_HOP or lk == "host":
            continue
        if lk == "content-length" and (method not in ("POST", "PUT", "PATCH")
                                       or str(len(body or b"")) != str(v).strip()):
            continue  # forwarded as the client sent it, with the body it announces
        if lk == "authorization" and not route.get("forwardAuthHeader"):
            continue
        out[k] = v
    if route.get("username") and route.get("password"):
        out["Authorization"] = auth.basic_header(route["username"], route["password"])
    port = int(route.get("port") or (443 if route.get("secured") else 80))
    timeout = float(timeout_ms) / 1000.0
    if route.get("secured"):
        conn = http.client.HTTPSConnection(route["host"], port, timeout=timeout,
                                           context=route_tls_context(app, route))
    else:
        conn = http.client.HTTPConnection(route["host"], port, timeout=timeout)
    try:
        # sendHttpRequest writes the request body for POST, PUT and PATCH only
        send_body = body if method in ("POST", "PUT", "PATCH") else None
        out["Connection"] = "close"  # Node's http.request with agent: false
        try:
            conn.request(method, dest, body=send_body, headers=out)
            resp = conn.getresponse()
            raw = resp.read()
        except (socket.timeout, TimeoutError):
            raise RouteError("Request took longer than %dms" % int(timeout_ms))
        except ConnectionRefusedError:
            # Node's message for the same failure
            raise RouteError("connect ECONNREFUSED %s:%d" % (route["host"], port))
        except ssl.SSLCertVerificationError as e:
            raise RouteError(node_tls_message(e, route["host"]))
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
