"""The fault language of the stand-ins (README.md beside this file documents it).

A fault is a JSON object: a `kind`, the requests it selects (method, path, contains, page,
skip, probability/seed, times) and the kind's parameters. Kinds common to every stand-in are
defined here (KINDS); a stand-in registers its own with `Kind(...)` and builds its language with
`Language(kinds, ...)`. `Faults` is the registry behind POST/GET/PUT/DELETE /$testbed/faults;
`take()` picks the faults that fire for one request, the handler (server.BaseHandler) applies
the common effects and hands the others to the stand-in.
"""
import random
import threading
import time

# Effects the handler base applies by itself; a kind without one is applied by its stand-in.
DELAY, STATUS, RESET, CLOSE, TIMEOUT, DROP_AFTER_COMMIT, DOWN = (
    "delay", "status", "reset", "close", "timeout", "drop_after_commit", "down")

# Which of the faults that select a request fire on it (Faults(select=...)):
ALL = "all"                  # every one (skips and probability draws counted on each)
FIRST = "first"              # the first only: its skip or failed draw lets the request through
FIRST_FIRED = "first_fired"  # the first that fires (a skip or failed draw passes to the next)


class FaultError(ValueError):
    pass


def number(spec, key, conv, default=None):
    """spec[key] converted by conv (default when absent); a bad value is a FaultError."""
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool):
        raise FaultError("%s must be a number, got %r" % (key, value))
    try:
        return conv(value)
    except (TypeError, ValueError):
        raise FaultError("%s must be a number, got %r" % (key, value)) from None


class Kind:
    """One fault kind.

    effect        one of the effects above (the handler applies it), or None: the stand-in
                  does (BaseHandler.fault_extension, or the routing code that gets the fault)
    params        function(fault) that checks and normalises the kind's parameters in
                  fault.spec (raise FaultError); it may also set fault.effect / .times / .until
    default_times `times` when the fault does not say
    now           `"now": true` fires it when registered instead of on a request
    when          predicate(fault, request) -> bool: a further condition on the request
    """

    def __init__(self, name, effect=None, params=None, default_times=1, now=False, when=None):
        self.name = name
        self.effect = effect
        self.params = params
        self.default_times = default_times
        self.now = now
        self.when = when


def _status_params(f):
    st = number(f.spec, "status", int, 503)
    if not 400 <= st <= 599:
        raise FaultError("a status fault needs a 4xx/5xx status, got %r" % st)
    f.spec["status"] = st
    if f.spec.get("retry_after") is not None:
        f.spec["retry_after"] = str(f.spec["retry_after"])
    if f.spec.get("diagnostics") is not None:
        f.spec["diagnostics"] = str(f.spec["diagnostics"])


def _wait_params(default_seconds=None, default_ms=None):
    """A wait given in `seconds` or `ms` (the kind's default when neither)."""
    def params(f):
        if f.spec.get("ms") is not None:
            f.spec["ms"] = number(f.spec, "ms", float)
            f.seconds = f.spec["ms"] / 1000.0
        elif f.spec.get("seconds") is not None or default_ms is None:
            f.spec["seconds"] = number(f.spec, "seconds", float, default_seconds)
            f.seconds = f.spec["seconds"]
        else:
            f.spec["ms"] = float(default_ms)
            f.seconds = default_ms / 1000.0
        if f.seconds < 0:
            raise FaultError("a wait cannot be negative")
    return params


def _drop_params(f):
    if f.spec.get("as") not in (None, "close", "502", 502):
        raise FaultError('drop_after_commit "as" must be "close" or "502"')


KINDS = {k.name: k for k in (
    Kind("status", STATUS, _status_params),
    Kind("delay", DELAY, _wait_params(default_seconds=5)),
    Kind("latency", DELAY, _wait_params(default_ms=100)),
    Kind("reset", RESET),
    Kind("close", CLOSE),
    Kind("timeout", TIMEOUT, _wait_params(default_seconds=30)),
    Kind("drop_after_commit", DROP_AFTER_COMMIT, _drop_params),
    Kind("down", DOWN, _wait_params(default_seconds=5), now=True),
)}


def common(*names):
    """The common kinds of those names."""
    return [KINDS[n] for n in names]


class Request:
    """What a fault is matched against: method, path, body and whatever else a stand-in knows
    (`page` for the paged searches of the MFL; extras such as `bundle`, `listener`)."""
    __slots__ = ("method", "path", "body", "page", "extra")

    def __init__(self, method, path, body=b"", page=None, **extra):
        self.method = method
        self.path = path
        self.body = body
        self.page = page
        self.extra = extra

    def text(self):
        b = self.body
        return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else (b or "")


class Fault:
    """A registered fault: `spec` is what it shows (and what kinds read: f["seconds"]...)."""

    def __init__(self, kind, spec):
        self.kind = kind
        self.spec = spec
        self.effect = kind.effect
        self.seconds = None          # the wait of a wait-type kind
        self.times = kind.default_times
        self.skip = 0
        self.probability = 1.0
        self.rng = None
        self.until = None            # a monotonic deadline after which the fault is gone
        self.fired = 0

    def __getitem__(self, key):
        return self.spec[key]

    def get(self, key, default=None):
        return self.spec.get(key, default)

    def spent(self, now):
        return (0 < self.times <= self.fired) or (self.until is not None and now >= self.until)

    def describe(self, now):
        d = dict(self.spec)
        d["fired"] = self.fired
        if self.until is not None:
            d["seconds_left"] = round(max(0.0, self.until - now), 3)
        return d


class Language:
    """The kinds a stand-in understands and how it reads `path` and `page`.

    base_path   a relative `path` ("Location/_history") is taken under it
    pages       whether requests carry a page number (the `page` field is refused otherwise)
    selectors   {name: (check(value) -> value, match(value, request) -> bool, default)}:
                further request fields a stand-in selects on (openHIM: `listener`)
    """

    def __init__(self, kinds, base_path="", pages=False, selectors=None):
        self.kinds = {k.name: k for k in kinds}
        self.base_path = base_path.rstrip("/")
        self.pages = pages
        self.selectors = dict(selectors or {})

    def parse(self, spec):
        if not isinstance(spec, dict):
            raise FaultError("a fault must be a JSON object")
        spec = dict(spec)
        kind = self.kinds.get(spec.get("kind"))
        if kind is None:
            raise FaultError("unknown fault kind %r, expected one of %s"
                             % (spec.get("kind"), sorted(self.kinds)))
        f = Fault(kind, spec)
        if spec.get("method"):
            spec["method"] = str(spec["method"]).upper()
        if spec.get("path"):
            p = str(spec["path"])
            spec["path"] = p if p.startswith("/") else self.base_path + "/" + p
        contains = spec.get("contains")
        if contains is not None:
            items = [contains] if isinstance(contains, str) else contains
            if not (isinstance(items, list) and items
                    and all(isinstance(c, str) and c for c in items)):
                raise FaultError("contains must be a non-empty string or a list of them")
            spec["contains"] = items
        if spec.get("page") is not None:
            if not self.pages:
                raise FaultError("this stand-in has no paged answers: no `page`")
            spec["page"] = number(spec, "page", int)
            if spec["page"] < 1:
                raise FaultError("page is 1-based")
        f.probability = number(spec, "probability", float, 1.0)
        if not 0.0 <= f.probability <= 1.0:
            raise FaultError("probability must be between 0 and 1")
        if "probability" in spec or "seed" in spec:
            spec["probability"] = f.probability
            spec["seed"] = number(spec, "seed", int, 0)
        f.rng = random.Random(spec.get("seed", 0))
        f.skip = number(spec, "skip", int, 0)
        spec["skip"] = f.skip
        for name, (check, _match, default) in self.selectors.items():
            value = spec.get(name, default)
            if value is not None:
                spec[name] = check(value)
        if kind.params:
            kind.params(f)
        f.times = number(spec, "times", int, f.times)
        if f.times == 0 or f.times < -1:
            raise FaultError("times must be -1 (until cleared) or at least 1")
        spec["times"] = f.times
        return f

    def matches(self, f, req):
        s = f.spec
        if s.get("method") and s["method"] != req.method:
            return False
        if s.get("path") and not req.path.startswith(s["path"]):
            return False
        if s.get("page") is not None and s["page"] != req.page:
            return False
        for name, (_check, match, _default) in self.selectors.items():
            if s.get(name) is not None and not match(s[name], req):
                return False
        if f.kind.when is not None and not f.kind.when(f, req):
            return False
        if s.get("contains"):
            text = req.text()
            return any(c in text for c in s["contains"])
        return True


class Faults:
    """The registry of one stand-in.

    select   ALL, FIRST or FIRST_FIRED (above): which selecting faults fire on a request
    on_now   function(fault) for a stand-in kind registered with "now": true
    """

    def __init__(self, language, select=ALL, on_now=None):
        self.language = language
        self.select = select
        self.on_now = on_now
        self.lock = threading.Lock()
        self.items = []
        self.fired = {}              # kind -> how many times it fired
        self.down_until = 0.0

    # ------------------------------------------------------------ registration
    @staticmethod
    def _specs(data):
        if isinstance(data, dict) and "kind" not in data and isinstance(data.get("faults"), list):
            return data["faults"]
        if isinstance(data, dict):
            return [data]
        if isinstance(data, list):
            return data
        raise FaultError("expected a fault object, a list of them or {\"faults\": [...]}")

    def add(self, data, replace=False):
        """Registers one fault, a list or {"faults": [...]}; all or none. -> the faults."""
        parsed = [self.language.parse(s) for s in self._specs(data)]
        now_faults = [f for f in parsed if f.get("now") and f.kind.now]
        with self.lock:
            if replace:
                self.items = []
            self.items.extend(f for f in parsed if f not in now_faults)
            for f in now_faults:
                self._count(f)
        for f in now_faults:
            if f.effect == DOWN:
                self.set_down(f.seconds)
            elif self.on_now:
                self.on_now(f)
        return parsed

    def clear(self):
        with self.lock:
            n = len(self.items)
            self.items = []
            self.down_until = 0.0
            return n

    def pending(self):
        now = time.monotonic()
        with self.lock:
            self._expire(now)
            return [f.describe(now) for f in self.items]

    def reset_fired(self):
        with self.lock:
            self.fired = {}

    def fired_counts(self):
        with self.lock:
            return dict(self.fired)

    def _expire(self, now):
        self.items = [f for f in self.items if not f.spent(now)]

    def _count(self, f):
        f.fired += 1
        self.fired[f.spec["kind"]] = self.fired.get(f.spec["kind"], 0) + 1

    # --------------------------------------------------------------- the down window
    def set_down(self, seconds):
        with self.lock:
            self.down_until = max(self.down_until, time.monotonic() + seconds)

    def down_remaining(self):
        if not self.down_until:
            return 0.0
        return max(0.0, self.down_until - time.monotonic())

    # ----------------------------------------------------------------- matching
    def take(self, method, path, body=b"", page=None, effects=None, **extra):
        """The faults that fire on this request, in order (their `times` consumed). effects:
        only faults of these effects are looked at (None: all)."""
        if not self.items:
            return []
        req = Request(method, path, body, page, **extra)
        now = time.monotonic()
        out = []
        with self.lock:
            self._expire(now)
            for f in self.items:
                if effects is not None and f.effect not in effects:
                    continue
                if not self.language.matches(f, req):
                    continue
                fires = False
                if f.skip > 0:
                    f.skip -= 1
                elif f.probability >= 1.0 or f.rng.random() < f.probability:
                    fires = True
                    self._count(f)
                    out.append(f)
                if self.select == FIRST or (fires and self.select == FIRST_FIRED):
                    break
            self._expire(now)
        return out

    # ------------------------------------------------------------ the admin endpoint
    def admin(self, method, data, created=200):
        """/$testbed/faults: GET lists, POST adds, PUT replaces, DELETE clears.
        -> (status, body) with {"pending", "fired", "down_for_seconds"} (+ "added",
        "cleared"); 400 {"error"} for a bad fault; None for another method."""
        extra = {}
        if method in ("POST", "PUT"):
            try:
                added = self.add(data, replace=method == "PUT")
            except FaultError as e:
                return 400, {"error": str(e)}
            now = time.monotonic()
            extra["added"] = [f.describe(now) for f in added]
            status = created
        elif method == "DELETE":
            extra["cleared"] = self.clear()
            status = 200
        elif method == "GET":
            status = 200
        else:
            return None
        body = {"pending": self.pending(), "fired": self.fired_counts(),
                "down_for_seconds": round(self.down_remaining(), 3)}
        body.update(extra)
        return status, body
