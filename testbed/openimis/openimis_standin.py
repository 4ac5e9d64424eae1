#!/usr/bin/env python3
"""openIMIS FHIR R4 stand-in (test double) for mflsync. Python 3.11 stdlib only.

    python3 testbed/openimis/openimis_standin.py --port 0 --ready-file /tmp/port

See testbed/openimis/README.md for endpoints, rules, faults.
"""
import argparse
import json
import os
import sys
import tempfile

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_HERE, os.path.dirname(_HERE)]   # standin (here), standin_core (testbed/)

from standin.server import App, Config, make_server  # noqa: E402
from standin.store import DEFAULT_AREAS, Store  # noqa: E402
from standin_core.server import serve_until_signal, write_ready_file  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="openIMIS FHIR R4 API stand-in")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--ready-file", help="write the bound port here once listening")
    p.add_argument("--db", help="SQLite file (default: a temp file removed at exit)")
    p.add_argument("--user", default="Admin")
    p.add_argument("--password", default="admin123")
    p.add_argument("--token-ttl", type=float, default=86400.0,
                   help="token lifetime, seconds (openIMIS: one day)")
    p.add_argument("--areas", help="JSON file: list of {code, name, type R|D|W|V, parent_code}")
    p.add_argument("--legal-forms", default="G,C,D,P", help="tblLegalForms codes")
    p.add_argument("--fast", action="store_true",
                   help="benchmark mode: no request logging, SQLite synchronous=OFF")
    p.add_argument("--code-identifier-type", default="LC",
                   help="identifier type emitted for codes of areas and HF Organizations on "
                        "reads (openIMIS default config: LC)")
    p.add_argument("--identifier-search", choices=("resource", "bundle"), default="resource",
                   help="?identifier= / ?code= answers the single resource (openIMIS) or a "
                        "searchset Bundle")
    p.add_argument("--plain-links", action="store_true",
                   help="do NOT percent-encode Bundle link URLs (openIMIS quirk is on by default)")
    p.add_argument("--emulate-telecom-bug", action="store_true",
                   help="read the fax contact point for phone, fax and email (openIMIS bug)")
    p.add_argument("--emulate-address-ref-bug", action="store_true",
                   help="Organization reads reference the HF itself in address-location-reference "
                        "(openIMIS bug)")
    p.add_argument("--async-mutations", type=float, default=0.0, metavar="SECONDS",
                   help="GraphQL mutations stay at status 0 (received) this long before they "
                        "run, like openIMIS's default Celery mode; 0 = run at once (ASYNC=False)")
    return p.parse_args(argv)


def build(args):
    tmp_db = None
    db = args.db
    if not db:
        fd, tmp_db = tempfile.mkstemp(prefix="openimis-standin-", suffix=".sqlite3")
        os.close(fd)
        db = tmp_db
    store = Store(db, fast=args.fast)
    legal_forms = [c.strip() for c in args.legal_forms.split(",") if c.strip()]
    store.seed_legal_forms(legal_forms)
    if args.areas:
        with open(args.areas, encoding="utf-8") as fh:
            areas = json.load(fh)
    else:
        areas = DEFAULT_AREAS
    store.seed_areas(areas)
    if store.check_user(args.user, args.password) is None:
        store.add_user(args.user, args.password)
    cfg = Config(username=args.user, password=args.password, token_ttl=args.token_ttl,
                 legal_forms=legal_forms, fast=args.fast, code_type=args.code_identifier_type,
                 identifier_search=args.identifier_search, encode_links=not args.plain_links,
                 emulate_telecom_bug=args.emulate_telecom_bug,
                 emulate_address_ref_bug=args.emulate_address_ref_bug,
                 async_mutations=args.async_mutations)
    app = App(store, cfg)
    server = make_server(app, args.host, args.port)
    return app, server, tmp_db


def _cleanup(store, tmp_db):
    store.close()
    if tmp_db:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(tmp_db + suffix)
            except OSError:
                pass


def main(argv=None):
    args = parse_args(argv)
    app, server, tmp_db = build(args)

    def serving():
        if args.ready_file:
            write_ready_file(args.ready_file, "%d\n" % server.port)
        sys.stderr.write("openIMIS stand-in listening on http://%s:%d/api/api_fhir_r4/\n"
                         % (args.host, server.port))
        sys.stderr.flush()

    try:
        serve_until_signal(server, serving=serving)
    finally:
        _cleanup(app.store, tmp_db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
