"""In-memory state of the stand-in: channels, clients, mediators, transactions, API users.

Rules follow openhim-core-js (src/api/mediators.js, src/api/channels.js, src/api/transactions.js,
src/middleware/messageStore.js); see README.md for what is confirmed and what is inferred.
"""
import copy
import datetime
import email.utils
import hashlib
import json
import os
import re
import ssl
import threading
import time

from .util import now_iso, object_id, semver_gt, semver_parse

CONFIG_TYPES = ("string", "bigstring", "bool", "number", "option", "map", "struct", "password")
MASK = "**********"
TRUNCATE_APPEND = "\n[truncated ...]"


class ValidationError(Exception):
    """Answered 400 by the API. A mongoose ValidationError (bare=False) is answered with the
    handler's prefix, e.g. "Could not add channel via the API: ValidationError: <msg>"; an
    openHIM check of its own (bare=True) with the message alone."""

    def __init__(self, msg, bare=False):
        super().__init__(msg)
        self.bare = bare


class CastError(Exception):
    """A value mongoose cannot cast (a date, an ObjectId): openHIM answers 500."""


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
ROUTE_DEFAULTS = {"primary": False, "forwardAuthHeader": False, "status": "enabled",
                  "type": "http"}
CHANNEL_DEFAULTS = {"type": "http", "authType": "private", "status": "enabled", "allow": [],
                    "whitelist": [], "methods": [], "matchContentTypes": [], "routes": [],
                    "txViewAcl": [], "txViewFullAcl": [], "txRerunAcl": []}


METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


def normalise_channel(ch, keep_id=False, api_checks=False):
    """The channel model's defaults and mongoose validation (model/channels.js); with
    api_checks also the checks of api/channels.js addChannel/updateChannel (answered 400 with
    their bare message). Channels from a mediator's defaultChannelConfig get only the former,
    as in loadDefaultChannels."""
    if not isinstance(ch, dict):
        raise ValidationError("a channel must be a JSON object")
    c = copy.deepcopy(CHANNEL_DEFAULTS)
    c.update(copy.deepcopy(ch))
    if api_checks:
        for r in c.get("routes") or []:
            pt = r.get("pathTransform") if isinstance(r, dict) else None
            if isinstance(r, dict) and ((r.get("path") and pt) or
                                        (pt and not re.search(r"s/.*/.*", str(pt)))):
                raise ValidationError("Channel cannot have both path and pathTransform. "
                                      "pathTransform must be of the form s/from/to[/g]", True)
        if c.get("priority") is not None and c["priority"] < 1:
            raise ValidationError("Channel priority cannot be below 1 (= Highest priority)", True)
        methods = c.get("methods") or []
        repeats = sorted({m for m in methods if methods.count(m) > 1})
        if repeats:
            raise ValidationError("Channel methods can't be repeated. Repeated methods are "
                                  + ", ".join(repeats), True)
        if c.get("timeout") is not None and not (
                isinstance(c["timeout"], (int, float)) and 0 < c["timeout"] <= 3600000):
            raise ValidationError("Channel property timeoutSeconds has to be a number greater "
                                  "than 1 and less than an 3600", True)
        enabled_primaries = [r for r in c.get("routes") or [] if isinstance(r, dict)
                             and r.get("primary") and r.get("status", "enabled") == "enabled"]
        if not enabled_primaries:
            raise ValidationError("Channel must have a primary route", True)
        if len(enabled_primaries) > 1:
            raise ValidationError("Channel cannot have a multiple primary routes", True)
    if not c.get("name"):
        raise ValidationError("name: Path `name` is required.")
    if not c.get("urlPattern"):
        raise ValidationError("urlPattern: Path `urlPattern` is required.")
    for i, m in enumerate(c.get("methods") or []):
        if m not in METHODS:  # an enum of upper-case names: "get" is refused
            raise ValidationError("methods.%d: `%s` is not a valid enum value for path "
                                  "`methods.%d`." % (i, m, i))
    routes = []
    for i, r in enumerate(c.get("routes") or []):
        rr = dict(ROUTE_DEFAULTS)
        rr.update(r)
        rr.pop("_id", None)
        if not rr.get("name"):
            raise ValidationError("routes.%d.name: Path `name` is required." % i)
        if rr.get("type", "http") == "http" and not rr.get("host"):
            raise ValidationError("routes.%d.host: Path `host` is required." % i)
        routes.append(rr)
    c["routes"] = routes
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


def _mediator_defaults(m):
    """The mediator model's sub-document defaults (model/mediators.js)."""
    for e in m.get("endpoints") or []:
        if isinstance(e, dict):
            e.setdefault("_id", object_id())
            for k, v in (("type", "http"), ("status", "enabled"), ("forwardAuthHeader", False)):
                e.setdefault(k, v)
    for d in m.get("configDefs") or []:
        if isinstance(d, dict):
            d.setdefault("_id", object_id())
            d.setdefault("values", [])
            d.setdefault("template", [])
    m.setdefault("__v", 0)
    return m


# ---------------------------------------------------------------- the store
class Store:
    def __init__(self, max_bodies_mb=15.0, state_file=None):
        self.lock = threading.RLock()
        self.channels = []       # list of channel dicts (with _id)
        self.clients = []
        self.mediators = {}      # urn -> record
        self.transactions = {}   # _id -> tx (insertion ordered)
        self.autoretries = []    # the autoRetry collection: transactions queued for retry
        self.users = {}          # email -> {email, password, groups, permissions}
        self.keystore_ca = []    # the keystore's trusted CA certificates (keystore.ca)
        self.max_bodies = int(max_bodies_mb * 1024 * 1024)
        self.state_file = state_file
        self.channel_refresh_s = 0.0
        self._channel_cache = None
        self._epoch = time.monotonic()

    # ------------------------------------------------ persistence
    def snapshot(self):
        with self.lock:
            meds = [{k: v for k, v in m.items() if not k.endswith("Mono")}
                    for m in self.mediators.values()]
            return copy.deepcopy({"channels": self.channels, "clients": self.clients,
                                  "mediators": meds, "keystore_ca": self.keystore_ca,
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
            self.keystore_ca.extend(data.get("keystore_ca", []))

    # ------------------------------------------------ keystore (api/keystore.js)
    def add_trusted_certs(self, chain):
        """addTrustedCert: each PEM certificate of `chain` becomes a keystore.ca entry (a
        second copy of a certificate is added again, as openHIM does). Returns how many were
        added; raises ValidationError when one cannot be read."""
        pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                          chain or "", re.S)
        if not pems:
            raise ValidationError("no certificate in the request")
        entries = []
        for pem in pems:
            try:
                der = ssl.PEM_cert_to_DER_cert(pem)
            except ValueError as e:
                raise ValidationError(str(e))
            digest = hashlib.sha1(der).hexdigest().upper()
            entries.append({"_id": object_id(), "data": pem + "\n",
                            "fingerprint": ":".join(digest[i:i + 2]
                                                    for i in range(0, len(digest), 2))})
        with self.lock:
            self.keystore_ca.extend(entries)
        return len(entries)

    def trusted_cert(self, cid):
        with self.lock:
            return next((c for c in self.keystore_ca if c["_id"] == cid), None)

    def save(self):
        if not self.state_file:
            return
        data = self.snapshot()
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.state_file)

    # ------------------------------------------------ users (API)
    def add_user(self, email, password, groups=("admin",)):
        """openHIM 8.5.0 authorises API calls by the user's groups only (group "admin")."""
        with self.lock:
            self.users[email] = {"email": email, "password": password, "groups": list(groups)}

    # ------------------------------------------------ channels
    def add_channel(self, ch, api_checks=False):
        c = normalise_channel(ch, api_checks=api_checks)
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
            if "routes" in (updates or {}):
                prim = [r for r in new["routes"] if r.get("primary")
                        and r.get("status", "enabled") == "enabled"]
                if not prim:
                    raise ValidationError("Channel must have a primary route", True)
                if len(prim) > 1:
                    raise ValidationError("Channel cannot have a multiple primary routes", True)
            if any(x["name"] == new["name"] and x is not c for x in self.channels):
                raise Conflict('E11000 duplicate key error collection: openhim.channels index: '
                               'name_1 dup key: { name: "%s" }' % new["name"])
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
        first), the rest after in insertion order; then only enabled ones are matched.
        With channel_refresh_s > 0 the router sees a copy refreshed at most that often, as
        openHIM's channel cache (caching.refreshMillis 1000)."""
        with self.lock:
            now = time.monotonic()
            if self.channel_refresh_s > 0 and self._channel_cache is not None and (
                    now - self._channel_cache[0] < self.channel_refresh_s):
                return self._channel_cache[1]
            chs = [copy.deepcopy(c) if self.channel_refresh_s > 0 else c
                   for c in self.channels if c.get("status", "enabled") == "enabled"]
        with_p = sorted((c for c in chs if c.get("priority") is not None),
                        key=lambda c: c["priority"])
        out = with_p + [c for c in chs if c.get("priority") is None]
        if self.channel_refresh_s > 0:
            with self.lock:
                self._channel_cache = (self._refresh_tick(now), out)
        return out

    def _refresh_tick(self, now):
        # the cache is refreshed on a fixed period from the start, not on demand
        n = int((now - self._epoch) / self.channel_refresh_s)
        return self._epoch + n * self.channel_refresh_s

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
                    # values already set (e.g. edited in the console) win for the params the
                    # new registration has; params it no longer has are dropped with the old
                    # config object (findByIdAndUpdate replaces `config`)
                    for p in list(m["config"]):
                        if existing["config"].get(p) is not None:
                            m["config"][p] = existing["config"][p]
                # findByIdAndUpdate without validators: only the fields sent are replaced;
                # _configModifiedTS is not touched, so no heartbeat pushes the new config
                existing.update(_mediator_defaults(m))
                return "upgraded"
            if not m.get("endpoints"):
                raise ValidationError("At least 1 endpoint is required")
            if not m.get("name"):
                raise ValidationError("name: Path `name` is required.")
            for i, e in enumerate(m["endpoints"]):
                for f in ("name", "host", "port"):
                    if not isinstance(e, dict) or e.get(f) in (None, ""):
                        raise ValidationError("endpoints.%d.%s: Path `%s` is required."
                                              % (i, f, f))
            m = _mediator_defaults(m)
            m["_id"] = object_id()
            m.setdefault("defaultChannelConfig", [])
            m.setdefault("configDefs", [])
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
        for k in ("_lastHeartbeat", "_uptime", "_configModifiedTS"):
            if m.get(k) is None:
                m.pop(k, None)  # absent until set, as in the stored document
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
        """loadDefaultChannels: the channels are saved in parallel (Promise.all), so every one
        that can be saved is, and a duplicate name fails the call afterwards (500)."""
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
                        "in the request body not found in the mediator config (urn: %s)" % urn,
                        True)
            created, failure = [], None
            for ch in chosen:
                ch = copy.deepcopy(ch)
                ch.pop("_id", None)
                try:
                    created.append(self.add_channel(ch))
                except (Conflict, ValidationError) as e:
                    failure = failure or e
            if failure is not None:
                raise failure
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

    def _reached_max_attempts(self, tx):
        """autoRetry.reachedMaxAttempts(tx, channel)."""
        channel = next((c for c in self.channels if c.get("_id") == tx.get("channelID")), {})
        limit = channel.get("autoRetryMaxAttempts")
        return bool(limit) and limit > 0 and tx.get("autoRetryAttempt", 0) >= limit

    def api_update_transaction(self, tid, updates):
        """PUT /transactions/:id: a Mongo update document (plain and dotted fields are $set;
        $push, also with $each, appends), cast by the transaction schema: fields outside it are
        dropped (strict), dates are cast (a bad one is a CastError, 500), sub-documents get an
        _id. No validators run: any status string is stored."""
        if not isinstance(updates, dict):
            raise ValidationError("update must be a JSON object")
        with self.lock:
            tx = self.transactions.get(tid)
            if tx is None:
                # openHIM: findOne returns null, then computing body sizes throws -> 500
                raise NotFound()
            updates = copy.deepcopy(updates)
            updates = {k: v for k, v in updates.items()
                       if k.startswith("$") or k.split(".")[0] in TX_FIELDS}
            for k, v in list(updates.items()):
                if k in ("$push", "$set"):
                    for field, val in list((v or {}).items()):
                        if field.split(".")[0] not in TX_FIELDS:
                            del v[field]
                        elif isinstance(val, dict) and "$each" in val:
                            val["$each"] = [cast_tx_value(field, x, element=True)
                                            for x in val["$each"] or []]
                        else:
                            v[field] = cast_tx_value(field, val, element=True)
                elif not k.startswith("$"):
                    updates[k] = cast_tx_value(k, v)
            if _has_error(updates) and not self._reached_max_attempts(tx):
                # updateTransaction: an update carrying an error queues the transaction for
                # auto-retry, whether or not its channel has auto-retry enabled.
                updates["autoRetry"] = True
                self.autoretries.append({"transactionID": tid,
                                         "channelID": tx.get("channelID"),
                                         "requestTimestamp": tx["request"].get("timestamp")})
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


TX_FIELDS = ("clientID", "clientIP", "parentID", "childIDs", "channelID", "request", "response",
             "routes", "orchestrations", "properties", "canRerun", "autoRetry",
             "autoRetryAttempt", "wasRerun", "error", "status")
_MESSAGE_FIELDS = {"request": ("host", "port", "path", "headers", "querystring", "body", "method",
                               "timestamp"),
                   "response": ("status", "headers", "body", "timestamp")}


def cast_date(value, path):
    """mongoose's Date cast, rendered as JSON does (2026-01-01T00:00:00.000Z)."""
    if value is None:
        return None
    d = None
    if isinstance(value, bool):
        d = None
    elif isinstance(value, (int, float)):
        d = datetime.datetime.fromtimestamp(value / 1000.0, datetime.timezone.utc)
    elif isinstance(value, str):
        v = value.strip()
        try:
            d = datetime.datetime.fromisoformat(v.replace("z", "Z"))
        except ValueError:
            try:
                d = email.utils.parsedate_to_datetime(v)
            except (TypeError, ValueError, IndexError):
                d = None
        if d is not None and d.tzinfo is None:
            # ECMAScript: a date-only form is UTC, a date-time form without offset local time;
            # the stand-in runs in UTC
            d = d.replace(tzinfo=datetime.timezone.utc)
    if d is None:
        raise CastError('Cast to date failed for value "%s" (type %s) at path "%s"'
                        % (value, "string" if isinstance(value, str) else "number"
                           if isinstance(value, (int, float)) else type(value).__name__, path))
    d = d.astimezone(datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def _cast_message(kind, obj, path, sub_id=False):
    if not isinstance(obj, dict):
        return obj
    out = {k: v for k, v in obj.items() if k in _MESSAGE_FIELDS[kind]}
    if out.get("timestamp") is not None:
        out["timestamp"] = cast_date(out["timestamp"], path + ".timestamp")
    if kind == "request" and out.get("port") is not None:
        out["port"] = str(out["port"])
    if kind == "response" and isinstance(out.get("status"), str) and out["status"].isdigit():
        out["status"] = int(out["status"])
    for k in ("body", "path", "querystring", "method", "host"):
        if out.get(k) is not None and not isinstance(out[k], str):
            out[k] = json.dumps(out[k]) if isinstance(out[k], (dict, list)) else str(out[k])
    if sub_id:
        out = {"_id": object_id(), **out}
    return out


def cast_orchestration(o, path):
    """An OrchestrationMetadata sub-document: name, group, request (gets an _id), response,
    error; other keys are dropped."""
    if not isinstance(o, dict):
        return o
    out = {"_id": object_id()}
    for k in ("name", "group"):
        if k in o:
            out[k] = o[k]
    if isinstance(o.get("request"), dict):
        out["request"] = _cast_message("request", o["request"], path + ".request", sub_id=True)
    if isinstance(o.get("response"), dict):
        out["response"] = _cast_message("response", o["response"], path + ".response")
    if isinstance(o.get("error"), dict):
        out["error"] = {k: o["error"][k] for k in ("message", "stack") if k in o["error"]}
    return out


def check_orchestrations(orchs):
    """What storeResponse's runValidators refuses: an orchestration without a name, or with a
    request without timestamp. One refused orchestration fails the whole response update."""
    for i, o in enumerate(orchs or []):
        if not isinstance(o, dict) or not o.get("name"):
            raise ValidationError("orchestrations.%d.name: Path `name` is required." % i)
        if isinstance(o.get("request"), dict) and o["request"].get("timestamp") is None:
            raise ValidationError("orchestrations.%d.request.timestamp: Path `timestamp` is "
                                  "required." % i)


def cast_tx_value(field, value, element=False):
    """Casts the value of a top-level (or dotted) transaction field of an update."""
    top = field.split(".")[0]
    if "." in field:
        if field in ("request.timestamp", "response.timestamp"):
            return cast_date(value, field)
        return value
    if top in ("request", "response"):
        return _cast_message(top, value, top)
    if top == "orchestrations":
        if element:
            return cast_orchestration(value, "orchestrations")
        return [cast_orchestration(o, "orchestrations.%d" % i)
                for i, o in enumerate(value or [])] if isinstance(value, list) else value
    if top == "routes":
        def route(r, p):
            if not isinstance(r, dict):
                return r
            r = dict(r)
            r.setdefault("_id", object_id())
            for kind in ("request", "response"):
                if isinstance(r.get(kind), dict):
                    r[kind] = _cast_message(kind, r[kind], p + "." + kind)
            if isinstance(r.get("orchestrations"), list):
                r["orchestrations"] = [cast_orchestration(o, p + ".orchestrations")
                                       for o in r["orchestrations"]]
            return r
        if element:
            return route(value, "routes")
        return [route(r, "routes.%d" % i) for i, r in enumerate(value or [])] \
            if isinstance(value, list) else value
    if top == "status" and value is not None and not isinstance(value, str):
        return json.dumps(value) if isinstance(value, (dict, list)) else (
            "true" if value is True else "false" if value is False else
            str(int(value)) if isinstance(value, float) and value.is_integer() else str(value))
    if top == "error" and isinstance(value, dict):
        return {k: value[k] for k in ("message", "stack") if k in value}
    return value


def _has_error(updates):
    """transactions.js hasError: an error, a route with an error, or one $push'ed."""
    if updates.get("error") is not None:
        return True
    if any(isinstance(r, dict) and r.get("error") for r in updates.get("routes") or []):
        return True
    pushed = (updates.get("$push") or {}).get("routes")
    if isinstance(pushed, dict):
        return bool(pushed.get("error"))
    return False


def _set_path(doc, dotted, value):
    parts = dotted.split(".")
    for p in parts[:-1]:
        if not isinstance(doc.get(p), dict):
            doc[p] = {}
        doc = doc[p]
    doc[parts[-1]] = value


def _public_tx(tx):
    return {k: copy.deepcopy(v) for k, v in tx.items()
            if not k.startswith("_") or k in ("_id", "__v")}
