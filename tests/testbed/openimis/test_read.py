import json
import os
import tempfile
import unittest
import urllib.parse

from .standin_harness import StandIn, StandInTestCase, decode_link

IDS = "https://openimis.github.io/openimis_fhir_r4_ig/CodeSystem/openimis-identifiers"


def ident(resource, code):
    for i in resource["identifier"]:
        if i["type"]["coding"][0]["code"] == code:
            return i["value"]
    return None


class AreaReadTest(StandInTestCase):
    def test_default_areas_listed(self):
        status, body, _ = self.c.request("GET", "Location/?_count=100")
        self.assertEqual(status, 200)
        self.assertEqual(body["resourceType"], "Bundle")
        self.assertEqual(body["type"], "searchset")
        self.assertEqual(body["total"], 8)
        codes = {ident(e["resource"], "LC") for e in body["entry"]}
        self.assertIn("D0101", codes)
        areas = self.c.request("GET", "Location/?physicalType=area&_count=100")[1]
        self.assertEqual(areas["total"], 8)

    def test_area_shape_and_retrieve(self):
        status, d, _ = self.c.request("GET", "Location/?identifier=D0101")
        self.assertEqual(status, 200)
        self.assertEqual(d["resourceType"], "Location")
        self.assertEqual(d["physicalType"]["coding"][0]["code"], "D")
        self.assertEqual(d["name"], "Lakeside")
        region = self.area_uuid("R01")
        self.assertEqual(d["partOf"]["identifier"]["value"], region)
        status, again, _ = self.c.request("GET", "Location/" + d["id"])
        self.assertEqual((status, again["id"]), (200, d["id"]))
        status, again, _ = self.c.request("GET", "Location/" + d["id"].upper())
        self.assertEqual(status, 200)

    def test_unknown_404(self):
        status, body, _ = self.c.request("GET", "Location/00000000-0000-0000-0000-000000000000")
        self.assertEqual(status, 404)
        self.assertEqual(body["issue"][0]["code"], "not-found")
        self.assertEqual(self.c.request("GET", "Location/?identifier=NOPE")[0], 404)
        self.assertEqual(self.c.request("GET", "Organization/NOPE")[0], 404)
        self.assertEqual(self.c.request("GET", "Patient/")[0], 404)


class PagingTest(StandInTestCase):
    def test_paging_with_encoded_links(self):
        status, p1, _ = self.c.request("GET", "Location/?_count=3")
        self.assertEqual(status, 200)
        self.assertEqual(p1["total"], 8)
        self.assertEqual(len(p1["entry"]), 3)
        links = {link["relation"]: link["url"] for link in p1["link"]}
        self.assertTrue(links["self"].startswith("http%3A%2F%2F127.0.0.1%3A"))
        self.assertNotIn("previous", links)
        nxt = decode_link(links["next"])
        parts = urllib.parse.urlsplit(nxt)
        self.assertEqual(parts.path, "/api/api_fhir_r4/Location/")
        self.assertEqual(urllib.parse.parse_qs(parts.query),
                         {"_count": ["3"], "page-offset": ["2"]})
        seen = [e["resource"]["id"] for e in p1["entry"]]
        url = nxt
        pages = 1
        while url:
            parts = urllib.parse.urlsplit(url)
            status, page, _ = self.c.request("GET", parts.path + "?" + parts.query)
            self.assertEqual(status, 200)
            pages += 1
            seen += [e["resource"]["id"] for e in page["entry"]]
            links = {link["relation"]: decode_link(link["url"]) for link in page["link"]}
            self.assertIn("previous", links)
            url = links.get("next")
        self.assertEqual(pages, 3)
        self.assertEqual(len(seen), 8)
        self.assertEqual(len(set(seen)), 8)
        # previous of page 2 drops page-offset (DRF behaviour)
        status, p2, _ = self.c.request("GET", "Location/?_count=3&page-offset=2")
        prev = {link["relation"]: decode_link(link["url"])
                for link in p2["link"]}["previous"]
        self.assertNotIn("page-offset", prev)

    def test_invalid_page_404(self):
        self.assertEqual(self.c.request("GET", "Location/?_count=3&page-offset=9")[0], 404)
        self.assertEqual(self.c.request("GET", "Location/?page-offset=abc")[0], 404)

    def test_facility_paging(self):
        for i in range(12):
            self.assertEqual(self.create_org(code="HF%03d" % i)[0], 201)
        status, p1, _ = self.c.request("GET", "Location/?physicalType=si")
        self.assertEqual((p1["total"], len(p1["entry"])), (12, 10))   # default page size 10
        status, p2, _ = self.c.request("GET", "Organization/?type=prov&page-offset=2")
        self.assertEqual((p2["total"], len(p2["entry"])), (12, 2))
        self.assertEqual(self.c.request("GET", "Organization/?type=bus")[1]["total"], 0)


class FacilityReadTest(StandInTestCase):
    def test_location_and_organization_describe_same_facility(self):
        status, org, _ = self.create_org(code="HF777", name="Twin", level="H")
        self.assertEqual(status, 201)
        uuid = org["id"]
        status, loc, _ = self.c.request("GET", "Location/%s?physicalType=si" % uuid)
        self.assertEqual(status, 200)
        self.assertEqual(loc["name"], org["name"])
        self.assertEqual(ident(loc, "FI"), "HF777")
        self.assertEqual(ident(loc, "UUID"), uuid)
        self.assertEqual(ident(org, "UUID"), uuid)
        self.assertEqual(ident(org, "LC"), "HF777")
        self.assertEqual(loc["type"][0]["coding"][0]["code"], "HOSP")
        self.assertEqual(loc["physicalType"]["coding"][0]["code"], "si")
        self.assertEqual(loc["physicalType"]["text"], "site")
        self.assertEqual(loc["status"], "active")
        self.assertEqual(loc["partOf"]["identifier"]["value"], self.d0101)
        addr = org["address"][0]
        self.assertEqual(addr["extension"][0]["valueReference"]["reference"],
                         "Location/" + self.d0101)
        self.assertEqual((addr["district"], addr["state"]), ("Lakeside", "Northern"))
        # by code too; the facility needs physicalType=si on Location (as openIMIS)
        found = self.c.request("GET", "Location/?identifier=HF777&physicalType=si")[1]
        self.assertEqual(found["id"], uuid)
        self.assertEqual(self.c.request("GET", "Location/%s" % uuid)[0], 404)
        self.assertEqual(self.c.request("GET", "Organization/HF777")[1]["id"], uuid)
        self.assertEqual(self.c.request("GET", "Organization/?code=HF777")[1]["id"], uuid)
        self.assertEqual(self.c.request("GET", "Organization/?identifier=HF777")[1]["id"], uuid)

    def test_level_mapping(self):
        for level, code in (("H", "HOSP"), ("D", "COMM"), ("C", "OF")):
            status, org, _ = self.create_org(code="L" + level, level=level)
            loc = self.c.request("GET", "Location/%s?physicalType=si" % org["id"])[1]
            self.assertEqual(loc["type"][0]["coding"][0]["code"], code)


class OptionsTest(unittest.TestCase):
    def test_areas_file_legal_forms_bundle_search_plain_links(self):
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "areas.json")
        with open(path, "w") as fh:
            json.dump([{"code": "RX", "name": "Rx", "type": "R", "parent_code": None},
                       {"code": "DX", "name": "Dx", "type": "D", "parent_code": "RX"}], fh)
        srv = StandIn("--areas", path, "--legal-forms", "G,X", "--identifier-search", "bundle",
                      "--plain-links")
        try:
            c = srv.client()
            c.login()
            status, body, _ = c.request("GET", "Location/?identifier=DX")
            self.assertEqual((status, body["resourceType"], body["total"]), (200, "Bundle", 1))
            dx = body["entry"][0]["resource"]["id"]
            self.assertTrue(body["link"][0]["url"].startswith("http://"))
            self.assertEqual(c.request("GET", "Location/?identifier=NONE")[1]["total"], 0)
            from .standin_harness import org_body
            status, org, _ = c.request("POST", "Organization/",
                                       org_body(legal="X", district_uuid=dx))
            self.assertEqual(status, 201, org)
            status, err, _ = c.request("POST", "Organization/", org_body(code="H2", legal="C",
                                                                         district_uuid=dx))
            self.assertEqual(status, 400)
            self.assertIn("dict_keys(['G', 'X'])", err["issue"][0]["diagnostics"])
            c.close()
        finally:
            srv.stop()
