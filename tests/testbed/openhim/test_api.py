"""Management API of the openHIM stand-in: mediators, heartbeat/config, channels, transactions,
API auth, faults, CLI files."""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from tests.testbed.openhim.harness import ADMIN, VIEWER, StandIn, Upstream, basic

URN = "urn:mediator:mflsync"


def mediator(version="1.0.0", **kw):
    m = {"urn": URN, "version": version, "name": "mflsync", "description": "MFL sync",
         "endpoints": [{"name": "sync", "host": "127.0.0.1", "port": 8700, "path": "/",
                        "primary": True, "type": "http"}],
         "defaultChannelConfig": [
             {"name": "MFL Location", "urlPattern": "^/mfl/Location$", "allow": ["mfl"],
             "methods": ["GET"],
              "routes": [{"name": "mfl", "host": "127.0.0.1", "port": 8701, "primary": True}]},
             {"name": "openIMIS", "urlPattern": "^/openimis/.*$", "allow": ["imis"],
              "routes": [{"name": "oi", "host": "127.0.0.1", "port": 8702, "primary": True}]}],
         "configDefs": [
             {"param": "pageSize", "displayName": "Page size", "type": "number"},
             {"param": "mode", "type": "option", "values": ["incremental", "full"]},
             {"param": "dryRun", "type": "bool"},
             {"param": "imisPassword", "type": "password"},
             {"param": "codes", "type": "map"},
             {"param": "targets", "type": "string", "array": True}],
         "config": {"pageSize": 100, "mode": "incremental", "dryRun": False,
                    "imisPassword": "secret"}}
    m.update(kw)
    return m


class MediatorApiTest(unittest.TestCase):
    def setUp(self):
        self.oh = StandIn()

    def tearDown(self):
        self.oh.stop()

    def register(self, m):
        st, _, b = self.oh.api("POST", "/mediators", m)
        return st, b

    def get_mediator(self):
        st, m = self.oh.api_json("GET", "/mediators/" + URN)
        self.assertEqual(st, 200)
        return m

    def heartbeat(self, body):
        return self.oh.api("POST", "/mediators/%s/heartbeat" % URN, body)

    def test_register_then_upgrade_and_lower_version_ignored(self):
        self.assertEqual(self.register(mediator("1.0.0"))[0], 201)
        self.assertEqual(self.get_mediator()["version"], "1.0.0")
        self.assertEqual(self.get_mediator()["config"]["imisPassword"], "**********")
        # upgrade: record replaced, existing config values kept, new params added
        up = mediator("1.1.0", description="v1.1",
                      config={"pageSize": 500, "mode": "full", "dryRun": True, "codes": {"a": "b"}})
        self.assertEqual(self.register(up)[0], 201)
        m = self.get_mediator()
        self.assertEqual((m["version"], m["description"]), ("1.1.0", "v1.1"))
        self.assertEqual(m["config"]["pageSize"], 100)        # kept
        self.assertEqual(m["config"]["codes"], {"a": "b"})    # added
        # lower and equal versions answer 201 but change nothing
        for v in ("1.0.5", "1.1.0", "1.1.0-rc.1"):
            self.assertEqual(self.register(mediator(v, description="old"))[0], 201)
            m = self.get_mediator()
            self.assertEqual((m["version"], m["description"]), ("1.1.0", "v1.1"))
        st, ms = self.oh.api_json("GET", "/mediators")
        self.assertEqual([x["urn"] for x in ms], [URN])

    def test_register_validation(self):
        bad = [{k: v for k, v in mediator().items() if k != "urn"},
               mediator(version="1.0"),
               {k: v for k, v in mediator().items() if k != "name"},
               mediator(endpoints=[]),
               mediator(configDefs=[{"param": "x", "type": "float"}]),
               mediator(configDefs=[{"param": "x", "type": "option"}]),
               mediator(config={"pageSize": "100"}),
               mediator(config={"unknown": 1})]
        for m in bad:
            st, b = self.register(m)
            self.assertEqual(st, 400, (m, b))
        self.assertEqual(self.oh.api("GET", "/mediators/" + URN)[0], 404)

    def test_heartbeat_delivers_changed_config_exactly_once(self):
        self.register(mediator())
        st, _, b = self.heartbeat({"uptime": 1})
        self.assertEqual((st, b), (200, b""))
        st, _, b = self.heartbeat({"uptime": 2, "config": True})
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(b)["pageSize"], 100)
        self.assertEqual(json.loads(b)["imisPassword"], "secret")  # heartbeat is not masked
        # an admin edits the settings in the console
        new = {"pageSize": 250, "mode": "full", "dryRun": False, "imisPassword": "**********",
               "targets": ["a", "b"]}
        st, _, b = self.oh.api("PUT", "/mediators/%s/config" % URN, new)
        self.assertEqual(st, 200, b)
        st, _, b = self.heartbeat({"uptime": 3})
        cfg = json.loads(b)
        self.assertEqual(cfg["pageSize"], 250)
        self.assertEqual(cfg["imisPassword"], "secret")  # masked value restored
        st, _, b = self.heartbeat({"uptime": 4})
        self.assertEqual((st, b), (200, b""))
        m = self.get_mediator()
        self.assertEqual(m["_uptime"], 4)
        self.assertTrue(m["_lastHeartbeat"])

    def test_heartbeat_errors(self):
        self.assertEqual(self.heartbeat({"uptime": 1})[0], 404)
        self.register(mediator())
        self.assertEqual(self.heartbeat({"config": True})[0], 400)

    def test_config_put_validation(self):
        self.register(mediator())
        for bad in ({"pageSize": "x"}, {"mode": "sometimes"}, {"dryRun": "yes"},
                    {"nope": 1}, {"targets": "a"}, {"codes": {"a": 1}}):
            st, _, b = self.oh.api("PUT", "/mediators/%s/config" % URN, bad)
            self.assertEqual(st, 400, bad)
        self.assertEqual(self.oh.api("PUT", "/mediators/urn:x/config", {})[0], 404)

    def test_install_default_channels(self):
        self.register(mediator())
        st, _, b = self.oh.api("POST", "/mediators/%s/channels" % URN, ["MFL Location"])
        self.assertEqual(st, 201, b)
        st, chs = self.oh.api_json("GET", "/channels")
        self.assertEqual([c["name"] for c in chs], ["MFL Location"])
        self.assertEqual(chs[0]["authType"], "private")
        st, _, b = self.oh.api("POST", "/mediators/%s/channels" % URN, ["No such channel"])
        self.assertEqual(st, 400)
        self.assertEqual(self.oh.api("POST", "/mediators/urn:nope/channels", [])[0], 404)
        # [] installs them all; a name already used is a duplicate key (500) as in MongoDB
        self.assertEqual(self.oh.api("POST", "/mediators/%s/channels" % URN, [])[0], 500)

    def test_api_auth(self):
        self.assertEqual(self.oh.api("GET", "/mediators", auth=None)[0], 401)
        st, h, b = self.oh.api("GET", "/mediators", auth=(ADMIN[0], "wrong"))
        # authentication.js sets the status only: Koa's text, no challenge
        self.assertEqual((st, b), (401, b"Unauthorized"))
        self.assertIsNone(h.get("WWW-Authenticate"))
        st, b = self.register(mediator())
        self.assertEqual((st, b), (201, b"User Authenticated Successfully"))
        # a user not in group admin: no API access (openHIM 8.5.0 has no role permissions)
        for method, path, body in (("POST", "/mediators", mediator("2.0.0")),
                                   ("GET", "/mediators", None),
                                   ("POST", "/mediators/%s/heartbeat" % URN, {"uptime": 1}),
                                   ("PUT", "/mediators/%s/config" % URN, {}),
                                   ("POST", "/mediators/%s/channels" % URN, []),
                                   ("POST", "/channels", {"name": "x", "urlPattern": "^/x$"})):
            self.assertEqual(self.oh.api(method, path, body, auth=VIEWER)[0], 403, path)
        self.assertEqual(self.get_mediator()["version"], "1.0.0")

    def test_api_down_fault(self):
        st, _, b = self.oh.api("POST", "/$testbed/faults", {"kind": "api_down", "requests": 2},
                               auth=None)
        self.assertEqual(st, 201, b)
        self.assertEqual(self.oh.api("GET", "/mediators")[0], 503)
        self.assertEqual(self.oh.api("GET", "/mediators")[0], 503)
        self.assertEqual(self.oh.api("GET", "/mediators")[0], 200)
        # closing connections for a while
        self.oh.api("POST", "/$testbed/faults", {"kind": "api_down", "seconds": 0.5,
                                                 "mode": "close"}, auth=None)
        with self.assertRaises((http.client.HTTPException, ConnectionError, socket.timeout)):
            self.oh.api("GET", "/mediators", timeout=2)
        time.sleep(0.6)
        self.assertEqual(self.oh.api("GET", "/mediators")[0], 200)
        # 503 for a time, cleared early by DELETE
        self.oh.api("POST", "/$testbed/faults", {"kind": "api_down", "seconds": 30}, auth=None)
        self.assertEqual(self.oh.api("POST", "/mediators/%s/heartbeat" % URN, {"uptime": 1})[0],
                         503)
        listed = json.loads(self.oh.api("GET", "/$testbed/faults", auth=None)[2])
        self.assertEqual(listed["faults"][0]["kind"], "api_down")
        self.oh.api("DELETE", "/$testbed/faults", auth=None)
        self.assertEqual(self.oh.api("GET", "/mediators")[0], 200)
        self.assertEqual(self.oh.api("POST", "/$testbed/faults", {"kind": "meteor"},
                                     auth=None)[0], 400)


class TransactionApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = Upstream()
        cls.tmp = tempfile.mkdtemp(prefix="ohim-cli-")
        ch = os.path.join(cls.tmp, "channels.json")
        cl = os.path.join(cls.tmp, "clients.json")
        with open(ch, "w") as fh:
            json.dump([{"name": "job", "urlPattern": "^/job$", "allow": ["mfl"], "methods": ["GET"],
                        "routes": [{"name": "u", "host": "127.0.0.1", "port": cls.up.port,
                                    "path": "/mediator", "primary": True}]},
                       {"name": "plain", "urlPattern": "^/plain$", "allow": ["mfl"],
                        "methods": ["GET"],
                        "routes": [{"name": "u", "host": "127.0.0.1", "port": cls.up.port,
                                    "primary": True}]}], fh)
        with open(cl, "w") as fh:
            json.dump({"clients": [{"clientID": "fetcher", "password": "pw", "roles": ["mfl"]}]},
                      fh)
        cls.state = os.path.join(cls.tmp, "state.json")
        cls.oh = StandIn("--channels", ch, "--clients", cl, "--state", cls.state)

    @classmethod
    def tearDownClass(cls):
        cls.oh.stop()
        cls.up.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def call(self, path):
        return self.oh.router("GET", path, headers={"Authorization": basic("fetcher", "pw")})

    def test_put_transaction_update_by_long_running_mediator(self):
        st, h, _ = self.call("/job?mstatus=Processing")
        tid = h["X-OpenHIM-TransactionID"]
        tx = self.oh.transaction(tid)
        self.assertEqual(tx["status"], "Processing")
        self.assertFalse(tx["autoRetry"])
        upd = {"status": "Successful",
               "response": {"status": 200, "headers": {}, "body": "done",
                            "timestamp": "2026-01-01T00:00:09Z"},
               "orchestrations": [{"name": "page 1", "request": {"path": "/a"},
                                   "response": {"status": 200}},
                                  {"name": "page 2", "request": {"path": "/b"},
                                   "response": {"status": 200}}]}
        st, _, b = self.oh.api("PUT", "/transactions/" + tid, upd)
        self.assertEqual((st, b.decode()),
                         (200, "Transaction with ID: %s successfully updated" % tid))
        st, tx = self.oh.api_json("GET", "/transactions/" + tid)
        self.assertEqual(tx["status"], "Successful")
        self.assertEqual(tx["response"]["body"], "done")
        self.assertEqual([o["name"] for o in tx["orchestrations"]], ["page 1", "page 2"])
        # Mongo-style $push appends
        st, _, _ = self.oh.api("PUT", "/transactions/" + tid,
                               {"$push": {"orchestrations": {"name": "page 3"}}})
        st, tx = self.oh.api_json("GET", "/transactions/" + tid)
        self.assertEqual(len(tx["orchestrations"]), 3)
        # no validation of the update: any status string is stored
        self.assertEqual(self.oh.api("PUT", "/transactions/" + tid, {"status": "Bogus"})[0], 200)
        # an update with an error queues the transaction for auto-retry, even on a channel
        # without auto-retry
        self.oh.api("PUT", "/transactions/" + tid, {"status": "Failed", "error": {"message": "x"}})
        st, tx = self.oh.api_json("GET", "/transactions/" + tid)
        self.assertEqual((tx["status"], tx["autoRetry"]), ("Failed", True))
        self.assertEqual(self.oh.api("PUT", "/transactions/" + tid, {"status": "Failed"},
                                     auth=VIEWER)[0], 403)
        self.assertEqual(self.oh.api("GET", "/transactions/0123456789abcdef01234567")[0], 404)

    def test_router_latency_fault(self):
        self.oh.api("POST", "/$testbed/faults", {"kind": "router_latency", "ms": 400, "times": 1},
                    auth=None)
        t0 = time.time()
        self.assertEqual(self.call("/plain")[0], 200)
        self.assertGreaterEqual(time.time() - t0, 0.38)
        t0 = time.time()
        self.assertEqual(self.call("/plain")[0], 200)
        self.assertLess(time.time() - t0, 0.3)

    def test_router_down_fault(self):
        self.oh.api("POST", "/$testbed/faults", {"kind": "router_down", "requests": 1}, auth=None)
        self.assertEqual(self.call("/plain")[0], 503)
        self.assertEqual(self.call("/plain")[0], 200)

    def test_clients_listing_hides_secrets_and_state_file_written(self):
        st, cls_ = self.oh.api_json("GET", "/clients")
        self.assertEqual(cls_[0]["clientID"], "fetcher")
        self.assertNotIn("password", cls_[0])
        st, _, _ = self.oh.api("POST", "/clients", {"clientID": "new", "password": "x"})
        self.assertEqual(st, 201)
        with open(self.state) as fh:
            state = json.load(fh)
        self.assertIn("new", [c["clientID"] for c in state["clients"]])


@unittest.skipUnless(shutil.which("openssl"), "openssl not available to make a test cert")
class TlsApiTest(unittest.TestCase):
    def test_api_over_https(self):
        tmp = tempfile.mkdtemp(prefix="ohim-tls-")
        cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        oh = StandIn("--api-tls-cert", cert, "--api-tls-key", key)
        try:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # like openHIM's self-signed default cert
            c = http.client.HTTPSConnection("127.0.0.1", oh.api_port, context=ctx, timeout=10)
            c.request("GET", "/mediators", headers={"Authorization": basic(*ADMIN)})
            r = c.getresponse()
            self.assertEqual((r.status, json.loads(r.read())), (200, []))
            c.close()
        finally:
            oh.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
