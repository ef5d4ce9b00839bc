#!/usr/bin/env python3
"""Trims Intercom's OpenAPI description (descriptions/2.16/api.intercom.io.yaml
of github.com/intercom/Intercom-OpenAPI, see SOURCES.md) to the operations
the Intercom adapter calls, and writes it as openapi.json beside this file.

    python3 trim.py path/to/api.intercom.io.yaml

What is kept is copied unchanged: `openapi`, `info`, `servers`, `security`,
the listed operations (each path item keeps only the listed methods, with
its parameters, request body, responses and examples as published), and
every `#/components/...` entry they reference, directly or through other
components. Nothing is edited; everything else (other paths, unreferenced
components, `tags`) is left out. Needs PyYAML.
"""

import json
import sys
from pathlib import Path

import yaml

OPERATIONS = [
    ("/contacts/find_by_external_id/{external_id}", "get"),
    ("/contacts", "post"),
    ("/conversations", "post"),
    ("/conversations/{conversation_id}", "put"),
    ("/conversations/{conversation_id}", "get"),
    ("/conversations/{conversation_id}/reply", "post"),
    ("/conversations/{conversation_id}/parts", "post"),
]


def refs(node, out):
    """Every `$ref` string under `node`."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.add(v)
            else:
                refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def main(src: str) -> None:
    doc = yaml.safe_load(Path(src).read_text())
    paths = {}
    for path, method in OPERATIONS:
        paths.setdefault(path, {})[method] = doc["paths"][path][method]
    out = {k: doc[k] for k in ("openapi", "info", "servers", "security") if k in doc}
    out["paths"] = paths
    seen, todo = set(), set()
    refs(paths, todo)
    for scheme in doc.get("security", []):
        todo.update(f"#/components/securitySchemes/{name}" for name in scheme)
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        refs(resolve(doc, ref), todo)
    components = {}
    for ref in sorted(seen):
        _, _, kind, name = ref.split("/", 3)
        components.setdefault(kind, {})[name] = resolve(doc, ref)
    out["components"] = components
    dest = Path(__file__).resolve().parent / "openapi.json"
    dest.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {dest}: {len(paths)} paths, "
          + ", ".join(f"{len(v)} {k}" for k, v in components.items()), file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: trim.py path/to/api.intercom.io.yaml")
    main(sys.argv[1])
