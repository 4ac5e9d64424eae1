"""Parses Prometheus text (each file named on the command line) with
prometheus_client's own parser and prints one JSON object: file -> list of
samples {"name", "labels", "value"} (a value that is not finite as a
string). Used by tests/e2e/operations_test.cc; run with the pinned
prometheus_client (scripts/install-deps.sh)."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def samples(text):
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            value = sample.value
            if not math.isfinite(value):  # JSON has no NaN or Inf: say it in words
                value = str(value)
            out.append({"name": sample.name, "labels": dict(sample.labels),
                        "value": value})
    return out


def main(paths):
    result = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            result[path] = samples(f.read())
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
