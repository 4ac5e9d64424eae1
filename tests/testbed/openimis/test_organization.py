from .standin_harness import StandInTestCase, diagnostics, ext, org_body

LEGAL_FORMS = "Invalid HF legal form code, has to be one of dict_keys(['C', 'D', 'G', 'P'])"


class OrganizationRulesTest(StandInTestCase):
    def post(self, body):
        return self.c.request("POST", "Organization/", body)

    def assert_400(self, body, *messages):
        status, out, _ = self.post(body)
        self.assertEqual(status, 400, out)
        self.assertEqual(out["resourceType"], "OperationOutcome")
        issue = out["issue"][0]
        self.assertEqual(issue["severity"], "error")
        self.assertTrue(issue["details"]["text"].startswith(
            "The request cannot be processed due to the following issues:\n"))
        for m in messages:
            self.assertIn(m, issue["diagnostics"])
        self.assertEqual(self.c.facilities()["count"], 0)
        return issue["diagnostics"]

    def body(self, **kw):
        kw.setdefault("district_uuid", self.d0101)
        return org_body(**kw)

    def test_create_ok(self):
        status, org, _ = self.post(self.body(telecom=[{"system": "phone", "value": "1"},
                                                      {"system": "fax", "value": "2"},
                                                      {"system": "email", "value": "a@b.c"}]))
        self.assertEqual(status, 201, org)
        f = self.c.facilities()["facilities"][0]
        self.assertEqual((f["code"], f["level"], f["care_type"], f["legal_form"],
                          f["district_code"], f["address"], f["phone"], f["fax"], f["email"],
                          f["status"]),
                         ("HF001", "D", "O", "G", "D0101", "1 Main St", "1", "2", "a@b.c",
                          "active"))
        systems = {t["system"]: t["value"] for t in org["telecom"]}
        self.assertEqual(systems, {"phone": "1", "fax": "2", "email": "a@b.c"})
        exts = {e["url"].rsplit("/", 1)[1]: e["valueCodeableConcept"]["coding"][0]["code"]
                for e in org["extension"]}
        self.assertEqual(exts, {"organization-legal-form": "G", "organization-hf-level": "D",
                                "organization-hf-care-type": "O"})

    def test_missing_code(self):
        b = self.body()
        b["identifier"] = [{"type": {"coding": [{"code": "FI"}]}, "value": "X"}]
        self.assert_400(b, "Missing HF Organization code")

    def test_missing_name(self):
        b = self.body()
        del b["name"]
        self.assert_400(b, "Missing HF Name")

    def test_missing_care_type(self):
        b = self.body()
        b["extension"] = [e for e in b["extension"] if "care-type" not in e["url"]]
        self.assert_400(b, "Extension with HF care type not found")

    def test_invalid_care_type(self):
        self.assert_400(self.body(care="X"), "Invalid HF care type code")

    def test_missing_legal_form(self):
        b = self.body()
        b["extension"] = [e for e in b["extension"] if "legal-form" not in e["url"]]
        self.assert_400(b, "Extension with HF legal form not found", LEGAL_FORMS)

    def test_unknown_legal_form(self):
        d = self.assert_400(self.body(legal="Z"), LEGAL_FORMS)
        self.assertNotIn("not found", d)

    def test_missing_and_invalid_level(self):
        b = self.body()
        b["extension"] = [e for e in b["extension"] if "hf-level" not in e["url"]]
        self.assert_400(b, "Extension with HF level not found")
        self.assert_400(self.body(level="Q"), "Invalid HF level code")

    def test_extensions_matched_by_url_suffix(self):
        b = self.body()
        b["extension"] = [ext("organization-hf-level", "C", base="urn:anything/"),
                          ext("organization-hf-care-type", "B", base="http://x//"),
                          ext("organization-legal-form", "P", base="")]
        self.assertEqual(self.post(b)[0], 201)

    def test_address_required(self):
        self.assert_400(self.body(drop=("address",)),
                        "address not found in the HealthFacility Organisation")
        b = self.body()
        b["address"] = []
        self.assert_400(b, "address not found in the HealthFacility Organisation")

    def test_unknown_location_reference(self):
        d = self.assert_400(self.body(district_uuid="11111111-2222-3333-4444-555555555555"),
                            "Invalid location reference, ", "doesn't match any location.")
        self.assertIn("11111111-2222-3333-4444-555555555555", d)

    def test_location_reference_by_identifier(self):
        b = self.body()
        b["address"][0]["extension"][0]["valueReference"] = {"identifier": {"value": self.d0101}}
        self.assertEqual(self.post(b)[0], 201)

    def test_district_state_fallback(self):
        b = self.body()
        b["address"] = [{"line": ["x"], "district": "Lakeside", "state": "Southern"}]
        status, org, _ = self.post(b)
        self.assertEqual(status, 201, org)
        self.assertEqual(self.c.facilities()["facilities"][0]["district_code"], "D0202")
        b = self.body(code="HF002")
        b["address"] = [{"line": ["x"], "district": "Nowhere", "state": "Southern"}]
        status, out, _ = self.post(b)
        self.assertEqual(status, 400)
        self.assertIn("No matching location for district Nowhere, state Southern.",
                      diagnostics(out))

    def test_duplicate_telecom(self):
        self.assert_400(self.body(telecom=[{"system": "phone", "value": "1"},
                                           {"system": "phone", "value": "2"}]),
                        "More than one contact point of system phone assigned to health facility")

    def test_lengths(self):
        self.assert_400(self.body(code="ABCDEFGHI"), "HF code is too long: 9 characters, at most 8")
        self.assert_400(self.body(name="n" * 101), "HF name is too long")
        self.assert_400(self.body(address="a" * 101), "HF address is too long")
        for system in ("phone", "fax", "email"):
            self.assert_400(self.body(telecom=[{"system": system, "value": "1" * 51}]),
                            "HF %s is too long" % system)
        # exactly at the limits is fine
        status, out, _ = self.post(self.body(code="ABCDEFGH", name="n" * 100, address="a" * 100,
                                             telecom=[{"system": "phone", "value": "1" * 50}]))
        self.assertEqual(status, 201, out)

    def test_duplicate_code(self):
        self.assertEqual(self.post(self.body())[0], 201)
        status, out, _ = self.post(self.body(name="Other"))
        self.assertEqual(status, 400)
        self.assertIn("HF code HF001 already exists", diagnostics(out))
        self.assertEqual(self.c.facilities()["count"], 1)

    def test_errors_accumulate(self):
        b = self.body(code="TOOLONGCODE", legal="Z", care="X")
        d = self.assert_400(b, "HF code is too long", "Invalid HF legal form code",
                            "Invalid HF care type")
        self.assertIn(",\n", d)

    def test_wrong_type_and_bad_json(self):
        b = self.body()
        b["type"] = [{"coding": [{"code": "bus"}]}]
        self.assertEqual(self.post(b)[0], 400)
        status, out, _ = self.c.request("POST", "Organization/", raw="{not json")
        self.assertEqual(status, 400)
        self.assertIn("JSON parse error", diagnostics(out))

    def test_method_not_allowed(self):
        self.assertEqual(self.c.request("DELETE", "Organization/x")[0], 405)


class OrganizationUpdateTest(StandInTestCase):
    def test_update_keeps_history(self):
        status, org, _ = self.create_org(name="v1")
        uuid = org["id"]
        d0102 = self.area_uuid("D0102")
        b = org_body(name="v2", level="H", care="B", legal="P", district_uuid=d0102,
                     address="2 Side St", telecom=[{"system": "email", "value": "x@y.z"}])
        status, out, _ = self.c.request("PUT", "Organization/" + uuid, b)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["id"], uuid)
        b["name"] = "v3"
        self.assertEqual(self.c.request("PUT", "Organization/" + uuid, b)[0], 200)
        rep = self.c.facilities(history=True)
        self.assertEqual(rep["count"], 1)
        self.assertEqual(rep["history_rows"], 2)
        f = rep["facilities"][0]
        self.assertEqual((f["uuid"], f["name"], f["level"], f["care_type"], f["legal_form"],
                          f["district_code"], f["address"], f["phone"], f["email"]),
                         (uuid, "v3", "H", "B", "P", "D0102", "2 Side St", None, "x@y.z"))
        self.assertEqual([h["name"] for h in f["history"]], ["v1", "v2"])
        self.assertTrue(all(h["validity_to"] for h in f["history"]))
        self.assertEqual(f["history_rows"], 2)
        # reads show only the current version
        self.assertEqual(self.c.request("GET", "Organization/?type=prov")[1]["total"], 1)
        loc = self.c.request("GET", "Location/%s?physicalType=si" % uuid)[1]
        self.assertEqual((loc["name"], loc["partOf"]["identifier"]["value"]), ("v3", d0102))
        self.assertEqual(self.c.stats()["writes"], 3)

    def test_update_by_code_and_errors(self):
        status, org, _ = self.create_org()
        b = org_body(name="renamed", district_uuid=self.d0101)
        self.assertEqual(self.c.request("PUT", "Organization/HF001", b)[0], 200)
        unknown = "Organization/00000000-0000-0000-0000-000000000000"
        self.assertEqual(self.c.request("PUT", unknown, b)[0], 404)
        status, out, _ = self.c.request("PUT", "Organization/" + org["id"],
                                        org_body(legal="Z", district_uuid=self.d0101))
        self.assertEqual(status, 400)
        self.assertEqual(self.c.facilities()["history_rows"], 1)
        # code change onto another facility's code is refused
        self.create_org(code="HF002")
        status, out, _ = self.c.request("PUT", "Organization/" + org["id"],
                                        org_body(code="HF002", district_uuid=self.d0101))
        self.assertEqual(status, 400)
        self.assertIn("already exists", diagnostics(out))
        # code change to a free code is allowed
        status, out, _ = self.c.request("PUT", "Organization/" + org["id"],
                                        org_body(code="HF003", district_uuid=self.d0101))
        self.assertEqual(status, 200)
        self.assertEqual(self.c.request("GET", "Organization/HF003")[1]["id"], org["id"])
