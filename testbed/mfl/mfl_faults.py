"""The MFL stand-in's faults: the common language (testbed/standin_core/README.md) with `path`
relative to the FHIR base, `page` (the k-th page of a search or history: _getpagesoffset //
_count + 1), one fault per request (the first that selects it), and the kinds below (README.md
beside this file says what each does).

Bundle kinds only select searches and history requests. Hostile pages (for the fetcher's input
checks): future_last_updated, old_version, invalid_utf8, deep_nesting, long_string.
"""
from standin_core import faults as fl

FaultError = fl.FaultError


def _int(name, default):
    def params(f):
        f.spec[name] = fl.number(f.spec, name, int, default)
    return params


def _not_bundle(f):
    f.spec["as"] = f.spec.get("as", "OperationOutcome")
    if f.spec["as"] not in ("OperationOutcome", "Patient"):
        raise FaultError("as must be OperationOutcome or Patient")


def _update_between_pages(f):
    ids = f.spec.get("ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise FaultError("ids must be a list of Location ids")
    f.spec["count"] = fl.number(f.spec, "count", int, 2)


def _future_last_updated(f):
    f.spec["seconds"] = fl.number(f.spec, "seconds", float, 86400)


def _old_version(f):
    if not isinstance(f.spec.get("id"), str):
        raise FaultError("old_version needs the Location \"id\" to re-deliver")
    if f.spec.get("version") is not None:
        f.spec["version"] = str(f.spec["version"])


def _bundle_only(f, req):
    return req.extra.get("bundle", False)


def _bundle_kind(name, params=None):
    return fl.Kind(name, params=params, when=_bundle_only)


KINDS = fl.common("status", "delay", "latency", "reset", "close", "timeout",
                  "drop_after_commit", "down") + [
    fl.Kind("not_json"),
    fl.Kind("oversized", params=_int("bytes", 10 * 1024 * 1024)),
    fl.Kind("not_bundle", params=_not_bundle, when=_bundle_only),
] + [_bundle_kind(*k) for k in (
    ("entry_without_resource",), ("location_without_id",), ("bad_last_updated",),
    ("foreign_next",), ("encoded_next",), ("update_between_pages", _update_between_pages),
    ("missing_include",), ("outcome_entry",), ("future_last_updated", _future_last_updated),
    ("old_version", _old_version), ("invalid_utf8",), ("deep_nesting", _int("depth", 100)),
    ("long_string", _int("bytes", 1024 * 1024 + 1)),
)]
BUNDLE_KINDS = {k.name for k in KINDS if k.when is _bundle_only}


def new_faults(base_path):
    return fl.Faults(fl.Language(KINDS, base_path=base_path, pages=True), select=fl.FIRST)
