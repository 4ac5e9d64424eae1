#!/usr/bin/env python3
"""openHIM (openhim-core-js v8.5.0) stand-in for mflsync: router + management API in one process.
Python 3.11 stdlib only.

    python3 testbed/openhim/openhim_standin.py --router-port 0 --api-port 0 \
        --ready-file /tmp/ohim.json --channels channels.json --clients clients.json

See testbed/openhim/README.md for options, endpoints, and what is confirmed from openHIM's source.
"""
import argparse
import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_HERE, os.path.dirname(_HERE)]   # ohim (here), standin_core (testbed/)

from ohim.server import App, make_servers  # noqa: E402
from ohim.store import Store  # noqa: E402
from standin_core.server import serve_until_signal, write_ready_file  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="openHIM router + API stand-in")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--router-port", type=int, default=0, help="router HTTP port (0 = free port)")
    p.add_argument("--api-port", type=int, default=0, help="API port (0 = free port)")
    p.add_argument("--api-tls-cert", help="PEM certificate: serve the API over HTTPS")
    p.add_argument("--api-tls-key", help="PEM private key for --api-tls-cert")
    p.add_argument("--api-user", default="root@openhim.org", help="admin API user (email)")
    p.add_argument("--api-password", default="openhim-password")
    p.add_argument("--users", help="JSON file: [{email, password, groups:[..]}] (API access "
                                   "needs group admin, as in openHIM 8.5.0)")
    p.add_argument("--channels", help="JSON file: a list of channels (or {\"channels\": [...]})")
    p.add_argument("--clients", help="JSON file: a list of clients (or {\"clients\": [...]})")
    p.add_argument("--mediators", help="JSON file: a list of mediator registrations to preload")
    p.add_argument("--state", help="JSON file loaded at start (if present) and saved on change "
                                   "and at exit")
    p.add_argument("--ready-file", help='write {"router": port, "api": port} here once listening')
    p.add_argument("--router-timeout-ms", type=int, default=60000,
                   help="route timeout when the channel sets none (openHIM router.timeout)")
    p.add_argument("--max-bodies-mb", type=float, default=15.0,
                   help="body budget per transaction (openHIM api.maxBodiesSizeMB)")
    p.add_argument("--no-custom-token", action="store_true",
                   help="disable 'Authorization: Custom <token>' client authentication")
    p.add_argument("--no-compress", action="store_true",
                   help="never gzip router responses (openHIM's koa-compress does when asked)")
    p.add_argument("--insecure-route-tls", action="store_true",
                   help="do not verify the certificates of secured routes (openHIM always "
                        "does, against the keystore CA the route's cert names)")
    p.add_argument("--store-delay-ms", type=int, default=100,
                   help="store each transaction's response and final status this long after "
                        "answering, as openHIM does (50-200 ms); 0 stores them before answering")
    p.add_argument("--channel-refresh-ms", type=int, default=0,
                   help="route with a copy of the channels refreshed this often, as openHIM's "
                        "channel cache (caching.refreshMillis 1000); 0 (default): at once")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p.parse_args(argv)


def _load_list(path, key):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return data.get(key, []) if isinstance(data, dict) else data


def build(args):
    store = Store(max_bodies_mb=args.max_bodies_mb, state_file=args.state)
    store.channel_refresh_s = max(0, args.channel_refresh_ms) / 1000.0
    if args.state and os.path.exists(args.state):
        with open(args.state, encoding="utf-8") as fh:
            store.load(json.load(fh))
    store.add_user(args.api_user, args.api_password, groups=["admin"])
    if args.users:
        for u in _load_list(args.users, "users"):
            store.add_user(u["email"], u["password"], groups=u.get("groups", []))
    if args.channels:
        names = {c["name"] for c in store.channels}
        for ch in _load_list(args.channels, "channels"):
            if ch.get("name") not in names:
                store.add_channel(ch)
    if args.clients:
        ids = {c["clientID"] for c in store.clients}
        for cl in _load_list(args.clients, "clients"):
            if cl.get("clientID") not in ids:
                store.add_client(cl)
    if args.mediators:
        for m in _load_list(args.mediators, "mediators"):
            store.register_mediator(m)
    app = App(store, router_timeout_ms=args.router_timeout_ms,
              custom_token=not args.no_custom_token, compress=not args.no_compress,
              insecure_routes=args.insecure_route_tls, quiet=not args.verbose,
              store_delay_ms=args.store_delay_ms)
    router, api = make_servers(app, args.host, args.router_port, args.api_port,
                               args.api_tls_cert, args.api_tls_key)
    return app, router, api


def main(argv=None):
    args = parse_args(argv)
    if bool(args.api_tls_cert) != bool(args.api_tls_key):
        sys.exit("--api-tls-cert and --api-tls-key go together")
    app, router, api = build(args)
    scheme = "https" if args.api_tls_cert else "http"

    def serving():
        if args.ready_file:
            write_ready_file(args.ready_file, json.dumps({"router": app.router_port,
                                                          "api": app.api_port}))
        sys.stderr.write("openHIM stand-in: router http://%s:%d  api %s://%s:%d\n"
                         % (args.host, app.router_port, scheme, args.host, app.api_port))
        sys.stderr.flush()

    serve_until_signal(router, api, serving=serving)
    app.persist()
    return 0


if __name__ == "__main__":
    sys.exit(main())
