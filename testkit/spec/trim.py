#!/usr/bin/env python3
"""Trim discord/discord-api-spec specs/openapi.json to a self-contained subset.

Usage:
  python3 trim.py [FULL_SPEC_JSON] [OUT_JSON]
Defaults: ./openapi.full.json -> ./openapi-subset.json
(openapi.full.json = `git --git-dir=<mirror> show <commit>:specs/openapi.json`)

Kept per operation: path-level + operation-level parameters, operationId,
requestBody (every content type), security, and only the 200/201/204 responses
(headers included). Error responses (429/4XX) are dropped. Every
`#/components/<section>/<name>` reachable from what is kept is copied
transitively, so all $ref strings resolve within the subset file.
Also writes keyword-stats.json (JSON Schema keyword counts) next to OUT_JSON.
"""
import collections
import copy
import json
import os
import sys

OPERATIONS = [
    ("/channels/{channel_id}/messages", "post"),
    ("/users/@me/channels", "post"),
    ("/interactions/{interaction_id}/{interaction_token}/callback", "post"),
    # The spec names the first segment {webhook_id}, not {application_id}
    # (for interaction follow-ups webhook_id == application_id).
    ("/webhooks/{webhook_id}/{webhook_token}/messages/@original", "patch"),
    ("/applications/{application_id}/commands", "put"),
    ("/guilds/{guild_id}/members/{user_id}/roles/{role_id}", "put"),
    ("/guilds/{guild_id}/members/{user_id}", "delete"),
    ("/guilds/{guild_id}/members/{user_id}", "get"),
    ("/guilds/{guild_id}/roles", "get"),
    ("/users/@me", "get"),
    ("/applications/@me", "get"),
    ("/oauth2/applications/@me", "get"),
    ("/gateway", "get"),
    ("/gateway/bot", "get"),
    ("/channels/{channel_id}/typing", "post"),
]
KEEP_STATUS = {"200", "201", "204"}
OP_KEYS = ("operationId", "parameters", "requestBody", "responses", "security")


def iter_refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from iter_refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from iter_refs(v)


def resolve(spec, ref):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[part]
    return node


# ---- JSON Schema keyword counting -------------------------------------
SCHEMA_MAP_KW = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
SCHEMA_LIST_KW = {"allOf", "anyOf", "oneOf", "prefixItems"}
SCHEMA_ONE_KW = {"items", "additionalProperties", "not", "contains", "if", "then", "else",
                 "propertyNames", "unevaluatedProperties", "unevaluatedItems",
                 "additionalItems"}


def count_schema(schema, counter, extra):
    if not isinstance(schema, dict):
        if isinstance(schema, bool):
            counter["<boolean schema>"] += 1
        return
    for k, v in schema.items():
        counter[k] += 1
        if k == "type":
            if isinstance(v, list):
                counter["type(array form)"] += 1
                if "null" in v:
                    counter['type(array form, includes "null")'] += 1
            extra["type values"][json.dumps(v)] += 1
        if k == "format":
            extra["format values"][v] += 1
        if k == "additionalProperties":
            extra["additionalProperties values"][json.dumps(v) if not isinstance(v, dict) else "<schema>"] += 1
        if k in SCHEMA_MAP_KW and isinstance(v, dict):
            for sub in v.values():
                count_schema(sub, counter, extra)
        elif k in SCHEMA_LIST_KW and isinstance(v, list):
            for sub in v:
                count_schema(sub, counter, extra)
        elif k in SCHEMA_ONE_KW:
            if isinstance(v, list):  # draft-4 tuple items
                for sub in v:
                    count_schema(sub, counter, extra)
            else:
                count_schema(v, counter, extra)


def schemas_in_paths(paths):
    """Yield every schema object that sits directly under an OpenAPI object."""
    for item in paths.values():
        for p in item.get("parameters", []):
            if "schema" in p:
                yield p["schema"]
        for m, op in item.items():
            if m == "parameters":
                continue
            for p in op.get("parameters", []):
                if "schema" in p:
                    yield p["schema"]
            for media in op.get("requestBody", {}).get("content", {}).values():
                yield media["schema"]
            for resp in op.get("responses", {}).values():
                for media in resp.get("content", {}).values():
                    yield media["schema"]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "openapi.full.json")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "openapi-subset.json")
    spec = json.load(open(src, encoding="utf-8"))

    paths = {}
    for path, method in OPERATIONS:
        item = spec["paths"][path]
        op = item[method]
        new_item = paths.setdefault(path, {})
        if "parameters" in item:
            new_item["parameters"] = copy.deepcopy(item["parameters"])
        new_op = {k: copy.deepcopy(op[k]) for k in OP_KEYS if k in op}
        new_op["responses"] = {c: r for c, r in new_op.get("responses", {}).items()
                               if c in KEEP_STATUS}
        new_item[method] = new_op

    components = {}
    seen = set()
    queue = list(iter_refs(paths))
    for op in (o for it in paths.values() for m, o in it.items() if m != "parameters"):
        for req in op.get("security", []):
            for name in req:
                queue.append("#/components/securitySchemes/" + name)
    while queue:
        ref = queue.pop()
        if ref in seen:
            continue
        seen.add(ref)
        parts = ref[2:].split("/")
        assert parts[0] == "components" and len(parts) == 3, ref
        target = resolve(spec, ref)
        components.setdefault(parts[1], {})[parts[2]] = copy.deepcopy(target)
        queue.extend(iter_refs(target))
    for sec in components:
        components[sec] = dict(sorted(components[sec].items()))

    subset = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": spec.get("servers", []),
        "paths": paths,
        "components": components,
    }
    # self-containment check
    for ref in iter_refs(subset):
        resolve(subset, ref)

    with open(out, "w", encoding="utf-8") as f:
        json.dump(subset, f, indent=2, ensure_ascii=False)
        f.write("\n")

    counter = collections.Counter()
    extra = collections.defaultdict(collections.Counter)
    for s in components.get("schemas", {}).values():
        count_schema(s, counter, extra)
    for s in schemas_in_paths(paths):
        count_schema(s, counter, extra)
    for h in components.get("headers", {}).values():
        if "schema" in h:
            count_schema(h["schema"], counter, extra)
    stats = {
        "schemas_copied": len(components.get("schemas", {})),
        "components_copied": {k: len(v) for k, v in components.items()},
        "keywords": dict(counter.most_common()),
        **{k: dict(v.most_common()) for k, v in extra.items()},
    }
    with open(os.path.join(os.path.dirname(os.path.abspath(out)), "keyword-stats.json"), "w") as f:
        json.dump(stats, f, indent=2)
    print(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
