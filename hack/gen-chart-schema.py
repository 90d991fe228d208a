#!/usr/bin/env python3
"""Write the chart's weight profiles (values.schema.json and values.yaml) from the registry.

    .venv/bin/python hack/gen-chart-schema.py [--check]

With --check, write nothing and exit 1 when the committed schema differs (a unit test runs
the same comparison).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from cloudedge.inputs import config

CHART = pathlib.Path(__file__).resolve().parent.parent / "charts/cloud-edge-scheduler"
SCHEMA = CHART / "values.schema.json"
VALUES = CHART / "values.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    stale = []
    for path, generate in (
        (SCHEMA, lambda text: json.dumps(config.with_profiles_schema(json.loads(text)), indent=2)
         + "\n"),
        (VALUES, config.with_profiles_values),
    ):
        current = path.read_text(encoding="utf-8")
        wanted = generate(current)
        if wanted == current:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(wanted, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        print(f"stale: {', '.join(map(str, stale))}: run make chart-schema", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
