from .standin_harness import StandInTestCase, diagnostics, location_body


class LocationWriteTest(StandInTestCase):
    def test_rules_and_messages(self):
        b = location_body(district_uuid=self.d0101)
        b["identifier"] = []
        del b["name"]
        b["type"] = [{"coding": [{"code": "XYZ"}]}]
        status, out, _ = self.c.request("POST", "Location/", b)
        self.assertEqual(status, 400)
        d = diagnostics(out)
        for m in ("Missing location code", "Missing location `name` attribute",
                  "Missing location level"):
            self.assertIn(m, d)
        b = location_body(district_uuid=self.d0101)
        del b["type"]
        self.assertIn("Missing location level",
                      diagnostics(self.c.request("POST", "Location/", b)[1]))
        b = location_body(code="TOOLONGCODE", district_uuid=self.d0101)
        self.assertIn("HF code is too long", diagnostics(self.c.request("POST", "Location/", b)[1]))

    def test_create_through_location_fails_like_the_db(self):
        status, out, _ = self.c.request("POST", "Location/",
                                        location_body(district_uuid=self.d0101))
        self.assertEqual(status, 500)
        self.assertEqual(out["issue"][0]["severity"], "fatal")
        self.assertIn("LegalForm", diagnostics(out))
        self.assertEqual(self.c.facilities()["count"], 0)

    def test_area_writes_refused(self):
        b = location_body()
        b["physicalType"] = {"coding": [{"code": "D"}]}
        self.assertEqual(self.c.request("POST", "Location/", b)[0], 400)

    def test_put_updates_code_name_level_parent_with_history(self):
        status, org, _ = self.create_org(code="HF010", name="Old", level="D", legal="C", care="I")
        uuid = org["id"]
        d0201 = self.area_uuid("D0201")
        b = location_body(code="HF011", name="New", type_code="OF", district_uuid=d0201)
        status, loc, _ = self.c.request("PUT", "Location/" + uuid, b)
        self.assertEqual(status, 200, loc)
        self.assertEqual(loc["id"], uuid)
        self.assertEqual(loc["type"][0]["coding"][0]["code"], "OF")
        rep = self.c.facilities(history=True)
        f = rep["facilities"][0]
        self.assertEqual((f["code"], f["name"], f["level"], f["district_code"], f["legal_form"],
                          f["care_type"]), ("HF011", "New", "C", "D0201", "C", "I"))
        self.assertEqual(f["history"][0]["name"], "Old")
        org2 = self.c.request("GET", "Organization/" + uuid)[1]
        self.assertEqual(org2["name"], "New")

    def test_put_unknown_parent_keeps_parent_and_unknown_id_404(self):
        status, org, _ = self.create_org()
        b = location_body(code="HF001", name="Same",
                          district_uuid="99999999-9999-9999-9999-999999999999")
        self.assertEqual(self.c.request("PUT", "Location/" + org["id"], b)[0], 200)
        self.assertEqual(self.c.facilities()["facilities"][0]["district_code"], "D0101")
        self.assertEqual(self.c.request("PUT", "Location/00000000-0000-0000-0000-000000000000",
                                        location_body())[0], 404)
