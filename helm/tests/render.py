#!/usr/bin/env python3
"""Renders the berth chart offline (helm-python-sdk, no helm binary) and prints the manifests
as one multi-document YAML stream on stdout.

    python helm/tests/render.py [--name RELEASE] [--namespace NS] [--values-json JSON]
                                [--kind KIND]...

--values-json: values as a JSON object (merged over values.yaml, checked against
values.schema.json as an install would). --kind: print only objects of these kinds.
Exit 1 with the Helm error on stderr when the values are rejected or a template fails.
Used by operator/tests/e2e_rbac.rs (through $BERTH_TEST_HELM_PYTHON) and the chart tests.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import helm_python as helm
import yaml

CHART = pathlib.Path(__file__).resolve().parent.parent / "berth"


def render(values: dict | None = None, name: str = "berth", namespace: str = "berth-system") -> list[dict]:
    """The rendered objects (NOTES.txt and empty documents left out), in template order."""
    with helm.Chart.load(CHART) as chart:
        out = chart.render(values or {}, name=name, namespace=namespace, is_install=True)
    objects = []
    for path in sorted(out):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(out[path]):
            if doc:
                objects.append(doc)
    return objects


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="berth")
    p.add_argument("--namespace", default="berth-system")
    p.add_argument("--values-json", default="{}")
    p.add_argument("--kind", action="append", default=[])
    a = p.parse_args()
    try:
        objects = render(json.loads(a.values_json), a.name, a.namespace)
    except helm.HelmError as e:
        print(f"render.py: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if a.kind:
        objects = [o for o in objects if o.get("kind") in a.kind]
    yaml.safe_dump_all(objects, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
