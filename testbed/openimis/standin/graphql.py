"""openIMIS's GraphQL API (`/api/graphql`) as the released backend answers it,
for the writer's default path: tokenAuth + getCsrfToken login, the location
module's health-facility mutations and queries, core's mutationLogs.

Observed on the released server (core 1.11.0, location 1.11.0; see
testbed/openimis/README.md "GraphQL"): HTTP 200 whatever a mutation does, the
outcome only in mutationLogs (0 received, 1 error with a JSON error, 2
success); a create's duplicate-code check is check-then-insert (no unique
constraint); an update replaces the whole record; level and care type are not
validated; a code over 8 characters is refused with HTTP 400
core.string.over_max_length before anything runs, also when it is one of
several mutations in the request (none of them runs); several mutation
fields in one request run one after the other, each with its own mutation
log; requests without the session and CSRF cookies fail with the error
"'csrftoken'".

The document parser covers what clients of these fields send: operations
with variables, nested selections, inline literal arguments; no fragments or
directives (refused with a clear error).
"""
import base64
import json
import re
import secrets
import threading
import uuid as _uuid

from standin_core import auth

GRAPHQL_PATHS = ("/api/graphql", "/api/graphql/")

STATUS_TO_STORE = {"AC": "active", "IN": "inactive"}
STATUS_FROM_STORE = {"active": "AC", "inactive": "IN"}


class GraphqlError(Exception):
    """A document the server refuses as a whole (HTTP 400)."""


# ------------------------------------------------------------------ parsing
_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|(\.\.\.)|([!$():=@\[\]{}|,])|'
                    r'("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([_A-Za-z]\w*))')


HF_MUTATIONS = ("createHealthFacility", "updateHealthFacility")


def _tokens(text):
    pos, out = 0, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise GraphqlError("Syntax Error: unexpected character %r" % text[pos])
        pos = m.end()
        comment, spread, punct, string, number, name = m.groups()
        if comment:
            continue
        if spread:
            raise GraphqlError("fragments are not supported by the stand-in")
        if punct:
            if punct == ",":
                continue
            out.append(("p", punct))
        elif string is not None:
            out.append(("s", json.loads(string)))
        elif number is not None:
            out.append(("n", float(number) if "." in number or "e" in number.lower()
                        else int(number)))
        elif name is not None:
            out.append(("name", name))
    return out


class _Parser:
    def __init__(self, text, variables):
        self.t = _tokens(text)
        self.i = 0
        self.vars = variables or {}

    def peek(self, kind=None, value=None):
        if self.i >= len(self.t):
            return None
        tok = self.t[self.i]
        if kind and tok[0] != kind:
            return None
        if value is not None and tok[1] != value:
            return None
        return tok

    def take(self, kind=None, value=None):
        tok = self.peek(kind, value)
        if tok is None:
            got = self.t[self.i][1] if self.i < len(self.t) else "<EOF>"
            raise GraphqlError("Syntax Error: Expected %s, found %s" % (value or kind, got))
        self.i += 1
        return tok

    def document(self):
        op = "query"
        if self.peek("name") and self.t[self.i][1] in ("query", "mutation"):
            op = self.take()[1]
            if self.peek("name"):
                self.take()
            if self.peek("p", "("):  # variable definitions: skipped (types unchecked)
                depth = 0
                while True:
                    tok = self.take()
                    if tok == ("p", "("):
                        depth += 1
                    elif tok == ("p", ")"):
                        depth -= 1
                        if depth == 0:
                            break
        return op, self.selection_set()

    def selection_set(self):
        self.take("p", "{")
        fields = []
        while not self.peek("p", "}"):
            name = self.take("name")[1]
            alias = name
            if self.peek("p", ":"):
                self.take()
                name = self.take("name")[1]
            args = {}
            if self.peek("p", "("):
                self.take()
                while not self.peek("p", ")"):
                    key = self.take("name")[1]
                    self.take("p", ":")
                    args[key] = self.value()
                self.take("p", ")")
            if self.peek("p", "@"):
                raise GraphqlError("directives are not supported by the stand-in")
            sub = self.selection_set() if self.peek("p", "{") else None
            fields.append((alias, name, args, sub))
        self.take("p", "}")
        return fields

    def value(self):
        tok = self.take()
        if tok == ("p", "$"):
            return self.vars.get(self.take("name")[1])
        if tok[0] in ("s", "n"):
            return tok[1]
        if tok[0] == "name":
            return {"true": True, "false": False, "null": None}.get(tok[1], tok[1])
        if tok == ("p", "["):
            out = []
            while not self.peek("p", "]"):
                out.append(self.value())
            self.take()
            return out
        if tok == ("p", "{"):
            out = {}
            while not self.peek("p", "}"):
                key = self.take("name")[1]
                self.take("p", ":")
                out[key] = self.value()
            self.take()
            return out
        raise GraphqlError("Syntax Error: unexpected %r" % (tok[1],))


def parse_document(text, variables):
    return _Parser(text, variables).document()


# ---------------------------------------------------------------- shaping
def _project(value, sub, type_name):
    if sub is None or value is None:
        return value
    if isinstance(value, list):
        return [_project(v, sub, type_name) for v in value]
    out = {}
    for alias, name, _args, child in sub:
        if name == "__typename":
            out[alias] = type_name
            continue
        if name not in value:
            raise GraphqlError('Cannot query field "%s" on type "%s".' % (name, type_name))
        out[alias] = _project(value[name], child, type_name)
    return out


def _relay_id(type_name, row_id):
    return base64.b64encode(("%s:%s" % (type_name, row_id)).encode()).decode()


def _cursor(offset):
    return base64.b64encode(("arrayconnection:%d" % offset).encode()).decode()


def _offset(cursor):
    try:
        return int(base64.b64decode(cursor).decode().split(":")[1]) + 1
    except (ValueError, IndexError, TypeError):
        raise GraphqlError("Invalid cursor %r" % (cursor,))


def _connection(rows, args, node=None):
    """One page of `rows` (a list, or a _SqlPage) as a relay connection;
    `node` turns a row of the page into its node."""
    first = args.get("first")
    start = _offset(args["after"]) if args.get("after") else 0
    if first is not None and int(first) > 100:
        first = 100  # openIMIS caps `first` (RELAY_CONNECTION_MAX_LIMIT)
    total = len(rows)  # a _SqlPage counts with a query: once a page
    end = total if first is None else min(total, start + int(first))
    page = rows[start:end]
    if node is not None:
        page = [node(r) for r in page]
    return {"totalCount": total,
            "edgeCount": len(page),
            "pageInfo": {"hasNextPage": end < total, "hasPreviousPage": start > 0,
                         "startCursor": _cursor(start) if page else None,
                         "endCursor": _cursor(end - 1) if page else None},
            "edges": [{"node": n, "cursor": _cursor(start + i)} for i, n in enumerate(page)]}


# The orders of the unfiltered current-facility list served from SQL, as
# openIMIS's ORDER BY (validity_from is unique enough; id breaks ties).
_SQL_ORDER = {(): "id", ("id",): "id", ("-validityFrom",): "validity_from DESC, id",
              ("-validityFrom", "id"): "validity_from DESC, id"}


def _unfiltered(args):
    return not args.get("showHistory") and all(
        args.get(k) is None for k in ("code", "uuid", "level", "status"))


class _SqlPage:
    """The current health facilities in one SQL order, counted and sliced
    by SQL (LIMIT/OFFSET, like openIMIS's offset cursors)."""

    def __init__(self, store, order_sql):
        self.store, self.order_sql = store, order_sql

    def __len__(self):
        return self.store.count_hf()

    def __getitem__(self, window):
        return self.store.page_hf(self.order_sql, window.start,
                                  max(0, window.stop - window.start))


# ----------------------------------------------------------------- the API
class GraphqlApi:
    """The /api/graphql endpoint over the stand-in's Store. `async_delay`
    seconds > 0 keeps each mutation at status 0 that long before it runs
    (openIMIS's default: mutations run later, on a Celery worker)."""

    def __init__(self, app, async_delay=0.0):
        self.app = app
        self.store = app.store
        self.async_delay = float(async_delay)
        self.lock = threading.Lock()
        self.sessions = {}   # sessionid -> csrftoken
        self.logs = {}       # clientMutationId -> [log dict]
        self.log_seq = 0
        self.counts = {}     # mutation -> {received, succeeded, failed}
        self.mutation_requests = 0  # requests carrying health-facility mutations

    def reset_counts(self):
        with self.lock:
            self.counts = {}
            self.mutation_requests = 0

    def mutation_counts(self):
        with self.lock:
            return json.loads(json.dumps(self.counts))

    def mutation_request_count(self):
        with self.lock:
            return self.mutation_requests

    def _count(self, name, key):
        with self.lock:
            entry = self.counts.setdefault(name, {"received": 0, "succeeded": 0, "failed": 0})
            entry[key] += 1

    # --------------------------------------------------------------- entry
    def handle(self, body, headers):
        """Returns (status, body_dict, extra_headers)."""
        try:
            req = json.loads(body or b"null")
        except ValueError:
            return 400, {"errors": [{"message": "POST body sent invalid JSON."}]}, {}
        if not isinstance(req, dict) or not isinstance(req.get("query"), str):
            return 400, {"errors": [{"message": "Must provide query string."}]}, {}
        try:
            op, fields = parse_document(req["query"], req.get("variables") or {})
        except GraphqlError as exc:
            return 400, {"errors": [{"message": str(exc)}]}, {}
        cookies = {}
        for part in (headers.get("Cookie") or "").split(";"):
            if "=" in part:
                k, v = part.split("=", 1)
                cookies[k.strip()] = v.strip()
        ctx = {"headers": headers, "cookies": cookies, "set_cookies": []}
        data, errors = {}, []
        if op == "mutation" and any(self._over_max_length(f[1], f[2]) for f in fields):
            return 400, {"errors": [{"message": "core.string.over_max_length"}]}, {}
        if op == "mutation" and any(f[1] in HF_MUTATIONS for f in fields):
            with self.lock:
                self.mutation_requests += 1
        try:
            for alias, name, args, sub in fields:
                try:
                    data[alias] = self._field(op, name, args, sub, ctx)
                except _FieldError as exc:
                    if exc.status != 200:
                        return exc.status, {"errors": [{"message": exc.message}]}, {}
                    data[alias] = None
                    errors.append({"message": exc.message, "path": [alias]})
        except GraphqlError as exc:
            return 400, {"errors": [{"message": str(exc)}]}, {}
        out = {"data": data}
        if errors:
            out = {"errors": errors, "data": data}
        hdrs = {"Set-Cookie": ctx["set_cookies"]} if ctx["set_cookies"] else {}
        return 200, out, hdrs

    # ---------------------------------------------------------------- auth
    def _user(self, ctx, need_session=True):
        token = auth.token_for(ctx["headers"].get("Authorization"), ("bearer", "jwt")) or \
            ctx["cookies"].get("JWT")
        if not token:
            raise _FieldError("You do not have permission to perform this action")
        try:
            payload = self.app.tokens.verify(token)
        except auth.JWTError as exc:
            raise _FieldError(str(exc), status=401) from None
        if need_session:
            session = ctx["cookies"].get("sessionid")
            with self.lock:
                csrf = self.sessions.get(session)
            if csrf is None or ctx["cookies"].get("csrftoken") != csrf or \
                    ctx["headers"].get("X-CSRFToken") != csrf:
                raise _FieldError("'csrftoken'")
        return payload

    def _token_auth(self, args, sub, ctx):
        user = self.store.check_user_exact(str(args.get("username", "")),
                                           str(args.get("password", "")))
        if user is None:
            with self.app.lock:
                self.app.login_failures += 1
            raise _FieldError("INCORRECT_CREDENTIALS")
        token, exp = self.app.issue_token(user["username"])
        csrf = secrets.token_urlsafe(24)
        ctx["set_cookies"] += ["JWT=%s; HttpOnly; Path=/; SameSite=Lax" % token,
                               "csrftoken=%s; Path=/; SameSite=Lax" % csrf]
        return _project({"token": token, "payload": {"username": user["username"], "exp": exp},
                         "refreshExpiresIn": exp}, sub, "ObtainJSONWebToken")

    def _csrf(self, sub, ctx):
        self._user(ctx, need_session=False)
        csrf = ctx["cookies"].get("csrftoken") or secrets.token_urlsafe(24)
        session = secrets.token_hex(16)
        with self.lock:
            self.sessions[session] = csrf
        ctx["set_cookies"] += ["csrftoken=%s; Path=/; SameSite=Lax" % csrf,
                               "sessionid=%s; HttpOnly; Path=/; SameSite=Lax" % session]
        return _project({"csrfToken": csrf}, sub, "GetCsrfToken")

    # -------------------------------------------------------------- fields
    def _field(self, op, name, args, sub, ctx):
        if op == "mutation":
            if name == "tokenAuth":
                return self._token_auth(args, sub, ctx)
            if name == "getCsrfToken":
                return self._csrf(sub, ctx)
            self._user(ctx)
            if name in ("createHealthFacility", "updateHealthFacility", "createLocation"):
                return self._mutation(name, args.get("input") or {}, sub)
            raise GraphqlError('Cannot query field "%s" on type "Mutation".' % name)
        self._user(ctx)
        if name == "healthFacilities":
            return _project(_connection(self._hf_rows(args), args, self._hf_node), sub,
                            "HealthFacilityGQLTypeConnection")
        if name == "locations":
            return _project(_connection(self._location_rows(args), args), sub,
                            "LocationGQLTypeConnection")
        if name == "mutationLogs":
            with self.lock:
                logs = list(self.logs.get(args.get("clientMutationId"), [])) \
                    if args.get("clientMutationId") else \
                    [x for v in self.logs.values() for x in v]
            nodes = [{"id": _relay_id("MutationLogGQLType", x["seq"]), "status": x["status"],
                      "error": x["error"], "clientMutationId": x["client_mutation_id"],
                      "clientMutationLabel": x["label"]} for x in logs]
            return _project(_connection(nodes, args), sub, "MutationLogGQLTypeConnection")
        raise GraphqlError('Cannot query field "%s" on type "Query".' % name)

    # ------------------------------------------------------------- queries
    def _area_node(self, area, depth=0):
        if area is None:
            return None
        parent = self.store.area_by_id(area["parent_id"]) if area.get("parent_id") else None
        return {"id": _relay_id("LocationGQLType", area["id"]), "uuid": area["uuid"],
                "code": area["code"], "name": area["name"], "type": area["type"],
                "parent": self._area_node(parent, depth + 1) if depth < 3 else None,
                "validityFrom": area["validity_from"], "validityTo": area["validity_to"]}

    def _hf_node(self, hf):
        return {"id": _relay_id("HealthFacilityGQLType", hf["id"]), "uuid": hf["uuid"],
                "code": hf["code"], "name": hf["name"], "level": hf["level"],
                "careType": hf["care_type"], "status": STATUS_FROM_STORE.get(
                    hf["status"], hf["status"]),
                # NULL columns read as null (an update without contacts
                # leaves them NULL)
                "address": hf["address"], "phone": hf["phone"],
                "fax": hf["fax"], "email": hf["email"],
                "legalForm": {"code": hf["legal_form"]},
                "location": self._area_node(self.store.area_by_id(hf["location_id"])),
                "validityFrom": hf["validity_from"], "validityTo": hf["validity_to"]}

    def _hf_rows(self, args):
        order = args.get("orderBy") or []
        if isinstance(order, str):
            order = [order]
        if _unfiltered(args) and tuple(order) in _SQL_ORDER:
            # the index loads: pages straight from SQL, not every row per page
            return _SqlPage(self.store, _SQL_ORDER[tuple(order)])
        if not args.get("showHistory") and (args.get("code") or args.get("uuid")):
            # the writer's look-ups and read-backs: an indexed query, not a scan
            one = self.store.hf_current_by_code(args["code"]) if args.get("code") else \
                self.store.hf_current_by_uuid(args["uuid"])
            rows = [one] if one else []
        else:
            rows = self.store.list_hf_all(history=bool(args.get("showHistory")))
        for key, col in (("code", "code"), ("uuid", "uuid"), ("level", "level")):
            if args.get(key) is not None:
                rows = [r for r in rows if r[col] == args[key]]
        if args.get("status") is not None:
            rows = [r for r in rows if STATUS_FROM_STORE.get(r["status"], r["status"])
                    == args["status"]]
        for key in reversed(order):
            desc = key.startswith("-")
            col = {"validityFrom": "validity_from", "code": "code", "name": "name",
                   "id": "id"}.get(key.lstrip("-"), "id")
            rows.sort(key=lambda r: (r[col], r["id"]), reverse=desc)
        return rows

    def _location_rows(self, args):
        rows = self.store.list_areas(0, 1 << 30)
        rows.sort(key=lambda r: r["id"])
        for key in ("type", "code", "uuid"):
            if args.get(key) is not None:
                rows = [r for r in rows if r[key] == args[key]]
        return [self._area_node(r) for r in rows]

    # ----------------------------------------------------------- mutations
    @staticmethod
    def _over_max_length(name, args):
        """A health-facility code over its 8 characters: the released server
        refuses the whole request while reading its input, before any field
        runs."""
        if name not in HF_MUTATIONS:
            return False
        data = args.get("input") or {}
        return isinstance(data, dict) and len(str(data.get("code") or "")) > 8

    def _mutation(self, name, data, sub):
        cid = data.get("clientMutationId")
        self._count(name, "received")
        with self.lock:
            self.log_seq += 1
            log = {"seq": self.log_seq, "status": 0, "error": None,
                   "client_mutation_id": cid, "label": data.get("clientMutationLabel")}
            self.logs.setdefault(cid, []).append(log)
        if self.async_delay > 0:
            timer = threading.Timer(self.async_delay, self._run, (name, data, log))
            timer.daemon = True
            timer.start()
        else:
            self._run(name, data, log)
        return _project({"clientMutationId": cid, "internalId": str(_uuid.uuid4())}, sub,
                        name[0].upper() + name[1:] + "Payload")

    def _run(self, name, data, log):
        try:
            error = getattr(self, "_" + name)(data)
        except Exception as exc:  # noqa: BLE001 - the mutation wrapper's catch-all
            error = "The mutation threw a %s, check logs for details" % type(exc)
        self._count(name, "failed" if error else "succeeded")
        with self.lock:
            log["status"] = 1 if error else 2
            log["error"] = error

    @staticmethod
    def _failed(what, code, detail):
        return json.dumps([{"message": "location.mutation.failed_to_%s_health_facility" % what,
                            "detail": detail}])

    def _hf_fields(self, what, data):
        """Validated tblHF columns, or (None, error)."""
        def mandatory(detail):
            # str() of the ValidationError's message list, as openIMIS logs it
            return None, self._failed(what, data.get("code"), repr(
                ["Object HealthFacility is not respecting the mandatory fields: %s" % detail]))
        for key in ("code", "name", "legalFormId", "level", "careType", "locationId"):
            if data.get(key) in (None, ""):
                return mandatory("{'%s': ['This field cannot be blank.']}" % key)
        if len(data["name"]) > 100:
            return mandatory("{'name': ['Ensure this value has at most 100 characters "
                             "(it has %d).']}" % len(data["name"]))
        for key, limit in (("address", 100), ("phone", 50), ("fax", 50), ("email", 50)):
            if data.get(key) and len(data[key]) > limit:
                return mandatory("{'%s': ['Ensure this value has at most %d characters "
                                 "(it has %d).']}" % (key, limit, len(data[key])))
        if data["legalFormId"] not in self.store.legal_form_codes():
            return mandatory("HealthFacilityLegalForm matching query does not exist.")
        area = self.store.area_by_id(int(data["locationId"]))
        if area is None:
            return mandatory("Location matching query does not exist.")
        status = data.get("status")
        if status is not None and status not in ("AC", "IN", "DE", "ID"):
            return None, self._failed(what, data.get("code"), "['mutation.incorrect_hf_status']")
        # An update replaces the record: omitted contacts become empty.
        return {"code": data["code"], "name": data["name"], "legal_form": data["legalFormId"],
                "level": data["level"], "care_type": data["careType"],
                "location_id": area["id"], "address": data.get("address"),
                "phone": data.get("phone"), "fax": data.get("fax"),
                "email": data.get("email"),
                "status": STATUS_TO_STORE.get(status or "AC", status)}, None

    def _createHealthFacility(self, data):
        # check-then-insert, like HealthFacilityService: no unique constraint
        if self.store.hf_current_by_code(data.get("code")):
            return self._failed("create", data.get("code"), "['mutation.hf_code_duplicated']")
        fields, error = self._hf_fields("create", data)
        if error:
            return error
        self.store.create_hf(fields, check_unique=False)
        self.app.wrote()
        return None

    def _updateHealthFacility(self, data):
        current = self.store.hf_current_by_uuid(data.get("uuid") or "")
        if current is None:
            return self._failed("update", data.get("code"),
                                "HealthFacility matching query does not exist.")
        if current["code"] != data.get("code") and self.store.hf_current_by_code(data.get("code")):
            return self._failed("update", data.get("code"), "['mutation.hf_code_duplicated']")
        fields, error = self._hf_fields("update", data)
        if error:
            return error
        self.store.update_hf(current["id"], fields, check_unique=False)
        self.app.wrote()
        return None

    def _createLocation(self, data):
        code, typ = data.get("code"), data.get("type")
        if any(a["code"] == code and a["type"] == typ
               for a in self.store.list_areas(0, 1 << 30)):
            return "The mutation threw a <class 'django.core.exceptions.ValidationError'>, " \
                   "check logs for details"
        parent = None
        if data.get("parentUuid"):
            parent = self.store.area_by_uuid(data["parentUuid"])
            if parent is None:
                return "The mutation threw a <class 'location.models.Location.DoesNotExist'>, " \
                       "check logs for details"
        self.store.seed_areas([{"code": code, "name": data.get("name") or code, "type": typ,
                                "parent_code": parent["code"] if parent else None,
                                "uuid": str(_uuid.uuid4())}])
        return None


class _FieldError(Exception):
    def __init__(self, message, status=200):
        super().__init__(message)
        self.message = message
        self.status = status
