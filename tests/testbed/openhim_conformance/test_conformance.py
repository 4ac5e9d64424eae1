"""Conformance of the openHIM stand-in (testbed/openhim) with the real openHIM core 8.5.0.

The same requests go to the stand-in (started here) and to a real openHIM started by
testbed/openhim-real/openhim-real.sh, named by the environment variable
MFLSYNC_OPENHIM_REAL_ENV (its DIR/openhim.env). The observable results are normalised (ids,
ports, clock values) and compared. The only other normalisations are the differences declared
in testbed/openhim/README.md ("Remaining differences"); each is named by a tag that the README
must carry, so an undeclared difference fails.

    MFLSYNC_OPENHIM_REAL_ENV=/tmp/oh/openhim.env \\
        python3 -m unittest tests.testbed.openhim_conformance.test_conformance

Without the variable (or its file) every test is skipped ("skipped: ...").
"""
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

from tests.testbed.openhim.harness import (
    ADMIN,
    ROOT,
    VIEWER,
    StandIn,
    ThreadingServer,
    UpstreamHandler,
    basic,
)

sys.path.insert(0, os.path.join(ROOT, "testbed", "openhim-real"))
from openhim_api import client_password_fields as client_fields  # noqa: E402
from openhim_api import load_env

ENV_VAR = "MFLSYNC_OPENHIM_REAL_ENV"
README = os.path.join(ROOT, "testbed", "openhim", "README.md")
FIXED_TS = "2001-02-03T04:05:06Z"     # timestamps the upstream sends: kept by normalisation
FIXED_TS2 = "2001-02-03T04:05:07Z"
ROUTE_WAIT_S = 10                     # a new channel is routed after the channel cache refresh
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]

# Declared differences (testbed/openhim/README.md, "Remaining differences"): tag -> what the
# normalisation below does for it. test_readme_declares_every_tolerated_difference checks that
# the README names every tag.
DECLARED = {
    "diff:authorization-redacted": "the stored request's authorization header",
    "diff:error-stack": "error.stack is a Python traceback line, not Node's stack",
    "diff:e11000-text": "the duplicate-key text is compared up to the collection name",
}


def _skip_reason():
    path = os.environ.get(ENV_VAR)
    if not path:
        return "skipped: %s is not set (the env file of testbed/openhim-real/openhim-real.sh " \
               "start DIR, DIR/openhim.env)" % ENV_VAR
    if not os.path.isfile(path):
        return "skipped: %s=%s: no such file (is the real openHIM running?)" % (ENV_VAR, path)
    return None


# ---------------------------------------------------------------- the upstream
class _UpstreamHandler(UpstreamHandler):
    """The harness's echo upstream, with fixed timestamps and the mediator answers these
    cases need."""

    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path.startswith("/med"):
            status = q.get("mstatus", ["Successful"])[0]
            payload = {
                "x-mediator-urn": "urn:mediator:conformance-upstream",
                "status": status,
                "response": {"status": 200,
                             "headers": {"content-type": "application/json", "x-inner": "yes"},
                             "body": json.dumps({"inner": True, "path": u.path}),
                             "timestamp": FIXED_TS},
                "orchestrations": [{"name": "step 1",
                                    "request": {"method": "GET", "path": "/inner",
                                                "timestamp": FIXED_TS},
                                    "response": {"status": 200, "body": "{}",
                                                 "timestamp": FIXED_TS2}}],
                "properties": {"fetched": 3}}
            if "error" in q:
                payload["error"] = {"message": q["error"][0]}
            return self._send(200, json.dumps(payload).encode(), "application/json+openhim")
        seen = {"method": self.command, "path": u.path, "query": u.query,
                "headers": dict(self.headers.items()), "body": body.decode("utf-8", "replace")}
        self._send(200, json.dumps(seen, sort_keys=True).encode(), "application/json")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any


def tls_upstream(cert, key):
    """The echo upstream over HTTPS with `cert` (a route's `secured` target)."""
    srv = ThreadingServer(("127.0.0.1", 0), _UpstreamHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def sha1_fingerprint(pem):
    digest = hashlib.sha1(ssl.PEM_cert_to_DER_cert(pem)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def dead_port():
    """A port where a connection is refused, kept so: a socket bound to it
    and never listening (a port merely freed again can be taken by another
    test's server binding port 0 meanwhile). Returns (socket, port); close
    the socket when done."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


# ---------------------------------------------------------------- the two targets
class Target:
    """One openHIM (real or stand-in): API and router calls with the suite's identities."""

    def __init__(self, name, api_host, api_port, ssl_context, admin, viewer, router_port,
                 clients):
        self.name = name
        self.api_host, self.api_port, self.ssl = api_host, api_port, ssl_context
        self.admin, self.viewer = admin, viewer
        self.router_port = router_port
        self.clients = clients          # role -> (clientID, password)

    def api(self, method, path, body=None, auth="admin"):
        if self.ssl is not None:
            c = http.client.HTTPSConnection(self.api_host, self.api_port, context=self.ssl,
                                            timeout=30)
        else:
            c = http.client.HTTPConnection(self.api_host, self.api_port, timeout=30)
        h = {}
        if auth == "admin":
            h["Authorization"] = basic(*self.admin)
        elif auth == "viewer":
            h["Authorization"] = basic(*self.viewer)
        elif auth == "bad":
            h["Authorization"] = basic(self.admin[0], "wrong-password")
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def api_json(self, method, path, body=None, auth="admin"):
        st, _, b = self.api(method, path, body, auth)
        try:
            return st, json.loads(b) if b else None
        except ValueError:
            return st, b.decode("utf-8", "replace")

    def router(self, method, path, body=None, client="fetcher", headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.router_port, timeout=30)
        h = {}
        if client == "bad":
            h["Authorization"] = basic(self.clients["fetcher"][0], "wrong-password")
        elif client:
            h["Authorization"] = basic(*self.clients[client])
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
                h["Content-Type"] = "application/json"
        h.update(headers or {})
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k: v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def wait_routed(self, method, path, want=lambda st: st != 404, **kw):
        deadline = time.time() + ROUTE_WAIT_S
        while True:
            out = self.router(method, path, **kw)
            if want(out[0]) or time.time() > deadline:
                return out
            time.sleep(0.1)

    def transaction(self, tid):
        st, tx = self.api_json("GET", "/transactions/" + tid)
        assert st == 200, (self.name, st, tx)
        return tx

    def settled(self, tid, extra_s=0.6):
        """The transaction once openHIM has stored the response and the final status (both
        are written after the answer), plus extra_s for a late final-status write."""
        deadline = time.time() + 10
        while True:
            tx = self.transaction(tid)
            if "response" in tx or time.time() > deadline:
                break
            time.sleep(0.05)
        time.sleep(extra_s)
        return self.transaction(tid)


def _real_target(env):
    u = urllib.parse.urlsplit(env["OPENHIM_API_URL"])
    ctx = ssl.create_default_context(cafile=env["OPENHIM_API_CA"])
    return Target("real", u.hostname, u.port, ctx,
                  (env["OPENHIM_MEDIATOR_USER"], env["OPENHIM_MEDIATOR_PASSWORD"]), VIEWER,
                  int(env["OPENHIM_ROUTER_PORT"]),
                  {"fetcher": (env["OPENHIM_CLIENT_FETCHER_ID"],
                               env["OPENHIM_CLIENT_FETCHER_PASSWORD"]),
                   "writer": (env["OPENHIM_CLIENT_WRITER_ID"],
                              env["OPENHIM_CLIENT_WRITER_PASSWORD"])}), \
        (env["OPENHIM_ROOT_USER"], env["OPENHIM_ROOT_PASSWORD"]), env.get("OPENHIM_CLIENT_ROLE",
                                                                          "mflsync")


# ---------------------------------------------------------------- normalisation
_ID = re.compile(r"\b[0-9a-f]{24}\b")
_ISO = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\b")
_HTTP_DATE = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\b")


class Normaliser:
    def __init__(self, target, ports):
        self.t = target
        self.ports = ports  # number -> name

    def s(self, v):
        v = _ID.sub("<id>", v)
        v = _ISO.sub(lambda m: m.group(0) if m.group(0).startswith("2001-") else "<ts>", v)
        v = _HTTP_DATE.sub("<date>", v)
        for num, name in self.ports.items():
            v = re.sub(r"(?<!\d)%d(?!\d)" % num, name, v)
        for who, label in ((self.t.admin[0], "<admin>"),):
            v = v.replace(who, label)
        for role, (cid, pw) in self.t.clients.items():
            v = v.replace(cid, "<client:%s>" % role)
        return v

    def __call__(self, obj):
        if isinstance(obj, dict):
            return {self.s(k) if isinstance(k, str) else k: self(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self(v) for v in obj]
        if isinstance(obj, bytes):
            return self.s(obj.decode("utf-8", "replace"))
        if isinstance(obj, str):
            return self.s(obj)
        if isinstance(obj, int) and not isinstance(obj, bool) and obj in self.ports:
            return self.ports[obj]
        return obj


def tolerate_declared(real, standin):
    """Applies the declared differences (DECLARED) to a pair of normalised transactions."""
    for r, s in ((real, standin),):
        rh = ((r.get("request") or {}).get("headers") or {})
        sh = ((s.get("request") or {}).get("headers") or {})
        # diff:authorization-redacted
        if sh.get("authorization") == "[redacted]" and str(rh.get("authorization", "")) \
                .startswith("Basic "):
            rh["authorization"] = sh["authorization"] = "<authorization>"
        # diff:error-stack
        for a, b in ((r.get("error"), s.get("error")),) + tuple(
                (x.get("error"), y.get("error")) for x, y in
                zip(r.get("orchestrations") or [], s.get("orchestrations") or [])):
            if isinstance(a, dict) and isinstance(b, dict) and "stack" in a and "stack" in b:
                a["stack"] = b["stack"] = "<stack>"
    return real, standin


# ---------------------------------------------------------------- the test
class Conformance(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        reason = _skip_reason()
        if reason:
            sys.stderr.write("openhim conformance: %s\n" % reason)
            raise unittest.SkipTest(reason)
        env = load_env(os.environ[ENV_VAR])
        cls.real, root, role = _real_target(env)
        cls.role = role
        cls.suffix = secrets.token_hex(3)
        cls.up = ThreadingServer(("127.0.0.1", 0), _UpstreamHandler)
        threading.Thread(target=cls.up.serve_forever, daemon=True).start()
        cls.up_port = cls.up.server_address[1]
        cls.dead_socket, cls.dead_port = dead_port()
        cls.oh = StandIn("--channel-refresh-ms", "1000")
        try:
            cls._setup_standin()
            cls._setup_real_viewer(root)
            cls._install_channels()
        except BaseException:
            cls._teardown()
            raise

    @classmethod
    def _setup_standin(cls):
        clients = {}
        for role_name in ("fetcher", "writer"):
            cid, pw = "mflsync-" + role_name, secrets.token_hex(8)
            st, b = cls._standin_api("POST", "/clients", dict(
                clientID=cid, name=cid, roles=[cls.role], **client_fields(pw)))
            assert st == 201, (st, b)
            clients[role_name] = (cid, pw)
        cls.standin = Target("stand-in", "127.0.0.1", cls.oh.api_port, None, ADMIN, VIEWER,
                             cls.oh.router_port, clients)

    @classmethod
    def _standin_api(cls, method, path, body):
        st, _, b = cls.oh.api(method, path, body)
        return st, b

    @classmethod
    def _setup_real_viewer(cls, root):
        """The stand-in's viewer (group viewers, not admin) on the real openHIM too."""
        r = Target("real-root", cls.real.api_host, cls.real.api_port, cls.real.ssl, root,
                   VIEWER, cls.real.router_port, cls.real.clients)
        r.api("POST", "/users", {"firstname": "conformance", "surname": "viewer",
                                 "email": VIEWER[0], "password": VIEWER[1],
                                 "groups": ["viewers"]})
        # POST stores the password unhashed; a PUT with it hashes it (exists already: same)
        st, _, b = r.api("PUT", "/users/" + VIEWER[0], {"email": VIEWER[0],
                                                         "password": VIEWER[1]})
        assert st == 200, (st, b)

    @classmethod
    def _install_channels(cls):
        """The channels of the router tests, created on both, then waited for (the channel
        cache refresh: about 1 s on both)."""
        sfx = cls.suffix
        cls.paths = {"echo": "/conf-%s/echo" % sfx, "med": "/conf-%s/med" % sfx,
                     "dead": "/conf-%s/dead" % sfx, "nomethods": "/conf-%s/nomethods" % sfx}
        for t in cls.targets():
            t.channel_ids = {}
            for key, route_port, extra in (
                    ("echo", cls.up_port, {"methods": METHODS}),
                    ("med", cls.up_port, {"methods": METHODS, "route_path": "/med"}),
                    ("dead", cls.dead_port, {"methods": METHODS}),
                    ("nomethods", cls.up_port, {})):
                route = {"name": "conf %s route" % key, "host": "127.0.0.1", "port": route_port,
                         "primary": True}
                if extra.get("route_path"):
                    route["path"] = extra["route_path"]
                ch = {"name": "conf-%s-%s" % (sfx, key),
                      "urlPattern": "^%s$" % cls.paths[key], "allow": [cls.role],
                      "type": "http", "authType": "private", "routes": [route]}
                if "methods" in extra:
                    ch["methods"] = extra["methods"]
                st, _, b = t.api("POST", "/channels", ch)
                assert st == 201, (t.name, st, b)
            st, chs = t.api_json("GET", "/channels")
            t.channel_ids = {c["name"].rsplit("-", 1)[1]: c["_id"] for c in chs
                             if c["name"].startswith("conf-%s-" % sfx)}
        for t in cls.targets():
            st, _, b = t.wait_routed("GET", cls.paths["echo"])
            assert st == 200, (t.name, st, b)
            st, _, b = t.wait_routed("GET", cls.paths["med"])
            assert st == 200, (t.name, st, b)

    @classmethod
    def targets(cls):
        return (cls.real, cls.standin)

    @classmethod
    def _teardown(cls):
        if getattr(cls, "dead_socket", None):
            cls.dead_socket.close()
        if getattr(cls, "oh", None):
            cls.oh.stop()
        if getattr(cls, "up", None):
            cls.up.shutdown()
            cls.up.server_close()

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    # ------------------------------------------------------------ helpers
    def norm(self, target, obj):
        ports = {target.router_port: "<router>", target.api_port: "<api>",
                 self.up_port: "<upstream>", self.dead_port: "<dead>"}
        return Normaliser(target, ports)(obj)

    def both(self, fn):
        """fn(target) -> observation, for both; returns (real, stand-in), normalised."""
        return tuple(self.norm(t, fn(t)) for t in self.targets())

    def same(self, fn, msg=None):
        real, standin = self.both(fn)
        self.assertEqual(standin, real, msg)
        return real

    def urn(self, name):
        return "urn:mediator:conformance-%s-%s" % (self.suffix, name)

    def mediator(self, urn, version="1.0.0", config=None, **kw):
        m = {"urn": urn, "version": version, "name": "conformance", "description": "d",
             "endpoints": [{"name": "ep", "host": "127.0.0.1", "port": self.up_port,
                            "path": "/", "primary": True, "type": "http"}],
             "defaultChannelConfig": [
                 {"name": urn + " with methods", "urlPattern": "^/conf-%s/dc-%s$"
                  % (self.suffix, urn.rsplit("-", 1)[1]), "allow": [self.role],
                  "methods": ["GET"], "routes": [{"name": "r", "host": "127.0.0.1",
                                                  "port": self.up_port, "primary": True}]},
                 {"name": urn + " without methods", "urlPattern": "^/conf-%s/dcn-%s$"
                  % (self.suffix, urn.rsplit("-", 1)[1]), "allow": [self.role],
                  "routes": [{"name": "r", "host": "127.0.0.1", "port": self.up_port,
                              "primary": True}]}],
             "configDefs": [{"param": "pageSize", "displayName": "Page size", "type": "number"},
                            {"param": "mode", "type": "option", "values": ["a", "b"]},
                            {"param": "secret", "type": "password"},
                            {"param": "targets", "type": "string", "array": True}],
             "config": {"pageSize": 10, "mode": "a", "secret": "s3"} if config is None
             else config}
        m.update(kw)
        return m

    @staticmethod
    def answer(t, *a, **kw):
        st, h, b = t.api(*a, **kw)
        return {"status": st, "content-type": h.get("content-type"),
                "www-authenticate": h.get("www-authenticate"), "body": b}

    @staticmethod
    def record(t, urn):
        """The parts of GET /mediators/{urn} the suite uses."""
        st, m = t.api_json("GET", "/mediators/" + urllib.parse.quote(urn, safe=":"))
        if st != 200:
            return {"status": st, "body": m}
        return {"status": st, "keys": sorted(m), "version": m.get("version"),
                "name": m.get("name"), "description": m.get("description"),
                "endpoints": m.get("endpoints"), "configDefs": m.get("configDefs"),
                "config": m.get("config"),
                "defaultChannelConfig": [c.get("name") for c in m.get("defaultChannelConfig")
                                         or []],
                "_uptime": m.get("_uptime")}

    # ------------------------------------------------------------ the README
    def test_readme_declares_every_tolerated_difference(self):
        with open(README, encoding="utf-8") as fh:
            text = fh.read()
        section = text.split("## Remaining differences", 1)
        self.assertEqual(len(section), 2, "README.md has no '## Remaining differences'")
        for tag in DECLARED:
            self.assertIn("`%s`" % tag, section[1].split("\n## ", 1)[0], tag)

    # ------------------------------------------------------------ API authentication
    def test_api_401_and_403(self):
        self.same(lambda t: [self.answer(t, "GET", "/mediators", auth=None),
                             self.answer(t, "GET", "/mediators", auth="bad"),
                             self.answer(t, "GET", "/channels/%s" % ("0" * 24), auth="bad")])
        urn = self.urn("auth")
        self.same(lambda t: [
            self.answer(t, "POST", "/mediators", self.mediator(urn), auth="viewer"),
            self.answer(t, "GET", "/mediators", auth="viewer"),
            self.answer(t, "GET", "/mediators/" + urn, auth="viewer"),
            self.answer(t, "POST", "/mediators/%s/heartbeat" % urn, {"uptime": 1},
                        auth="viewer"),
            self.answer(t, "PUT", "/mediators/%s/config" % urn, {}, auth="viewer"),
            self.answer(t, "POST", "/mediators/%s/channels" % urn, [], auth="viewer"),
            self.answer(t, "DELETE", "/mediators/" + urn, auth="viewer"),
            self.answer(t, "POST", "/channels", {"name": "x", "urlPattern": "^/x$"},
                        auth="viewer"),
            self.answer(t, "GET", "/clients", auth="viewer"),
            self.answer(t, "PUT", "/transactions/" + "0" * 24, {"status": "Failed"},
                        auth="viewer"),
            self.answer(t, "GET", "/mediators/" + urn),
            self.answer(t, "GET", "/no-such-endpoint"),
            self.answer(t, "GET", "/no-such-endpoint", auth=None)])
        self.same(lambda t: (lambda st_b: (st_b[0], [x for x in st_b[1]
                                                      if isinstance(x, dict)
                                                      and x["name"].startswith(
                                                          "conf-" + self.suffix)]))(
            t.api_json("GET", "/channels", auth="viewer")))

    # ------------------------------------------------------------ mediators
    def test_register_heartbeat_version_rules_config(self):
        urn = self.urn("med")
        q = urllib.parse.quote(urn, safe=":")

        def run(t):
            obs = {}
            obs["register"] = self.answer(t, "POST", "/mediators", self.mediator(urn))
            obs["record"] = self.record(t, urn)
            obs["hb plain"] = self.answer(t, "POST", "/mediators/%s/heartbeat" % q,
                                          {"uptime": 5})
            obs["hb config"] = self.answer(t, "POST", "/mediators/%s/heartbeat" % q,
                                           {"uptime": 6, "config": True})
            obs["hb no uptime"] = self.answer(t, "POST", "/mediators/%s/heartbeat" % q, {})
            obs["hb unknown"] = self.answer(t, "POST", "/mediators/urn:x-%s/heartbeat"
                                            % self.suffix, {"uptime": 1})
            obs["record after hb"] = self.record(t, urn)
            # lower and equal versions: 201, nothing changes
            obs["lower"] = self.answer(t, "POST", "/mediators",
                                       self.mediator(urn, "0.9.0", name="lower"))
            obs["equal"] = self.answer(t, "POST", "/mediators",
                                       self.mediator(urn, "1.0.0", name="equal"))
            obs["record unchanged"] = self.record(t, urn)
            # higher: replaced; existing values win for params it has, others dropped
            defs = self.mediator(urn)["configDefs"] + [{"param": "extra", "type": "bool"}]
            obs["higher"] = self.answer(t, "POST", "/mediators", self.mediator(
                urn, "1.1.0", name="upgraded", configDefs=defs,
                config={"pageSize": 99, "extra": True}))
            obs["record upgraded"] = self.record(t, urn)
            obs["hb after upgrade"] = self.answer(t, "POST", "/mediators/%s/heartbeat" % q,
                                                  {"uptime": 7})
            # the console's PUT config: pushed by the next heartbeat once
            obs["put config"] = self.answer(t, "PUT", "/mediators/%s/config" % q,
                                            {"pageSize": 42, "mode": "b", "secret": "**********",
                                             "targets": ["x", "y"], "extra": False})
            obs["hb pushed"] = self.answer(t, "POST", "/mediators/%s/heartbeat" % q,
                                           {"uptime": 8})
            obs["hb again"] = self.answer(t, "POST", "/mediators/%s/heartbeat" % q,
                                          {"uptime": 9})
            obs["put bad"] = [self.answer(t, "PUT", "/mediators/%s/config" % q, c) for c in
                              ({"nope": 1}, {"pageSize": "x"}, {"mode": "c"},
                               {"targets": "x"})]
            obs["put unknown"] = self.answer(t, "PUT", "/mediators/urn:x-%s/config"
                                             % self.suffix, {})
            obs["record final"] = self.record(t, urn)
            st, hb = t.api_json("GET", "/heartbeat", auth=None)
            obs["core heartbeat"] = (st, sorted(hb), type(hb["master"]).__name__,
                                     type(hb["now"]).__name__, hb["mediators"].get(urn))
            obs["bad registrations"] = [self.answer(t, "POST", "/mediators", m) for m in (
                {"urn": urn + "-new"},
                {"urn": urn + "-new", "version": "1.0"},
                {"urn": urn + "-new", "version": "1.0.0", "name": "n"},
                {"urn": urn + "-new", "version": "1.0.0",
                 "endpoints": [{"name": "e", "host": "h", "port": 1}]},
                self.mediator(urn + "-new", config={"nope": 1}),
                self.mediator(urn + "-new", configDefs=[{"param": "o", "type": "option"}]))]
            obs["delete"] = self.answer(t, "DELETE", "/mediators/" + q)
            obs["delete again"] = self.answer(t, "DELETE", "/mediators/" + q)
            obs["record deleted"] = self.record(t, urn)
            return obs
        real, standin = self.both(run)
        for k in real:
            self.assertEqual(standin[k], real[k], k)

    def test_install_default_channels(self):
        urn = self.urn("chan")
        q = urllib.parse.quote(urn, safe=":")
        name = urn.rsplit("-", 1)[1]

        def run(t):
            obs = {"register": self.answer(t, "POST", "/mediators", self.mediator(urn))}
            obs["unknown name"] = self.answer(t, "POST", "/mediators/%s/channels" % q,
                                              ["no such channel"])
            obs["unknown urn"] = self.answer(t, "POST", "/mediators/urn:x-%s/channels"
                                             % self.suffix, [])
            obs["one"] = self.answer(t, "POST", "/mediators/%s/channels" % q,
                                     [urn + " with methods"])
            obs["duplicate"] = self.answer(t, "POST", "/mediators/%s/channels" % q,
                                           [urn + " with methods"])
            # [] installs all: the new one is saved, the duplicate fails the call
            obs["all"] = self.answer(t, "POST", "/mediators/%s/channels" % q, [])
            st, chs = t.api_json("GET", "/channels")
            mine = sorted((c for c in chs if c["name"].startswith(urn)), key=lambda c: c["name"])
            obs["channels"] = [{k: c.get(k) for k in
                                ("name", "urlPattern", "methods", "allow", "authType", "status",
                                 "type", "whitelist", "matchContentTypes", "txViewAcl",
                                 "requestBody", "responseBody")} for c in mine]
            obs["routes"] = [[{k: r.get(k) for k in ("name", "host", "port", "primary",
                                                     "secured", "forwardAuthHeader", "status",
                                                     "type")} for r in c["routes"]]
                             for c in mine]
            return obs
        real, standin = self.both(run)
        for k in real:
            if k in ("duplicate", "all"):
                # diff:e11000-text: FerretDB's E11000 text is shorter than MongoDB's (the
                # stand-in's): compared up to the collection name
                for o in (real[k], standin[k]):
                    o["body"] = o["body"].split("openhim.channels")[0] + "openhim.channels"
            self.assertEqual(standin[k], real[k], k)
        # routed after the cache refresh; the channel without methods never
        for t in self.targets():
            st, _, _ = t.wait_routed("GET", "/conf-%s/dc-%s" % (self.suffix, name))
            self.assertEqual(st, 200, t.name)
            self.assertEqual(t.router("GET", "/conf-%s/dcn-%s" % (self.suffix, name))[0], 404,
                             t.name)

    def test_channel_api_answers(self):
        sfx = self.suffix

        def ch(name, **kw):
            c = {"name": "conf-%s-api-%s" % (sfx, name), "urlPattern": "^/conf-%s/api$" % sfx,
                 "allow": [self.role], "methods": ["GET"],
                 "routes": [{"name": "r", "host": "127.0.0.1", "port": self.up_port,
                             "primary": True}]}
            c.update(kw)
            return c

        def run(t):
            out = [self.answer(t, "POST", "/channels", ch("a")),
                   self.answer(t, "POST", "/channels", ch("a", urlPattern="^/other$")),
                   self.answer(t, "POST", "/channels", ch("b", routes=[
                       {"name": "r", "host": "127.0.0.1", "port": 1}])),
                   self.answer(t, "POST", "/channels", ch("c", methods=["get"])),
                   self.answer(t, "POST", "/channels", ch("d", methods=["GET", "GET"])),
                   self.answer(t, "POST", "/channels", {"urlPattern": "^/x$",
                                                        "routes": ch("e")["routes"]}),
                   self.answer(t, "GET", "/channels/" + "0" * 24)]
            out[1]["body"] = out[1]["body"].split(b"openhim.channels")[0]  # diff:e11000-text
            return out
        self.same(run)

    # ------------------------------------------------------------ router
    def test_router_forwarding_and_answers(self):
        p = self.paths

        def run(t):
            obs = {}
            st, h, b = t.router("GET", p["echo"] + "?a=1&b=x%20y", headers={"X-Custom": "1"})
            seen = json.loads(b)
            obs["echo"] = {"status": st, "seen": seen,
                           "headers": {k: v for k, v in h.items()
                                       if k.lower() not in ("date", "keep-alive", "connection")}}
            st, h, b = t.router("POST", p["echo"], body={"k": 1}, client="writer")
            obs["echo post"] = (st, json.loads(b))
            st, h, b = t.router("GET", p["echo"], headers={"Accept-Encoding": "gzip"})
            obs["gzip"] = (st, h.get("Content-Encoding"), h.get("Vary"))
            for key, args in (("bad password", ("GET", p["echo"], None, "bad")),
                              ("no credentials", ("GET", p["echo"], None, None)),
                              ("unmatched", ("GET", "/conf-%s/none" % self.suffix)),
                              ("unmatched echo", ("POST", "/conf-%s/none" % self.suffix,
                                                  "hello")),
                              ("wrong method", ("OPTIONS", p["echo"])),
                              ("no methods", ("GET", p["nomethods"]))):
                st, h, b = t.router(*args)
                obs[key] = {"status": st, "body": b, "content-type": h.get("Content-Type"),
                            "www": h.get("WWW-Authenticate"),
                            "tid": h.get("X-OpenHIM-TransactionID")}
            st, h, b = t.router("GET", p["dead"])
            obs["dead"] = {"status": st, "body": b, "content-type": h.get("Content-Type"),
                           "vary": h.get("Vary"), "tid": h.get("X-OpenHIM-TransactionID")}
            return obs
        real, standin = self.both(run)
        for k in real:
            self.assertEqual(standin[k], real[k], k)

    def _mediator_call(self, t, query="mstatus=Processing"):
        st, h, b = t.router("POST", self.paths["med"] + "?" + query, body={"q": 1},
                            client="writer", headers={"X-Custom": "1"})
        tid = h.get("X-OpenHIM-TransactionID")
        early = t.transaction(tid) if tid else None
        answer = {"status": st, "body": b,
                  "headers": {k: v for k, v in h.items()
                              if k.lower() not in ("date", "keep-alive", "connection")}}
        return answer, tid, early

    def test_mediator_transaction_stored_after_the_answer(self):
        def run(t):
            answer, tid, early = self._mediator_call(t)
            late = t.settled(tid)
            return {"answer": answer, "early": early, "late": late}
        real, standin = self.both(run)
        self.assertEqual(standin["answer"], real["answer"])
        for obs in (real, standin):
            early, late = obs["early"], obs["late"]
            # right after the answer: either nothing stored yet, or already the final record
            if "response" in early:
                self.assertEqual(early, late)
            else:
                self.assertEqual((early["status"], early["orchestrations"]), ("Processing", []))
        r, s = tolerate_declared(real["late"], standin["late"])
        self.assertEqual(s, r)

    def test_put_transaction(self):
        def run(t):
            _, tid, _ = self._mediator_call(t)
            t.settled(tid, extra_s=0.3)
            obs = {}
            obs["put"] = self.answer(t, "PUT", "/transactions/" + tid, {
                "status": "Successful",
                "response": {"status": 201, "headers": {"content-type": "text/plain"},
                             "body": "done", "timestamp": "2001-02-03T04:05:08+01:00"},
                "$push": {"orchestrations": {"$each": [
                    {"name": "pushed", "unknownKey": 1,
                     "request": {"method": "POST", "path": "/w", "port": 80,
                                 "timestamp": FIXED_TS},
                     "response": {"status": 201, "body": "x", "timestamp": 981173107000}}]}},
                "properties.written": 5, "properties.mode": "full", "unknownField": 1})
            obs["after put"] = t.transaction(tid)
            obs["put weird"] = self.answer(t, "PUT", "/transactions/" + tid, {"status": "Weird"})
            obs["weird"] = t.transaction(tid)["status"]
            obs["put error"] = self.answer(t, "PUT", "/transactions/" + tid, {
                "status": "Failed", "error": {"message": "boom", "stack": "at x"}})
            tx = t.transaction(tid)
            obs["after error"] = {k: tx.get(k) for k in ("status", "error", "autoRetry",
                                                         "autoRetryAttempt")}
            obs["replace orchestrations"] = self.answer(t, "PUT", "/transactions/" + tid, {
                "orchestrations": [{"name": "only", "request": {"timestamp": FIXED_TS}}]})
            obs["replaced"] = t.transaction(tid)["orchestrations"]
            obs["bad date"] = self.answer(t, "PUT", "/transactions/" + tid,
                                          {"response": {"status": 200, "timestamp": "garbage"}})
            obs["unknown id"] = self.answer(t, "PUT", "/transactions/" + "0" * 24,
                                            {"status": "Successful"})
            obs["bad id"] = self.answer(t, "PUT", "/transactions/nothex", {"status": "x"})
            obs["get unknown"] = self.answer(t, "GET", "/transactions/" + "0" * 24)
            obs["get bad id"] = self.answer(t, "GET", "/transactions/nothex")
            return obs
        real, standin = self.both(run)
        for k in real:
            if k == "after put":
                tolerate_declared(real[k], standin[k])
            self.assertEqual(standin[k], real[k], k)

    def test_mediator_error_sets_auto_retry(self):
        def run(t):
            _, tid, _ = self._mediator_call(t, "mstatus=Failed&error=upstream%20down")
            tx = t.settled(tid)
            return {k: tx.get(k) for k in ("status", "error", "autoRetry")}
        self.same(run)

    def test_trusted_ca_and_secured_routes(self):
        """POST /keystore/ca/cert and GET /keystore/ca as the mediator uses them, and a secured
        route verified against the keystore CA its cert names: our CA's certificate is
        reached, another CA's is refused with Node's text."""
        pki = tempfile.mkdtemp(prefix="ohim-conformance-pki-")
        servers = []
        try:
            for name in ("ours", "other"):
                subprocess.run(["sh", os.path.join(ROOT, "scripts", "pki.sh"),
                                os.path.join(pki, name)], check=True, stdout=subprocess.DEVNULL)
                servers.append(tls_upstream(os.path.join(pki, name, "mediator.pem"),
                                            os.path.join(pki, name, "mediator-key.pem")))
            with open(os.path.join(pki, "ours", "ca.pem"), encoding="ascii") as fh:
                ca = fh.read()
            fingerprint = sha1_fingerprint(ca)

            def run(t):
                def ours():
                    _, cas = t.api_json("GET", "/keystore/ca")
                    return [c for c in cas if c.get("fingerprint") == fingerprint]
                out = {"refused": t.api("POST", "/keystore/ca/cert", {"cert": "no cert"})[0],
                       "added": t.api("POST", "/keystore/ca/cert", {"cert": ca})[0]}
                entries = ours()
                out["entries"] = len(entries)
                out["data"] = entries[0]["data"].strip() == ca.strip() if entries else None
                for key, srv in (("good", servers[0]), ("wrong", servers[1])):
                    path = "/conf-%s/tls-%s" % (self.suffix, key)
                    st, _, b = t.api("POST", "/channels", {
                        "name": "conf-%s-tls%s" % (self.suffix, key), "urlPattern": "^%s$" % path,
                        "allow": [self.role], "methods": ["GET"], "type": "http",
                        "authType": "private",
                        "routes": [{"name": "tls", "host": "127.0.0.1",
                                    "port": srv.server_address[1], "primary": True,
                                    "secured": True, "cert": entries[0]["_id"]}]})
                    assert st == 201, (t.name, st, b)
                st, _, b = t.wait_routed("GET", "/conf-%s/tls-good" % self.suffix)
                out["good"] = st, json.loads(b).get("path") if st == 200 else b
                st, _, _ = t.wait_routed("GET", "/conf-%s/tls-wrong" % self.suffix)
                _, chs = t.api_json("GET", "/channels")
                wrong = [c["_id"] for c in chs if c["name"] == "conf-%s-tlswrong" % self.suffix]
                _, txs = t.api_json("GET", "/transactions?filterLimit=1&filterRepresentation=full"
                                    "&filters=" + urllib.parse.quote(json.dumps(
                                        {"channelID": wrong[0]})))
                tx = t.settled(txs[0]["_id"])
                out["wrong"] = st, tx.get("status"), (tx.get("error") or {}).get("message")
                return out
            real = self.same(run)
            self.assertEqual(real["entries"], 1)
            self.assertEqual(real["good"][0], 200)
        finally:
            for srv in servers:
                srv.shutdown()
                srv.server_close()
            shutil.rmtree(pki, ignore_errors=True)

    def test_route_failure_transaction(self):
        def run(t):
            st, h, b = t.router("GET", self.paths["dead"])
            st, txs = t.api_json("GET", "/transactions?filterLimit=1&filterRepresentation=full"
                                 "&filters=" + urllib.parse.quote(json.dumps(
                                     {"channelID": t.channel_ids["dead"]})))
            return t.settled(txs[0]["_id"])
        real, standin = self.both(run)
        r, s = tolerate_declared(real, standin)
        self.assertEqual(s, r)

    def test_transaction_list_filters(self):
        def run(t):
            t.router("GET", self.paths["echo"])
            _, tid, _ = self._mediator_call(t, "mstatus=Successful")
            t.settled(tid, extra_s=0.2)
            echo, med = t.channel_ids["echo"], t.channel_ids["med"]
            st, by_filter = t.api_json("GET", "/transactions?filters=" + urllib.parse.quote(
                json.dumps({"channelID": echo})))
            st2, bare = t.api_json("GET", "/transactions?filterLimit=20&channelID=" + echo)
            st3, status = t.api_json("GET", "/transactions?filterLimit=5&filters="
                                     + urllib.parse.quote(json.dumps(
                                         {"channelID": med, "status": "Successful"})))
            st4, simple = t.api_json("GET", "/transactions?filterLimit=1&filters="
                                     + urllib.parse.quote(json.dumps({"channelID": med})))
            return {"filters": (st, sorted({x["channelID"] for x in by_filter})),
                    "bare channelID ignored": (st2, med in {x["channelID"] for x in bare}),
                    "status": (st3, sorted({(x["channelID"], x["status"]) for x in status})),
                    "default representation": (st4, sorted(simple[0]),
                                               sorted(simple[0]["request"]),
                                               sorted(simple[0]["response"]))}
        self.same(run)


if __name__ == "__main__":
    unittest.main()
