"""The openHIM management API listener (HTTPS 8080 in openHIM; HTTP here unless a cert is given).

Basic auth as an openHIM user. Handlers follow openhim-core-js src/api/mediators.js,
channels.js, clients.js, transactions.js.
"""
import copy
import json
import re
import time
import urllib.parse

from standin_core import auth
from standin_core.server import BodyError, admin_path

from .store import CastError, Conflict, NotFound, ValidationError, public_client
from .util import OpenhimHandler

AUTH_BODY = "User Authenticated Successfully"
OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


def _int(v, default=None):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


class ApiHandler(OpenhimHandler):
    def _dispatch(self):
        app = self.server.app
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        try:
            raw = self.read_body()
        except (BodyError, OSError):
            self.close_connection = True
            return self.send(400, "Bad Request")
        testbed = admin_path(path)
        if testbed is None and self.fault_gate(app.faults, self.command, path, raw,
                                               listener="api"):
            return
        body = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                return self.send(400, "invalid JSON, only supports object and array")
        if testbed is not None:
            return self._testbed(testbed, body)

        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        m = self.command
        if parts == ["heartbeat"] and m == "GET":
            return self._core_heartbeat(app)  # no authentication (koaApi.js)
        user = self._authenticate()
        if user is None:
            # authentication.js sets the status only ("NOT THE BODY"): Koa's default text
            return self.send(401, "Unauthorized")
        self.user = user
        try:
            return self._route(app, m, parts, query, body)
        except CastError as e:
            return self.send(500, "CastError: %s" % e)

    # ------------------------------------------------------------------ auth
    def _authenticate(self):
        h = self.headers.get("Authorization", "")
        # authentication.js requestType: the header must contain "Basic" (case-sensitive);
        # passport-http then splits "<scheme> <credentials>"
        mm = re.match(r"^\s*\S+\s+(\S+)\s*$", h) if "Basic" in h else None
        if not mm:
            return None
        email_pw = auth.decode_basic(mm.group(1))
        if email_pw is None:
            return None
        u = self.server.app.store.users.get(email_pw[0])
        if u is None or not auth.same(u["password"], email_pw[1]):
            return None
        return u

    def _admin(self):
        """authorisation.inGroup('admin', user): the only check openHIM 8.5.0's API makes."""
        return "admin" in (self.user.get("groups") or [])

    def _forbid(self, what):
        return self.send(403, "User %s is not an admin, API access to %s denied."
                         % (self.user["email"], what))

    def _authenticated_ok(self, status):
        """A handler that sets only ctx.status keeps the body the Basic authentication step
        set (authenticateBasic: 'User Authenticated Successfully')."""
        return self.send(status, AUTH_BODY)

    def _core_heartbeat(self, app):
        """api/heartbeat.js: the master's uptime in seconds, each mediator's reported uptime if
        it sent a heartbeat within the last 60 s (else null), now in epoch ms."""
        st = app.store
        out = {"master": app.uptime() / 1000.0}
        with st.lock:
            meds = list(st.mediators.values())
        if meds:
            out["mediators"] = {}
            for md in meds:
                last = md.get("_lastHeartbeatMono")
                recent = (last is not None and md.get("_uptime") is not None
                          and time.monotonic() - last <= 61)
                out["mediators"][md["urn"]] = md.get("_uptime") if recent else None
        out["now"] = int(time.time() * 1000)
        return self.send(200, out)

    # ------------------------------------------------------------------ routing
    def _route(self, app, m, p, q, body):
        st = app.store
        n = len(p)
        if p == ["about"] and m == "GET":
            return self.send(200, {"currentCoreVersion": "8.5.0", "serverTimezone": "UTC"})

        # ---------------- mediators (api/mediators.js; every call needs group admin)
        if p[0] == "mediators":
            # the 403 texts name openHIM's handlers, as its code does (sic: removeMediator)
            if n == 1 and m == "GET":
                if not self._admin():
                    return self._forbid("getAllMediators")
                with st.lock:
                    urns = list(st.mediators)
                return self.send(200, [st.get_mediator(u) for u in urns])
            if n == 1 and m == "POST":
                if not self._admin():
                    return self._forbid("addMediator")
                try:
                    st.register_mediator(body if body is not None else {})
                except ValidationError as e:
                    return self.send(400, "Could not add Mediator via the API: ValidationError: "
                                     "%s" % e)
                app.persist()
                return self._authenticated_ok(201)
            if n == 2 and m == "GET":
                if not self._admin():
                    return self._forbid("getMediator")
                md = st.get_mediator(p[1])
                return self._authenticated_ok(404) if md is None else self.send(200, md)
            if n == 2 and m == "DELETE":
                if not self._admin():
                    return self._forbid("removeMediator")
                st.delete_mediator(p[1])
                app.persist()
                return self.send(200, "Mediator with urn %s has been successfully removed by %s"
                                 % (p[1], self.user["email"]))
            if n == 3 and p[2] == "heartbeat" and m == "POST":
                if not self._admin():
                    return self._forbid("removeMediator")
                found, ok, cfg = st.heartbeat(p[1], body)
                if not found:
                    return self._authenticated_ok(404)
                if not ok:
                    return self._authenticated_ok(400)
                if cfg is None:
                    return self.send(200, b"", content_type="text/plain; charset=utf-8")
                return self.send(200, cfg)
            if n == 3 and p[2] == "config" and m == "PUT":
                if not self._admin():
                    return self._forbid("removeMediator")
                try:
                    st.set_mediator_config(p[1], body if body is not None else {})
                except NotFound:
                    return self.send(404, "No mediator found for this urn.")
                except ValidationError as e:
                    return self.send(400, str(e))
                app.persist()
                return self._authenticated_ok(200)
            if n == 3 and p[2] == "channels" and m == "POST":
                if not self._admin():
                    return self._forbid("removeMediator")
                try:
                    st.install_default_channels(p[1], body or [])
                except NotFound:
                    return self.send(404, "No mediator found for this urn.")
                except ValidationError as e:
                    if e.bare:
                        return self.send(400, str(e))
                    return self.send(500, "Could not load mediator default channel config "
                                     "(urn: %s): ValidationError: %s" % (p[1], e))
                except Conflict as e:
                    app.persist()
                    return self.send(500, "Could not load mediator default channel config "
                                     "(urn: %s): MongoServerError: %s" % (p[1], e))
                app.persist()
                return self._authenticated_ok(201)

        # ---------------- channels (api/channels.js)
        if p[0] == "channels":
            if n == 1 and m == "GET":
                with st.lock:
                    chs = [dict(c) for c in st.channels]
                if not self._admin():
                    g = set(self.user.get("groups") or [])
                    chs = [c for c in chs if g & set(c.get("txViewAcl") or [])]
                return self.send(200, chs)
            if n == 1 and m == "POST":
                if not self._admin():
                    return self._forbid("addChannel")
                try:
                    st.add_channel(body if isinstance(body, dict) else {}, api_checks=True)
                except ValidationError as e:
                    return self.send(400, str(e) if e.bare else
                                     "Could not add channel via the API: ValidationError: %s" % e)
                except Conflict as e:
                    return self.send(400, "Could not add channel via the API: "
                                     "MongoServerError: %s" % e)
                app.persist()
                return self.send(201, "Channel successfully created")
            if n == 2:
                if m == "GET":
                    c = st.get_channel(p[1])
                    if c is not None and not self._admin() and not (
                            set(self.user.get("groups") or []) & set(c.get("txViewAcl") or [])):
                        return self.send(403, "Access denied to channel with Id: '%s'." % p[1])
                    if c is None:
                        return self.send(404, "We could not find a channel with Id:'%s'."
                                         % p[1])
                    return self.send(200, c)
                if m == "PUT":
                    if not self._admin():
                        return self._forbid("updateChannel")
                    if st.get_channel(p[1]) is None:
                        return self.send(500, "Could not update channel by id: %s via the API: "
                                         "TypeError: Cannot read properties of null" % p[1])
                    try:
                        st.update_channel(p[1], {k: v for k, v in (body or {}).items()
                                                 if k != "_id"})
                    except ValidationError as e:
                        return self.send(400, str(e) if e.bare else
                                         "Could not update channel by id: %s via the API: "
                                         "ValidationError: %s" % (p[1], e))
                    except Conflict as e:
                        return self.send(500, "Could not update channel by id: %s via the API: "
                                         "MongoServerError: %s" % (p[1], e))
                    app.persist()
                    return self.send(200, "The channel was successfully updated")
                if m == "DELETE":
                    if not self._admin():
                        return self._forbid("removeChannel")
                    try:
                        st.delete_channel(p[1])
                    except NotFound:
                        pass  # findByIdAndRemove of nothing: still "deleted"
                    app.persist()
                    return self.send(200, "The channel was successfully deleted")

        # ---------------- keystore (api/keystore.js; admin only): the trusted CAs
        if p[0] == "keystore" and n >= 2 and p[1] == "ca":
            if n == 2 and m == "GET":
                if not self._admin():
                    return self._forbid("getCACerts")
                with st.lock:
                    return self.send(200, [dict(c) for c in st.keystore_ca])
            if n == 3 and m == "POST" and p[2] == "cert":
                if not self._admin():
                    return self._forbid("addTrustedCert by id")
                chain = body.get("cert") if isinstance(body, dict) else None
                try:
                    st.add_trusted_certs(chain if isinstance(chain, str) else "")
                except ValidationError as e:
                    return self.send(400, "Failed to add one more cert, are they valid? %s" % e)
                app.persist()
                return self._authenticated_ok(201)
            if n == 3 and m == "GET":
                if not self._admin():
                    return self._forbid("getCACert by id")
                c = st.trusted_cert(p[2])
                return self.send(200, c) if c else self._authenticated_ok(404)

        # ---------------- clients (api/clients.js; admin only)
        if p[0] == "clients":
            if not self._admin():
                return self._forbid({"GET": "getClients" if n == 1 else "findClientById",
                                     "POST": "addClient", "PUT": "updateClient",
                                     "DELETE": "removeClient"}.get(m, "clients"))
            if n == 1 and m == "GET":
                with st.lock:
                    return self.send(200, [public_client(c) for c in st.clients])
            if n == 1 and m == "POST":
                try:
                    st.add_client(body)
                except (ValidationError, Conflict) as e:
                    return self.send(400, str(e))
                app.persist()
                return self.send(201, "Client successfully created")
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
            if n == 2 and not OBJECT_ID.match(p[1]):
                return self.send(500, "Could not %s transaction %svia the API: CastError: Cast to "
                                 "ObjectId failed for value \"%s\" (type string) at path "
                                 "\"_id\" for model \"Transaction\""
                                 % ("get" if m == "GET" else "update",
                                    "by ID " if m == "GET" else "", p[1]))
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
                    st.api_update_transaction(p[1], body if body is not None else {})
                except NotFound:
                    return self.send(500, "Could not update transaction via the API: TypeError: "
                                     "Cannot read properties of null (reading 'body')")
                except CastError as e:
                    return self.send(500, "Could not update transaction via the API: "
                                     "CastError: %s" % e)
                return self.send(200, "Transaction with ID: %s successfully updated" % p[1])

        # no route matched: Koa keeps the authentication step's 200 and body
        return self._authenticated_ok(200)

    def _list_transactions(self, st, q):
        rep = q.get("filterRepresentation", "")
        try:
            filters = json.loads(q["filters"]) if q.get("filters") else {}
        except ValueError:
            return self.send(500, "Could not retrieve transactions via the API: SyntaxError")
        # only filters=<JSON> filters: a bare ?channelID= or ?status= is ignored, as in openHIM
        txs = st.list_transactions()
        if not self._admin():
            g = set(self.user.get("groups") or [])
            with st.lock:
                full = {c["_id"] for c in st.channels if g & set(c.get("txViewFullAcl") or [])}
                part = {c["_id"] for c in st.channels if g & set(c.get("txViewAcl") or [])}
            ok = full | part
            if filters.get("channelID") and filters["channelID"] not in ok:
                return self.send(403, "Forbidden: Unauthorized channel %s" % filters["channelID"])
            txs = [t for t in txs if t.get("channelID") in ok]
            rep = "full" if full else "simpledetails" if part else ""

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
        limit = _int(q.get("filterLimit"))
        page = _int(q.get("filterPage"), 0) or 0
        if limit:
            txs = txs[page * limit:page * limit + limit]
        return self.send(200, [_project(t, rep) for t in txs])

    # ------------------------------------------------------------------ testbed control
    def _testbed(self, sub, body):
        app = self.server.app
        if sub == "faults":
            out = app.faults.admin(self.command, body, created=201)
            if out is not None:
                status, res = out
                if status != 400:
                    res["faults"] = res["pending"]     # the name this endpoint first used
                return self.send(status, res)
        if sub == "health" and self.command == "GET":
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
