#!/usr/bin/env python3
"""Provisions an openHIM core (v8.5.0) for mflsync: the root password, the
mediator's user (group admin: v8.5.0 has no mediator role) and the router
clients, all from secrets. Idempotent: run it at every start; it sets what is
missing and brings what exists in line with the secrets (a rotated secret is a
changed environment variable or file and a rerun).

    openhim_setup.py --api https://openhim-core:8080 --ca /pki/ca.pem \\
        --root-password-env OPENHIM_ROOT_PASSWORD \\
        --mediator-user mflsync-mediator@openhim.local \\
        --mediator-password-env OPENHIM_MEDIATOR_PASSWORD \\
        --client mflsync-fetcher:mflsync:OPENHIM_FETCHER_CLIENT_PASSWORD \\
        --client mflsync-ops:mflsync-admin:OPENHIM_OPS_CLIENT_PASSWORD

Each *_ENV names an environment variable holding the secret, or, when
VAR_FILE is set instead, a file holding it (Docker secrets). Secrets are never
printed. A fresh openHIM has root@openhim.org / openhim-password; that default
is replaced by the root secret on the first run (--initial-root-password
overrides the default for cores set up differently).

Exit status: 0 provisioned; 1 a step failed (the message says which and the
HTTP status); 2 usage or a missing secret.

Also a library (stdlib only): Api, basic_header and client_password_fields
are what testbed/openhim-real uses to drive the real core in tests.
"""
import argparse
import base64
import hashlib
import json
import os
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT_USER = "root@openhim.org"
DEFAULT_ROOT_PASSWORD = "openhim-password"


def say(message):
    """Progress, on stderr (stdout stays free for callers' output)."""
    print("openhim-setup: " + message, file=sys.stderr)


def basic_header(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return "Basic " + token


def client_password_fields(password, salt=None):
    """The /clients fields for a Basic-auth client: sha512(password + salt)."""
    salt = salt or secrets.token_hex(16)
    digest = hashlib.sha512((password + salt).encode()).hexdigest()
    return {"passwordAlgorithm": "sha512", "passwordSalt": salt, "passwordHash": digest}


def _decode(raw, content_type):
    text = raw.decode("utf-8", "replace")
    if "json" in (content_type or ""):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


class Api:
    """openHIM's management API with a user's Basic auth."""

    def __init__(self, url, ca, user, password, timeout=30):
        self.url = url.rstrip("/")
        self.user = user
        self.password = password
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca) if ca else None

    def request(self, method, path, body=None, headers=None, auth=True):
        """Returns (status, body): JSON bodies decoded, others as text."""
        data = None
        hdrs = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if auth:
            hdrs["Authorization"] = basic_header(self.user, self.password)
        hdrs.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, headers=hdrs, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as r:
                return r.status, _decode(r.read(), r.headers.get("Content-Type"))
        except urllib.error.HTTPError as e:
            return e.code, _decode(e.read(), e.headers.get("Content-Type"))

    def check(self, method, path, body=None, expect=(200, 201)):
        status, out = self.request(method, path, body)
        if status not in expect:
            raise RuntimeError("%s %s answered %d: %s" % (method, path, status, str(out)[:300]))
        return out

    def authenticates(self):
        """True when the API accepts this user's password."""
        status, _ = self.request("GET", "/users/" + urllib.parse.quote(self.user))
        return status == 200


def set_root_password(url, ca, password, initial, wait_seconds):
    """Returns a root Api with `password`, changing `initial` to it when the
    core still has that. Waits for the API up to wait_seconds."""
    deadline = time.time() + wait_seconds
    last = "no answer"
    while True:
        try:
            root = Api(url, ca, ROOT_USER, password)
            if root.authenticates():
                return root
            first = Api(url, ca, ROOT_USER, initial)
            if first.authenticates():
                first.check("PUT", "/users/" + ROOT_USER, {"email": ROOT_USER, "password": password})
                if root.authenticates():
                    say("root password set")
                    return root
                last = "the new root password is not accepted after the change"
            else:
                last = "root@openhim.org accepts neither the root secret nor the initial password"
        except OSError as e:  # not listening yet, TLS not up yet
            last = str(e)[:200]
        if time.time() > deadline:
            raise RuntimeError("openHIM API %s: %s (waited %ds)" % (url, last, wait_seconds))
        time.sleep(2)


def ensure_user(root, email, password, groups):
    """Creates the user or resets its password and groups. POST /users stores
    the password unhashed in v8.5.0; the PUT that follows hashes it."""
    path = "/users/" + urllib.parse.quote(email)
    status, _ = root.request("GET", path)
    if status == 404:
        root.check("POST", "/users", {"firstname": "mflsync", "surname": "mediator",
                                      "email": email, "password": password,
                                      "groups": groups}, expect=(201,))
        action = "created"
    elif status == 200:
        action = "updated"
    else:
        raise RuntimeError("GET %s answered %d" % (path, status))
    root.check("PUT", path, {"email": email, "password": password, "groups": groups})
    if not _as(root, email, password).authenticates():
        raise RuntimeError("user %s does not authenticate after the update" % email)
    say("user %s %s (groups %s)" % (email, action, ",".join(groups)))


def _as(api, user, password):
    """The same API (URL, CA) as another user."""
    other = Api(api.url, None, user, password, api.timeout)
    other.context = api.context
    return other


def ensure_client(root, client_id, role, password):
    """Creates the router client or resets its roles and password (found by
    clientID: GET /clients/{clientID} answers 500 in v8.5.0, so the list)."""
    clients = root.check("GET", "/clients")
    existing = next((c for c in clients if c.get("clientID") == client_id), None)
    body = {"clientID": client_id, "name": client_id, "roles": [role]}
    body.update(client_password_fields(password))
    if existing is None:
        root.check("POST", "/clients", body, expect=(201,))
        action = "created"
    else:
        root.check("PUT", "/clients/" + existing["_id"], body)
        action = "updated"
    say("client %s %s (role %s)" % (client_id, action, role))


def secret(var):
    """The secret named by var: $var, or the content of the file $var_FILE."""
    value = os.environ.get(var)
    path = os.environ.get(var + "_FILE")
    if value and path:
        raise ValueError("both %s and %s_FILE are set; set one" % (var, var))
    if path:
        with open(path) as f:
            value = f.read().rstrip("\r\n")
    if not value:
        raise ValueError("%s (or %s_FILE) is not set" % (var, var))
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError("%s holds a control character" % var)
    return value


def parse_client(text):
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError("--client wants CLIENT_ID:ROLE:PASSWORD_ENV, got %r" % text)
    return tuple(parts)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--api", required=True, help="openHIM API base URL (https://host:8080)")
    p.add_argument("--ca", help="CA file for the API's certificate (default: system CAs)")
    p.add_argument("--wait", type=float, default=300, help="seconds to wait for the API (300)")
    p.add_argument("--root-password-env", required=True)
    p.add_argument("--initial-root-password", default=DEFAULT_ROOT_PASSWORD)
    p.add_argument("--mediator-user", required=True, help="the mediator's user (an e-mail)")
    p.add_argument("--mediator-password-env", required=True)
    p.add_argument("--client", type=parse_client, action="append", default=[],
                   help="CLIENT_ID:ROLE:PASSWORD_ENV (repeatable)")
    args = p.parse_args(argv)
    try:
        root_password = secret(args.root_password_env)
        mediator_password = secret(args.mediator_password_env)
        clients = [(cid, role, secret(var)) for cid, role, var in args.client]
    except (ValueError, OSError) as e:
        say(str(e))
        return 2
    try:
        root = set_root_password(args.api, args.ca, root_password, args.initial_root_password,
                                 args.wait)
        ensure_user(root, args.mediator_user, mediator_password, ["admin"])
        for client_id, role, password in clients:
            ensure_client(root, client_id, role, password)
    except (RuntimeError, OSError) as e:
        say("failed: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
