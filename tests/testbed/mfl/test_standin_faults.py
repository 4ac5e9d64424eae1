"""MFL stand-in: every fault kind of POST /$testbed/faults."""
import http.client
import json
import time
import unittest
from urllib.parse import unquote

from ._support import StandinCase, get_json, request


def next_url(bundle):
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"),
                None)


class FaultsTest(StandinCase):
    synthetic = 400

    def q(self, extra=""):
        return self.base + "/Location?_sort=_lastUpdated&_count=50" + extra

    def test_status_with_retry_after(self):
        self.faults({"kind": "status", "status": 503, "times": 2, "retry_after": 1})
        for _ in range(2):
            status, h, b = get_json(self.q())
            self.assertEqual(status, 503)
            self.assertEqual(h["retry-after"], "1")
            self.assertEqual(b["resourceType"], "OperationOutcome")
        self.assertEqual(get_json(self.q())[0], 200)
        for st in (429, 500, 502, 504):
            self.faults({"kind": "status", "status": st, "retry_after": 2})
            status, h, b = get_json(self.q())
            self.assertEqual((status, h.get("retry-after"), b["resourceType"]),
                             (st, "2", "OperationOutcome"))

    def test_status_400_diagnostics(self):
        self.faults({"kind": "status", "status": 400, "diagnostics": "Invalid _lastUpdated value"})
        status, h, b = get_json(self.q())
        self.assertEqual(status, 400)
        self.assertNotIn("retry-after", h)
        self.assertEqual(b["issue"][0]["diagnostics"], "Invalid _lastUpdated value")

    def test_delay(self):
        self.faults({"kind": "delay", "seconds": 0.4})
        t0 = time.monotonic()
        status, _, _ = get_json(self.q())
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)

    def test_reset(self):
        self.faults({"kind": "reset"})
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            request(self.q())
        self.assertEqual(get_json(self.q())[0], 200)

    def test_not_json_and_not_bundle(self):
        self.faults({"kind": "not_json"}, {"kind": "not_bundle"},
                    {"kind": "not_bundle", "as": "Patient"})
        status, h, body = request(self.q())
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(body)
        self.assertEqual(get_json(self.q())[2]["resourceType"], "OperationOutcome")
        self.assertEqual(get_json(self.q())[2]["resourceType"], "Patient")

    def test_bundle_faults_skip_reads(self):
        self.faults({"kind": "not_bundle"})
        fid = self.facility_ids()[0]
        self.assertEqual(get_json(self.base + "/Location/" + fid)[2]["id"], fid)
        self.assertEqual(len(get_json(self.root + "/$testbed/faults")[2]["pending"]), 1)

    def test_entry_without_resource_and_location_without_id(self):
        self.faults({"kind": "entry_without_resource"}, {"kind": "location_without_id", "index": 1})
        _, _, b = get_json(self.q())
        self.assertNotIn("resource", b["entry"][0])
        self.assertIn("fullUrl", b["entry"][0])
        self.assertTrue(all("resource" in e for e in b["entry"][1:]))
        _, _, b = get_json(self.q())
        self.assertNotIn("id", b["entry"][1]["resource"])
        self.assertEqual(b["entry"][1]["resource"]["resourceType"], "Location")
        self.assertIn("id", b["entry"][0]["resource"])

    def test_outcome_entry(self):
        self.faults({"kind": "outcome_entry", "diagnostics": "_sort ignored"})
        _, _, b = get_json(self.q())
        last = b["entry"][-1]
        self.assertEqual(last["search"]["mode"], "outcome")
        self.assertEqual(last["resource"]["issue"][0]["diagnostics"], "_sort ignored")

    def test_bad_last_updated(self):
        self.faults({"kind": "bad_last_updated", "index": 2})
        _, _, b = get_json(self.q())
        self.assertEqual(b["entry"][2]["resource"]["meta"]["lastUpdated"], "yesterday")
        self.assertNotEqual(b["entry"][1]["resource"]["meta"]["lastUpdated"], "yesterday")

    def test_oversized(self):
        self.faults({"kind": "oversized", "bytes": 3000000})
        status, h, body = request(self.q())
        self.assertEqual((status, len(body), h["content-length"]), (200, 3000000, "3000000"))
        self.assertEqual(json.loads(body)["resourceType"], "Bundle")

    def test_foreign_and_encoded_next(self):
        self.faults({"kind": "foreign_next"}, {"kind": "encoded_next"})
        _, _, b = get_json(self.q())
        self.assertTrue(next_url(b).startswith("http://evil.example:80/fhir/Location?"),
                        next_url(b))
        _, _, b = get_json(self.q())
        enc = next_url(b)
        self.assertTrue(enc.startswith("http%3A%2F%2F127.0.0.1%3A"), enc)
        self.assertEqual(get_json(unquote(enc))[0], 200)

    def test_missing_include(self):
        self.faults({"kind": "missing_include"})
        _, _, b = get_json(self.q("&_lastUpdated=ge2014-01-02&_include=Location:organization"))
        self.assertEqual({e["search"]["mode"] for e in b["entry"]}, {"match"})
        _, _, b = get_json(self.q("&_lastUpdated=ge2014-01-02&_include=Location:organization"))
        self.assertIn("include", {e["search"]["mode"] for e in b["entry"]})

    def test_update_between_pages_moves_records(self):
        _, _, p1 = get_json(self.q())
        moved = [e["resource"]["id"] for e in p1["entry"][:3]]
        self.faults({"kind": "update_between_pages", "ids": moved})
        pages = self.walk(self.q("&_total=accurate"))
        ids = [e["resource"]["id"] for p in pages for e in p["entry"]]
        for rid in moved:
            self.assertEqual(ids.count(rid), 2, "moved record seen on page 1 and again at the end")
        # offset paging is not snapshot-stable: 3 records slid from page 2 to page 1, unseen
        self.assertEqual(len(set(ids)), pages[0]["total"] - 3)
        for rid in moved:
            self.assertEqual(get_json(self.base + "/Location/" + rid)[2]["meta"]["versionId"], "2")

    def test_page_filter_skip_and_admin(self):
        self.faults({"kind": "status", "status": 502, "page": 2})
        _, _, b = get_json(self.q())
        self.assertEqual(get_json(self.q())[0], 200)            # page 1 again: no fault
        self.assertEqual(get_json(next_url(b))[0], 502)         # page 2
        self.assertEqual(get_json(next_url(b))[0], 200)
        self.faults({"kind": "status", "status": 500, "skip": 1, "times": -1,
                     "path": "Location/_history"})
        self.assertEqual(get_json(self.base + "/Location/_history")[0], 200)
        self.assertEqual(get_json(self.base + "/Location/_history")[0], 500)
        self.assertEqual(get_json(self.base + "/Location/_history")[0], 500)
        self.assertEqual(get_json(self.q())[0], 200)
        _, _, lst = get_json(self.root + "/$testbed/faults")
        self.assertEqual(len(lst["pending"]), 1)
        self.assertEqual(get_json(self.root + "/$testbed/faults", method="DELETE")[2]["cleared"], 1)
        self.assertEqual(get_json(self.base + "/Location/_history")[0], 200)
        status, _, err = get_json(self.root + "/$testbed/faults", method="POST",
                                  body=[{"kind": "nope"}])
        self.assertEqual(status, 400)
        self.assertIn("unknown fault kind", err["error"])

    def test_history_faults(self):
        self.faults({"kind": "entry_without_resource"}, {"kind": "foreign_next"})
        _, _, b = get_json(self.base + "/Location/_history?_count=5")
        self.assertEqual(b["type"], "history")
        self.assertNotIn("resource", b["entry"][0])
        _, _, b = get_json(self.base + "/Location/_history?_count=5")
        self.assertTrue(next_url(b).startswith("http://evil.example:80/"))


if __name__ == "__main__":
    unittest.main()
