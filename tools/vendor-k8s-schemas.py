#!/usr/bin/env python3
"""Vendor self-contained Kubernetes JSON schemas for tests/kubernetes validation.

The schemas come from the PyPI package kubernetes-validate, whose wheel bundles
the "local-strict" JSON schemas (additionalProperties: false everywhere) of
many Kubernetes releases. Each resource schema there refers into one 1.4 MB
_definitions.json; this script copies only the definitions a resource reaches
into the resource's own "$defs", rewrites the $refs to "#/$defs/...", and
drops the prose (description) that does not change what validates, so each
fixture is one small file that a Rust JSON-schema validator reads with no
resolver and no network.

Run it only to refresh the fixtures (cargo test needs no Python):

    pip download --no-deps kubernetes-validate==1.37.0 -d /tmp/kv
    python3 tools/vendor-k8s-schemas.py /tmp/kv/kubernetes_validate-1.37.0-py3-none-any.whl \
        --version 1.33.0 cronjob-batch-v1 configmap-v1

Then update tests/fixtures/kubernetes/README.md (package version, wheel
sha256, Kubernetes version).
"""

import argparse
import hashlib
import json
import os
import sys
import zipfile

REF_PREFIXES = ("/api/_definitions.json#/$defs/", "_definitions.json#/$defs/", "#/$defs/")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def local_ref(ref):
    for p in REF_PREFIXES:
        if ref.startswith(p):
            return ref[len(p):]
    raise SystemExit(f"unexpected $ref {ref!r}: teach vendor-k8s-schemas.py about it")


def slim(node, in_properties=False):
    """A copy of a schema without prose, with local $refs. `in_properties`:
    node is a properties map, whose keys are field names (a field may be
    called "description"), not keywords."""
    if isinstance(node, list):
        return [slim(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if not in_properties and k == "description" and isinstance(v, str):
            continue
        if k == "$ref":
            out[k] = "#/$defs/" + local_ref(v)
        else:
            out[k] = slim(v, in_properties=(k in ("properties", "$defs") and not in_properties))
    return out


def refs(node, found):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                found.add(local_ref(v))
            else:
                refs(v, found)
    elif isinstance(node, list):
        for x in node:
            refs(x, found)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel", help="kubernetes_validate-*.whl (pip download --no-deps kubernetes-validate)")
    ap.add_argument("--version", default="1.33.0", help="Kubernetes release (default 1.33.0)")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "kubernetes"))
    ap.add_argument("schemas", nargs="+", help="schema names, e.g. cronjob-batch-v1 configmap-v1")
    a = ap.parse_args()

    base = f"kubernetes_validate/kubernetes-json-schema/v{a.version}-local-strict/"
    with zipfile.ZipFile(a.wheel) as z:
        defs = json.loads(z.read(base + "_definitions.json"))["$defs"]
        out_dir = os.path.join(a.out, f"v{a.version}-strict")
        os.makedirs(out_dir, exist_ok=True)
        for name in a.schemas:
            top = json.loads(z.read(base + name + ".json"))
            needed, todo = set(), set()
            refs(top, todo)
            while todo:
                d = todo.pop()
                if d in needed:
                    continue
                needed.add(d)
                refs(defs[d], todo)
            schema = slim(top)
            schema["$defs"] = {d: slim(defs[d]) for d in sorted(needed)}
            path = os.path.join(out_dir, name + ".json")
            with open(path, "w") as f:
                json.dump(schema, f, indent=1, sort_keys=True)
                f.write("\n")
            print(f"{os.path.relpath(path, ROOT)}: {len(needed)} definitions, {os.path.getsize(path)} bytes")
    with open(a.wheel, "rb") as f:
        print(f"wheel sha256 {hashlib.sha256(f.read()).hexdigest()}", file=sys.stderr)


if __name__ == "__main__":
    main()
