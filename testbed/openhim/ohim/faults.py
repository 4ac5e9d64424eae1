"""Fault injection (POST /$testbed/faults on the API listener).

A fault is a JSON object:
  kind      api_down | router_down | router_latency
  seconds   api_down/router_down: how long (from registration) the listener is "down"
  requests  api_down/router_down: or: for how many requests (default when no seconds: 1)
  mode      api_down/router_down: "503" (answer 503 Service Unavailable, default) or "close"
            (close the connection without answering)
  ms        router_latency: delay before the router forwards a request (default 1000)
  times     router_latency: how many requests it applies to (default -1 = until cleared)
  path      optional path prefix the fault is limited to
/$testbed/ requests are never faulted.
"""
import threading
import time

KINDS = ("api_down", "router_down", "router_latency")


class FaultError(ValueError):
    pass


def validate(f):
    if not isinstance(f, dict):
        raise FaultError("a fault must be a JSON object")
    if f.get("kind") not in KINDS:
        raise FaultError("unknown fault kind %r, expected one of %s" % (f.get("kind"), KINDS))
    g = dict(f)
    if g["kind"] in ("api_down", "router_down"):
        if g.get("seconds") is not None:
            g["until"] = time.monotonic() + float(g["seconds"])
            g["left"] = None
        else:
            g["until"] = None
            g["left"] = int(g.get("requests", 1))
        g["mode"] = str(g.get("mode", "503"))
        if g["mode"] not in ("503", "close"):
            raise FaultError('mode must be "503" or "close"')
    else:
        g["ms"] = float(g.get("ms", 1000))
        g["left"] = int(g.get("times", -1))
    return g


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, f):
        g = validate(f)
        with self.lock:
            self.items.append(g)
        return g

    def clear(self):
        with self.lock:
            self.items = []

    def list(self):
        now = time.monotonic()
        with self.lock:
            self._expire(now)
            out = []
            for g in self.items:
                d = {k: v for k, v in g.items() if k != "until"}
                if g.get("until") is not None:
                    d["seconds_left"] = round(max(0.0, g["until"] - now), 3)
                out.append(d)
            return out

    def _expire(self, now):
        self.items = [g for g in self.items
                      if not ((g.get("until") is not None and now >= g["until"])
                              or g.get("left") == 0)]

    def down(self, listener, path):
        """Return "503" / "close" when listener ('api' or 'router') must fail this request."""
        kind = listener + "_down"
        now = time.monotonic()
        with self.lock:
            self._expire(now)
            for g in self.items:
                if g["kind"] != kind or not path.startswith(g.get("path") or ""):
                    continue
                if g.get("left") is not None:
                    g["left"] -= 1
                return g["mode"]
        return None

    def latency(self, path):
        with self.lock:
            self._expire(time.monotonic())
            total = 0.0
            for g in self.items:
                if g["kind"] == "router_latency" and path.startswith(g.get("path") or ""):
                    if g["left"] > 0:
                        g["left"] -= 1
                    total += g["ms"]
            return total / 1000.0
