"""Small helpers shared by the router and the API: the handler base, ids, timestamps, semver,
hashing."""
import datetime
import hashlib
import os
import re
import threading
import time

from standin_core import auth
from standin_core.server import BaseHandler


class OpenhimHandler(BaseHandler):
    """Koa's answers: no Server header, JSON and text with a charset; every method routed."""
    json_type = "application/json; charset=utf-8"

    def fault_status(self, f):
        # a fault's status answer is Koa's default body: the status text
        body = f.get("body")
        if body is None:
            body = f.get("diagnostics") or self.responses.get(f["status"], ("",))[0]
        headers = {"Retry-After": f["retry_after"]} if f.get("retry_after") is not None else {}
        self.send(f["status"], body, headers)

    do_HEAD = do_OPTIONS = BaseHandler.do_GET

_counter = int.from_bytes(os.urandom(3), "big")
_counter_lock = threading.Lock()
_machine = os.urandom(5)


def object_id():
    """A MongoDB ObjectId-shaped id (24 hex chars): 4-byte time, 5 random bytes, 3-byte counter."""
    global _counter
    with _counter_lock:
        _counter = (_counter + 1) & 0xFFFFFF
        c = _counter
    return (int(time.time()).to_bytes(4, "big") + _machine + c.to_bytes(3, "big")).hex()


def now_iso():
    """JSON rendering of a JS Date (what Koa sends): 2026-01-02T03:04:05.678Z."""
    d = datetime.datetime.now(datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


# semver 2.0.0, as node-semver's valid(): optional leading "v"/"=" is accepted (loose prefix).
_SEMVER = re.compile(
    r"^\s*[v=]?\s*(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\s*$")


def semver_parse(v):
    if not isinstance(v, str):
        return None
    m = _SEMVER.match(v)
    if not m:
        return None
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), pre


def _pre_key(pre):
    # a version without prerelease has higher precedence than one with
    if not pre:
        return (1,)
    parts = []
    for p in pre:
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return (0, tuple(parts))


def semver_gt(a, b):
    pa, pb = semver_parse(a), semver_parse(b)
    if pa is None or pb is None:
        raise ValueError("Invalid Version: %s" % (a if pa is None else b))
    ka = (pa[:3], _pre_key(pa[3]))
    kb = (pb[:3], _pre_key(pb[3]))
    return ka > kb


def check_client_password(client, password):
    """basicAuthentication.js: hash(password + salt) with passwordAlgorithm, hex, compared to
    passwordHash. bcrypt ($2a$...) cannot be checked with the stdlib. The stand-in also takes a
    plain "password" field for convenience."""
    if client.get("password") is not None:
        return auth.same(str(client["password"]), password)
    algo, ph = client.get("passwordAlgorithm"), client.get("passwordHash")
    if not (algo and ph):
        return False
    if algo not in hashlib.algorithms_available:
        return False  # bcrypt in openHIM; unsupported here
    h = hashlib.new(algo)
    h.update(password.encode())
    h.update(str(client.get("passwordSalt") or "").encode())
    return auth.same(h.hexdigest(), ph)
