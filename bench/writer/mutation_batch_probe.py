#!/usr/bin/env python3
"""What sharing a request costs the real openIMIS: creates N facilities from
one client, K createHealthFacility mutations per GraphQL request (aliased
fields), for each K given, and prints the wall time and openIMIS's CPU
(every gunicorn and postgres process on this machine, from /proc) per
create; every mutation's log is read afterwards and must say success.
Not a test; figures go to docs/benchmarks.md.

    testbed/openimis-real/openimis-real.sh start /tmp/oi
    python3 bench/writer/mutation_batch_probe.py /tmp/oi/openimis.env [--n 40] [--k 1,4,8]

Standard library only.
"""
import argparse
import base64
import http.cookiejar
import json
import os
import random
import string
import subprocess
import time
import urllib.request
import uuid


class Client:
    """A logged-in GraphQL client (tokenAuth, then getCsrfToken)."""

    def __init__(self, env):
        self.url = env["OPENIMIS_GRAPHQL_URL"]
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.headers = {}
        token = self.post("mutation($u: String!, $p: String!) { tokenAuth(username: $u, "
                          "password: $p) { token } }",
                          {"u": env["OPENIMIS_USER"], "p": env["OPENIMIS_PASSWORD"]})
        self.headers["Authorization"] = "Bearer " + token["data"]["tokenAuth"]["token"]
        csrf = self.post("mutation { getCsrfToken { csrfToken } }")
        self.headers["X-CSRFToken"] = csrf["data"]["getCsrfToken"]["csrfToken"]

    def post(self, query, variables=None):
        req = urllib.request.Request(
            self.url, json.dumps({"query": query, "variables": variables or {}}).encode(),
            {"Content-Type": "application/json", **self.headers})
        with self.opener.open(req, timeout=120) as r:
            return json.load(r)


def openimis_cpu_seconds():
    """utime + stime of every gunicorn and postgres process."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,args="], capture_output=True,
                         text=True).stdout
    total = 0.0
    for line in out.splitlines():
        if "gunicorn" not in line and "postgres" not in line:
            continue
        try:
            with open(f"/proc/{line.split()[0]}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def first_district_id(client):
    node = client.post('{ locations(type: "D", first: 1) { edges { node { id } } } }')
    return int(base64.b64decode(node["data"]["locations"]["edges"][0]["node"]["id"])
               .decode().split(":")[1])


def run(client, district, prefix, n, k):
    inputs = [{"clientMutationId": str(uuid.uuid4()), "code": f"{prefix}{i:04d}",
               "name": f"Batch probe {prefix} {i}", "legalFormId": "G", "level": "D",
               "careType": "O", "locationId": district} for i in range(n)]
    t0, cpu0 = time.monotonic(), openimis_cpu_seconds()
    for start in range(0, n, k):
        group = inputs[start:start + k]
        decl = ", ".join(f"$i{j}: CreateHealthFacilityMutationInput!" for j in range(len(group)))
        body = " ".join(f"m{j}: createHealthFacility(input: $i{j}) {{ clientMutationId }}"
                        for j in range(len(group)))
        answer = client.post(f"mutation probe({decl}) {{ {body} }}",
                             {f"i{j}": g for j, g in enumerate(group)})
        if answer.get("errors"):
            raise SystemExit(f"openIMIS refused a request: {answer['errors']}")
    wall, cpu = time.monotonic() - t0, openimis_cpu_seconds() - cpu0
    ok = 0
    for g in inputs:
        edges = client.post("query($id: String!) { mutationLogs(clientMutationId: $id) "
                            "{ edges { node { status } } } }",
                            {"id": g["clientMutationId"]})["data"]["mutationLogs"]["edges"]
        ok += 1 if edges and edges[0]["node"]["status"] == 2 else 0
    print(f"| {k} | {n} | {wall:.2f} | {n / wall:.1f} | {1000 * cpu / n:.1f} | {ok}/{n} |",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("openimis_env")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--k", default="1,4,8", help="mutations per request, comma-separated")
    args = ap.parse_args()
    with open(args.openimis_env) as f:
        env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    client = Client(env)
    district = first_district_id(client)
    print("| mutations per request | creates | wall (s) | creates/s | openIMIS CPU ms per create "
          "| logs: success |")
    print("|---:|---:|---:|---:|---:|---|")
    for k in (int(x) for x in args.k.split(",")):
        prefix = "".join(random.choice(string.ascii_uppercase) for _ in range(4))
        run(client, district, prefix, args.n, k)


if __name__ == "__main__":
    main()
