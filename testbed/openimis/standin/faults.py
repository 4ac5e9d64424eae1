"""The openIMIS stand-in's faults: the common language (testbed/standin_core/README.md) with
`path` relative to /api/api_fhir_r4/ and one kind of its own, `expire_tokens`."""
from standin_core import faults as fl

API_PREFIX = "/api/api_fhir_r4/"

KINDS = fl.common("status", "latency", "delay", "timeout", "reset", "close",
                  "drop_after_commit", "down") + [
    # every token issued so far becomes invalid, the matching request's too
    fl.Kind("expire_tokens", now=True),
]


def new_faults(expire_tokens):
    """The registry: every fault that selects a request fires (in order)."""
    return fl.Faults(fl.Language(KINDS, base_path=API_PREFIX), on_now=expire_tokens)
