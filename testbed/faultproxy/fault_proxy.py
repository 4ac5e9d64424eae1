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
                       nothing forwarded)
  GET  /$proxy/stats   {"forwarded": n, "dropped": n, "refused": n, "matched": {...}}
  DELETE /$proxy/rules clears the rules
Standard library only.
"""
import argparse
import http.client
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib import parse

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
       "upgrade", "content-length", "host"}


class State:
    def __init__(self, upstream):
        self.upstream = parse.urlsplit(upstream)
        self.lock = threading.Lock()
        self.rules = []
        self.stats = {"forwarded": 0, "dropped": 0, "refused": 0, "matched": {}}

    def add(self, rule):
        if not isinstance(rule, dict) or rule.get("action") not in ("drop_response", "refuse"):
            raise ValueError("a rule needs action drop_response or refuse")
        rule = {"contains": str(rule.get("contains", "")), "action": rule["action"],
                "times": int(rule.get("times", 1)), "skip": int(rule.get("skip", 0))}
        with self.lock:
            self.rules.append(rule)

    def match(self, path, body):
        text = path + "\n" + body.decode("utf-8", "replace")
        with self.lock:
            for rule in self.rules:
                if rule["times"] == 0 or rule["contains"] not in text:
                    continue
                if rule["skip"] > 0:
                    rule["skip"] -= 1
                    continue
                rule["times"] -= 1
                key = "%s:%s" % (rule["action"], rule["contains"])
                self.stats["matched"][key] = self.stats["matched"].get(key, 0) + 1
                return rule["action"]
        return None

    def count(self, key):
        with self.lock:
            self.stats[key] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _control(self, body):
        st = self.state
        if self.command == "GET" and self.path.startswith("/$proxy/stats"):
            with st.lock:
                return self._reply(200, json.loads(json.dumps(st.stats)))
        if self.command == "DELETE" and self.path.startswith("/$proxy/rules"):
            with st.lock:
                st.rules = []
            return self._reply(200, {"rules": 0})
        if self.command == "POST" and self.path.startswith("/$proxy/rules"):
            try:
                data = json.loads(body or b"null")
                for rule in data if isinstance(data, list) else [data]:
                    st.add(rule)
            except ValueError as exc:
                return self._reply(400, {"error": str(exc)})
            return self._reply(200, {"rules": len(st.rules)})
        return self._reply(404, {"error": "unknown control path"})

    def _close(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/$proxy/"):
            return self._control(body)
        st = self.state
        action = st.match(self.path, body)
        if action == "refuse":
            st.count("refused")
            return self._close()
        up = st.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Host"] = up.netloc
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except OSError as exc:
            return self._reply(502, {"error": "upstream: %s" % exc})
        finally:
            conn.close()
        st.count("forwarded")
        if action == "drop_response":
            st.count("dropped")
            return self._close()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--upstream", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ready-file")
    args = p.parse_args(argv)
    Handler.state = State(args.upstream)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.ready_file)
    print("fault proxy on http://%s:%d -> %s" % (args.host, port, args.upstream), file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
