import http.client
import socket
import time

from .standin_harness import StandInTestCase, diagnostics, org_body


class FaultsTest(StandInTestCase):
    def test_registry_get_delete_and_validation(self):
        snap = self.c.faults({"kind": "latency", "ms": 1, "method": "GET", "times": 2})
        self.assertEqual(len(snap["pending"]), 1)
        self.assertEqual((snap["pending"][0]["kind"], snap["pending"][0]["times"]), ("latency", 2))
        status, snap, _ = self.c.request("GET", "/$testbed/faults", token=False)
        self.assertEqual(len(snap["pending"]), 1)
        status, snap, _ = self.c.request("DELETE", "/$testbed/faults", token=False)
        self.assertEqual(snap["pending"], [])
        status, out, _ = self.c.request("POST", "/$testbed/faults", [{"kind": "bogus"}],
                                        token=False)
        self.assertEqual(status, 400)

    def test_latency(self):
        self.c.faults({"kind": "latency", "ms": 300, "method": "GET", "path": "Location/"})
        t0 = time.monotonic()
        self.assertEqual(self.c.request("GET", "Location/")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.28)
        t0 = time.monotonic()
        self.c.request("GET", "Location/")
        self.assertLess(time.monotonic() - t0, 0.25)          # times defaults to 1

    def test_status_before_write_with_times_and_skip(self):
        self.c.faults({"kind": "status", "status": 503, "method": "POST", "path": "Organization/",
                       "times": 2, "skip": 1})
        self.assertEqual(self.create_org(code="A1")[0], 201)   # skipped
        self.assertEqual(self.create_org(code="A2")[0], 503)
        self.assertEqual(self.create_org(code="A2")[0], 503)
        self.assertEqual(self.create_org(code="A2")[0], 201)
        self.assertEqual(self.c.facilities()["count"], 2)
        for st in (500, 502):
            self.c.faults({"kind": "status", "status": st})
            self.assertEqual(self.c.request("GET", "Location/")[0], st)
        self.assertEqual(self.c.stats()["faults_fired"]["status"], 4)

    def test_method_and_path_matching(self):
        self.c.faults({"kind": "status", "status": 500, "method": "PUT"})
        self.assertEqual(self.c.request("GET", "Organization/")[0], 200)
        self.assertEqual(self.create_org()[0], 201)
        self.c.faults({"kind": "status", "status": 500, "path": "/api/api_fhir_r4/login/"})
        self.assertEqual(self.c.request("GET", "Location/")[0], 200)
        self.assertEqual(self.c.login()[0], 500)

    def test_timeout_holds_then_closes(self):
        self.c.faults({"kind": "timeout", "seconds": 1.0, "method": "GET"})
        c = self.server.client(timeout=0.4)
        c.token = self.c.token
        with self.assertRaises((socket.timeout, TimeoutError)):
            c.request("GET", "Location/")
        c.close()
        time.sleep(0.8)
        self.assertEqual(self.c.request("GET", "Location/")[0], 200)
        # a client that waits long enough sees the connection closed with no answer
        self.c.faults({"kind": "timeout", "seconds": 0.3, "method": "GET"})
        c = self.server.client(timeout=5)
        c.token = self.c.token
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            c.request("GET", "Location/")
        c.close()

    def test_drop_after_commit_close(self):
        self.c.faults({"kind": "drop_after_commit", "method": "POST", "path": "Organization/"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.create_org(code="DROP1")
        # the write was committed: a retry (as a careful writer would: look up by code) finds it
        self.c = self.server.client()
        self.c.login()
        status, org, _ = self.c.request("GET", "Organization/?code=DROP1")
        self.assertEqual(status, 200)
        # a blind retry of the create is refused, so the facility exists exactly once
        status, out, _ = self.create_org(code="DROP1")
        self.assertEqual(status, 400)
        rep = self.c.facilities()
        self.assertEqual([f["code"] for f in rep["facilities"]].count("DROP1"), 1)
        self.assertEqual(self.c.stats()["dropped_responses"], 1)

    def test_drop_after_commit_as_502_on_update(self):
        status, org, _ = self.create_org(name="v1")
        self.c.faults({"kind": "drop_after_commit", "as": "502", "method": "PUT"})
        status, out, _ = self.c.request("PUT", "Organization/" + org["id"],
                                        org_body(name="v2", district_uuid=self.d0101))
        self.assertEqual(status, 502)
        rep = self.c.facilities()
        self.assertEqual((rep["count"], rep["facilities"][0]["name"], rep["history_rows"]),
                         (1, "v2", 1))

    def test_expire_tokens_mid_run(self):
        self.c.faults({"kind": "expire_tokens", "method": "PUT", "skip": 1})
        status, org, _ = self.create_org(name="v1")
        body = org_body(name="v2", district_uuid=self.d0101)
        self.assertEqual(self.c.request("PUT", "Organization/" + org["id"], body)[0], 200)
        status, out, _ = self.c.request("PUT", "Organization/" + org["id"], body)
        self.assertEqual(status, 401)
        self.assertEqual(diagnostics(out), "Signature has expired")
        self.assertEqual(self.c.request("GET", "Location/")[0], 401)
        self.assertEqual(self.c.login()[0], 200)
        self.assertEqual(self.c.request("PUT", "Organization/" + org["id"], body)[0], 200)

    def test_down(self):
        self.c.faults({"kind": "down", "seconds": 1.0, "now": True})
        status, out, resp = self.c.request("GET", "Location/")
        self.assertEqual(status, 503)
        self.assertIsNotNone(resp.getheader("Retry-After"))
        self.assertEqual(self.c.login()[0], 503)
        # testbed endpoints stay up
        self.assertEqual(self.c.request("GET", "/$testbed/stats", token=False)[0], 200)
        time.sleep(1.1)
        self.assertEqual(self.c.request("GET", "Location/")[0], 200)

    def test_down_triggered_by_match(self):
        self.c.faults({"kind": "down", "seconds": 0.6, "method": "POST", "path": "Organization/"})
        self.assertEqual(self.c.request("GET", "Location/")[0], 200)
        self.assertEqual(self.create_org()[0], 503)
        self.assertEqual(self.c.request("GET", "Location/")[0], 503)
        time.sleep(0.7)
        self.assertEqual(self.create_org()[0], 201)

    def test_keep_alive_and_stats(self):
        self.c.request("POST", "/$testbed/reset", {}, token=False)
        for _ in range(5):
            self.assertEqual(self.c.request("GET", "Location/?_count=1")[0], 200)
        st = self.c.stats()
        row = [r for r in st["requests"] if r["path"] == "/api/api_fhir_r4/Location/"
               and r["method"] == "GET"][0]
        self.assertEqual((row["status"], row["count"]), ("200", 5))
        status, org, _ = self.create_org()
        self.c.request("GET", "Organization/" + org["id"])
        paths = {r["path"] for r in self.c.stats()["requests"]}
        self.assertIn("/api/api_fhir_r4/Organization/{id}", paths)

    def test_seed_and_reset(self):
        status, out, _ = self.c.request("POST", "/$testbed/facilities", [
            {"code": "S1", "name": "Seeded", "level": "H", "legal_form": "G", "care_type": "B",
             "district_code": "D0201"}], token=False)
        self.assertEqual(status, 201, out)
        self.assertEqual(self.c.request("GET", "Organization/S1")[1]["name"], "Seeded")
        self.c.reset()
        self.assertEqual(self.c.facilities()["count"], 0)
