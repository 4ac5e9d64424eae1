"""In-memory state of the stand-in: channels, clients, mediators, transactions, API users.

Rules follow openhim-core-js (src/api/mediators.js, src/api/channels.js, src/api/transactions.js,
src/middleware/messageStore.js); see README.md for what is confirmed and what is inferred.
"""
import copy
import json
import os
import threading
import time

from .util import now_iso, object_id, semver_gt, semver_parse

CONFIG_TYPES = ("string", "bigstring", "bool", "number", "option", "map", "struct", "password")
MASK = "**********"
TX_STATUSES = ("Processing", "Successful", "Completed", "Completed with error(s)", "Failed")
TRUNCATE_APPEND = "\n[truncated ...]"


class ValidationError(Exception):
    """Answered 400 by the API (mongoose/openHIM ValidationError)."""


class NotFound(Exception):
    pass


class Conflict(Exception):
    """Unique-index violation in MongoDB: openHIM answers 500 (E11000 duplicate key)."""


# ---------------------------------------------------------------- mediator config validation
def validate_config_def(d):
    if not isinstance(d, dict):
        raise ValidationError("configDefs entries must be objects")
    if not d.get("param"):
        raise ValidationError("Path `param` is required.")
    if d.get("type") not in CONFIG_TYPES:
        raise ValidationError("`%s` is not a valid enum value for path `type`." % d.get("type"))
    if d["type"] == "struct":
        if not d.get("template"):
            raise ValidationError("Must specify a template for struct param '%s'" % d["param"])
        for t in d["template"]:
            if not t.get("param"):
                raise ValidationError("Must specify field 'param' in template definition for "
                                      "param '%s'" % d["param"])
            if not t.get("type"):
                raise ValidationError("Must specify field 'type' in template definition for "
                                      "param '%s'" % d["param"])
            if t["type"] == "struct":
                raise ValidationError("May not recursively specify 'struct' in template "
                                      "definitions (param '%s')" % d["param"])
    elif d["type"] == "option":
        if not isinstance(d.get("values"), list):
            raise ValidationError("Expected field 'values' to be an array (option param '%s')"
                                  % d["param"])
        if not d["values"]:
            raise ValidationError("Must specify a values array for option param '%s'" % d["param"])


def _validate_field(param, d, v):
    t = d["type"]
    if t in ("string", "bigstring", "password"):
        ok = isinstance(v, str)
    elif t == "number":
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    elif t == "bool":
        ok = isinstance(v, bool)
    elif t == "option":
        if v not in d.get("values", []):
            raise ValidationError("Expected config param %s to be one of %s"
                                  % (param, ",".join(map(str, d.get("values", [])))))
        return
    elif t == "map":
        # JS typeof null === 'object' too; arrays are objects as well
        if not (v is None or isinstance(v, (dict, list))):
            raise ValidationError("Expected config param %s to be an object." % param)
        for val in (v or {}).values() if isinstance(v, dict) else []:
            if not isinstance(val, str):
                raise ValidationError("Expected config param %s to only contain string values."
                                      % param)
        return
    elif t == "struct":
        if not (v is None or isinstance(v, (dict, list))):
            raise ValidationError("Expected config param %s to be an object." % param)
        fields = [x.get("param") for x in d.get("template", [])]
        for k in (v or {}) if isinstance(v, dict) else []:
            if k not in fields:
                raise ValidationError("Field %s is not defined in template definition for config "
                                      "param %s." % (k, param))
        return
    else:
        return
    if not ok:
        what = {"string": "a string", "bigstring": "a large string", "number": "a number",
                "bool": "a boolean", "password": "a string representing a password"}[t]
        raise ValidationError("Expected config param %s to be %s." % (param, what))


def validate_config(defs, config):
    if not isinstance(config, dict):
        raise ValidationError("config must be an object")
    for param, value in config.items():
        matching = [d for d in defs or [] if d.get("param") == param]
        if not matching:
            raise ValidationError("No config definition found for parameter %s" % param)
        for d in matching:
            if d.get("array"):
                if not isinstance(value, list):
                    raise ValidationError("Expected config param %s to be an array of type %s"
                                          % (param, d["type"]))
                for i, item in enumerate(value):
                    _validate_field("%s[%d]" % (param, i), d, item)
            else:
                _validate_field(param, d, value)


def mask_passwords(defs, config):
    if not config:
        return
    for d in defs or []:
        p = d.get("param")
        if d.get("type") == "password" and config.get(p):
            config[p] = [MASK for _ in config[p]] if d.get("array") else MASK
        if d.get("type") == "struct" and isinstance(config.get(p), dict):
            mask_passwords(d.get("template"), config[p])


def restore_masked_passwords(defs, masked, config):
    if not masked or not config or not isinstance(masked, dict):
        return
    for d in defs or []:
        p = d.get("param")
        if d.get("type") == "password" and masked.get(p) and config.get(p):
            if d.get("array") and isinstance(masked[p], list):
                for i, v in enumerate(masked[p]):
                    if v == MASK and i < len(config[p]):
                        masked[p][i] = config[p][i]
            elif masked[p] == MASK:
                masked[p] = config[p]
        if d.get("type") == "struct" and isinstance(masked.get(p), dict) and config.get(p):
            restore_masked_passwords(d.get("template"), masked[p], config[p])


# ---------------------------------------------------------------- channels / clients
ROUTE_DEFAULTS = {"secured": False, "primary": False, "forwardAuthHeader": False,
                  "status": "enabled", "type": "http"}
CHANNEL_DEFAULTS = {"type": "http", "authType": "private", "status": "enabled", "allow": [],
                    "whitelist": [], "methods": [], "matchContentTypes": [], "routes": [],
                    "txViewAcl": [], "txViewFullAcl": [], "txRerunAcl": [],
                    "requestBody": True, "responseBody": True}


def normalise_channel(ch, keep_id=False):
    if not isinstance(ch, dict):
        raise ValidationError("a channel must be a JSON object")
    c = copy.deepcopy(CHANNEL_DEFAULTS)
    c.update(copy.deepcopy(ch))
    if not c.get("name"):
        raise ValidationError("Channel validation failed: name: Path `name` is required.")
    if not c.get("urlPattern"):
        raise ValidationError("Channel validation failed: urlPattern: Path `urlPattern` is "
                              "required.")
    routes = []
    for r in c.get("routes") or []:
        rr = dict(ROUTE_DEFAULTS)
        rr.update(r)
        rr.pop("_id", None)
        if not rr.get("name"):
            raise ValidationError("Channel validation failed: routes.name: Path `name` is "
                                  "required.")
        if rr.get("type", "http") == "http" and not rr.get("host"):
            raise ValidationError("Channel validation failed: routes.host: Path `host` is "
                                  "required.")
        if rr.get("path") and rr.get("pathTransform"):
            raise ValidationError("Channel cannot have both path and pathTransform. "
                                  "pathTransform must be of the form s/from/to[/g]")
        routes.append(rr)
    c["routes"] = routes
    primaries = [r for r in routes if r.get("primary") and r.get("status", "enabled") == "enabled"]
    if len(primaries) > 1:
        raise ValidationError("Channel cannot have a multiple primary routes.")
    if c.get("methods"):
        c["methods"] = [str(m).upper() for m in c["methods"]]
    if not keep_id or not c.get("_id"):
        c["_id"] = object_id()
    return c


def public_client(c):
    """What GET /clients shows: no password material (v8 shows customTokenSet, not the token)."""
    out = {k: v for k, v in c.items()
           if k not in ("password", "passwordHash", "passwordSalt", "customTokenID")}
    if c.get("customTokenID"):
        out["customTokenSet"] = True
    return out


# ---------------------------------------------------------------- the store
class Store:
    def __init__(self, max_bodies_mb=15.0, state_file=None):
        self.lock = threading.RLock()
        self.channels = []       # list of channel dicts (with _id)
        self.clients = []
        self.mediators = {}      # urn -> record
        self.transactions = {}   # _id -> tx (insertion ordered)
        self.users = {}          # email -> {email, password, groups, permissions}
        self.max_bodies = int(max_bodies_mb * 1024 * 1024)
        self.state_file = state_file

    # ------------------------------------------------ persistence
    def snapshot(self):
        with self.lock:
            meds = [{k: v for k, v in m.items() if not k.endswith("Mono")}
                    for m in self.mediators.values()]
            return copy.deepcopy({"channels": self.channels, "clients": self.clients,
                                  "mediators": meds,
                                  "transactions": list(self.transactions.values())})

    def load(self, data):
        with self.lock:
            for ch in data.get("channels", []):
                self.channels.append(normalise_channel(ch, keep_id=True))
            for cl in data.get("clients", []):
                self.add_client(cl)
            for m in data.get("mediators", []):
                self.mediators[m["urn"]] = m
            for t in data.get("transactions", []):
                self.transactions[t["_id"]] = t

    def save(self):
        if not self.state_file:
            return
        data = self.snapshot()
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.state_file)

    # ------------------------------------------------ users (API)
    def add_user(self, email, password, groups=("admin",), permissions=None):
        with self.lock:
            self.users[email] = {"email": email, "password": password, "groups": list(groups),
                                 "permissions": dict(permissions or {})}

    # ------------------------------------------------ channels
    def add_channel(self, ch):
        c = normalise_channel(ch)
        with self.lock:
            if any(x["name"] == c["name"] for x in self.channels):
                raise Conflict('E11000 duplicate key error collection: openhim.channels index: '
                               'name_1 dup key: { name: "%s" }' % c["name"])
            self.channels.append(c)
        return copy.deepcopy(c)

    def get_channel(self, cid):
        with self.lock:
            for c in self.channels:
                if c["_id"] == cid:
                    return c
        return None

    def update_channel(self, cid, updates):
        with self.lock:
            c = self.get_channel(cid)
            if c is None:
                raise NotFound()
            merged = copy.deepcopy(c)
            merged.update(updates or {})
            merged["_id"] = cid
            new = normalise_channel(merged, keep_id=True)
            self.channels[self.channels.index(c)] = new
            return copy.deepcopy(new)

    def delete_channel(self, cid):
        with self.lock:
            c = self.get_channel(cid)
            if c is None:
                raise NotFound()
            self.channels.remove(c)

    def channels_in_priority_order(self):
        """utils.getAllChannelsInPriorityOrder: channels with a priority first (lowest number
        first), the rest after in insertion order; then only enabled ones are matched."""
        with self.lock:
            chs = [c for c in self.channels if c.get("status", "enabled") == "enabled"]
        with_p = sorted((c for c in chs if c.get("priority") is not None),
                        key=lambda c: c["priority"])
        return with_p + [c for c in chs if c.get("priority") is None]

    # ------------------------------------------------ clients
    def add_client(self, cl):
        if not isinstance(cl, dict) or not cl.get("clientID"):
            raise ValidationError("Client validation failed: clientID: Path `clientID` is "
                                  "required.")
        c = copy.deepcopy(cl)
        c.setdefault("name", c["clientID"])
        c.setdefault("roles", [])
        c.setdefault("_id", object_id())
        with self.lock:
            if any(x["clientID"] == c["clientID"] for x in self.clients):
                raise Conflict('E11000 duplicate key error collection: openhim.clients index: '
                               'clientID_1 dup key: { clientID: "%s" }' % c["clientID"])
            if c.get("customTokenID") and any(x.get("customTokenID") == c["customTokenID"]
                                              for x in self.clients):
                raise Conflict("E11000 duplicate key error: customTokenID")
            self.clients.append(c)
        return c

    def client_by(self, field, value):
        with self.lock:
            for c in self.clients:
                if c.get(field) == value:
                    return c
        return None

    # ------------------------------------------------ mediators
    def register_mediator(self, m):
        """POST /mediators (addMediator). Returns "created" | "upgraded" | "unchanged"."""
        if not isinstance(m, dict):
            raise ValidationError("mediator must be a JSON object")
        m = copy.deepcopy(m)
        if not m.get("urn"):
            raise ValidationError("URN is required")
        if not m.get("version") or semver_parse(m["version"]) is None:
            raise ValidationError("Version is required. Must be in SemVer form x.y.z")
        if m.get("configDefs"):
            for d in m["configDefs"]:
                validate_config_def(d)
            if m.get("config") is not None:
                validate_config(m["configDefs"], m["config"])
        with self.lock:
            existing = self.mediators.get(m["urn"])
            if existing is not None:
                if not semver_gt(m["version"], existing["version"]):
                    return "unchanged"
                if m.get("config") is not None and existing.get("config") is not None:
                    # keep values already set (e.g. edited in the console); add only new params
                    for p in list(m["config"]):
                        if existing["config"].get(p) is not None:
                            m["config"][p] = existing["config"][p]
                existing.update(m)
                return "upgraded"
            if not m.get("name"):
                raise ValidationError("Mediator validation failed: name: Path `name` is "
                                      "required.")
            if not m.get("endpoints"):
                raise ValidationError("At least 1 endpoint is required")
            for e in m["endpoints"]:
                for f in ("name", "host", "port"):
                    if not isinstance(e, dict) or e.get(f) in (None, ""):
                        raise ValidationError("Mediator validation failed: endpoints.%s: Path "
                                              "`%s` is required." % (f, f))
            m["_id"] = object_id()
            m.setdefault("defaultChannelConfig", [])
            m.setdefault("configDefs", [])
            m["_uptime"] = None
            m["_lastHeartbeat"] = None
            m["_configModifiedTS"] = None
            self.mediators[m["urn"]] = m
            return "created"

    def get_mediator(self, urn, masked=True):
        with self.lock:
            m = self.mediators.get(urn)
            if m is None:
                return None
            m = copy.deepcopy(m)
        m.pop("_lastHeartbeatMono", None)
        m.pop("_configModifiedMono", None)
        if masked:
            mask_passwords(m.get("configDefs"), m.get("config"))
        return m

    def heartbeat(self, urn, hb):
        """Returns (found, uptime_ok, config_or_None)."""
        with self.lock:
            m = self.mediators.get(urn)
            if m is None:
                return False, True, None
            if not isinstance(hb, dict) or hb.get("uptime") is None:
                return True, False, None
            last = m.get("_lastHeartbeatMono")
            mod = m.get("_configModifiedMono")
            # JS: `_configModifiedTS > _lastHeartbeat` is false when either is undefined
            changed = last is not None and mod is not None and mod > last
            cfg = copy.deepcopy(m.get("config")) if (changed or hb.get("config") is True) else None
            m["_lastHeartbeat"] = now_iso()
            m["_lastHeartbeatMono"] = time.monotonic()
            m["_uptime"] = hb.get("uptime")
            return True, True, cfg

    def set_mediator_config(self, urn, config):
        with self.lock:
            m = self.mediators.get(urn)
            if m is None:
                raise NotFound()
            restore_masked_passwords(m.get("configDefs"), config, m.get("config"))
            validate_config(m.get("configDefs") or [], config)
            m["config"] = copy.deepcopy(config)
            m["_configModifiedTS"] = now_iso()
            m["_configModifiedMono"] = time.monotonic()

    def delete_mediator(self, urn):
        with self.lock:
            self.mediators.pop(urn, None)

    def install_default_channels(self, urn, names):
        with self.lock:
            m = self.mediators.get(urn)
            if m is None:
                raise NotFound()
            defaults = m.get("defaultChannelConfig") or []
            if not names:
                chosen = defaults
            else:
                chosen = [c for c in defaults if c.get("name") in names]
                if len(chosen) < len(names):
                    raise ValidationError(
                        "Could not load mediator default channel config, one or more channels "
                        "in the request body not found in the mediator config (urn: %s)" % urn)
            created = []
            for ch in chosen:
                ch = copy.deepcopy(ch)
                ch.pop("_id", None)
                created.append(self.add_channel(ch))
            return created

    # ------------------------------------------------ transactions
    def _budget_body(self, budget, body):
        """utils.enforceMaxBodiesSize: all bodies of one transaction share maxBodiesSizeMB."""
        if body is None:
            return None, budget
        b = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
        if len(b) > budget:
            kept = b[:max(0, budget)].decode("utf-8", "ignore")
            return kept + TRUNCATE_APPEND, 0
        return (body if isinstance(body, str) else b.decode("utf-8", "replace")), budget - len(b)

    def new_transaction(self, tx):
        with self.lock:
            tx["_id"] = object_id()
            tx["_budget"] = self.max_bodies
            body = tx["request"].get("body")
            tx["request"]["body"], tx["_budget"] = self._budget_body(tx["_budget"], body)
            if tx["request"]["body"] != body and tx["request"]["method"] in ("POST", "PUT",
                                                                            "PATCH"):
                tx["canRerun"] = False
            self.transactions[tx["_id"]] = tx
            return tx["_id"]

    def update_transaction_internal(self, tid, fn):
        with self.lock:
            tx = self.transactions.get(tid)
            if tx is not None:
                fn(tx)

    def store_body(self, tid, holder):
        """Apply the body budget of transaction tid to holder['body'] (in place)."""
        with self.lock:
            tx = self.transactions.get(tid)
            if tx is None or "body" not in holder:
                return
            holder["body"], tx["_budget"] = self._budget_body(tx["_budget"], holder["body"])

    def get_transaction(self, tid):
        with self.lock:
            tx = self.transactions.get(tid)
            return None if tx is None else _public_tx(tx)

    def list_transactions(self):
        with self.lock:
            return [_public_tx(t) for t in self.transactions.values()]

    def api_update_transaction(self, tid, updates):
        """PUT /transactions/:id: a Mongo update document (plain fields are $set; $push
        supported for routes/orchestrations)."""
        if not isinstance(updates, dict):
            raise ValidationError("update must be a JSON object")
        with self.lock:
            tx = self.transactions.get(tid)
            if tx is None:
                # openHIM: findOne returns null, then computing body sizes throws -> 500
                raise NotFound()
            if "status" in updates and updates["status"] not in TX_STATUSES:
                raise ValidationError("`%s` is not a valid enum value for path `status`."
                                      % updates["status"])
            updates = copy.deepcopy(updates)
            self._budget_update(tx, updates)
            for k, v in updates.items():
                if k == "$push":
                    for field, val in (v or {}).items():
                        items = val.get("$each") if isinstance(val, dict) and "$each" in val \
                            else [val]
                        tx.setdefault(field, [])
                        if not isinstance(tx[field], list):
                            tx[field] = []
                        tx[field].extend(items)
                elif k == "$set":
                    for field, val in (v or {}).items():
                        _set_path(tx, field, val)
                elif k.startswith("$") or k == "_id":
                    continue
                else:
                    _set_path(tx, k, v)
            return _public_tx(tx)

    def _budget_update(self, tx, obj, _seen=None):
        if isinstance(obj, dict):
            for key in ("request", "response"):
                if isinstance(obj.get(key), dict) and isinstance(obj[key].get("body"), str):
                    obj[key]["body"], tx["_budget"] = self._budget_body(tx["_budget"],
                                                                        obj[key]["body"])
            for k, v in obj.items():
                if k not in ("request", "response") and isinstance(v, (dict, list)):
                    self._budget_update(tx, v)
        elif isinstance(obj, list):
            for v in obj:
                self._budget_update(tx, v)


def _set_path(doc, dotted, value):
    parts = dotted.split(".")
    for p in parts[:-1]:
        if not isinstance(doc.get(p), dict):
            doc[p] = {}
        doc = doc[p]
    doc[parts[-1]] = value


def _public_tx(tx):
    return {k: copy.deepcopy(v) for k, v in tx.items() if not k.startswith("_") or k == "_id"}
