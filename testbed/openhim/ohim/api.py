"""The openHIM management API listener (HTTPS 8080 in openHIM; HTTP here unless a cert is given).

Basic auth as an openHIM user. Handlers follow openhim-core-js src/api/mediators.js,
channels.js, clients.js, transactions.js.
"""
import base64
import copy
import hmac
import json
import re
import urllib.parse

from .faults import FaultError
from .httpbase import BaseHandler
from .store import Conflict, NotFound, ValidationError, public_client
from .util import now_iso


def _int(v, default=None):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


class ApiHandler(BaseHandler):
    def _dispatch(self):
        app = self.server.app
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        testbed = path.startswith("/$testbed/") or path.startswith("/%24testbed/")
        if not testbed:
            mode = app.faults.down("api", path)
            if mode == "close":
                return self.drop()
        try:
            raw = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return self.send(400, "Bad Request")
        if not testbed and mode == "503":
            return self.send(503, "Service Unavailable")
        body = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                return self.send(400, "invalid JSON, only supports object and array")
        if testbed:
            return self._testbed(path.replace("/%24testbed/", "/$testbed/"), body)

        user = self._authenticate()
        if user is None:
            return self.send(401, "Unauthorized",
                             headers=[("WWW-Authenticate", 'Basic realm="Users"')])
        self.user = user
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        m = self.command
        try:
            return self._route(app, m, parts, query, body)
        except ValidationError as e:
            return self.send(400, str(e))
        except Conflict as e:
            return self.send(500, "MongoServerError: %s" % e)

    # ------------------------------------------------------------------ auth
    def _authenticate(self):
        h = self.headers.get("Authorization", "")
        mm = re.match(r"^\s*basic\s+(\S+)\s*$", h, re.I)
        if not mm:
            return None
        try:
            email, _, pw = base64.b64decode(mm.group(1)).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        u = self.server.app.store.users.get(email)
        if u is None or not hmac.compare_digest(u["password"].encode(), pw.encode()):
            return None
        return u

    def _admin(self):
        return "admin" in (self.user.get("groups") or [])

    def _perm(self, name):
        return self._admin() or bool((self.user.get("permissions") or {}).get(name))

    def _forbid(self, what):
        return self.send(403, "User %s is not an admin, API access to %s denied."
                         % (self.user["email"], what))

    # ------------------------------------------------------------------ routing
    def _route(self, app, m, p, q, body):
        st = app.store
        n = len(p)
        if p == ["heartbeat"] and m == "GET":
            meds = {}
            with st.lock:
                for urn, md in st.mediators.items():
                    meds[urn] = md.get("_lastHeartbeat")
            return self.send(200, {"master": app.uptime(), "mediators": meds, "now": now_iso()})
        if p == ["about"] and m == "GET":
            return self.send(200, {"currentCoreVersion": "8.5.0-standin", "serverTimezone": "UTC"})

        # ---------------- mediators
        if p[0] == "mediators":
            manage = self._perm("mediator-manage-all")
            view = manage or self._perm("mediator-view-all")
            if n == 1 and m == "GET":
                if not view:
                    return self._forbid("getAllMediators")
                with st.lock:
                    urns = list(st.mediators)
                return self.send(200, [st.get_mediator(u) for u in urns])
            if n == 1 and m == "POST":
                if not manage:
                    return self._forbid("addMediator")
                st.register_mediator(body)
                app.persist()
                return self.send(201, "Created")
            if n == 2 and m == "GET":
                if not view:
                    return self._forbid("getMediator")
                md = st.get_mediator(p[1])
                return self.send(404, "Not Found") if md is None else self.send(200, md)
            if n == 2 and m == "DELETE":
                if not manage:
                    return self._forbid("removeMediator")
                st.delete_mediator(p[1])
                app.persist()
                return self.send(200, "Mediator with urn %s has been successfully removed by %s"
                                 % (p[1], self.user["email"]))
            if n == 3 and p[2] == "heartbeat" and m == "POST":
                if not manage:
                    return self._forbid("heartbeat")
                found, ok, cfg = st.heartbeat(p[1], body)
                if not found:
                    return self.send(404, "Not Found")
                if not ok:
                    return self.send(400, "Bad Request")
                if cfg is None:
                    return self.send(200, b"", content_type="text/plain; charset=utf-8")
                return self.send(200, cfg)
            if n == 3 and p[2] == "config" and m == "PUT":
                if not manage:
                    return self._forbid("setConfig")
                try:
                    st.set_mediator_config(p[1], body if body is not None else {})
                except NotFound:
                    return self.send(404, "No mediator found for this urn.")
                app.persist()
                return self.send(200, "OK")
            if n == 3 and p[2] == "channels" and m == "POST":
                if not manage:
                    return self._forbid("loadDefaultChannels")
                try:
                    st.install_default_channels(p[1], body or [])
                except NotFound:
                    return self.send(404, "No mediator found for this urn.")
                app.persist()
                return self.send(201, "Created")

        # ---------------- channels
        if p[0] == "channels":
            if n == 1 and m == "GET":
                with st.lock:
                    chs = [dict(c) for c in st.channels]
                if not self._perm("channel-view-all"):
                    g = set(self.user.get("groups") or [])
                    chs = [c for c in chs if g & set(c.get("txViewAcl") or [])]
                return self.send(200, chs)
            if n == 1 and m == "POST":
                if not self._perm("channel-manage-all"):
                    return self._forbid("addChannel")
                st.add_channel(body)
                app.persist()
                return self.send(201, "Channel successfully created")
            if n == 2:
                c = st.get_channel(p[1])
                if c is None:
                    return self.send(404, "We could not find a channel with Id:'%s'." % p[1])
                if m == "GET":
                    return self.send(200, c)
                if not self._perm("channel-manage-all"):
                    return self._forbid("updateChannel")
                if m == "PUT":
                    st.update_channel(p[1], body)
                    app.persist()
                    return self.send(200, "The channel was successfully updated")
                if m == "DELETE":
                    st.delete_channel(p[1])
                    app.persist()
                    return self.send(200, "The channel was successfully deleted")

        # ---------------- clients
        if p[0] == "clients":
            if not self._perm("client-manage-all") and m != "GET":
                return self._forbid("addClient")
            if not self._perm("client-view-all"):
                return self._forbid("getClients")
            if n == 1 and m == "GET":
                with st.lock:
                    return self.send(200, [public_client(c) for c in st.clients])
            if n == 1 and m == "POST":
                c = st.add_client(body)
                app.persist()
                return self.send(201, json.dumps(c["_id"]), content_type="application/json")
            if n == 2:
                c = st.client_by("_id", p[1]) or st.client_by("clientID", p[1])
                if c is None:
                    return self.send(404, "Could not find client with ID %s" % p[1])
                if m == "GET":
                    return self.send(200, public_client(c))
                if m == "PUT":
                    with st.lock:
                        c.update({k: v for k, v in (body or {}).items() if k != "_id"})
                    app.persist()
                    return self.send(200, "Successfully updated client.")
                if m == "DELETE":
                    with st.lock:
                        st.clients.remove(c)
                    app.persist()
                    return self.send(200, "Successfully removed client with ID %s" % p[1])

        # ---------------- transactions
        if p[0] == "transactions":
            if n == 1 and m == "GET":
                return self._list_transactions(st, q)
            if n == 2 and m == "GET":
                tx = st.get_transaction(p[1])
                if tx is None:
                    return self.send(404, "Could not find transaction with ID: %s" % p[1])
                if not self._admin():
                    g = set(self.user.get("groups") or [])
                    ch = st.get_channel(tx.get("channelID")) or {}
                    if not g & set(ch.get("txViewAcl") or []):
                        return self.send(403, "User %s is not authenticated to retrieve "
                                         "transaction %s" % (self.user["email"], p[1]))
                    if not g & set(ch.get("txViewFullAcl") or []):
                        tx = _project(tx, "simpledetails")
                return self.send(200, tx)
            if n == 2 and m == "PUT":
                if not self._admin():
                    return self._forbid("updateTransaction")
                try:
                    st.api_update_transaction(p[1], body)
                except NotFound:
                    return self.send(500, "Could not update transaction via the API: TypeError: "
                                     "Cannot read properties of null (reading 'body')")
                return self.send(200, "Transaction with ID: %s successfully updated" % p[1])

        return self.send(404, "Not Found")

    def _list_transactions(self, st, q):
        rep = q.get("filterRepresentation", "")
        try:
            filters = json.loads(q["filters"]) if q.get("filters") else {}
        except ValueError:
            return self.send(500, "Could not retrieve transactions via the API: SyntaxError")
        if q.get("channelID"):
            filters["channelID"] = q["channelID"]
        if q.get("status"):  # stand-in shortcut for filters={"status": ...}
            filters["status"] = q["status"]
        txs = st.list_transactions()
        if not self._admin():
            g = set(self.user.get("groups") or [])
            with st.lock:
                ok = {c["_id"] for c in st.channels if g & set(c.get("txViewAcl") or [])}
            if filters.get("channelID") and filters["channelID"] not in ok:
                return self.send(403, "Forbidden: Unauthorized channel %s" % filters["channelID"])
            txs = [t for t in txs if t.get("channelID") in ok]
            rep = ""

        def match(t):
            for k, v in filters.items():
                cur = t
                for part in k.split("."):
                    cur = cur.get(part) if isinstance(cur, dict) else None
                if k in ("request.path", "request.querystring"):
                    if not (isinstance(cur, str) and re.search(str(v), cur, re.I)):
                        return False
                elif k == "response.status" and isinstance(v, str) and re.fullmatch(r"\dxx", v):
                    if not (isinstance(cur, int) and cur // 100 == int(v[0])):
                        return False
                elif isinstance(v, dict) and "$in" in v:
                    if cur not in v["$in"]:
                        return False
                elif cur != v and str(cur) != str(v):
                    return False
            return True
        txs = [t for t in txs if match(t)]
        txs.sort(key=lambda t: t["request"].get("timestamp") or "", reverse=True)
        limit = _int(q.get("filterLimit"), _int(q.get("limit")))
        page = _int(q.get("filterPage"), 0) or 0
        if limit:
            txs = txs[page * limit:page * limit + limit]
        return self.send(200, [_project(t, rep) for t in txs])

    # ------------------------------------------------------------------ testbed control
    def _testbed(self, path, body):
        app = self.server.app
        if path == "/$testbed/faults":
            if self.command == "POST":
                items = body if isinstance(body, list) else [body]
                try:
                    for f in items:
                        app.faults.add(f)
                except FaultError as e:
                    return self.send(400, {"error": str(e)})
                return self.send(201, {"faults": app.faults.list()})
            if self.command == "GET":
                return self.send(200, {"faults": app.faults.list()})
            if self.command == "DELETE":
                app.faults.clear()
                return self.send(200, {"faults": []})
        if path == "/$testbed/health" and self.command == "GET":
            return self.send(200, {"ok": True, "router": app.router_port, "api": app.api_port})
        return self.send(404, {"error": "unknown testbed endpoint"})


def _project(tx, rep):
    """transactions.js getProjectionObject."""

    t = copy.deepcopy(tx)
    if rep in ("full", "fulltruncate"):
        return t
    if rep == "simpledetails":
        for part in ("request", "response"):
            (t.get(part) or {}).pop("body", None)
        for lst in ("routes", "orchestrations"):
            for o in t.get(lst) or []:
                for part in ("request", "response"):
                    if isinstance(o.get(part), dict):
                        o[part].pop("body", None)
        return t
    for part in ("request", "response"):
        (t.get(part) or {}).pop("body", None)
        (t.get(part) or {}).pop("headers", None)
    t.pop("orchestrations", None)
    t.pop("routes", None)
    return t
