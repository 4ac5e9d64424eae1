"""Start/stop the openHIM stand-in as a subprocess, a tiny upstream echo server, and a client."""
import base64
import http.client
import http.server
import json
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCRIPT = os.path.join(ROOT, "testbed", "openhim", "openhim_standin.py")
ADMIN = ("root@openhim.org", "openhim-password")
VIEWER = ("viewer@example.org", "viewer-pw")


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


class StandIn:
    def __init__(self, *extra_args, users=True):
        self.tmp = tempfile.mkdtemp(prefix="ohim-test-")
        self.ready = os.path.join(self.tmp, "ready.json")
        args = [sys.executable, SCRIPT, "--router-port", "0", "--api-port", "0",
                "--ready-file", self.ready, "--router-timeout-ms", "5000"]
        if users:
            uf = os.path.join(self.tmp, "users.json")
            with open(uf, "w") as fh:
                json.dump([{"email": VIEWER[0], "password": VIEWER[1], "groups": ["viewers"]}], fh)
            args += ["--users", uf]
        self.proc = subprocess.Popen(args + list(extra_args), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("stand-in did not start: %s" % self.proc.stderr.read())
            time.sleep(0.02)
        with open(self.ready) as fh:
            ports = json.load(fh)
        self.router_port, self.api_port = ports["router"], ports["api"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()

    def router(self, method, path, body=None, headers=None, timeout=10):
        return request(self.router_port, method, path, body, headers, timeout)

    def api(self, method, path, body=None, auth=ADMIN, headers=None, timeout=10):
        h = dict(headers or {})
        if auth:
            h["Authorization"] = basic(*auth)
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        return request(self.api_port, method, path, body, h, timeout)

    def api_json(self, method, path, body=None, auth=ADMIN):
        st, _, b = self.api(method, path, body, auth)
        return st, (json.loads(b) if b else None)

    def transactions(self, settle=True, **q):
        """GET /transactions; with settle, waits (up to 5 s) until each one listed has its
        response stored: openHIM stores it after answering the client, as the stand-in does.
        channelID= and status= go into filters=<JSON> (openHIM ignores them as bare
        parameters)."""
        q.setdefault("filterRepresentation", "full")
        f = json.loads(q.pop("filters", None) or "{}")
        for key in ("channelID", "status"):
            if key in q:
                f[key] = q.pop(key)
        if f:
            q["filters"] = json.dumps(f)
        deadline = time.time() + 5
        while True:
            st, txs = self.api_json("GET", "/transactions?" + urllib.parse.urlencode(q))
            assert st == 200, st
            if not settle or all("response" in t for t in txs) or time.time() > deadline:
                return txs
            time.sleep(0.02)

    def transaction(self, tid, settle=True):
        """GET /transactions/{tid}, waiting (up to 5 s) for its response with settle."""
        deadline = time.time() + 5
        while True:
            st, tx = self.api_json("GET", "/transactions/" + tid)
            assert st == 200, st
            if not settle or "response" in tx or time.time() > deadline:
                return tx
            time.sleep(0.02)


def request(port, method, path, body=None, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, r.headers, data
    finally:
        c.close()


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        u = urllib.parse.urlsplit(self.path)
        seen = {"method": self.command, "path": u.path, "query": u.query,
                "headers": {k: v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace")}
        self.server.seen.append(seen)
        if u.path.startswith("/slow"):
            time.sleep(float(urllib.parse.parse_qs(u.query).get("s", ["2"])[0]))
        if u.path.startswith("/status/"):
            status = int(u.path.split("/")[2])
            return self._send(status, json.dumps({"status": status}).encode(), "application/json")
        if u.path.startswith("/mediator"):
            mstatus = urllib.parse.parse_qs(u.query).get("mstatus", ["Completed with error(s)"])[0]
            payload = {
                "x-mediator-urn": "urn:mediator:mflsync-test",
                "status": mstatus,
                "response": {"status": 200, "headers": {"content-type": "application/json",
                                                        "x-inner": "yes"},
                             "body": json.dumps({"inner": True}),
                             "timestamp": "2026-01-01T00:00:00Z"},
                "orchestrations": [{"name": "mfl fetch",
                                    "request": {"method": "GET", "path": "/fhir/Location",
                                                "timestamp": "2026-01-01T00:00:00Z"},
                                    "response": {"status": 200, "body": "{}",
                                                 "timestamp": "2026-01-01T00:00:01Z"}}],
                "properties": {"fetched": 3, "failed": 1}}
            return self._send(200, json.dumps(payload).encode(), "application/json+openhim")
        self._send(200, json.dumps(seen).encode(), "application/json")

    def _send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class Upstream:
    """Echo server: answers JSON describing what it received (method, path, query, headers,
    body). /status/NNN answers NNN; /slow?s=N sleeps first; /mediator answers in the mediator
    format (application/json+openhim)."""

    def __init__(self):
        self.httpd = ThreadingServer(("127.0.0.1", 0), UpstreamHandler)
        self.httpd.seen = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen(self):
        return self.httpd.seen

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
