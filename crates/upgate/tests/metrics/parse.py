"""Parses an OpenMetrics page (stdin) with the Prometheus project's own
parser (prometheus_client.openmetrics.parser) and prints its samples as JSON
lines: {"name": ..., "labels": {...}, "value": ...}. tests/metrics.rs runs
this on upgate's /metrics: a page the parser refuses fails the test."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> int:
    text = sys.stdin.read()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            print(json.dumps({"name": s.name, "labels": s.labels, "value": s.value}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
