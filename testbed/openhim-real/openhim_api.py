#!/usr/bin/env python3
"""A small client for the real openHIM core's API and router (stdlib only).

For tests (import it) and for openhim-real.sh (its command line).

    env = load_env("DIR/openhim.env")
    api = Api.from_env(env)                       # root, Basic auth, the default CA
    status, body = api.request("GET", "/channels")
    mediator = Api.from_env(env, "OPENHIM_MEDIATOR")
    status, headers, body = router_request(env, "GET", "/mflsync/ping",
                                           client="OPENHIM_CLIENT_FETCHER")

openHIM v8.5.0's API is HTTPS with resources/certs/default/cert.pem (CN
localhost, no SAN), so calls go to https://localhost:PORT with that file as the
CA. It accepts `Authorization: Basic` for users on every route after the
authentication middleware (not /me, which only knows a session user).

Command line (used by openhim-real.sh):
    openhim_api.py wait-ready URL CA PASSWORD PIDFILE... [--timeout S] [--log FILE]...
    openhim_api.py setup URL CA ROUTER_URL MEDIATOR_EMAIL ROLE ENVKEY=CLIENT_ID...
        (new random passwords for root, the mediator user and the clients;
        prints the env-file lines)
"""
import http.client
import json
import os
import secrets
import sys
import time
import urllib.parse

# The API client and the provisioning steps are the product's
# (docker/openhim/openhim_setup.py, run by compose); tests drive the same code.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "docker", "openhim"))
import openhim_setup  # noqa: E402
from openhim_setup import DEFAULT_ROOT_PASSWORD, ROOT_USER, basic_header, client_password_fields  # noqa: E402,F401


def load_env(path):
    """Reads a KEY=VALUE file (openhim.env) into a dict."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                env[key] = value
    return env


class Api(openhim_setup.Api):
    """openHIM's management API with a user's Basic auth, built from an env file."""

    @classmethod
    def from_env(cls, env, prefix="OPENHIM_ROOT"):
        """prefix OPENHIM_ROOT (root) or OPENHIM_MEDIATOR (the suite's admin user)."""
        return cls(env["OPENHIM_API_URL"], env.get("OPENHIM_API_CA"),
                   env[prefix + "_USER"], env[prefix + "_PASSWORD"])

    def add_channel(self, name, url_pattern, route_host, route_port, allow=("mflsync",),
                    route_path=None, **extra):
        """POST /channels: one primary HTTP route to route_host:route_port."""
        route = {"name": name + " route", "host": route_host, "port": route_port,
                 "primary": True, "type": "http"}
        if route_path:
            route["path"] = route_path
        channel = {"name": name, "urlPattern": url_pattern, "allow": list(allow),
                   "methods": ["GET", "POST", "PUT", "DELETE", "PATCH"],
                   "type": "http", "authType": "private", "routes": [route]}
        channel.update(extra)
        return self.check("POST", "/channels", channel, expect=(201,))


def router_request(env, method, path, body=None, client="OPENHIM_CLIENT_FETCHER",
                   headers=None, timeout=30):
    """A request through openHIM's HTTP router with a client's Basic auth.
    Returns (status, headers, body bytes)."""
    parts = urllib.parse.urlsplit(env["OPENHIM_ROUTER_URL"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    hdrs = {"Authorization": basic_header(env[client + "_ID"], env[client + "_PASSWORD"])}
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- command line

def _alive(pidfiles):
    for pidfile in pidfiles:
        try:
            os.kill(int(open(pidfile).read()), 0)
        except (OSError, ValueError):
            return pidfile
    return None


def _port_taken(logs):
    for log in logs:
        try:
            with open(log, errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        if "EADDRINUSE" in text or "address already in use" in text:
            return log
    return None


def wait_ready(url, ca, password, pidfiles, timeout, logs=()):
    """Until root gets an authenticated 200 (the root user is created just
    after the API listens). Prints the seconds it took. Gives up at once when
    a process exits or a log says a port was taken (openHIM's master would
    restart its worker for ever)."""
    api = Api(url, ca, ROOT_USER, password, timeout=5)
    start = time.time()
    last = "no answer yet"
    while time.time() - start < timeout:
        dead = _alive(pidfiles)
        if dead:
            sys.exit("openhim-real: %s: the process exited before openHIM was ready" % dead)
        taken = _port_taken(logs)
        if taken:
            sys.exit("openhim-real: a port is already in use (%s)" % taken)
        try:
            status, body = api.request("GET", "/users/" + ROOT_USER)
            if status == 200:
                print("%.1f" % (time.time() - start))
                return
            last = "%d %s" % (status, str(body)[:200])
        except Exception as e:  # not listening yet
            last = str(e)[:200]
        time.sleep(0.25)
    sys.exit("openhim-real: openHIM not ready after %ds: %s" % (timeout, last))


def setup(url, ca, router_url, mediator_email, role, clients):
    """Root password, the suite's admin user, the router clients (a list of
    (env key, clientID)), all with new random secrets, through the product's
    provisioning steps. Prints the env-file lines for them."""
    root_password = secrets.token_hex(16)
    root = openhim_setup.set_root_password(url, ca, root_password, DEFAULT_ROOT_PASSWORD, 60)
    out = {"OPENHIM_ROOT_USER": ROOT_USER, "OPENHIM_ROOT_PASSWORD": root_password}
    password = secrets.token_hex(16)
    openhim_setup.ensure_user(root, mediator_email, password, ["admin"])
    out.update(OPENHIM_MEDIATOR_USER=mediator_email, OPENHIM_MEDIATOR_PASSWORD=password)
    for key, client_id in clients:
        client_password = secrets.token_hex(16)
        openhim_setup.ensure_client(root, client_id, role, client_password)
        out[key + "_ID"] = client_id
        out[key + "_PASSWORD"] = client_password
    # No router probe here: without a channel openHIM answers 404 whatever the
    # credentials (authorisation.js), so it would prove nothing; the tests
    # authenticate the clients through real channels.
    out["OPENHIM_CLIENT_ROLE"] = role
    for k, v in out.items():
        print("%s=%s" % (k, v))


def main(argv):
    if len(argv) >= 1 and argv[0] == "wait-ready":
        args, timeout, logs = argv[1:], 120.0, []
        if "--timeout" in args:
            i = args.index("--timeout")
            timeout = float(args[i + 1])
            del args[i:i + 2]
        while "--log" in args:
            i = args.index("--log")
            logs.append(args[i + 1])
            del args[i:i + 2]
        url, ca, password, *pidfiles = args
        wait_ready(url, ca, password, pidfiles, timeout, logs)
    elif len(argv) >= 6 and argv[0] == "setup":
        try:
            setup(*argv[1:6], [tuple(a.split("=", 1)) for a in argv[6:]])
        except Exception as e:
            sys.exit("openhim-real: setting openHIM up failed: %s" % e)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
