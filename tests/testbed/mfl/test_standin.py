"""MFL stand-in: search paging, _include, _history, writes, auth, CLI."""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
from urllib.parse import quote

from . import _support
from ._support import MFL, StandinCase, get_json, request


class PagingTest(StandinCase):
    synthetic = 1200
    same_instant_every = 40      # many facilities share one lastUpdated

    def test_all_facilities_exactly_once(self):
        for count in (7, 100, 1000):
            pages = self.walk(self.base + "/Location?_sort=_lastUpdated&_total=accurate"
                              "&_count=%d" % count)
            ids = [e["resource"]["id"] for p in pages for e in p["entry"]]
            self.assertEqual(len(ids), len(set(ids)))
            self.assertEqual(sorted(i for i in ids if i.startswith("fac-")), self.facility_ids())
            self.assertEqual(pages[0]["total"], len(ids))
            self.assertTrue(all(p["type"] == "searchset" for p in pages))
            keys = [(e["resource"]["meta"]["lastUpdated"], e["resource"]["id"])
                    for p in pages for e in p["entry"]]
            self.assertEqual(keys, sorted(keys))        # stable: lastUpdated, then id

    def test_total_as_hapi_gives_it(self):
        # A large result: no total until the search is complete, unless asked for.
        pages = self.walk(self.base + "/Location?_sort=_lastUpdated&_count=500")
        self.assertGreater(len(pages), 1)
        self.assertNotIn("total", pages[0])
        self.assertEqual(pages[-1]["total"], sum(len(p["entry"]) for p in pages))
        _, _, asked = get_json(self.base + "/Location?_total=accurate&_count=500")
        self.assertEqual(asked["total"], pages[-1]["total"])
        self.assertIn("_total=accurate", asked["link"][1]["url"])   # the next page asks too
        _, _, small = get_json(self.base + "/Location?_lastUpdated=ge2999-01-01&_count=5")
        self.assertEqual(small["total"], 0)                          # complete on its first page
        _, _, none = get_json(self.base + "/Location?_total=none&_count=5000")
        self.assertNotIn("total", none)
        status, _, oo = get_json(self.base + "/Location?_total=exact")
        self.assertEqual((status, oo["resourceType"]), (400, "OperationOutcome"))

    def test_last_updated_filters(self):
        store = self.server.store
        facs = sorted((store.current[("Location", i)].ms, i) for i in self.facility_ids())
        ms, _ = facs[len(facs) // 2]
        inst = store.current[("Location", facs[len(facs) // 2][1])].last_updated
        expect_ge = sum(1 for (t, _), v in store.current.items() if t == "Location" and v.ms >= ms)
        _, _, b = get_json(self.base + "/Location?_lastUpdated=ge%s&_count=0" % inst)
        self.assertEqual(b["total"], expect_ge)
        _, _, b = get_json(self.base + "/Location?_lastUpdated=gt%s&_count=0" % inst)
        self.assertEqual(b["total"], sum(1 for (t, _), v in store.current.items()
                                         if t == "Location" and v.ms > ms))
        _, _, b = get_json(self.base + "/Location?_lastUpdated=ge2014-02-01"
                                       "&_lastUpdated=lt2014-03-01&_count=1000")
        self.assertTrue(all("2014-02" == e["resource"]["meta"]["lastUpdated"][:7]
                            for e in b["entry"]))
        self.assertEqual(b["total"], len(b["entry"]))
        # a zone offset, encoded (%2B) or not (arrives as a space)
        for v in (quote("ge2014-02-01T03:00:00+03:00", safe=""), "ge2014-02-01T03:00:00+03:00"):
            _, _, c = get_json(self.base + "/Location?_lastUpdated=%s"
                                           "&_lastUpdated=lt2014-03-01&_count=0" % v)
            self.assertEqual(c["total"], b["total"])
        status, _, oo = get_json(self.base + "/Location?_lastUpdated=ge2014-02-30")
        self.assertEqual((status, oo["resourceType"]), (400, "OperationOutcome"))

    def test_count_capped_and_descending(self):
        _, _, b = get_json(self.base + "/Location?_count=5000")
        self.assertEqual(len(b["entry"]), 1000)      # --page-size-max default
        _, _, d = get_json(self.base + "/Location?_sort=-_lastUpdated&_count=3")
        lus = [e["resource"]["meta"]["lastUpdated"] for e in d["entry"]]
        self.assertEqual(lus, sorted(lus, reverse=True))
        _, _, b = get_json(self.base + "/Location")
        self.assertEqual(len(b["entry"]), 20)        # default page size
        status, _, _ = get_json(self.base + "/Location?_sort=name")
        self.assertEqual(status, 400)
        status, _, _ = get_json(self.base + "/Location?name=x")
        self.assertEqual(status, 400)

    def test_next_links_are_absolute_on_request_host(self):
        status, _, body = request(self.base + "/Location?_count=5",
                                  headers={"Host": "mfl.example:5001"})
        b = json.loads(body)
        nxt = [link["url"] for link in b["link"] if link["relation"] == "next"][0]
        self.assertTrue(nxt.startswith("http://mfl.example:5001/fhir/Location?"), nxt)
        self.assertIn("_getpagesoffset=5", nxt)

    def test_include(self):
        q = "/Location?_count=300&_include=Location:organization&_include=Location:endpoint"
        pages = self.walk(self.base + q)
        for p in pages:
            match = [e["resource"] for e in p["entry"] if e["search"]["mode"] == "match"]
            inc = [e["resource"] for e in p["entry"] if e["search"]["mode"] == "include"]
            keys = [(r["resourceType"], r["id"]) for r in inc]
            self.assertEqual(len(keys), len(set(keys)), "an include listed twice on one page")
            want = set()
            for r in match:
                for ref in [r.get("managingOrganization", {}).get("reference")] + \
                        [e["reference"] for e in r.get("endpoint", [])]:
                    if ref:
                        want.add(tuple(ref.split("/")))
            self.assertEqual(set(keys), want)
            self.assertTrue(all(e["fullUrl"].endswith("/%s/%s" % (e["resource"]["resourceType"],
                                                                   e["resource"]["id"]))
                                for e in p["entry"]))
        _, _, b = get_json(self.base + "/Location?_count=50&_include=Location:managingOrganization"
                                       "&_include=Location:partof&_lastUpdated=ge2014-01-02")
        types = {e["resource"]["resourceType"] for e in b["entry"]
                 if e["search"]["mode"] == "include"}
        self.assertEqual(types, {"Organization", "Location"})
        status, _, _ = get_json(self.base + "/Location?_include=Location:foo")
        self.assertEqual(status, 400)

    def test_reads_and_search_by_identifier(self):
        fid = self.facility_ids()[0]
        status, h, r = get_json(self.base + "/Location/" + fid)
        self.assertEqual((status, r["id"]), (200, fid))
        self.assertEqual(h["etag"], 'W/"%s"' % r["meta"]["versionId"])
        self.assertTrue(h["content-type"].startswith("application/fhir+json"))
        org = r["managingOrganization"]["reference"]
        status, _, o = get_json(self.base + "/" + org)
        self.assertEqual((status, o["resourceType"]), (200, "Organization"))
        ep = next(i for (t, i) in self.server.store.current if t == "Endpoint")
        status, _, e = get_json(self.base + "/Endpoint/" + ep)
        self.assertEqual((status, e["connectionType"]["code"]), (200, "hl7-fhir-rest"))
        self.assertEqual(get_json(self.base + "/Location/nope")[0], 404)
        code = r["identifier"][0]["value"]
        _, _, b = get_json(self.base + "/Location?identifier=%s|%s"
                           % ("https://kmhfl.health.go.ke/facility-code", code))
        self.assertEqual([e["resource"]["id"] for e in b["entry"]], [fid])
        _, _, b = get_json(self.base + "/Location?_id=%s" % fid)
        self.assertEqual(b["total"], 1)
        status, _, cap = get_json(self.base + "/metadata")
        self.assertEqual(cap["fhirVersion"], "4.0.1")

    def test_keep_alive(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.server.server_address[1], timeout=10)
        try:
            for _ in range(3):
                conn.request("GET", "/fhir/Location?_count=2")
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                json.loads(resp.read())
                self.assertEqual(resp.version, 11)
        finally:
            conn.close()


class WritesAndHistoryTest(StandinCase):
    synthetic = 200

    def test_put_delete_touch_history(self):
        from mfl_store import instant_from_ms
        since = instant_from_ms(int(time.time() * 1000))
        time.sleep(0.01)
        ids = self.facility_ids()
        # PUT: new version, lastUpdated = now, old one kept in history
        status, _, r = get_json(self.base + "/Location/" + ids[0])
        r["name"] = "Renamed Dispensary"
        status, h, r2 = get_json(self.base + "/Location/" + ids[0], method="PUT", body=r)
        self.assertEqual(status, 200)
        self.assertEqual(r2["meta"]["versionId"], "2")
        self.assertGreater(r2["meta"]["lastUpdated"], since)
        old = get_json(self.base + "/Location/%s/_history/1" % ids[0])[2]
        self.assertEqual(old["meta"]["versionId"], "1")
        self.assertNotEqual(old["name"], "Renamed Dispensary")
        # PUT of a new id creates it
        status, _, n = get_json(self.base + "/Location/fac-99999999", method="PUT",
                                body={"resourceType": "Location", "name": "New"})
        self.assertEqual((status, n["meta"]["versionId"]), (201, "1"))
        status, _, _ = get_json(self.base + "/Location/x", method="PUT",
                                body={"resourceType": "Organization"})
        self.assertEqual(status, 400)
        # DELETE
        status, _, _ = get_json(self.base + "/Location/" + ids[1], method="DELETE")
        self.assertEqual(status, 200)
        self.assertEqual(get_json(self.base + "/Location/" + ids[1])[0], 410)
        self.assertEqual(get_json(self.base + "/Location/nope", method="DELETE")[0], 404)
        # touch: by ids and by count (oldest first), optionally renaming
        status, _, t = get_json(self.root + "/$testbed/touch", method="POST",
                                body={"ids": [ids[2]], "name_suffix": " (moved)"})
        self.assertEqual(t["touched"][0]["versionId"], "2")
        self.assertTrue(get_json(self.base + "/Location/" + ids[2])[2]["name"].endswith(" (moved)"))
        status, _, t = get_json(self.base + "/$testbed/touch", method="POST", body={"count": 3})
        self.assertEqual(status, 200, t)
        self.assertEqual(len(t["touched"]), 3)
        # search no longer returns the deleted one; it moves new versions to the end
        pages = self.walk(self.base + "/Location?_sort=_lastUpdated&_count=50")
        seen = [e["resource"]["id"] for p in pages for e in p["entry"]]
        self.assertNotIn(ids[1], seen)
        self.assertEqual(set(seen[-6:]),
                         {ids[0], "fac-99999999", ids[2]} | {x["id"] for x in t["touched"]})
        # _history since the start: oldest first, DELETE entry without resource
        pages = self.walk(self.base + "/Location/_history?_since=%s&_count=2" % since)
        entries = [e for p in pages for e in p["entry"]]
        self.assertTrue(all(p["type"] == "history" for p in pages))
        self.assertEqual(pages[0]["total"], 7)       # put, create, delete, touch, 3x touch
        self.assertEqual(len(entries), 7)
        methods = [e["request"]["method"] for e in entries]
        self.assertEqual(methods, ["PUT", "POST", "DELETE", "PUT", "PUT", "PUT", "PUT"])
        dele = entries[2]
        self.assertEqual(dele["request"]["url"], "Location/" + ids[1])
        self.assertEqual(dele["response"]["status"], "204")
        self.assertNotIn("resource", dele)
        mods = [e["response"]["lastModified"] for e in entries]
        self.assertEqual(mods, sorted(mods))
        # instance history
        _, _, ih = get_json(self.base + "/Location/%s/_history" % ids[1])
        self.assertEqual([e["request"]["method"] for e in ih["entry"]], ["POST", "DELETE"])
        # full type history includes the initial versions
        _, _, full = get_json(self.base + "/Location/_history?_count=0")
        self.assertEqual(full["total"], self.server.store.counts()["versions"]
                         - len(self.server.store.history["Organization"])
                         - len(self.server.store.history["Endpoint"]))


class AuthTest(StandinCase):
    synthetic = 30
    config_kwargs = {"basic_user": "sync", "basic_password": "s3cret", "custom_token": "tok-1"}

    def test_auth(self):
        url = self.base + "/Location?_count=1"
        status, h, b = get_json(url)
        self.assertEqual(status, 401)
        self.assertEqual(h["www-authenticate"], "Basic")
        self.assertEqual(b["resourceType"], "OperationOutcome")
        bad = "Basic " + base64.b64encode(b"sync:wrong").decode()
        self.assertEqual(get_json(url, headers={"Authorization": bad})[0], 401)
        good = "Basic " + base64.b64encode(b"sync:s3cret").decode()
        self.assertEqual(get_json(url, headers={"Authorization": good})[0], 200)
        self.assertEqual(get_json(url, headers={"Authorization": "Custom tok-1"})[0], 200)
        self.assertEqual(get_json(url, headers={"Authorization": "Custom nope"})[0], 401)
        self.assertEqual(get_json(url, headers={"Authorization": "Bearer tok-1"})[0], 401)
        # admin endpoints need no auth; the log records whether auth was sent
        status, _, log = get_json(self.root + "/$testbed/requests")
        self.assertEqual(status, 200)
        tail = log["requests"][-6:]
        self.assertEqual([r["auth_present"] for r in tail], [False, True, True, True, True, True])
        self.assertEqual([r["status"] for r in tail], [401, 401, 200, 200, 401, 401])
        self.assertEqual(tail[0]["query"], "_count=1")
        self.assertEqual(request(self.root + "/$testbed/requests", "DELETE")[0], 200)
        self.assertEqual(get_json(self.root + "/$testbed/requests")[2]["requests"], [])


class SubprocessTest(unittest.TestCase):
    def test_cli_port_zero_ready_file(self):
        with tempfile.TemporaryDirectory() as d:
            ready = os.path.join(d, "port")
            data = os.path.join(d, "extra.ndjson")
            with open(data, "w") as f:
                meta = {"versionId": "3", "lastUpdated": "2014-02-02T00:00:00Z"}
                f.write(json.dumps({"resourceType": "Location", "id": "fac-1", "meta": meta,
                                    "name": "From file"}) + "\n")
            proc = subprocess.Popen(
                [sys.executable, os.path.join(MFL, "mfl_standin.py"), "--port", "0",
                 "--base-path", "/mfl/fhir", "--synthetic", "50", "--data", data,
                 "--page-size-max", "10", "--ready-file", ready],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                port = int(_support.wait_for_file(ready, proc=proc))
                base = "http://127.0.0.1:%d/mfl/fhir" % port
                status, _, b = get_json(base + "/Location?_count=100")
                self.assertEqual((status, len(b["entry"])), (200, 10))
                _, _, r = get_json(base + "/Location/fac-1")
                self.assertEqual((r["name"], r["meta"]["versionId"]), ("From file", "3"))
                self.assertEqual(get_json("http://127.0.0.1:%d/fhir/Location" % port)[0], 404)
            finally:
                proc.terminate()
                proc.wait(10)
                proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
