#!/usr/bin/env python3
"""Sequential Organization PUTs over one keep-alive connection against a running stand-in.

    python3 testbed/openimis/bench_put.py --port P [-n 2000]
"""
import argparse
import http.client
import json
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--user", default="Admin")
    ap.add_argument("--password", default="admin123")
    a = ap.parse_args()
    c = http.client.HTTPConnection(a.host, a.port)

    def req(method, path, body=None, token=None):
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        c.request(method, "/api/api_fhir_r4/" + path, body=json.dumps(body) if body else None,
                  headers=h)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")

    _, login = req("POST", "login/", {"username": a.user, "password": a.password})
    tok = login["token"]
    _, d = req("GET", "Location/?identifier=D0101", token=tok)
    ref = {"url": "https://openimis.github.io/openimis_fhir_r4_ig/StructureDefinition/"
                  "address-location-reference",
           "valueReference": {"reference": "Location/" + d["id"]}}

    def ext(suffix, code):
        return {"url": "x/" + suffix, "valueCodeableConcept": {"coding": [{"code": code}]}}

    def body(i):
        return {"resourceType": "Organization", "type": [{"coding": [{"code": "prov"}]}],
                "identifier": [{"type": {"coding": [{"code": "Code"}]}, "value": "BENCH1"}],
                "name": "Bench %d" % i,
                "extension": [ext("organization-hf-level", "D"),
                              ext("organization-hf-care-type", "B"),
                              ext("organization-legal-form", "G")],
                "telecom": [{"system": "phone", "value": "123"}],
                "address": [{"line": ["1 Main St"], "extension": [ref]}]}

    st, org = req("GET", "Organization/BENCH1", token=tok)
    if st == 404:
        st, org = req("POST", "Organization/", body(0), token=tok)
        assert st == 201, org
    t0 = time.perf_counter()
    for i in range(a.n):
        st, _ = req("PUT", "Organization/" + org["id"], body(i + 1), token=tok)
        assert st == 200, st
    dt = time.perf_counter() - t0
    print("%d sequential PUTs in %.2fs = %.0f PUT/s (%.2f ms each)"
          % (a.n, dt, a.n / dt, 1000 * dt / a.n))


if __name__ == "__main__":
    main()
