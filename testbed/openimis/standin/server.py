"""HTTP layer of the openIMIS stand-in: routing, auth, paging, faults, testbed API."""
import json
import math
import threading
import time
from urllib import parse

from standin_core import auth
from standin_core.server import BaseHandler, BodyError, ThreadedServer, admin_path

from . import fhir
from .faults import API_PREFIX, new_faults
from .fhir import FhirError, operation_outcome
from .graphql import GRAPHQL_PATHS, GraphqlApi
from .store import DuplicateCode, Store

DEFAULT_PAGE_SIZE = 10   # openIMIS GeneralConfiguration default response page size (inferred)


class Response:
    __slots__ = ("status", "body", "headers")

    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or {}


def _err(exc: FhirError):
    return Response(exc.status, exc.outcome())


def _not_found(text=None):
    return Response(404, operation_outcome("error", "not-found", text))


def _api_exception(status, text):
    # DRF APIException rendered by openIMIS's fhir_api_exception_handler
    return Response(status, operation_outcome("fatal", "exception", text))


# DRF's replace_query_param / remove_query_param (sorted re-encoding included)
def _replace_query_param(url, key, val):
    scheme, netloc, path, query, fragment = parse.urlsplit(url)
    qd = parse.parse_qs(query, keep_blank_values=True)
    qd[key] = [str(val)]
    return parse.urlunsplit((scheme, netloc, path, parse.urlencode(sorted(qd.items()), doseq=True),
                             fragment))


def _remove_query_param(url, key):
    scheme, netloc, path, query, fragment = parse.urlsplit(url)
    qd = parse.parse_qs(query, keep_blank_values=True)
    qd.pop(key, None)
    return parse.urlunsplit((scheme, netloc, path, parse.urlencode(sorted(qd.items()), doseq=True),
                             fragment))


class Config:
    def __init__(self, **kw):
        self.username = kw.get("username", "Admin")
        self.password = kw.get("password", "admin123")
        self.token_ttl = float(kw.get("token_ttl", 86400))
        self.legal_forms = kw.get("legal_forms", ["G", "C", "D", "P"])
        self.fast = bool(kw.get("fast", False))
        self.code_type = kw.get("code_type", "LC")
        self.identifier_search = kw.get("identifier_search", "resource")
        self.encode_links = kw.get("encode_links", True)
        self.emulate_telecom_bug = kw.get("emulate_telecom_bug", False)
        self.emulate_address_ref_bug = kw.get("emulate_address_ref_bug", False)
        self.async_mutations = float(kw.get("async_mutations", 0))


class App:
    def __init__(self, store: Store, config: Config):
        self.store = store
        self.cfg = config
        self.faults = new_faults(self.expire_tokens)
        self.tokens = auth.Tokens(config.token_ttl)
        self.lock = threading.Lock()
        self.graphql = GraphqlApi(self, config.async_mutations)
        self._reset_stats()

    # ---------------------------------------------------------------- stats
    def _reset_stats(self):
        with self.lock:
            self.requests = {}
            self.by_status = {}
            self.logins = 0
            self.login_failures = 0
            self.auth_rejections = 0
            self.writes = 0
            self.dropped = 0
            self.started = time.time()
        self.faults.reset_fired()
        if getattr(self, "graphql", None) is not None:
            self.graphql.reset_counts()

    def record(self, method, path, status):
        key = "%s %s %s" % (method, path, status)
        with self.lock:
            self.requests[key] = self.requests.get(key, 0) + 1
            s = str(status)
            self.by_status[s] = self.by_status.get(s, 0) + 1

    def stats(self):
        with self.lock:
            total = sum(self.requests.values())
            return {"requests_total": total,
                    "requests": [dict(zip(("method", "path", "status"), k.split(" ", 2)), count=v)
                                 for k, v in sorted(self.requests.items())],
                    "by_status": dict(self.by_status),
                    "logins": self.logins, "login_failures": self.login_failures,
                    "auth_rejections": self.auth_rejections, "writes": self.writes,
                    "dropped_responses": self.dropped,
                    "faults_fired": self.faults.fired_counts(),
                    "facilities": self.store.count_hf(),
                    "facility_history_rows": self.store.count_hf_history(),
                    "graphql_mutations": self.graphql.mutation_counts(),
                    "graphql_mutation_requests": self.graphql.mutation_request_count(),
                    "uptime_seconds": round(time.time() - self.started, 3)}

    # ------------------------------------------------------------------ auth
    def login(self, body):
        try:
            data = json.loads(body or b"null")
        except ValueError as exc:
            return _api_exception(400, "JSON parse error - %s" % exc)
        if not isinstance(data, dict) or "username" not in data or "password" not in data:
            return Response(400)         # openIMIS: Response(status=400), empty body
        user = self.store.check_user(str(data["username"]), str(data["password"]))
        if user is None:
            with self.lock:
                self.login_failures += 1
            return Response(401)         # openIMIS: Response(status=401), empty body
        token, exp = self.issue_token(user["username"])
        return Response(200, {"token": token, "exp": exp})

    def issue_token(self, username):
        """A fresh JWT for `username` and its exp (login and GraphQL tokenAuth)."""
        with self.lock:
            self.logins += 1
        return self.tokens.issue(username)

    def wrote(self):
        self._wrote()

    def expire_tokens(self, _fault=None):
        self.tokens.revoke_all()

    def authenticate(self, header):
        """Returns (user, None) or (None, Response401)."""
        def reject(text):
            with self.lock:
                self.auth_rejections += 1
            r = _api_exception(401, text)
            r.headers["WWW-Authenticate"] = 'Bearer realm="api"'
            return None, r
        if not header:
            return reject("Authentication credentials were not provided.")
        token = auth.token_for(header, ("bearer", "jwt"))
        if token is None:
            return reject("Invalid Authorization header.")
        try:
            return self.tokens.verify(token), None
        except auth.JWTError as exc:
            return reject(str(exc))

    # --------------------------------------------------------------- helpers
    def _bundle(self, host, raw_path, total, page, page_size, resources):
        self_url = "http://%s%s" % (host, raw_path)
        links = [("self", self_url)]
        num_pages = max(1, math.ceil(total / page_size))
        if page < num_pages:
            links.append(("next", _replace_query_param(self_url, "page-offset", page + 1)))
        if page > 1:
            if page - 1 == 1:
                links.append(("previous", _remove_query_param(self_url, "page-offset")))
            else:
                links.append(("previous", _replace_query_param(self_url, "page-offset", page - 1)))
        enc = (lambda u: parse.quote_plus(u)) if self.cfg.encode_links else (lambda u: u)
        base = "http://%s%s" % (host, parse.urlsplit(raw_path).path)
        if not base.endswith("/"):
            base += "/"
        return {"resourceType": "Bundle", "type": "searchset", "total": total,
                "link": [{"relation": r, "url": enc(u)} for r, u in links],
                "entry": [{"fullUrl": base + res["id"], "resource": res} for res in resources]}

    def _page_params(self, q):
        size = DEFAULT_PAGE_SIZE
        try:
            v = int(q.get("_count", ""))
            if v > 0:
                size = v
        except ValueError:
            pass
        raw_page = q.get("page-offset")
        if raw_page is None:
            return 1, size
        try:
            return int(raw_page), size
        except ValueError:
            return None, size

    def _paged(self, host, raw_path, q, count_fn, list_fn, to_fhir):
        page, size = self._page_params(q)
        total = count_fn()
        num_pages = max(1, math.ceil(total / size))
        if page is None or page < 1 or page > num_pages:
            return _not_found("Invalid page.")
        rows = list_fn((page - 1) * size, size)
        return Response(200, self._bundle(host, raw_path, total, page, size,
                                          [to_fhir(r) for r in rows]))

    def _area_fhir(self, area):
        parent = self.store.area_by_id(area["parent_id"]) if area["parent_id"] else None
        return fhir.area_to_fhir(area, parent, self.cfg.code_type)

    def _hf_location(self, hf):
        return fhir.hf_to_location(hf, self.store.area_by_id(hf["location_id"]))

    def _hf_org(self, hf):
        district = self.store.area_by_id(hf["location_id"])
        region = (self.store.area_by_id(district["parent_id"])
                  if district and district["parent_id"] else None)
        return fhir.hf_to_organization(hf, district, region, self.cfg.code_type,
                                       self.cfg.emulate_address_ref_bug)

    def _find_hf(self, ident):
        # openIMIS retrievers: UUID first, then code
        return self.store.hf_current_by_uuid(ident) or self.store.hf_current_by_code(ident)

    def _find_area(self, ident):
        return self.store.area_by_uuid(ident) or self.store.area_by_code(ident)

    def _single_or_bundle(self, host, raw_path, resource):
        if self.cfg.identifier_search == "bundle":
            res = [resource] if resource else []
            return Response(200, self._bundle(host, raw_path, len(res), 1, DEFAULT_PAGE_SIZE, res))
        if resource is None:
            return None
        return Response(200, resource)

    def _wrote(self):
        with self.lock:
            self.writes += 1

    @staticmethod
    def _json_body(body):
        try:
            return json.loads(body or b"null")
        except ValueError as exc:
            raise FhirError("JSON parse error - %s" % exc, severity="fatal", prefix=False)

    # -------------------------------------------------------------- GraphQL
    def handle_graphql(self, method, body, headers):
        if method != "POST":
            return Response(405, {"errors": [{"message": "GraphQL only supports POST here."}]})
        status, out, extra = self.graphql.handle(body, headers)
        return Response(status, out, extra)

    # ------------------------------------------------------------ resources
    def handle_api(self, method, path, query, body, headers):
        rel = path[len(API_PREFIX):]
        segs = [s for s in rel.split("/") if s]
        if segs == ["login"]:
            if method != "POST":
                return _api_exception(405, 'Method "%s" not allowed.' % method)
            return self.login(body)
        if not segs or segs[0] not in ("Location", "Organization") or len(segs) > 2:
            return _not_found("The requested resource was not found on this server.")
        _, err = self.authenticate(headers.get("Authorization"))
        if err is not None:
            return err
        q = {k: v[0] for k, v in parse.parse_qs(query, keep_blank_values=True).items()}
        host = headers.get("Host") or "localhost"
        raw_path = path + ("?" + query if query else "")
        rid = parse.unquote(segs[1]) if len(segs) == 2 else None
        try:
            if segs[0] == "Location":
                return self._location(method, rid, q, body, host, raw_path)
            return self._organization(method, rid, q, body, host, raw_path)
        except FhirError as exc:
            return _err(exc)
        except DuplicateCode as exc:
            return _err(FhirError("HF code %s already exists" % exc.code))

    def _location(self, method, rid, q, body, host, raw_path):
        si = q.get("physicalType") == "si"
        if method == "GET":
            if rid is None and q.get("identifier"):
                rid_ = q["identifier"]
                res = self._find_hf(rid_) if si else self._find_area(rid_)
                out = self._single_or_bundle(
                    host, raw_path,
                    (self._hf_location(res) if si else self._area_fhir(res)) if res else None)
                return out or _not_found("No Location found for identifier %s" % rid_)
            if rid is None:
                if si:
                    return self._paged(host, raw_path, q, self.store.count_hf, self.store.list_hf,
                                       self._hf_location)
                return self._paged(host, raw_path, q, self.store.count_areas,
                                   self.store.list_areas, self._area_fhir)
            # retrieve: the facility queryset only with physicalType=si (as openIMIS)
            if si:
                hf = self._find_hf(rid)
                return Response(200, self._hf_location(hf)) if hf else _not_found()
            area = self._find_area(rid)
            return Response(200, self._area_fhir(area)) if area else _not_found()
        if method not in ("POST", "PUT"):
            return _api_exception(405, 'Method "%s" not allowed.' % method)
        if (method == "POST") != (rid is None):
            return _api_exception(405, 'Method "%s" not allowed.' % method)
        data = self._json_body(body)
        body_si = False
        try:
            body_si = data["physicalType"]["coding"][0]["code"] == "si"
        except (KeyError, IndexError, TypeError):
            pass
        if not (si or body_si):
            raise FhirError("The stand-in writes health facilities only: Location needs "
                            "physicalType si (administrative areas are read-only here)")
        fields = fhir.location_to_hf_fields(data, self.store)
        if method == "POST":
            # openIMIS's Location(si) create fills code, name, level and parent only;
            # tblHF.LegalForm / HFCareType / OffLine are NOT NULL, so the real DB
            # rejects the INSERT (inferred, see README) -> 500 IntegrityError outcome.
            raise FhirError(
                "Cannot insert the value NULL into column 'LegalForm', table 'IMIS.dbo.tblHF'; "
                "column does not allow nulls. INSERT fails.",
                status=500, severity="fatal", prefix=False)
        hf = self._find_hf(rid)
        if hf is None:
            return _not_found()
        changes = {"code": fields["code"], "name": fields["name"], "level": fields["level"]}
        if fields["location_id"] is not None:
            changes["location_id"] = fields["location_id"]
        if fields["status"] is not None:
            changes["status"] = fields["status"]
        hf = self.store.update_hf(hf["id"], changes)
        self._wrote()
        return Response(200, self._hf_location(hf))

    def _organization(self, method, rid, q, body, host, raw_path):
        if method == "GET":
            otype = (q.get("type") or "").lower() or None
            ident = q.get("code") or q.get("identifier")
            if rid is None and ident:
                hf = self._find_hf(ident) if otype in (None, "prov") else None
                out = self._single_or_bundle(host, raw_path, self._hf_org(hf) if hf else None)
                return out or _not_found("Resource for identifier %s not found" % ident)
            if rid is None:
                if otype not in (None, "prov"):
                    return self._paged(host, raw_path, q, lambda: 0, lambda offset, limit: [],
                                       self._hf_org)
                return self._paged(host, raw_path, q, self.store.count_hf, self.store.list_hf,
                                   self._hf_org)
            hf = self._find_hf(rid)
            return (Response(200, self._hf_org(hf)) if hf
                    else _not_found("Resource for identifier %s not found" % rid))
        if method not in ("POST", "PUT") or (method == "POST") != (rid is None):
            return _api_exception(405, 'Method "%s" not allowed.' % method)
        data = self._json_body(body)
        otype = fhir.organization_type(data) if isinstance(data, dict) else None
        if ((method == "POST" and otype != "prov")
                or (method == "PUT" and otype not in (None, "prov"))):
            raise FhirError("The stand-in handles health-facility Organizations only "
                            "(type[0].coding[0].code = prov), got %r" % otype)
        if method == "PUT":
            hf = self._find_hf(rid)
            if hf is None:
                return _not_found("Resource for identifier %s not found" % rid)
        fields = fhir.organization_to_hf_fields(data, self.store, self.cfg.legal_forms,
                                                self.cfg.emulate_telecom_bug)
        if method == "POST":
            if self.store.hf_code_taken(fields["code"]):
                raise DuplicateCode(fields["code"])
            hf = self.store.create_hf(fields)
            self._wrote()
            return Response(201, self._hf_org(hf))
        # update_or_create_health_facility: a complete update (optional fields reset)
        hf = self.store.update_hf(hf["id"], fields)
        self._wrote()
        return Response(200, self._hf_org(hf))

    # --------------------------------------------------------------- testbed
    def handle_testbed(self, method, sub, query, body):
        q = {k: v[0] for k, v in parse.parse_qs(query, keep_blank_values=True).items()}
        try:
            data = json.loads(body) if body else None
        except ValueError as exc:
            return Response(400, {"error": "bad JSON: %s" % exc})
        if sub == "faults":
            out = self.faults.admin(method, data)
            if out is not None:
                return Response(*out)
        elif sub == "facilities":
            if method == "GET":
                facs = self.store.facilities_report(q.get("history") in ("1", "true"))
                if q.get("code"):
                    facs = [f for f in facs if f["code"] == q["code"]]
                return Response(200, {"count": len(facs),
                                      "history_rows": self.store.count_hf_history(),
                                      "facilities": facs})
            if method == "POST":
                return self._seed_facilities(data)
            if method == "DELETE":
                # a facility deleted in openIMIS (its UI's delete), not by mflsync
                if not self.store.delete_hf(q.get("code", "")):
                    return Response(404, {"error": "no current facility with code %r"
                                          % q.get("code", "")})
                return Response(200, {"ok": True})
        elif sub == "stats" and method == "GET":
            return Response(200, self.stats())
        elif sub == "reset" and method == "POST":
            opts = data if isinstance(data, dict) else {}
            self.store.wipe_facilities()
            if opts.get("faults", True):
                self.faults.clear()
            if opts.get("stats", True):
                self._reset_stats()
            return Response(200, {"ok": True})
        elif sub == "health" and method == "GET":
            return Response(200, {"ok": True})
        elif sub == "expire_tokens" and method == "POST":
            self.expire_tokens()
            return Response(200, {"ok": True})
        return Response(404, {"error": "unknown testbed endpoint %s %s" % (method, sub)})

    def _seed_facilities(self, data):
        if not isinstance(data, list):
            return Response(400, {"error": "expected a list of facilities"})
        created = []
        for item in data:
            district = self.store.area_by_code(item.get("district_code", ""))
            if district is None:
                return Response(400, {"error": "unknown district_code in %r" % item})
            fields = {k: item.get(k) for k in ("code", "name", "address", "phone", "fax", "email")}
            fields.update(level=item.get("level", "D"), legal_form=item.get("legal_form", "G"),
                          care_type=item.get("care_type", "B"), location_id=district["id"])
            try:
                hf = self.store.create_hf(fields)
            except DuplicateCode as exc:
                return Response(400, {"error": "duplicate code %s" % exc.code})
            except Exception as exc:  # noqa: BLE001 - report constraint failures
                return Response(400, {"error": "%s: %s" % (type(exc).__name__, exc)})
            created.append({"code": hf["code"], "uuid": hf["uuid"]})
        return Response(201, {"created": created})


def _transient(text):
    return operation_outcome("fatal", "transient", text)


class Handler(BaseHandler):
    server_version = "openIMIS-standin/1.0"
    bytes_type = "application/json"

    def _stat_path(self, path):
        if not path.startswith(API_PREFIX):
            return path
        segs = path[len(API_PREFIX):].split("/")
        if len(segs) >= 2 and segs[0] in ("Location", "Organization") and segs[1]:
            return API_PREFIX + segs[0] + "/{id}"
        return path

    def _reply(self, resp: Response):
        self.send(resp.status, resp.body, resp.headers)

    # fault hooks: answers in openIMIS's format, counted in /$testbed/stats
    def error_body(self, status, text):
        return _transient(text)

    def on_answer(self, status):
        self.server.app.record(self.command, self.stat_path, status)

    def on_unanswered(self, what):
        self.server.app.record(self.command, self.stat_path, what)

    def on_dropped(self, fault):
        with self.server.app.lock:
            self.server.app.dropped += 1

    def fault_extension(self, f):
        if f.kind.name == "expire_tokens":
            self.server.app.expire_tokens()
        return False

    def _dispatch(self):
        app = self.server.app
        method = self.command
        split = parse.urlsplit(self.path)
        path, query = split.path, split.query
        self.stat_path = path
        try:
            body = self.read_body()
        except (BodyError, OSError):
            self.close_connection = True
            return self._reply(Response(400, operation_outcome("fatal", "exception",
                                                               "Bad request body")))
        sub = admin_path(path)
        if sub is not None:
            self.stat_path = "/$testbed/" + sub
            return self._reply(app.handle_testbed(method, sub, query, body))
        self.stat_path = self._stat_path(path)
        graphql = path in GRAPHQL_PATHS
        if not graphql and not path.startswith(API_PREFIX) and path + "/" != API_PREFIX:
            return self._reply(_not_found("The requested resource was not found on this server."))
        if self.fault_gate(app.faults, method, path, body):
            return
        try:
            if graphql:
                resp = app.handle_graphql(method, body, self.headers)
            else:
                resp = app.handle_api(method, path, query, body, self.headers)
        except Exception as exc:  # noqa: BLE001 - a server fault, like openIMIS's generic handler
            resp = Response(500, operation_outcome("fatal", "exception",
                                                   "%s: %s" % (type(exc).__name__, exc)))
        self._reply(resp)


def make_server(app: App, host="127.0.0.1", port=0):
    return ThreadedServer((host, port), Handler, app, quiet=app.cfg.fast)
