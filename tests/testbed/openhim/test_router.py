"""Router behaviour of the openHIM stand-in: matching, client auth, forwarding, transactions."""
import gzip
import json
import time
import unittest
import urllib.parse

from tests.testbed.openhim.harness import StandIn, Upstream, basic


class RouterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = Upstream()
        cls.oh = StandIn()
        up = cls.up.port

        def route(**kw):
            r = {"name": "upstream", "host": "127.0.0.1", "port": up, "primary": True}
            r.update(kw)
            return r
        channels = [
            {"name": "locations", "urlPattern": "^/fhir/Location$", "allow": ["mfl"],
             "routes": [route()]},
            {"name": "unanchored", "urlPattern": "/loose", "allow": ["mfl"], "routes": [route()]},
            {"name": "fwdauth", "urlPattern": "^/fwd$", "allow": ["fetcher"],
             "routes": [route(forwardAuthHeader=True)]},
            {"name": "transform", "urlPattern": "^/mfl/.*$", "allow": ["mfl"],
             "routes": [route(pathTransform="s/\\/mfl/\\/api\\/v2/")]},
            {"name": "fixedpath", "urlPattern": "^/fixed$", "allow": ["mfl"],
             "routes": [route(path="/status/404")]},
            {"name": "status", "urlPattern": "^/status/\\d+$", "allow": ["mfl"],
             "routes": [route()]},
            {"name": "slow", "urlPattern": "^/slow$", "allow": ["mfl"], "timeout": 300,
             "routes": [route()]},
            {"name": "mediator", "urlPattern": "^/mediator$", "allow": ["mfl"],
             "routes": [route()]},
            {"name": "public", "urlPattern": "^/public$", "authType": "public",
             "routes": [route()]},
            {"name": "admins only", "urlPattern": "^/admin$", "allow": ["admin"],
             "routes": [route()]},
            {"name": "dead", "urlPattern": "^/dead$", "allow": ["mfl"],
             "routes": [route(port=1)]},
            {"name": "get only", "urlPattern": "^/getonly$", "allow": ["mfl"], "methods": ["GET"],
             "routes": [route()]},
            {"name": "with secondary", "urlPattern": "^/multi$", "allow": ["mfl"],
             "routes": [route(), route(name="secondary", primary=False, path="/status/500")]},
        ]
        for ch in channels:
            # openHIM 8.5.0 routes only the methods a channel lists (default [] matches nothing)
            ch.setdefault("methods", ["GET", "POST", "PUT", "DELETE", "PATCH"])
            st, _, b = cls.oh.api("POST", "/channels", ch)
            assert st == 201, (st, b)
        for cl in ({"clientID": "fetcher", "password": "s3cret", "roles": ["mfl"],
                    "customTokenID": "tok-fetcher-1"},
                   {"clientID": "hashed", "passwordAlgorithm": "sha512", "passwordSalt": "salt1",
                    "passwordHash": __import__("hashlib").sha512(b"hpw" + b"salt1").hexdigest(),
                    "roles": ["mfl"]},
                   {"clientID": "outsider", "password": "pw", "roles": ["other"]}):
            st, _, b = cls.oh.api("POST", "/clients", cl)
            assert st == 201, (st, b)
        st, _, chs = cls.oh.api("GET", "/channels")
        cls.channel_ids = {c["name"]: c["_id"] for c in json.loads(chs)}

    @classmethod
    def tearDownClass(cls):
        cls.oh.stop()
        cls.up.stop()

    AUTH = {"Authorization": basic("fetcher", "s3cret")}

    def get(self, path, headers=None, method="GET", body=None):
        h = dict(self.AUTH)
        h.update(headers or {})
        return self.oh.router(method, path, body=body, headers=h)

    # ---------------------------------------------------------------- matching
    def test_anchored_pattern_matches_exact_path_only(self):
        st, _, b = self.get("/fhir/Location?_count=2&name=a%20b")
        self.assertEqual(st, 200)
        seen = json.loads(b)
        self.assertEqual(seen["path"], "/fhir/Location")
        self.assertEqual(seen["query"], "_count=2&name=a%20b")
        self.assertEqual(self.get("/fhir/Location/123")[0], 404)
        self.assertEqual(self.get("/x/fhir/Location")[0], 404)

    def test_unanchored_pattern_is_a_search_like_openhim(self):
        # requestMatching.js: new RegExp(urlPattern).test(path) -> not anchored
        self.assertEqual(self.get("/prefix/loose/suffix")[0], 200)

    def test_no_channel_is_404(self):
        st, h, b = self.get("/nothing/here")
        self.assertEqual((st, b), (404, b""))
        self.assertIsNone(h.get("X-OpenHIM-TransactionID"))
        # Koa's body is still the request's: a 404 (and a 401) echoes it
        st, h, b = self.get("/nothing/here", method="POST", body=b"hello")
        self.assertEqual((st, b, h.get("Content-Type")), (404, b"hello",
                                                          "application/octet-stream"))

    def test_channel_without_methods_matches_nothing(self):
        st, _, b = self.oh.api("POST", "/channels", {
            "name": "no methods", "urlPattern": "^/nomethods$", "allow": ["mfl"],
            "routes": [{"name": "u", "host": "127.0.0.1", "port": self.up.port,
                        "primary": True}]})
        self.assertEqual(st, 201, b)
        self.assertEqual(self.get("/nomethods")[0], 404)

    def test_method_is_part_of_matching(self):
        self.assertEqual(self.get("/getonly")[0], 200)
        self.assertEqual(self.get("/getonly", method="POST", body=b"{}")[0], 404)

    # ---------------------------------------------------------------- authentication
    def test_wrong_basic_password_is_401_with_challenge(self):
        st, h, _ = self.oh.router("GET", "/fhir/Location",
                                  headers={"Authorization": basic("fetcher", "wrong")})
        self.assertEqual(st, 401)
        self.assertEqual(h.get("WWW-Authenticate"), "Basic")

    def test_no_credentials_is_401(self):
        st, h, _ = self.oh.router("GET", "/fhir/Location")
        self.assertEqual(st, 401)
        self.assertEqual(h.get("WWW-Authenticate"), "Basic")

    def test_custom_token(self):
        st, _, b = self.oh.router("GET", "/fhir/Location",
                                  headers={"Authorization": "Custom tok-fetcher-1"})
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(b)["headers"].get("X-OpenHIM-ClientID"), "fetcher")
        st, h, _ = self.oh.router("GET", "/fhir/Location",
                                  headers={"Authorization": "Custom wrong-token"})
        self.assertEqual(st, 401)
        self.assertEqual(h.get("WWW-Authenticate"), "Basic")

    def test_hashed_client_password(self):
        self.assertEqual(self.oh.router("GET", "/fhir/Location",
                                        headers={"Authorization": basic("hashed", "hpw")})[0], 200)
        self.assertEqual(self.oh.router("GET", "/fhir/Location",
                                        headers={"Authorization": basic("hashed", "x")})[0], 401)

    def test_client_not_allowed_on_channel_is_401(self):
        st, h, _ = self.oh.router("GET", "/fhir/Location",
                                  headers={"Authorization": basic("outsider", "pw")})
        self.assertEqual(st, 401)
        self.assertEqual(h.get("WWW-Authenticate"), "Basic")
        self.assertEqual(self.get("/admin")[0], 401)

    def test_public_channel_needs_no_credentials(self):
        self.assertEqual(self.oh.router("GET", "/public")[0], 200)

    # ---------------------------------------------------------------- forwarding
    def test_authorization_stripped_and_openhim_headers_added(self):
        st, h, b = self.get("/fhir/Location", headers={"X-Custom": "kept"})
        self.assertEqual(st, 200)
        seen = json.loads(b)
        names = {k.lower(): v for k, v in seen["headers"].items()}
        self.assertNotIn("authorization", names)
        self.assertEqual(names["x-custom"], "kept")
        self.assertEqual(names["x-openhim-clientid"], "fetcher")
        tid = names["x-openhim-transactionid"]
        self.assertRegex(tid, r"^[0-9a-f]{24}$")
        self.assertEqual(h.get("X-OpenHIM-TransactionID"), tid)

    def test_forward_auth_header_keeps_authorization(self):
        st, _, b = self.get("/fwd")
        self.assertEqual(st, 200)
        names = {k.lower(): v for k, v in json.loads(b)["headers"].items()}
        self.assertEqual(names["authorization"], basic("fetcher", "s3cret"))

    def test_path_transform_and_fixed_path(self):
        st, _, b = self.get("/mfl/Location?x=1")
        self.assertEqual(json.loads(b)["path"], "/api/v2/Location")
        self.assertEqual(json.loads(b)["query"], "x=1")
        self.assertEqual(self.get("/fixed")[0], 404)  # route path /status/404

    def test_post_body_forwarded(self):
        st, _, b = self.get("/fhir/Location", method="POST", body=b'{"a":1}',
                            headers={"Content-Type": "application/fhir+json"})
        seen = json.loads(b)
        self.assertEqual((seen["method"], seen["body"]), ("POST", '{"a":1}'))

    def test_gzip_when_client_accepts_it(self):
        st, h, b = self.get("/fhir/Location", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(h.get("Content-Encoding"), "gzip")
        self.assertEqual(json.loads(gzip.decompress(b))["path"], "/fhir/Location")

    # ---------------------------------------------------------------- transactions
    def tx_for(self, headers):
        return self.oh.transaction(headers.get("X-OpenHIM-TransactionID"))

    def test_response_and_final_status_are_stored_after_the_answer(self):
        st, h, _ = self.get("/status/200")
        early = self.oh.transaction(h["X-OpenHIM-TransactionID"], settle=False)
        self.assertEqual(early["status"], "Processing")
        self.assertNotIn("response", early)
        late = self.tx_for(h)
        self.assertEqual((late["status"], late["response"]["status"]), ("Successful", 200))
        # the primary route's own orchestration, as openHIM's messageStore adds it
        self.assertEqual(late["orchestrations"][-1]["response"]["status"], 200)

    def test_transaction_statuses(self):
        for code, want in ((200, "Successful"), (201, "Successful"), (404, "Completed"),
                           (409, "Completed"), (302, "Completed"), (500, "Failed"),
                           (503, "Failed")):
            st, h, _ = self.get("/status/%d" % code)
            self.assertEqual(st, code)
            tx = self.tx_for(h)
            self.assertEqual(tx["status"], want, code)
            self.assertEqual(tx["response"]["status"], code)

    def test_transaction_record(self):
        st, h, _ = self.get("/fhir/Location?_count=5", method="POST", body=b"hello")
        tx = self.tx_for(h)
        self.assertEqual(tx["channelID"], self.channel_ids["locations"])
        req = tx["request"]
        self.assertEqual((req["method"], req["path"], req["querystring"], req["body"]),
                         ("POST", "/fhir/Location", "_count=5", "hello"))
        self.assertEqual(req["headers"]["authorization"], "[redacted]")
        self.assertIn('"path": "/fhir/Location"', tx["response"]["body"])
        self.assertEqual(tx["response"]["headers"]["content-type"],
                         "application/json; charset=utf-8")
        self.assertEqual(tx["response"]["headers"]["x-openhim-transactionid"], tx["_id"])
        self.assertNotIn("X-OpenHIM-TransactionID", req["headers"])
        self.assertEqual(req["headers"]["X-Forwarded-For"], "127.0.0.1")
        self.assertNotIn("timestampEnd", req)
        self.assertEqual((tx["childIDs"], tx["wasRerun"]), ([], False))

    def test_transaction_list_filters(self):
        _, h, _ = self.get("/status/500")
        self.tx_for(h)  # stored
        cid = self.channel_ids["status"]
        txs = self.oh.transactions(channelID=cid, status="Failed", filterLimit=1)
        self.assertEqual(len(txs), 1)
        self.assertEqual((txs[0]["channelID"], txs[0]["status"]), (cid, "Failed"))
        txs = self.oh.transactions(filters=json.dumps({"status": "Failed", "channelID": cid}))
        self.assertTrue(txs and all(t["status"] == "Failed" for t in txs))
        # the default (simple) representation hides bodies, headers and orchestrations
        st, simple = self.oh.api_json("GET", "/transactions?filterLimit=1&filters="
                                      + urllib.parse.quote(json.dumps({"channelID": cid})))
        self.assertEqual(simple[0]["channelID"], cid)
        self.assertNotIn("body", simple[0]["request"])
        self.assertNotIn("orchestrations", simple[0])
        # a bare ?channelID= is no filter in openHIM 8.5.0
        _, h2, _ = self.get("/fhir/Location")
        self.tx_for(h2)
        st, newest = self.oh.api_json("GET", "/transactions?filterLimit=1&channelID=" + cid)
        self.assertEqual(newest[0]["channelID"], self.channel_ids["locations"])

    def test_mediator_response_overrides_status_and_is_unwrapped(self):
        st, h, b = self.get("/mediator")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(b), {"inner": True})
        # Koa's ctx.type adds the charset of application/json
        self.assertEqual(h.get("Content-Type"), "application/json; charset=utf-8")
        self.assertEqual(h.get("x-inner"), "yes")
        tx = self.tx_for(h)
        self.assertEqual(tx["status"], "Completed with error(s)")  # not Successful
        self.assertEqual(tx["orchestrations"][0]["name"], "mfl fetch")
        self.assertEqual(tx["properties"], {"fetched": 3, "failed": 1})
        self.assertEqual(tx["response"]["status"], 200)
        st, h, _ = self.get("/mediator?mstatus=Processing")
        self.assertEqual(self.tx_for(h)["status"], "Processing")

    def test_route_timeout_is_500_failed(self):
        t0 = time.time()
        st, h, b = self.get("/slow?s=2")
        self.assertLess(time.time() - t0, 1.8)
        self.assertEqual((st, b), (500, b"An internal server error occurred"))
        txs = self.oh.transactions(channelID=self.channel_ids["slow"], filterLimit=1)
        self.assertEqual(txs[0]["status"], "Failed")
        self.assertIn("Request took longer than 300ms", txs[0]["error"]["message"])

    def test_unreachable_route_is_500_failed(self):
        st, _, _ = self.get("/dead")
        self.assertEqual(st, 500)
        txs = self.oh.transactions(channelID=self.channel_ids["dead"], filterLimit=1)
        self.assertEqual(txs[0]["status"], "Failed")

    def test_failing_secondary_route_gives_completed_with_errors(self):
        st, h, _ = self.get("/multi")
        self.assertEqual(st, 200)
        deadline = time.time() + 5
        while True:
            tx = self.tx_for(h)
            if tx["status"] != "Processing" or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(tx["status"], "Completed with error(s)")
        self.assertEqual(tx["routes"][0]["name"], "secondary")
        self.assertEqual(tx["routes"][0]["response"]["status"], 500)


if __name__ == "__main__":
    unittest.main()
