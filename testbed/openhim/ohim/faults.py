"""The openHIM stand-in's faults (POST /$testbed/faults on the API listener): the common
language (testbed/standin_core/README.md) with a `listener` field ("router", the default, or
"api") and three kinds of its own:

  api_down, router_down  that listener answers 503 (`"mode": "503"`, the default) or closes the
                         connection (`"mode": "close"`) for `seconds` from registration, or for
                         the next `requests` requests (default 1)
  router_latency         the router waits `ms` (default 1000) before forwarding; `times`
                         defaults to -1 (until cleared)
Every fault that selects a request fires (in order).
"""
import time

from standin_core import faults as fl

LISTENERS = ("router", "api")


def _listener(value):
    if value not in LISTENERS:
        raise fl.FaultError("listener must be one of %s" % (LISTENERS,))
    return value


def _down(listener):
    def params(f):
        f.spec["listener"] = listener
        f.spec["mode"] = str(f.spec.get("mode", "503"))
        if f.spec["mode"] == "503":
            f.effect = fl.STATUS
            f.spec["status"] = 503
        elif f.spec["mode"] == "close":
            f.effect = fl.CLOSE
        else:
            raise fl.FaultError('mode must be "503" or "close"')
        if f.spec.get("seconds") is not None:
            f.spec["seconds"] = fl.number(f.spec, "seconds", float)
            f.until = time.monotonic() + f.spec["seconds"]
            f.times = -1
        else:
            f.times = fl.number(f.spec, "requests", int, 1)
    return params


def _router_latency(f):
    f.spec["listener"] = "router"
    f.spec["ms"] = fl.number(f.spec, "ms", float, 1000)
    f.seconds = f.spec["ms"] / 1000.0


KINDS = fl.common("status", "delay", "latency", "timeout", "reset", "close",
                  "drop_after_commit") + [
    fl.Kind("api_down", params=_down("api")),
    fl.Kind("router_down", params=_down("router")),
    fl.Kind("router_latency", fl.DELAY, _router_latency, default_times=-1),
]


def new_faults():
    selectors = {"listener": (_listener, lambda v, req: req.extra.get("listener") == v,
                              "router")}
    return fl.Faults(fl.Language(KINDS, selectors=selectors))
