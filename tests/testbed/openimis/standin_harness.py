"""Start/stop the openIMIS stand-in as a subprocess on a free port, plus a tiny client."""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCRIPT = os.path.join(ROOT, "testbed", "openimis", "openimis_standin.py")
API = "/api/api_fhir_r4/"


class StandIn:
    def __init__(self, *extra_args):
        self.tmp = tempfile.mkdtemp(prefix="oi-test-")
        self.ready = os.path.join(self.tmp, "port")
        self.proc = subprocess.Popen(
            [sys.executable, SCRIPT, "--port", "0", "--ready-file", self.ready, "--fast",
             "--db", os.path.join(self.tmp, "db.sqlite3"), *extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("stand-in did not start: %s" % self.proc.stderr.read())
            time.sleep(0.02)
        with open(self.ready) as fh:
            self.port = int(fh.read().strip())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()

    def client(self, timeout=10):
        return Client(self.port, timeout)


class Client:
    def __init__(self, port, timeout=10):
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.token = None

    def close(self):
        self.conn.close()

    def request(self, method, path, body=None, token=True, headers=None, raw=None):
        if not path.startswith("/"):
            path = API + path
        hdrs = dict(headers or {})
        if token is True and self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        elif isinstance(token, str):
            hdrs["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=hdrs)
        resp = self.conn.getresponse()
        payload = resp.read()
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload
        return resp.status, parsed, resp

    def login(self, username="Admin", password="admin123"):
        status, body, _ = self.request("POST", "login/", {"username": username,
                                                          "password": password}, token=False)
        if status == 200:
            self.token = body["token"]
        return status, body

    # testbed helpers
    def faults(self, *faults):
        status, body, _ = self.request("POST", "/$testbed/faults", list(faults), token=False)
        assert status == 200, body
        return body

    def facilities(self, history=False):
        return self.request("GET", "/$testbed/facilities" + ("?history=1" if history else ""),
                            token=False)[1]

    def stats(self):
        return self.request("GET", "/$testbed/stats", token=False)[1]

    def reset(self):
        return self.request("POST", "/$testbed/reset", {}, token=False)


def diagnostics(body):
    return body["issue"][0]["diagnostics"]


def ext(suffix, code, base="https://openimis.github.io/openimis_fhir_r4_ig/StructureDefinition/"):
    return {"url": base + suffix, "valueCodeableConcept": {"coding": [{"code": code}]}}


def org_body(code="HF001", name="Lake Clinic", level="D", care="O", legal="G",
             district_uuid=None, address="1 Main St", telecom=None, drop=()):
    body = {
        "resourceType": "Organization",
        "type": [{"coding": [{"code": "prov"}]}],
        "identifier": [{"type": {"coding": [{"code": "Code"}]}, "value": code}],
        "name": name,
        "extension": [ext("organization-hf-level", level),
                      ext("organization-hf-care-type", care),
                      ext("organization-legal-form", legal)],
        "telecom": telecom if telecom is not None else [{"system": "phone", "value": "+255 1"}],
        "address": [{"line": [address], "extension": [{
            "url": "https://openimis.github.io/openimis_fhir_r4_ig/StructureDefinition/"
                   "address-location-reference",
            "valueReference": {"reference": "Location/%s" % district_uuid}}]}],
    }
    for key in drop:
        body.pop(key, None)
    return body


def location_body(code="HF900", name="Site", type_code="COMM", district_uuid=None):
    body = {"resourceType": "Location",
            "identifier": [{"type": {"coding": [{"code": "FI"}]}, "value": code}],
            "name": name,
            "physicalType": {"coding": [{"code": "si"}]},
            "type": [{"coding": [{"code": type_code}]}]}
    if district_uuid:
        body["partOf"] = {"reference": "Location/" + district_uuid,
                          "identifier": {"value": district_uuid}}
    return body


def decode_link(url):
    return urllib.parse.unquote_plus(url)


class StandInTestCase(unittest.TestCase):
    """One stand-in per test class; facilities, faults and stats reset per test."""
    extra_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = StandIn(*cls.extra_args)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.c = self.server.client()
        self.c.reset()
        status, _ = self.c.login()
        self.assertEqual(status, 200)
        self.d0101 = self.area_uuid("D0101")

    def tearDown(self):
        self.c.close()

    def area_uuid(self, code):
        status, body, _ = self.c.request("GET", "Location/?identifier=" + code)
        self.assertEqual(status, 200, body)
        return body["id"]

    def create_org(self, **kw):
        kw.setdefault("district_uuid", self.d0101)
        return self.c.request("POST", "Organization/", org_body(**kw))
