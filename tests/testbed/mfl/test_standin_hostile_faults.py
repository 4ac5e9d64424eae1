"""MFL stand-in: the hostile page faults the fetcher's input checks are tested with."""
import json
import time
import unittest

from ._support import StandinCase, get_json, request


class HostileFaultsTest(StandinCase):
    synthetic = 100

    def q(self):
        return self.base + "/Location?_sort=_lastUpdated&_count=20"

    def test_future_last_updated(self):
        self.faults({"kind": "future_last_updated", "index": 3, "seconds": 7200})
        _, _, b = get_json(self.q())
        dated = b["entry"][3]["resource"]["meta"]["lastUpdated"]
        self.assertGreater(dated, time.strftime("%Y-%m-%dT%H:%M:%S",
                                                time.gmtime(time.time() + 7000)))
        self.assertLess(b["entry"][2]["resource"]["meta"]["lastUpdated"], "2015")
        _, _, b = get_json(self.q())       # times defaults to 1
        self.assertLess(b["entry"][3]["resource"]["meta"]["lastUpdated"], "2015")

    def test_old_version_is_an_extra_match(self):
        rid = self.facility_ids()[0]
        _, _, v1 = get_json(self.base + "/Location/" + rid)
        renamed = dict(v1, name="Renamed")
        renamed.pop("meta")
        self.assertEqual(request(self.base + "/Location/" + rid, "PUT", renamed)[0], 200)
        self.faults({"kind": "old_version", "id": rid})
        _, _, b = get_json(self.q())
        matches = [e["resource"] for e in b["entry"] if e["search"]["mode"] == "match"]
        self.assertEqual(len(matches), 21)
        self.assertEqual((matches[-1]["id"], matches[-1]["meta"]["versionId"], matches[-1]["name"]),
                         (rid, v1["meta"]["versionId"], v1["name"]))
        self.faults({"kind": "old_version", "id": rid, "version": "9"})
        self.assertEqual(get_json(self.q())[0], 500)       # no such version: said so
        status, _, err = get_json(self.root + "/$testbed/faults", method="POST",
                                  body=[{"kind": "old_version"}])
        self.assertEqual(status, 400)
        self.assertIn("id", err["error"])

    def test_invalid_utf8(self):
        self.faults({"kind": "invalid_utf8", "index": 1})
        status, _, body = request(self.q())
        self.assertEqual(status, 200)
        with self.assertRaises(UnicodeDecodeError):
            body.decode("utf-8")
        self.assertEqual(body.count(b"\xff"), 1)
        fixed = json.loads(body.replace(b"\xff", b""))
        self.assertEqual(len(fixed["entry"]), 20 + sum(
            1 for e in fixed["entry"] if e["search"]["mode"] == "include"))

    def test_deep_nesting_and_long_string(self):
        self.faults({"kind": "deep_nesting", "depth": 70}, {"kind": "long_string", "index": 2})
        _, _, b = get_json(self.q())
        deep, depth = b["entry"][0]["resource"]["_name"]["deep"], 1
        while deep:
            deep, depth = deep[0], depth + 1
        self.assertEqual(depth, 70)
        _, _, b = get_json(self.q())
        self.assertEqual(len(b["entry"][2]["resource"]["name"]), 1024 * 1024 + 1)
        self.assertLess(len(b["entry"][1]["resource"]["name"]), 200)


if __name__ == "__main__":
    unittest.main()
