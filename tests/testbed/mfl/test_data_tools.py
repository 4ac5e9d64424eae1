"""Kenya CSV converter and synthetic generator."""
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

from . import _support  # puts testbed/data_tools on sys.path
from ._support import DATA_TOOLS, KENYA_CSV

assert DATA_TOOLS in sys.path
import kenya_mfl_to_fhir  # noqa: E402
import mfl_fhir_shapes as shapes  # noqa: E402
import synthetic_mfl  # noqa: E402


def check_graph(test, resources):
    """Unique ids, resolvable references, partOf chains ending at a county."""
    by_id = {}
    for r in resources:
        key = (r["resourceType"], r["id"])
        test.assertNotIn(key, by_id, "duplicate %s/%s" % key)
        by_id[key] = r
    for r in resources:
        test.assertEqual(r["meta"]["versionId"], "1")
        test.assertRegex(r["meta"]["lastUpdated"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        if r["resourceType"] != "Location":
            continue
        codes = [c["code"] for c in r["physicalType"]["coding"]]
        chain = []
        cur = r
        while "partOf" in cur:
            t, _, pid = cur["partOf"]["reference"].partition("/")
            test.assertEqual(t, "Location")
            test.assertIn(("Location", pid), by_id, "dangling partOf in %s" % cur["id"])
            cur = by_id[("Location", pid)]
            chain.append(cur["id"])
            test.assertLess(len(chain), 4, "partOf cycle at %s" % r["id"])
        if codes == ["si"]:
            if chain:
                test.assertTrue(chain[-1].startswith("county-"), chain)
                if chain[0].startswith("ward-"):
                    test.assertEqual([c.split("-")[0] for c in chain],
                                     ["ward", "subcounty", "county"])
            for ref in [r.get("managingOrganization", {}).get("reference")] + \
                    [e["reference"] for e in r.get("endpoint", [])]:
                if ref:
                    t, _, rid = ref.partition("/")
                    test.assertIn((t, rid), by_id, "dangling %s" % ref)
        else:
            test.assertEqual(codes, ["jdn"])
    return by_id


class KenyaConverterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        _support.require_kenya_csv(cls)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls.tmp.name, "kenya.ndjson")
        cls.areas = os.path.join(cls.tmp.name, "areas.json")
        subprocess.run([sys.executable, os.path.join(DATA_TOOLS, "kenya_mfl_to_fhir.py"),
                        "--csv", KENYA_CSV, "--out", cls.out, "--areas-out", cls.areas],
                       check=True, capture_output=True)
        with open(cls.out, encoding="utf-8") as f:
            cls.lines = f.read().splitlines()
        cls.resources = [json.loads(line) for line in cls.lines]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_counts_and_unique_ids(self):
        facs = [r for r in self.resources if r["id"].startswith("fac-")]
        self.assertEqual(len(facs), 13733)
        self.assertEqual(len({r["id"] for r in facs}), 13733)
        kinds = collections.Counter(r["resourceType"] for r in self.resources)
        self.assertEqual(kinds["Organization"], 4)
        self.assertEqual(kinds["Endpoint"], 13733 // 50)
        self.assertEqual(sum(1 for r in facs if r["status"] == "active"), 12860)
        self.assertEqual(sum(1 for r in facs if "managingOrganization" not in r), 5)
        self.assertEqual(len({r["type"][0]["coding"][0]["code"] for r in facs}), 34)

    def test_partof_chain_and_references(self):
        by_id = check_graph(self, self.resources)
        facs = [r for r in self.resources if r["id"].startswith("fac-")]
        # the 5 queue locations have no area at all; 6 facilities have no ward
        self.assertEqual(sum(1 for r in facs if "partOf" not in r), 5)
        self.assertEqual(sum(1 for r in facs if r.get("partOf", {}).get("reference", "")
                             .startswith("Location/subcounty-")), 6)
        names = {r["name"] for (t, i), r in by_id.items() if i.startswith("ward-")}
        self.assertIn("Hospital", names)
        counties = {r["name"]: i for (t, i), r in by_id.items() if i.startswith("county-")}
        self.assertEqual(counties["Kisii"], "county-kisii")
        self.assertEqual(counties["Kisii,"], "county-kisii-2")     # odd value kept, own id

    def test_facility_shape(self):
        r = next(x for x in self.resources if x["id"] == "fac-14180")
        self.assertEqual(r["identifier"],
                         [{"system": shapes.FACILITY_CODE_SYSTEM, "value": "14180"}])
        self.assertEqual(r["name"], "10 Engineer VCT")
        self.assertEqual(r["type"][0]["coding"][0],
                         {"system": shapes.FACILITY_TYPE_SYSTEM, "code": "Dispensary",
                          "display": "Dispensary"})
        self.assertEqual(r["address"]["state"], "Laikipia")
        self.assertEqual(r["address"]["district"], "Laikipia East")
        self.assertEqual(r["address"]["city"], "Nanyuki")
        self.assertEqual(r["partOf"]["reference"], "Location/ward-laikipia-laikipia-east-nanyuki")
        self.assertEqual(r["managingOrganization"]["reference"],
                         "Organization/owner-ministry-of-health")
        huruma = next(x for x in self.resources if x["id"] == "fac-14555")
        self.assertEqual([e["valueCode"] for e in huruma["extension"]],
                         ["ART", "C-IMCI", "FP", "HBC", "IPD"])
        self.assertTrue(all(e["url"] == shapes.SERVICES_EXTENSION_URL for e in huruma["extension"]))
        self.assertTrue(any(x["type"][0]["coding"][0]["code"] == "DISPENSARY"
                            for x in self.resources if x["id"].startswith("fac-")))

    def test_deterministic_and_options(self):
        rows = list(kenya_mfl_to_fhir.read_rows(KENYA_CSV))
        again = [shapes.dumps(r) for r in kenya_mfl_to_fhir.convert(rows)]
        self.assertEqual(again, self.lines)
        same = [r for r in kenya_mfl_to_fhir.convert(rows, code_system="urn:x",
                                                      same_instant_every=10)
                if r["id"].startswith("fac-")]
        self.assertEqual({r["identifier"][0]["system"] for r in same}, {"urn:x"})
        self.assertLessEqual(len({r["meta"]["lastUpdated"] for r in same}), 13733 // 10 + 1)
        for r in self.resources:
            lu = r["meta"]["lastUpdated"]
            self.assertTrue("2014-01-01" <= lu[:10] <= "2014-05-12", lu)

    def test_areas_out(self):
        with open(self.areas) as f:
            areas = json.load(f)
        ids = {r["id"] for r in self.resources
               if r["id"].split("-")[0] in ("county", "subcounty", "ward")}
        listed = set()
        for c in areas["counties"]:
            listed.add(c["id"])
            for s in c["subcounties"]:
                listed.add(s["id"])
                listed.update(w["id"] for w in s["wards"])
        self.assertEqual(listed, ids)


class SyntheticTest(unittest.TestCase):
    def gen(self, *args):
        with tempfile.TemporaryDirectory() as d:
            out, areas = os.path.join(d, "s.ndjson"), os.path.join(d, "a.json")
            subprocess.run([sys.executable, os.path.join(DATA_TOOLS, "synthetic_mfl.py"),
                            "--out", out, "--areas-out", areas] + list(args),
                           check=True, capture_output=True)
            with open(out, "rb") as f, open(areas) as g:
                return f.read(), json.load(g)

    def test_deterministic(self):
        a, _ = self.gen("--count", "2000", "--seed", "3")
        b, _ = self.gen("--count", "2000", "--seed", "3")
        c, _ = self.gen("--count", "2000", "--seed", "4")
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)

    def test_counts_and_shape(self):
        data, areas = self.gen("--count", "3000", "--seed", "5")
        res = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        by_id = check_graph(self, res)
        facs = [r for r in res if r["id"].startswith("fac-")]
        self.assertEqual(len(facs), 3000)
        codes = [r["identifier"][0]["value"] for r in facs]
        self.assertEqual(len(set(codes)), 3000)
        self.assertTrue(all(len(c) == 5 and c.isdigit() for c in codes))
        self.assertEqual(sum(1 for r in res if r["resourceType"] == "Endpoint"), 60)
        self.assertEqual(len(areas["counties"]), 47)
        nsub = sum(len(c["subcounties"]) for c in areas["counties"])
        self.assertEqual(nsub, 300)
        jur = {i for (_, i) in by_id if i.split("-")[0] in ("county", "subcounty", "ward")}
        self.assertEqual(len(jur), 47 + 300 + sum(len(s["wards"]) for c in areas["counties"]
                                                for s in c["subcounties"]))
        types = {r["type"][0]["coding"][0]["code"] for r in facs}
        self.assertTrue(types <= {t for t, _ in synthetic_mfl.FACILITY_TYPES})
        self.assertIn("DISPENSARY", types)
        self.assertTrue(any("managingOrganization" not in r for r in facs))
        months = {r["meta"]["lastUpdated"][:7] for r in facs}
        self.assertEqual(months, {"2014-01", "2014-02", "2014-03", "2014-04", "2014-05"})

    def test_same_instant_every(self):
        facs = [r for r in synthetic_mfl.generate(1000, seed=1, same_instant_every=25)
                if r["id"].startswith("fac-")]
        groups = collections.Counter(r["meta"]["lastUpdated"] for r in facs)
        self.assertEqual(sorted(groups.values()), [25] * 40)

    def test_six_digit_codes_when_large(self):
        # the code bijection: exercise it without generating 90k resources
        gen = synthetic_mfl.generate(95000, seed=1)
        seen = set()
        for r in gen:
            if r["id"].startswith("fac-"):
                seen.add(r["identifier"][0]["value"])
                if len(seen) == 20000:
                    break
        self.assertEqual(len(seen), 20000)
        self.assertTrue(all(10000 <= int(c) < 105000 for c in seen))
        self.assertTrue(any(len(c) == 6 for c in seen))

    def test_streams_quickly(self):
        t0 = time.monotonic()
        n = sum(1 for _ in synthetic_mfl.generate(10000, seed=2))
        self.assertGreater(n, 10000)
        self.assertLess(time.monotonic() - t0, 10)


if __name__ == "__main__":
    unittest.main()
