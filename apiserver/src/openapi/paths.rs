//! Paths and operations: one path item per URL kube-apiserver serves for a
//! resource (collection, object, all-namespaces list, watch, subresources),
//! with upstream's operation ids, `x-kubernetes-action`,
//! `x-kubernetes-group-version-kind` and query parameters, in a neutral
//! form rendered to v2 or v3 by [`PathItem::to_v2`] / [`PathItem::to_v3`].

use serde_json::{Map, Value, json};

use super::schemas::{
    API_RESOURCE_LIST, DELETE_OPTIONS, Definitions, PATCH, STATUS, V2_REF_PREFIX, V3_REF_PREFIX,
    WATCH_EVENT,
};
use crate::resources::{ResourceInfo, Subresource};

/// The patch content types kube-apiserver accepts.
pub(crate) const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];
/// Custom resources have no strategic merge patch (kubectl then sends a
/// JSON merge patch for client-side apply).
pub(crate) const CUSTOM_PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];
const PRODUCES: &[&str] = &["application/json", "application/yaml"];
const PRODUCES_LIST: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/json;stream=watch",
];
const PRODUCES_WATCH: &[&str] = &["application/json", "application/json;stream=watch"];
const PRODUCES_TEXT: &[&str] = &["text/plain", "application/json", "application/yaml"];
const PRODUCES_ANY: &[&str] = &["*/*"];

#[derive(Clone, Copy)]
enum PType {
    String,
    Boolean,
    Integer,
}

#[derive(Clone)]
struct Param {
    name: &'static str,
    path: bool,
    ty: PType,
    description: String,
}

fn query(name: &'static str, ty: PType, description: &str) -> Param {
    Param {
        name,
        path: false,
        ty,
        description: description.to_string(),
    }
}

fn path_param(name: &'static str, description: String) -> Param {
    Param {
        name,
        path: true,
        ty: PType::String,
        description,
    }
}

fn pretty() -> Param {
    query(
        "pretty",
        PType::String,
        "If 'true', the output is indented. Defaults to 'false' unless the client is a browser or a command-line HTTP tool.",
    )
}

fn namespace() -> Param {
    path_param(
        "namespace",
        "object name and auth scope, such as for teams and projects".into(),
    )
}

fn dry_run() -> Param {
    query(
        "dryRun",
        PType::String,
        "When present, modifications are not persisted. The only valid value is 'All' (process every dry run stage).",
    )
}

fn field_manager() -> Param {
    query(
        "fieldManager",
        PType::String,
        "Name of the actor making these changes, recorded in managedFields. At most 128 printable characters.",
    )
}

fn field_validation() -> Param {
    query(
        "fieldValidation",
        PType::String,
        "How the server handles unknown or duplicate fields in the request: 'Ignore' drops them, 'Warn' drops them and returns a warning for each (the default), 'Strict' fails the request.",
    )
}

fn write_params() -> Vec<Param> {
    vec![dry_run(), field_manager(), field_validation()]
}

fn patch_params() -> Vec<Param> {
    vec![
        dry_run(),
        query(
            "fieldManager",
            PType::String,
            "Name of the actor making these changes. Required for apply patches (application/apply-patch+yaml), optional otherwise.",
        ),
        field_validation(),
        query(
            "force",
            PType::Boolean,
            "Force an apply patch to take ownership of conflicting fields. Must be unset for other patch types.",
        ),
    ]
}

fn list_params(watch_param: bool) -> Vec<Param> {
    let mut out = vec![
        query(
            "allowWatchBookmarks",
            PType::Boolean,
            "Request BOOKMARK watch events. Servers may ignore it.",
        ),
        query(
            "continue",
            PType::String,
            "Continue token from a previous paged list call, to fetch the next page.",
        ),
        query(
            "fieldSelector",
            PType::String,
            "Restrict the returned objects by their fields. Defaults to everything.",
        ),
        query(
            "labelSelector",
            PType::String,
            "Restrict the returned objects by their labels. Defaults to everything.",
        ),
        query(
            "limit",
            PType::Integer,
            "Maximum number of items to return; a continue token is set when more remain.",
        ),
        query(
            "resourceVersion",
            PType::String,
            "Constraint on the resource version the request is served at. Defaults to unset.",
        ),
        query(
            "resourceVersionMatch",
            PType::String,
            "How resourceVersion applies to list calls: 'Exact' or 'NotOlderThan'.",
        ),
        query(
            "sendInitialEvents",
            PType::Boolean,
            "With watch=true, begin the stream with synthetic events for the current state.",
        ),
        query(
            "timeoutSeconds",
            PType::Integer,
            "Timeout for the list/watch call, regardless of activity.",
        ),
    ];
    if watch_param {
        out.push(query(
            "watch",
            PType::Boolean,
            "Watch for changes and return them as a stream of add, update and remove notifications.",
        ));
    }
    out
}

fn delete_params() -> Vec<Param> {
    vec![
        dry_run(),
        query(
            "gracePeriodSeconds",
            PType::Integer,
            "Seconds before the object is deleted; zero deletes immediately. Defaults to the kind's default.",
        ),
        query(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            PType::Boolean,
            "Delete an object whose stored data cannot be read or decoded. Dangerous.",
        ),
        query(
            "orphanDependents",
            PType::Boolean,
            "Deprecated: use propagationPolicy.",
        ),
        query(
            "propagationPolicy",
            PType::String,
            "Whether and how garbage collection is performed: 'Orphan', 'Background' or 'Foreground'.",
        ),
    ]
}

fn delete_collection_params() -> Vec<Param> {
    let mut out = delete_params();
    out.extend(
        list_params(false)
            .into_iter()
            .filter(|p| p.name != "allowWatchBookmarks"),
    );
    out.sort_by_key(|p| p.name);
    out
}

fn log_params() -> Vec<Param> {
    vec![
        query(
            "container",
            PType::String,
            "The container to stream logs of. Defaults to the only container, if there is one.",
        ),
        query(
            "follow",
            PType::Boolean,
            "Follow the log stream of the pod.",
        ),
        query(
            "insecureSkipTLSVerifyBackend",
            PType::Boolean,
            "Skip verifying the serving certificate of the kubelet the logs come from.",
        ),
        query(
            "limitBytes",
            PType::Integer,
            "Bytes to read from the server before stopping.",
        ),
        query(
            "previous",
            PType::Boolean,
            "Return the logs of the previous, terminated container.",
        ),
        query(
            "sinceSeconds",
            PType::Integer,
            "Relative time in seconds before now from which to show logs.",
        ),
        query(
            "stream",
            PType::String,
            "Which stream to return: 'All' (default), 'Stdout' or 'Stderr'.",
        ),
        query(
            "tailLines",
            PType::Integer,
            "Number of lines from the end of the logs to show.",
        ),
        query(
            "timestamps",
            PType::Boolean,
            "Prefix every line with an RFC3339 timestamp.",
        ),
    ]
}

fn connect_params(sub: &str) -> Vec<Param> {
    match sub {
        "exec" => vec![
            query("command", PType::String, "Command to run in the container."),
            query(
                "container",
                PType::String,
                "Container to run the command in.",
            ),
            query(
                "stderr",
                PType::Boolean,
                "Redirect the command's standard error.",
            ),
            query(
                "stdin",
                PType::Boolean,
                "Redirect the command's standard input.",
            ),
            query(
                "stdout",
                PType::Boolean,
                "Redirect the command's standard output.",
            ),
            query(
                "tty",
                PType::Boolean,
                "Allocate a terminal for the command.",
            ),
        ],
        "attach" => vec![
            query("container", PType::String, "Container to attach to."),
            query("stderr", PType::Boolean, "Attach standard error."),
            query("stdin", PType::Boolean, "Attach standard input."),
            query("stdout", PType::Boolean, "Attach standard output."),
            query("tty", PType::Boolean, "Standard input is a terminal."),
        ],
        "portforward" => vec![query(
            "ports",
            PType::Integer,
            "Ports of the pod to forward to.",
        )],
        _ => vec![query(
            "path",
            PType::String,
            "Path of the request to the proxied target.",
        )],
    }
}

/// What a body or a response carries.
#[derive(Clone)]
enum Payload {
    /// A definition, by name.
    Def(String),
    /// A plain string (logs, connect streams).
    Text,
}

#[derive(Clone)]
struct Op {
    method: &'static str,
    id: String,
    action: &'static str,
    gvk: Option<(String, String, String)>,
    description: String,
    params: Vec<Param>,
    body: Option<(Payload, bool, Vec<&'static str>)>,
    responses: Vec<(u16, Payload)>,
    produces: &'static [&'static str],
}

/// One path with its operations.
pub(crate) struct PathItem {
    pub path: String,
    params: Vec<Param>,
    ops: Vec<Op>,
    tag: String,
}

/// `apps` -> `Apps`, `rbac.authorization.k8s.io` -> `RbacAuthorization`,
/// "" -> `Core`: the group as operation ids spell it.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let trimmed = group.strip_suffix(".k8s.io").unwrap_or(group);
    trimmed.split('.').map(capitalize).collect()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The tag upstream files a group/version's operations under: `core_v1`,
/// `apps_v1`, `rbacAuthorization_v1`.
pub(crate) fn tag(group: &str, version: &str) -> String {
    let camel = group_camel(group);
    let mut chars = camel.chars();
    let lower: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{lower}_{version}")
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub(crate) fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

struct Ctx<'a> {
    info: &'a ResourceInfo,
    /// A custom resource (no strategic merge patch).
    custom: bool,
    gv: String,
    tag: String,
    kind_def: Option<String>,
    list_def: Option<String>,
}

impl Ctx<'_> {
    fn gvk(&self, kind: &str) -> Option<(String, String, String)> {
        Some((
            self.info.group.to_string(),
            self.info.version.to_string(),
            kind.to_string(),
        ))
    }

    fn scope(&self) -> &'static str {
        if self.info.namespaced {
            "Namespaced"
        } else {
            ""
        }
    }

    fn has(&self, verb: &str) -> bool {
        self.info.verbs.contains(&verb)
    }
}

fn op(method: &'static str, id: String, action: &'static str, description: String) -> Op {
    Op {
        method,
        id,
        action,
        gvk: None,
        description,
        params: Vec::new(),
        body: None,
        responses: Vec::new(),
        produces: PRODUCES,
    }
}

/// Every path item of one resource. Kinds without a definition get none.
pub(crate) fn resource_paths(
    info: &ResourceInfo,
    custom: bool,
    defs: &Definitions,
) -> Vec<PathItem> {
    let kind_def = defs
        .name_of(info.group, info.version, info.kind)
        .map(str::to_string);
    if kind_def.is_none() {
        return Vec::new();
    }
    let list_def = defs
        .name_of(info.group, info.version, &format!("{}List", info.kind))
        .map(str::to_string);
    let cx = Ctx {
        info,
        custom,
        gv: format!("{}{}", group_camel(info.group), capitalize(info.version)),
        tag: tag(info.group, info.version),
        kind_def,
        list_def,
    };
    let base = prefix(info.group, info.version);
    let ns_base = if info.namespaced {
        format!("{base}/namespaces/{{namespace}}")
    } else {
        base.clone()
    };
    let mut out = Vec::new();
    out.push(collection(&cx, format!("{ns_base}/{}", info.plural)));
    out.push(object(&cx, format!("{ns_base}/{}/{{name}}", info.plural)));
    if info.namespaced && cx.has("list") {
        out.push(all_namespaces(&cx, format!("{base}/{}", info.plural)));
    }
    if cx.has("watch") {
        out.extend(watches(&cx, &base));
    }
    for sub in info.subresources {
        out.extend(subresource(
            &cx,
            sub,
            format!("{ns_base}/{}/{{name}}/{}", info.plural, sub.name),
            defs,
        ));
    }
    out.retain(|p| !p.ops.is_empty());
    out
}

fn base_params(cx: &Ctx, with_name: bool) -> Vec<Param> {
    let mut params = Vec::new();
    if with_name {
        params.push(path_param("name", format!("name of the {}", cx.info.kind)));
    }
    if cx.info.namespaced {
        params.push(namespace());
    }
    params.push(pretty());
    params
}

fn kind_payload(cx: &Ctx) -> Payload {
    Payload::Def(cx.kind_def.clone().unwrap_or_default())
}

fn collection(cx: &Ctx, path: String) -> PathItem {
    let kind = cx.info.kind;
    let (gv, scope) = (&cx.gv, cx.scope());
    let mut ops = Vec::new();
    if cx.has("list")
        && let Some(list) = &cx.list_def
    {
        let mut o = op(
            "get",
            format!("list{gv}{scope}{kind}"),
            "list",
            format!("list or watch objects of kind {kind}"),
        );
        o.gvk = cx.gvk(kind);
        o.params = list_params(true);
        o.responses = vec![(200, Payload::Def(list.clone()))];
        o.produces = PRODUCES_LIST;
        ops.push(o);
    }
    if cx.has("create") {
        let mut o = op(
            "post",
            format!("create{gv}{scope}{kind}"),
            "post",
            format!("create a {kind}"),
        );
        o.gvk = cx.gvk(kind);
        o.params = write_params();
        o.body = Some((kind_payload(cx), true, vec!["*/*"]));
        o.responses = vec![
            (200, kind_payload(cx)),
            (201, kind_payload(cx)),
            (202, kind_payload(cx)),
        ];
        ops.push(o);
    }
    if cx.has("deletecollection") {
        let mut o = op(
            "delete",
            format!("delete{gv}Collection{scope}{kind}"),
            "deletecollection",
            format!("delete collection of {kind}"),
        );
        o.gvk = cx.gvk(kind);
        o.params = delete_collection_params();
        o.body = Some((Payload::Def(DELETE_OPTIONS.into()), false, vec!["*/*"]));
        o.responses = vec![(200, Payload::Def(STATUS.into()))];
        ops.push(o);
    }
    PathItem {
        path,
        params: base_params(cx, false),
        ops,
        tag: cx.tag.clone(),
    }
}

fn object(cx: &Ctx, path: String) -> PathItem {
    let kind = cx.info.kind;
    let (gv, scope) = (&cx.gv, cx.scope());
    let mut ops = Vec::new();
    if cx.has("get") {
        let mut o = op(
            "get",
            format!("read{gv}{scope}{kind}"),
            "get",
            format!("read the specified {kind}"),
        );
        o.gvk = cx.gvk(kind);
        o.responses = vec![(200, kind_payload(cx))];
        ops.push(o);
    }
    if cx.has("update") {
        ops.push(replace_op(
            cx,
            format!("replace{gv}{scope}{kind}"),
            kind,
            format!("replace the specified {kind}"),
            kind_payload(cx),
        ));
    }
    if cx.has("patch") {
        ops.push(patch_op(
            cx,
            format!("patch{gv}{scope}{kind}"),
            kind,
            format!("partially update the specified {kind}"),
            kind_payload(cx),
        ));
    }
    if cx.has("delete") {
        let mut o = op(
            "delete",
            format!("delete{gv}{scope}{kind}"),
            "delete",
            format!("delete a {kind}"),
        );
        o.gvk = cx.gvk(kind);
        o.params = delete_params();
        o.body = Some((Payload::Def(DELETE_OPTIONS.into()), false, vec!["*/*"]));
        o.responses = vec![
            (200, Payload::Def(STATUS.into())),
            (202, Payload::Def(STATUS.into())),
        ];
        ops.push(o);
    }
    PathItem {
        path,
        params: base_params(cx, true),
        ops,
        tag: cx.tag.clone(),
    }
}

fn replace_op(cx: &Ctx, id: String, kind: &str, description: String, payload: Payload) -> Op {
    let mut o = op("put", id, "put", description);
    o.gvk = cx.gvk(kind);
    o.params = write_params();
    o.body = Some((payload.clone(), true, vec!["*/*"]));
    o.responses = vec![(200, payload.clone()), (201, payload)];
    o
}

fn patch_op(cx: &Ctx, id: String, kind: &str, description: String, payload: Payload) -> Op {
    let mut o = op("patch", id, "patch", description);
    o.gvk = cx.gvk(kind);
    o.params = patch_params();
    let types = if cx.custom {
        CUSTOM_PATCH_TYPES
    } else {
        PATCH_TYPES
    };
    o.body = Some((Payload::Def(PATCH.into()), true, types.to_vec()));
    o.responses = vec![(200, payload.clone()), (201, payload)];
    o
}

fn all_namespaces(cx: &Ctx, path: String) -> PathItem {
    let kind = cx.info.kind;
    let mut ops = Vec::new();
    if let Some(list) = &cx.list_def {
        let mut o = op(
            "get",
            format!("list{}{kind}ForAllNamespaces", cx.gv),
            "list",
            format!("list or watch objects of kind {kind}"),
        );
        o.gvk = cx.gvk(kind);
        o.params = list_params(true);
        o.responses = vec![(200, Payload::Def(list.clone()))];
        o.produces = PRODUCES_LIST;
        ops.push(o);
    }
    PathItem {
        path,
        params: vec![pretty()],
        ops,
        tag: cx.tag.clone(),
    }
}

/// The deprecated `/watch/` paths.
fn watches(cx: &Ctx, base: &str) -> Vec<PathItem> {
    let kind = cx.info.kind;
    let (gv, scope) = (&cx.gv, cx.scope());
    let plural = cx.info.plural;
    let ns = if cx.info.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let watch_op = |id: String, action: &'static str, description: String| {
        let mut o = op("get", id, action, description);
        o.gvk = cx.gvk(kind);
        o.params = list_params(true);
        o.responses = vec![(200, Payload::Def(WATCH_EVENT.into()))];
        o.produces = PRODUCES_WATCH;
        o
    };
    let mut out = vec![
        PathItem {
            path: format!("{base}/watch{ns}/{plural}"),
            params: base_params(cx, false),
            ops: vec![watch_op(
                format!("watch{gv}{scope}{kind}List"),
                "watchlist",
                format!(
                    "watch changes to a list of {kind}. Deprecated: use the 'watch' parameter with a list operation instead."
                ),
            )],
            tag: cx.tag.clone(),
        },
        PathItem {
            path: format!("{base}/watch{ns}/{plural}/{{name}}"),
            params: base_params(cx, true),
            ops: vec![watch_op(
                format!("watch{gv}{scope}{kind}"),
                "watch",
                format!(
                    "watch changes to an object of kind {kind}. Deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
                ),
            )],
            tag: cx.tag.clone(),
        },
    ];
    if cx.info.namespaced {
        out.push(PathItem {
            path: format!("{base}/watch/{plural}"),
            params: vec![pretty()],
            ops: vec![watch_op(
                format!("watch{gv}{kind}ListForAllNamespaces"),
                "watchlist",
                format!("watch changes to a list of {kind} in all namespaces. Deprecated: use the 'watch' parameter with a list operation instead."),
            )],
            tag: cx.tag.clone(),
        });
    }
    out
}

fn subresource(cx: &Ctx, sub: &Subresource, path: String, defs: &Definitions) -> Vec<PathItem> {
    let parent = cx.info.kind;
    let (gv, scope) = (&cx.gv, cx.scope());
    let suffix = capitalize(sub.name);
    let (sub_group, sub_version) = if sub.version.is_empty() {
        (cx.info.group, cx.info.version)
    } else {
        (sub.group, sub.version)
    };
    let sub_gvk = Some((
        sub_group.to_string(),
        sub_version.to_string(),
        sub.kind.to_string(),
    ));
    let has = |verb: &str| sub.verbs.contains(&verb);
    let mut items = Vec::new();
    let params = base_params(cx, true);

    if sub.kind.ends_with("Options") {
        // Streaming connect subresources (exec, attach, portforward, proxy).
        let methods: &[(&str, &'static str, &str)] = &[
            ("get", "get", "Get"),
            ("create", "post", "Post"),
            ("update", "put", "Put"),
            ("patch", "patch", "Patch"),
            ("delete", "delete", "Delete"),
        ];
        let make = |with_path: bool| {
            let mut ops = Vec::new();
            for &(verb, method, word) in methods {
                if !has(verb) {
                    continue;
                }
                let mut o = op(
                    method,
                    format!(
                        "connect{gv}{word}{scope}{parent}{suffix}{}",
                        if with_path { "WithPath" } else { "" }
                    ),
                    "connect",
                    format!(
                        "connect {} requests to {} of {parent}",
                        word.to_uppercase(),
                        sub.name
                    ),
                );
                o.gvk = sub_gvk.clone();
                o.params = if sub.name == "proxy" {
                    if with_path {
                        Vec::new()
                    } else {
                        connect_params("proxy")
                    }
                } else {
                    connect_params(sub.name)
                };
                o.responses = vec![(200, Payload::Text)];
                o.produces = PRODUCES_ANY;
                ops.push(o);
            }
            ops
        };
        let mut connect_params_base = params.clone();
        connect_params_base.retain(|p| p.name != "pretty");
        items.push(PathItem {
            path: path.clone(),
            params: connect_params_base.clone(),
            ops: make(false),
            tag: cx.tag.clone(),
        });
        if sub.name == "proxy" {
            let mut with_path = connect_params_base;
            with_path.push(path_param("path", "path to the resource".into()));
            items.push(PathItem {
                path: format!("{path}/{{path}}"),
                params: with_path,
                ops: make(true),
                tag: cx.tag.clone(),
            });
        }
        return items;
    }

    if sub.name == "log" {
        let mut o = op(
            "get",
            format!("read{gv}{scope}{parent}Log"),
            "get",
            format!("read log of the specified {parent}"),
        );
        o.gvk = sub_gvk;
        o.params = log_params();
        o.responses = vec![(200, Payload::Text)];
        o.produces = PRODUCES_TEXT;
        items.push(PathItem {
            path,
            params,
            ops: vec![o],
            tag: cx.tag.clone(),
        });
        return items;
    }

    let Some(def) = defs.name_of(sub_group, sub_version, sub.kind) else {
        return items;
    };
    let payload = Payload::Def(def.to_string());
    let what = format!("{} of the specified {parent}", sub.name);
    let mut ops = Vec::new();
    if has("get") {
        let mut o = op(
            "get",
            format!("read{gv}{scope}{parent}{suffix}"),
            "get",
            format!("read {what}"),
        );
        o.gvk = sub_gvk.clone();
        o.responses = vec![(200, payload.clone())];
        ops.push(o);
    }
    if has("create") {
        let mut o = op(
            "post",
            format!("create{gv}{scope}{parent}{suffix}"),
            "post",
            format!("create {what}"),
        );
        o.gvk = sub_gvk.clone();
        o.params = write_params();
        o.body = Some((payload.clone(), true, vec!["*/*"]));
        o.responses = vec![
            (200, payload.clone()),
            (201, payload.clone()),
            (202, payload.clone()),
        ];
        ops.push(o);
    }
    if has("update") {
        let mut o = replace_op(
            cx,
            format!("replace{gv}{scope}{parent}{suffix}"),
            sub.kind,
            format!("replace {what}"),
            payload.clone(),
        );
        o.gvk = sub_gvk.clone();
        ops.push(o);
    }
    if has("patch") {
        let mut o = patch_op(
            cx,
            format!("patch{gv}{scope}{parent}{suffix}"),
            sub.kind,
            format!("partially update {what}"),
            payload.clone(),
        );
        o.gvk = sub_gvk.clone();
        ops.push(o);
    }
    items.push(PathItem {
        path,
        params,
        ops,
        tag: cx.tag.clone(),
    });
    items
}

/// `GET /apis/<group>/<version>/`: the group/version's resource list.
pub(crate) fn resources_path(group: &str, version: &str) -> PathItem {
    let gv = format!("{}{}", group_camel(group), capitalize(version));
    let mut o = op(
        "get",
        format!("get{gv}APIResources"),
        "",
        "get available resources".into(),
    );
    o.responses = vec![(200, Payload::Def(API_RESOURCE_LIST.into()))];
    PathItem {
        path: format!("{}/", prefix(group, version)),
        params: Vec::new(),
        ops: vec![o],
        tag: tag(group, version),
    }
}

fn ptype(ty: PType) -> &'static str {
    match ty {
        PType::String => "string",
        PType::Boolean => "boolean",
        PType::Integer => "integer",
    }
}

impl Param {
    fn to_v2(&self) -> Value {
        let mut p = Map::new();
        p.insert("description".into(), self.description.clone().into());
        p.insert("in".into(), if self.path { "path" } else { "query" }.into());
        p.insert("name".into(), self.name.into());
        if self.path {
            p.insert("required".into(), true.into());
        }
        p.insert("type".into(), ptype(self.ty).into());
        p.insert("uniqueItems".into(), true.into());
        Value::Object(p)
    }

    fn to_v3(&self) -> Value {
        let mut p = Map::new();
        p.insert("description".into(), self.description.clone().into());
        p.insert("in".into(), if self.path { "path" } else { "query" }.into());
        p.insert("name".into(), self.name.into());
        if self.path {
            p.insert("required".into(), true.into());
        }
        p.insert(
            "schema".into(),
            json!({"type": ptype(self.ty), "uniqueItems": true}),
        );
        Value::Object(p)
    }
}

fn payload_schema(payload: &Payload, ref_prefix: &str) -> Value {
    match payload {
        Payload::Def(name) => json!({"$ref": format!("{ref_prefix}{name}")}),
        Payload::Text => json!({"type": "string"}),
    }
}

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        _ => "Unauthorized",
    }
}

fn gvk_value(gvk: &Option<(String, String, String)>) -> Option<Value> {
    gvk.as_ref()
        .map(|(g, v, k)| json!({"group": g, "kind": k, "version": v}))
}

impl PathItem {
    /// The Swagger 2.0 path item.
    pub fn to_v2(&self) -> Value {
        let mut item = Map::new();
        for o in &self.ops {
            let mut m = Map::new();
            if let Some((_, _, types)) = &o.body {
                m.insert("consumes".into(), json!(types));
            }
            m.insert("description".into(), o.description.clone().into());
            m.insert("operationId".into(), o.id.clone().into());
            let mut params: Vec<Value> = Vec::new();
            if let Some((payload, required, _)) = &o.body {
                params.push(json!({
                    "in": "body",
                    "name": "body",
                    "required": required,
                    "schema": payload_schema(payload, V2_REF_PREFIX),
                }));
            }
            params.extend(o.params.iter().map(Param::to_v2));
            if !params.is_empty() {
                m.insert("parameters".into(), Value::Array(params));
            }
            m.insert("produces".into(), json!(o.produces));
            let mut responses = Map::new();
            for (code, payload) in &o.responses {
                responses.insert(
                    code.to_string(),
                    json!({
                        "description": status_text(*code),
                        "schema": payload_schema(payload, V2_REF_PREFIX),
                    }),
                );
            }
            responses.insert("401".into(), json!({"description": "Unauthorized"}));
            m.insert("responses".into(), Value::Object(responses));
            m.insert("schemes".into(), json!(["https"]));
            m.insert("tags".into(), json!([self.tag]));
            if !o.action.is_empty() {
                m.insert("x-kubernetes-action".into(), o.action.into());
            }
            if let Some(gvk) = gvk_value(&o.gvk) {
                m.insert("x-kubernetes-group-version-kind".into(), gvk);
            }
            item.insert(o.method.into(), Value::Object(m));
        }
        if !self.params.is_empty() {
            item.insert(
                "parameters".into(),
                Value::Array(self.params.iter().map(Param::to_v2).collect()),
            );
        }
        Value::Object(item)
    }

    /// The OpenAPI 3.0 path item.
    pub fn to_v3(&self) -> Value {
        let mut item = Map::new();
        for o in &self.ops {
            let mut m = Map::new();
            m.insert("description".into(), o.description.clone().into());
            m.insert("operationId".into(), o.id.clone().into());
            if !o.params.is_empty() {
                m.insert(
                    "parameters".into(),
                    Value::Array(o.params.iter().map(Param::to_v3).collect()),
                );
            }
            if let Some((payload, required, types)) = &o.body {
                let schema = payload_schema(payload, V3_REF_PREFIX);
                let content: Map<String, Value> = types
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": schema})))
                    .collect();
                let mut body = Map::new();
                body.insert("content".into(), Value::Object(content));
                if *required {
                    body.insert("required".into(), true.into());
                }
                m.insert("requestBody".into(), Value::Object(body));
            }
            let mut responses = Map::new();
            for (code, payload) in &o.responses {
                let schema = payload_schema(payload, V3_REF_PREFIX);
                let content: Map<String, Value> = o
                    .produces
                    .iter()
                    .map(|t| (t.to_string(), json!({"schema": schema})))
                    .collect();
                responses.insert(
                    code.to_string(),
                    json!({"content": content, "description": status_text(*code)}),
                );
            }
            responses.insert("401".into(), json!({"description": "Unauthorized"}));
            m.insert("responses".into(), Value::Object(responses));
            m.insert("tags".into(), json!([self.tag]));
            if !o.action.is_empty() {
                m.insert("x-kubernetes-action".into(), o.action.into());
            }
            if let Some(gvk) = gvk_value(&o.gvk) {
                m.insert("x-kubernetes-group-version-kind".into(), gvk);
            }
            item.insert(o.method.into(), Value::Object(m));
        }
        if !self.params.is_empty() {
            item.insert(
                "parameters".into(),
                Value::Array(self.params.iter().map(Param::to_v3).collect()),
            );
        }
        Value::Object(item)
    }
}
