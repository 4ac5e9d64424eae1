"""testbed/standin_core: the fault language, the handler base's fault effects, auth."""
import http.client
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                 "testbed")))

from standin_core import auth  # noqa: E402
from standin_core import faults as fl  # noqa: E402
from standin_core.server import (  # noqa: E402
    BaseHandler,
    BodyError,
    ThreadedServer,
    admin_path,
    serve_in_thread,
)


def registry(select=fl.ALL, kinds=None, **lang):
    return fl.Faults(fl.Language(kinds or list(fl.KINDS.values()), **lang), select=select)


class LanguageTest(unittest.TestCase):
    def test_validation(self):
        lang = fl.Language(list(fl.KINDS.values()), base_path="/fhir")
        for bad, word in (({"kind": "meteor"}, "unknown fault kind"),
                          ({"kind": "status", "status": 200}, "4xx/5xx"),
                          ({"kind": "status", "contains": ""}, "contains"),
                          ({"kind": "status", "probability": 2}, "probability"),
                          ({"kind": "status", "probability": "often"}, "probability"),
                          ({"kind": "status", "times": 0}, "times"),
                          ({"kind": "status", "page": 1}, "page"),
                          ({"kind": "drop_after_commit", "as": "404"}, "as"),
                          ([], "JSON object")):
            with self.assertRaises(fl.FaultError) as cm:
                lang.parse(bad)
            self.assertIn(word, str(cm.exception))
        f = lang.parse({"kind": "delay", "path": "Location", "method": "get"})
        self.assertEqual((f["path"], f["method"], f.seconds, f.times), ("/fhir/Location", "GET",
                                                                        5.0, 1))
        self.assertEqual(lang.parse({"kind": "latency"}).seconds, 0.1)
        self.assertEqual(lang.parse({"kind": "latency", "ms": 250}).seconds, 0.25)

    def test_all_first_and_first_fired(self):
        specs = [{"kind": "delay", "skip": 1}, {"kind": "status"}]
        r = registry(fl.ALL)
        r.add(specs)
        self.assertEqual([f.kind.name for f in r.take("GET", "/x")], ["status"])
        r = registry(fl.FIRST)
        r.add(specs)
        self.assertEqual(r.take("GET", "/x"), [])                       # the skip claims it
        self.assertEqual([f.kind.name for f in r.take("GET", "/x")], ["delay"])
        r = registry(fl.FIRST_FIRED)
        r.add(specs)
        self.assertEqual([f.kind.name for f in r.take("GET", "/x")], ["status"])

    def test_selection_times_and_counts(self):
        r = registry(pages=True)
        r.add({"faults": [{"kind": "status", "method": "POST", "path": "/a", "times": 2,
                           "contains": ["create", "update"]},
                          {"kind": "reset", "page": 2, "times": -1}]})
        self.assertEqual(r.take("GET", "/a", b"create"), [])
        self.assertEqual(r.take("POST", "/b", b"create"), [])
        self.assertEqual(r.take("POST", "/a", b"read"), [])
        self.assertEqual(len(r.take("POST", "/a/1", b"x update")), 1)
        self.assertEqual(len(r.take("POST", "/a", b"create")), 1)
        self.assertEqual(r.take("POST", "/a", b"create"), [])            # times used up
        self.assertEqual(r.take("GET", "/p", page=1), [])
        self.assertEqual(len(r.take("GET", "/p", page=2)), 1)
        self.assertEqual(r.fired_counts(), {"status": 2, "reset": 1})
        self.assertEqual([f["kind"] for f in r.pending()], ["reset"])

    def test_probability_is_reproducible_and_counts_fired_only(self):
        def pattern(seed):
            r = registry()
            r.add({"kind": "status", "probability": 0.3, "seed": seed, "times": -1})
            return [bool(r.take("GET", "/")) for _ in range(200)]
        self.assertEqual(pattern(5), pattern(5))
        self.assertNotEqual(pattern(5), pattern(6))
        self.assertTrue(30 <= sum(pattern(5)) <= 90)
        r = registry()
        r.add({"kind": "status", "probability": 0.5, "seed": 1, "times": 2})
        self.assertEqual(sum(bool(r.take("GET", "/")) for _ in range(50)), 2)

    def test_extension_kind_when_now_and_down(self):
        seen = []
        kinds = fl.common("status", "down") + [
            fl.Kind("bundle_only", when=lambda f, req: req.extra.get("bundle")),
            fl.Kind("poke", now=True)]
        r = fl.Faults(fl.Language(kinds), on_now=seen.append)
        r.add([{"kind": "bundle_only"}, {"kind": "poke", "now": True},
               {"kind": "down", "seconds": 30, "now": True}])
        self.assertEqual([f.kind.name for f in seen], ["poke"])
        self.assertGreater(r.down_remaining(), 29)
        self.assertEqual(r.take("GET", "/", bundle=False), [])
        self.assertEqual(len(r.take("GET", "/", bundle=True)), 1)

    def test_admin(self):
        r = registry()
        st, body = r.admin("POST", [{"kind": "status"}], created=201)
        self.assertEqual((st, len(body["added"]), len(body["pending"])), (201, 1, 1))
        st, body = r.admin("PUT", {"kind": "delay"})
        self.assertEqual([f["kind"] for f in body["pending"]], ["delay"])
        self.assertEqual(r.admin("POST", {"kind": "x"})[0], 400)
        self.assertEqual(r.admin("DELETE", None)[1]["cleared"], 1)
        self.assertIsNone(r.admin("PATCH", None))
        json.dumps(r.admin("GET", None))


class Handler(BaseHandler):
    def _dispatch(self):
        try:
            body = self.read_body()
        except BodyError as e:
            self.close_connection = True
            return self.send(413, str(e))
        if admin_path(self.path) == "faults":
            return self.send(*self.server.faults.admin(self.command, json.loads(body or "null")))
        if self.fault_gate(self.server.faults, self.command, self.path, body):
            return
        self.send(200, {"echo": body.decode()})


class HandlerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ThreadedServer(("127.0.0.1", 0), Handler)
        cls.srv.faults = registry()
        serve_in_thread(cls.srv)

    @classmethod
    def tearDownClass(cls):
        cls.srv.shutdown()
        cls.srv.server_close()

    def call(self, method="POST", path="/x", body=b"{}", headers=None, timeout=5):
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def faults(self, *specs):
        self.call("DELETE", "/$testbed/faults")
        self.assertEqual(self.call("POST", "/%24testbed/faults", json.dumps(specs))[0], 200)

    def test_answers_and_common_effects(self):
        self.faults()
        st, h, b = self.call(body=b"hello")
        self.assertEqual((st, h["Content-Type"], json.loads(b)), (200, "application/json",
                                                                  {"echo": "hello"}))
        self.assertNotIn("Server", h)
        self.faults({"kind": "status", "status": 429, "retry_after": 7})
        st, h, b = self.call()
        self.assertEqual((st, h["Retry-After"], b), (429, "7", b"Injected status 429 (testbed)"))
        self.faults({"kind": "latency", "ms": 300})
        t0 = time.monotonic()
        self.assertEqual(self.call()[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.28)
        self.faults({"kind": "drop_after_commit", "as": "502"})
        self.assertEqual(self.call()[0], 502)
        for kind in ("drop_after_commit", "reset", "close"):
            self.faults({"kind": kind})
            with self.assertRaises((http.client.HTTPException, ConnectionError)):
                self.call()
        self.faults({"kind": "timeout", "seconds": 2})
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.call(timeout=0.3)
        self.faults({"kind": "down", "seconds": 1, "now": True})
        st, h, _ = self.call()
        self.assertEqual((st, h["Retry-After"]), (503, "1"))
        self.call("DELETE", "/$testbed/faults")
        self.assertEqual(self.call()[0], 200)

    def test_chunked_and_too_large_bodies(self):
        self.faults()
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=5)
        c.request("POST", "/x", body=iter([b"ab", b"cd"]), encode_chunked=True)
        self.assertEqual(json.loads(c.getresponse().read()), {"echo": "abcd"})
        c.close()
        old, Handler.max_body_bytes = Handler.max_body_bytes, 3
        try:
            self.assertEqual(self.call(body=b"abcd")[:3:2], (413, b"body over 3 bytes"))
        finally:
            Handler.max_body_bytes = old


class AuthTest(unittest.TestCase):
    def test_basic_and_schemes(self):
        h = auth.basic_header("u", "p:w")
        self.assertEqual(auth.split_scheme(h)[0], "basic")
        self.assertEqual(auth.decode_basic(auth.split_scheme(h)[1], strict=True), ("u", "p:w"))
        self.assertIsNone(auth.decode_basic("!!", strict=True))
        self.assertEqual(auth.token_for("JWT abc", ("bearer", "jwt")), "abc")
        self.assertIsNone(auth.token_for("Bearer a b", ("bearer",)))

    def test_tokens(self):
        t = auth.Tokens(60)
        token, exp = t.issue("Admin")
        self.assertEqual(t.verify(token)["username"], "Admin")
        with self.assertRaisesRegex(auth.JWTError, "decoding"):
            t.verify(token[:-2] + "xx")
        with self.assertRaisesRegex(auth.JWTError, "decoding"):
            auth.Tokens(60).verify(token)
        t.revoke_all()
        with self.assertRaisesRegex(auth.JWTError, "expired"):
            t.verify(token)
        old = auth.Tokens(-5)
        with self.assertRaisesRegex(auth.JWTError, "expired"):
            old.verify(old.issue("x")[0])


if __name__ == "__main__":
    unittest.main()
