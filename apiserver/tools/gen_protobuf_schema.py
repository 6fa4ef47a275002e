#!/usr/bin/env python3
"""Generate apiserver/src/protobuf/schema_data.rs.

The table describes every Kubernetes protobuf message: field numbers and wire
kinds come from the prost-generated sources of the `k8s-pb` crate; JSON names,
`omitempty`, pointer-ness and `json:",inline"` embedding come from the Go API
types (struct tags), matched by message name and protobuf field number.

Usage:
  gen_protobuf_schema.py K8S_PB_SRC GO_API GO_APIMACHINERY GO_APIEXTENSIONS \
      GO_KUBE_AGGREGATOR OUT_RS

  K8S_PB_SRC        the `src` directory of the k8s-pb crate (0.9)
  GO_*              checkouts of k8s.io/api, k8s.io/apimachinery,
                    k8s.io/apiextensions-apiserver, k8s.io/kube-aggregator
                    at the release the k8s-pb protos come from (v0.35.0 for
                    k8s-pb 0.9: its protos have 1.35 fields)
"""

import os
import re
import sys

# Module prefixes (k8s-pb module path) -> index of the Go root argument and the
# sub-directory prefix to strip.
SKIP_MODULE_PREFIXES = ("metrics", "apimachinery/pkg/apis/testapigroup")

# Messages whose JSON form is custom (Go MarshalJSON), keyed by proto name.
SPECIALS = {
    "apimachinery.pkg.apis.meta.v1.Time": "Time",
    "apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "apimachinery.pkg.apis.meta.v1.FieldsV1": "RawJson",
    "apimachinery.pkg.api.resource.Quantity": "Quantity",
    "apimachinery.pkg.api.resource.QuantityValue": "Quantity",
    "apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "apimachinery.pkg.runtime.RawExtension": "RawJson",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON": "RawJson",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1beta1.JSON": "RawJson",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "SchemaOrArray",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1beta1.JSONSchemaPropsOrArray": "SchemaOrArray",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "SchemaOrBool",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1beta1.JSONSchemaPropsOrBool": "SchemaOrBool",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": "SchemaOrStringArray",
    "apiextensions_apiserver.pkg.apis.apiextensions.v1beta1.JSONSchemaPropsOrStringArray": "SchemaOrStringArray",
}

SCALARS = {
    "string": "Str",
    "bytes": "Bytes",
    "bool": "Bool",
    "int32": "I32",
    "int64": "I64",
    "double": "F64",
}

FLAG_REPEATED = 1
FLAG_OMIT_ZERO = 2
FLAG_INLINE = 4
FLAG_SKIP = 8


def strip_comments(text):
    return "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("//")
    )


def struct_bodies(text):
    """Yield (name, body) for every `pub struct Name { ... }` (prost output)."""
    for m in re.finditer(r"pub struct (\w+) \{", text):
        depth = 1
        i = m.end()
        while depth and i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        yield m.group(1), text[m.end() : i - 1]


FIELD_RE = re.compile(
    r"#\[prost\((?P<attr>[^\]]*)\)\]\s*pub\s+(?:r#)?(?P<name>\w+)\s*:\s*(?P<ty>.*?),\s*(?=#\[prost|\Z)",
    re.S,
)
WRAPPERS = [
    "::core::option::Option",
    "::prost::alloc::boxed::Box",
    "::prost::alloc::vec::Vec",
    "::prost::alloc::collections::BTreeMap",
    "::prost::alloc::string::String",
]


def resolve_type(module, ty):
    """Resolve the message type named in a Rust field type to a module path."""
    for w in WRAPPERS:
        ty = ty.replace(w, " ")
    toks = [t for t in re.split(r"[<>,\s]+", ty) if t and t != "u8"]
    if not toks:
        raise ValueError("no message type in " + ty)
    path = toks[-1].split("::")
    parts = module.split("/")
    if path[0] == "crate":
        parts = []
        path = path[1:]
    while path and path[0] == "super":
        parts = parts[:-1]
        path = path[1:]
    return ".".join(parts + path)


def parse_k8s_pb(src):
    messages = {}  # proto name -> list of (tag, rust_name, kindstr, flags, target)
    order = []
    api_versions = {}  # module -> apiVersion
    for root, _dirs, files in os.walk(src):
        if "mod.rs" not in files:
            continue
        module = os.path.relpath(root, src).replace(os.sep, "/")
        if module == "." or module.startswith(SKIP_MODULE_PREFIXES):
            continue
        text = strip_comments(open(os.path.join(root, "mod.rs"), encoding="utf-8").read())
        for m in re.finditer(r'const API_VERSION: &\'static str = "([^"]+)";', text):
            api_versions[module] = m.group(1)
        for name, body in struct_bodies(text):
            full = module.replace("/", ".") + "." + name
            fields = []
            for fm in FIELD_RE.finditer(body):
                attr = fm.group("attr")
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                head = attr.split(",")[0].strip()
                flags = 0
                target = None
                if head.startswith(("map", "btree_map")):
                    vt = re.search(r'map = "string, (\w+)"', attr).group(1)
                    if vt == "message":
                        kind = "MapMsg"
                        target = resolve_type(module, fm.group("ty"))
                    elif vt == "string":
                        kind = "MapStr"
                    elif vt == "bytes":
                        kind = "MapBytes"
                    else:
                        raise ValueError("map value " + vt)
                elif head == "message":
                    kind = "Msg"
                    target = resolve_type(module, fm.group("ty"))
                else:
                    scalar = head.split("=")[0].strip()
                    kind = SCALARS[scalar]
                if re.search(r"\brepeated\b", attr):
                    flags |= FLAG_REPEATED
                fields.append((tag, fm.group("name"), kind, flags, target))
            messages[full] = fields
            order.append((module, name, full))
    return messages, order, api_versions


GO_TYPE_RE = re.compile(r"^type (\w+) struct \{\s*$")
GO_FIELD_RE = re.compile(r"^\s*(?:(\w+)\s+)?(\*?[\w.\[\]*]+(?:\[[\w.]*\][\w.*]+)?)\s+`([^`]*)`")


def parse_go_dir(path):
    """Return ({struct: {"fields": [...], "kind": bool}}, set(string-slice types))."""
    structs = {}
    slices = set()
    if not os.path.isdir(path):
        return structs, slices, None
    group = None
    for fn in sorted(os.listdir(path)):
        if not fn.endswith(".go") or fn.endswith("_test.go") or fn.startswith(("zz_", "generated")):
            continue
        lines = open(os.path.join(path, fn), encoding="utf-8").read().splitlines()
        for line in lines:
            mg = re.match(r'^const GroupName = "([^"]*)"', line)
            if mg:
                group = mg.group(1)
        i = 0
        while i < len(lines):
            line = lines[i]
            ms = re.match(r"^type (\w+) \[\]string\s*$", line)
            if ms:
                slices.add(ms.group(1))
            m = GO_TYPE_RE.match(line)
            i += 1
            if not m:
                continue
            name = m.group(1)
            fields = []
            is_kind = False
            depth = 1
            while i < len(lines) and depth:
                ln = lines[i]
                i += 1
                s = ln.strip()
                if s.startswith("//") or not s:
                    continue
                if s == "}":
                    depth -= 1
                    continue
                if s.endswith("{"):
                    depth += 1
                    continue
                fm = GO_FIELD_RE.match(ln)
                if not fm or depth != 1:
                    continue
                gname, gtype, tags = fm.groups()
                jm = re.search(r'json:"([^"]*)"', tags)
                pm = re.search(r'protobuf:"[a-z0-9]+,(\d+),', tags)
                json_tag = jm.group(1).split(",") if jm else [gname or gtype.split(".")[-1]]
                if gtype.endswith("TypeMeta") and gname is None and "inline" in json_tag:
                    is_kind = True
                fields.append(
                    {
                        "tag": int(pm.group(1)) if pm else None,
                        "json": json_tag[0],
                        "omitempty": "omitempty" in json_tag[1:],
                        "inline": "inline" in json_tag[1:],
                        "pointer": gtype.startswith("*"),
                    }
                )
            structs[name] = {"name": name, "fields": fields, "kind": is_kind}
    # prost renames types (CSIDriver -> CsiDriver); look them up case-insensitively.
    for name in list(structs):
        structs.setdefault(name.lower(), structs[name])
    slices |= {n.lower() for n in slices}
    return structs, slices, group


def go_dir_for(module, go_roots):
    api, apimachinery, apiext, aggr = go_roots
    if module.startswith("api/"):
        return os.path.join(api, module[len("api/") :])
    if module.startswith("apimachinery/"):
        return os.path.join(apimachinery, module[len("apimachinery/") :])
    if module.startswith("apiextensions_apiserver/"):
        return os.path.join(apiext, module[len("apiextensions_apiserver/") :])
    if module.startswith("kube_aggregator/"):
        return os.path.join(aggr, module[len("kube_aggregator/") :])
    return None


def camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def main(argv):
    if len(argv) != 7:
        sys.stderr.write(__doc__)
        return 2
    src, out = argv[1], argv[6]
    go_roots = argv[2:6]
    messages, order, api_versions = parse_k8s_pb(src)
    go_cache = {}
    # Canonical (Go / .proto) message names instead of prost's CamelCase.
    rename = {}
    for module, name, full in order:
        gdir = go_dir_for(module, go_roots)
        if gdir not in go_cache:
            go_cache[gdir] = parse_go_dir(gdir) if gdir else ({}, set(), None)
        gs = go_cache[gdir][0].get(name) or go_cache[gdir][0].get(name.lower())
        rename[full] = module.replace("/", ".") + "." + (gs["name"] if gs else name)
    messages = {
        rename[full]: [(t, n, k, fl, rename.get(tg, tg)) for t, n, k, fl, tg in fields]
        for full, fields in messages.items()
    }
    order = [(module, rename[full].rsplit(".", 1)[1], rename[full]) for module, _n, full in order]
    names = sorted(messages)
    index = {n: i for i, n in enumerate(names)}
    module_of = {full: module for module, _name, full in order}
    short_of = {full: name for _module, name, full in order}
    warnings = []
    rows = []
    kinds = []
    for full in names:
        module, short = module_of[full], short_of[full]
        gdir = go_dir_for(module, go_roots)
        structs, slices, group = go_cache[gdir]
        if group is not None:
            version = module.rsplit("/", 1)[1]
            api_versions.setdefault(module, f"{group}/{version}" if group else version)
        gs = structs.get(short)
        special = SPECIALS.get(full, "None")
        pb_fields = messages[full]
        if special == "None" and short.lower() in slices:
            if [f[:3] for f in pb_fields] == [(1, "items", "Str")]:
                special = "StringArray"
            else:
                warnings.append(f"{full}: []string alias with unexpected fields")
        if gs is None and special == "None" and pb_fields:
            warnings.append(f"{full}: no Go struct, JSON names guessed")
        by_tag = {}
        go_order = {}
        if gs:
            for pos, gf in enumerate(gs["fields"]):
                if gf["tag"] is not None:
                    by_tag[gf["tag"]] = gf
                    go_order[gf["tag"]] = pos
            if gs["kind"] and module in api_versions:
                kinds.append((api_versions[module], short, index[full]))
            elif gs["kind"]:
                warnings.append(f"{full}: kind without apiVersion")
        fields = []
        for tag, rname, kind, flags, target in pb_fields:
            gf = by_tag.get(tag)
            if gf is None:
                if gs is not None:
                    warnings.append(f"{full}.{rname} (tag {tag}): not in Go struct, name guessed")
                json = camel(rname)
            else:
                json = gf["json"]
                if json == "-":
                    flags |= FLAG_SKIP
                if gf["inline"]:
                    flags |= FLAG_INLINE
                scalar = kind in ("Str", "Bytes", "Bool", "I32", "I64", "F64")
                if scalar and not flags & FLAG_REPEATED and gf["omitempty"] and not gf["pointer"]:
                    flags |= FLAG_OMIT_ZERO
            if target is not None and target not in index:
                raise ValueError(f"{full}.{rname}: unknown message {target}")
            kexpr = f"{kind}({index[target]})" if target is not None else kind
            fields.append((go_order.get(tag, 10_000 + tag), tag, json, kexpr, flags))
        fields.sort()
        rows.append((full, special, [f[1:] for f in fields]))
    kinds.sort()
    for (a, b), (c, d) in zip([(k[0], k[1]) for k in kinds], [(k[0], k[1]) for k in kinds[1:]]):
        if (a, b) == (c, d):
            raise ValueError(f"duplicate kind {a} {b}")

    with open(out, "w", encoding="utf-8") as f:
        f.write("// @generated by apiserver/tools/gen_protobuf_schema.py; do not edit.\n")
        f.write("// Field numbers and wire kinds: k8s-pb 0.9 (Kubernetes protos).\n")
        f.write("// JSON names, omitempty/pointer/inline: Go struct tags of k8s.io/api,\n")
        f.write("// apimachinery, apiextensions-apiserver and kube-aggregator of the same\n")
        f.write("// release as the protos (v0.35.0 for k8s-pb 0.9).\n")
        f.write("// Field: (tag, JSON name, kind, flags); flags: 1 repeated, 2 omit zero,\n")
        f.write("// 4 inline, 8 skip. Fields are listed in Go declaration order.\n\n")
        f.write("use super::schema::Kind::*;\nuse super::schema::{Message, Special};\n\n")
        f.write("#[rustfmt::skip]\npub(super) static MESSAGES: &[Message] = &[\n")
        for full, special, fields in rows:
            fs = ",".join(f'({t},"{j}",{k},{fl})' for t, j, k, fl in fields)
            f.write(f'Message{{name:"{full}",special:Special::{special},fields:&[{fs}]}},\n')
        f.write("];\n\n")
        f.write("/// (apiVersion, kind, index into MESSAGES), sorted.\n")
        f.write("#[rustfmt::skip]\npub(super) static KINDS: &[(&str, &str, u16)] = &[\n")
        for av, k, i in kinds:
            f.write(f'("{av}","{k}",{i}),\n')
        f.write("];\n")
    for w in warnings:
        sys.stderr.write("warning: " + w + "\n")
    sys.stderr.write(f"{len(rows)} messages, {sum(len(r[2]) for r in rows)} fields, {len(kinds)} kinds\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
