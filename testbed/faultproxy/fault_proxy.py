#!/usr/bin/env python3
"""An HTTP proxy on loopback that forwards every request to one upstream and
injects faults between a client and a real server, where the server itself
cannot produce them: the answer lost after the server committed the request.

    python3 fault_proxy.py --upstream http://127.0.0.1:8000 --port 0 --ready-file F

Control API (never forwarded, never faulted), under /$proxy/:
  POST /$proxy/rules   a rule or a list:
                       {"contains": "createHealthFacility", "action": "drop_response",
                        "times": 1, "skip": 0}
                       contains: substring of the request body (or path); action:
                       drop_response (forward, read the answer, then close the
                       connection without answering) or refuse (close at once,
                       nothing forwarded). A rule is a fault of the stand-ins' language
                       (testbed/standin_core/README.md): `"kind"` works for `action`, and
                       its common kinds (status, delay, reset, ...) work here too.
  GET  /$proxy/stats   {"forwarded": n, "dropped": n, "refused": n, "matched": {...}}
  DELETE /$proxy/rules clears the rules
Standard library only.
"""
import argparse
import http.client
import os
import sys
import threading
from urllib import parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from standin_core import faults as fl  # noqa: E402
from standin_core.server import (  # noqa: E402
    BaseHandler,
    BodyError,
    ThreadedServer,
    parse_json,
    serve_until_signal,
    write_ready_file,
)

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
       "upgrade", "content-length", "host", "date"}

# A rule is a fault of the common language (testbed/standin_core/README.md) whose `contains`
# looks at the request path and body; its `action` names the kind.
KINDS = fl.common("status", "delay", "latency", "timeout", "reset", "close",
                  "drop_after_commit") + [
    fl.Kind("drop_response", fl.DROP_AFTER_COMMIT),   # forward, read the answer, then close
    fl.Kind("refuse", fl.CLOSE),                      # close at once, nothing forwarded
]


def _rule(spec):
    """The proxy's rule spelling ({"action", "contains": ""}) as a fault."""
    if isinstance(spec, dict):
        spec = dict(spec)
        if "kind" not in spec and "action" in spec:
            spec["kind"] = spec.pop("action")
        if spec.get("contains") == "":
            del spec["contains"]
    return spec


class State:
    def __init__(self, upstream):
        self.upstream = parse.urlsplit(upstream)
        self.faults = fl.Faults(fl.Language(KINDS), select=fl.FIRST_FIRED)
        self.lock = threading.Lock()
        self.stats = {"forwarded": 0, "dropped": 0, "refused": 0, "matched": {}}

    def add(self, data):
        rules = data if isinstance(data, list) else [data]
        self.faults.add([_rule(r) for r in rules])

    def count(self, key, fault=None):
        with self.lock:
            self.stats[key] += 1

    def matched(self, fault):
        key = "%s:%s" % (fault.kind.name, "|".join(fault.get("contains") or [""]))
        with self.lock:
            self.stats["matched"][key] = self.stats["matched"].get(key, 0) + 1

    def snapshot(self):
        with self.lock:
            return {"forwarded": self.stats["forwarded"], "dropped": self.stats["dropped"],
                    "refused": self.stats["refused"], "matched": dict(self.stats["matched"])}


class Handler(BaseHandler):
    state = None

    def on_unanswered(self, what):
        if what == "closed":
            self.state.count("refused")

    def on_dropped(self, fault):
        self.state.count("dropped")

    def _control(self, body):
        st = self.state
        if self.command == "GET" and self.path.startswith("/$proxy/stats"):
            return self.send(200, st.snapshot())
        if self.command == "DELETE" and self.path.startswith("/$proxy/rules"):
            st.faults.clear()
            return self.send(200, {"rules": 0})
        if self.command == "POST" and self.path.startswith("/$proxy/rules"):
            try:
                st.add(parse_json(body))
            except ValueError as exc:
                return self.send(400, {"error": str(exc)})
            return self.send(200, {"rules": len(st.faults.pending())})
        return self.send(404, {"error": "unknown control path"})

    def _dispatch(self):
        try:
            body = self.read_body()
        except BodyError as exc:
            self.close_connection = True
            return self.send(400, {"error": str(exc)})
        if self.path.startswith("/$proxy/"):
            return self._control(body)
        st = self.state
        fired = st.faults.take(self.command, self.path, self.path.encode() + b"\n" + body)
        for f in fired:
            st.matched(f)
        if self.apply_faults(st.faults, fired):
            return
        up = st.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Host"] = up.netloc
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except OSError as exc:
            return self.send(502, {"error": "upstream: %s" % exc})
        finally:
            conn.close()
        st.count("forwarded")
        self.send(resp.status, payload,
                  [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--upstream", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ready-file")
    args = p.parse_args(argv)
    Handler.state = State(args.upstream)
    server = ThreadedServer((args.host, args.port), Handler)

    def serving():
        if args.ready_file:
            write_ready_file(args.ready_file, str(server.port))
        print("fault proxy on http://%s:%d -> %s" % (args.host, server.port, args.upstream),
              file=sys.stderr, flush=True)

    serve_until_signal(server, serving=serving)


if __name__ == "__main__":
    main()
