#!/usr/bin/env python3
"""Creates administrative areas (regions, then districts) in a running
openIMIS through its GraphQL createLocation mutation, skipping codes it
already holds: the areas a demo or test MFL maps to, in a fresh openIMIS
that holds only its own demo areas.

    seed_areas.py OPENIMIS_ENV AREAS_JSON

OPENIMIS_ENV: the openimis.env openimis-real.sh start wrote; AREAS_JSON: a
list of {code, name, type R|D, parent_code} (mapper/mappings/*-areas.json).
Standard library only.
"""
import http.cookiejar
import json
import sys
import time
import urllib.request


def main(env_path, areas_path):
    env = dict(line.rstrip("\n").split("=", 1) for line in open(env_path) if "=" in line)
    url = env["OPENIMIS_GRAPHQL_URL"]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    headers = {}

    def post(query, variables=None):
        req = urllib.request.Request(url, json.dumps({"query": query, "variables": variables or {}})
                                     .encode(), {"Content-Type": "application/json", **headers})
        with opener.open(req, timeout=60) as r:
            out = json.load(r)
        if out.get("errors"):
            raise SystemExit("seed_areas: openIMIS refused %s: %s" % (query[:60], out["errors"]))
        return out["data"]

    token = post("mutation($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) "
                 "{ token } }", {"u": env["OPENIMIS_USER"], "p": env["OPENIMIS_PASSWORD"]})
    headers["Authorization"] = "Bearer " + token["tokenAuth"]["token"]
    headers["X-CSRFToken"] = post("mutation { getCsrfToken { csrfToken } }")["getCsrfToken"][
        "csrfToken"]

    def existing():
        held, after = {}, None
        while True:
            page = post("query($a: String) { locations(first: 100, after: $a) { pageInfo { "
                        "hasNextPage endCursor } edges { node { uuid code type } } } }",
                        {"a": after})["locations"]
            for e in page["edges"]:
                held[(e["node"]["code"], e["node"]["type"])] = e["node"]["uuid"]
            if not page["pageInfo"]["hasNextPage"]:
                return held
            after = page["pageInfo"]["endCursor"]

    areas = json.load(open(areas_path))
    held = existing()
    created = 0
    for kind in ("R", "D"):
        for a in (x for x in areas if x["type"] == kind):
            if (a["code"], kind) in held:
                continue
            data = {"clientMutationId": "seed-%s-%s" % (kind, a["code"]), "code": a["code"],
                    "name": a["name"][:50], "type": kind}
            if kind == "D":
                parent = held.get((a["parent_code"], "R"))
                if parent is None:
                    raise SystemExit("seed_areas: district %s: region %s is missing"
                                     % (a["code"], a["parent_code"]))
                data["parentUuid"] = parent
            post("mutation($i: CreateLocationMutationInput!) { createLocation(input: $i) "
                 "{ clientMutationId } }", {"i": data})
            for _ in range(600):
                logs = post("query($id: String!) { mutationLogs(clientMutationId: $id) { edges "
                            "{ node { status error } } } }", {"id": data["clientMutationId"]})
                edges = logs["mutationLogs"]["edges"]
                status = edges[0]["node"]["status"] if edges else 0
                if status == 1:
                    raise SystemExit("seed_areas: %s %s: %s" % (kind, a["code"],
                                                                edges[0]["node"]["error"]))
                if status == 2:
                    break
                time.sleep(0.1)
            else:
                raise SystemExit("seed_areas: %s %s: no final mutation status" % (kind, a["code"]))
            created += 1
        held = existing()
    print("seed_areas: %d areas created, %d held" % (created, len(held)))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
