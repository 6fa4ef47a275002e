//! The patch strategies of the built-in types: for each kind, the types of its
//! fields down to the lists whose strategy is not "replace the whole list".
//!
//! The facts come from the `patchStrategy`/`patchMergeKey` struct tags of
//! upstream's `k8s.io/api` v0.33 types (`x-kubernetes-patch-strategy` and
//! `x-kubernetes-patch-merge-key` in the OpenAPI documents). A field that is
//! not listed here has no strategy: maps merge key by key and lists are
//! replaced, which is what upstream does for every untagged field. Only the
//! path to a tagged field has to be spelled out.

/// A struct type as far as strategic merge patch cares about it.
pub struct Type {
    /// The Go type name, for messages.
    pub name: &'static str,
    pub fields: &'static [Field],
}

/// One tagged (or leading-to-a-tag) field of a struct.
pub struct Field {
    /// The JSON name.
    pub json: &'static str,
    pub shape: Shape,
    /// The `patchStrategy` tag: "", "merge", "replace", "retainKeys" or
    /// "merge,retainKeys".
    pub strategy: &'static str,
    /// The `patchMergeKey` tag; empty for lists of scalars.
    pub merge_key: &'static str,
}

/// What a field holds.
pub enum Shape {
    /// A struct.
    Struct(&'static Type),
    /// A pointer to a struct (upstream accepts list values for these).
    Pointer(&'static Type),
    /// A list of structs.
    List(&'static Type),
    /// A list of scalars of the given Go kind ("string").
    Scalars(&'static str),
}

/// What the merge needs to know about one field.
#[derive(Clone, Copy)]
pub struct FieldMeta {
    /// The type of the field's value, or of its elements for lists.
    pub ty: &'static Type,
    /// The strategy other than `retainKeys` ("", "merge" or "replace").
    pub strategy: &'static str,
    pub merge_key: &'static str,
    /// The Go kind of the list elements, for messages ("struct", "string").
    pub elem_kind: &'static str,
    /// True when the field is known not to be a list.
    pub not_a_list: bool,
}

impl Type {
    fn field(&self, json: &str) -> Option<&'static Field> {
        // `fields` is 'static because every `Type` lives in a static.
        let fields: &'static [Field] = self.fields;
        fields.iter().find(|f| f.json == json)
    }

    /// The metadata of `json`; fields without tags have none.
    pub fn meta(&self, json: &str) -> FieldMeta {
        let Some(f) = self.field(json) else {
            return FieldMeta {
                ty: &OPAQUE,
                strategy: "",
                merge_key: "",
                elem_kind: "struct",
                not_a_list: false,
            };
        };
        let strategy = f
            .strategy
            .split(',')
            .find(|s| *s != "retainKeys")
            .unwrap_or("");
        let (ty, elem_kind, not_a_list) = match f.shape {
            Shape::Struct(t) => (t, "struct", true),
            Shape::Pointer(t) | Shape::List(t) => (t, "struct", false),
            Shape::Scalars(kind) => (&OPAQUE, kind, false),
        };
        FieldMeta {
            ty,
            strategy,
            merge_key: f.merge_key,
            elem_kind,
            not_a_list,
        }
    }
}

const fn object(json: &'static str, ty: &'static Type) -> Field {
    Field {
        json,
        shape: Shape::Struct(ty),
        strategy: "",
        merge_key: "",
    }
}

/// A struct field tagged `patchStrategy:"retainKeys"`.
const fn retain_keys(json: &'static str, ty: &'static Type) -> Field {
    Field {
        json,
        shape: Shape::Struct(ty),
        strategy: "retainKeys",
        merge_key: "",
    }
}

/// A pointer-to-struct field tagged `patchStrategy:"replace"`.
const fn replace(json: &'static str) -> Field {
    Field {
        json,
        shape: Shape::Pointer(&OPAQUE),
        strategy: "replace",
        merge_key: "",
    }
}

/// A list of structs tagged `patchStrategy:"merge" patchMergeKey:"<key>"`.
const fn merge_by(json: &'static str, key: &'static str, elem: &'static Type) -> Field {
    Field {
        json,
        shape: Shape::List(elem),
        strategy: "merge",
        merge_key: key,
    }
}

/// A list tagged `patchStrategy:"merge,retainKeys" patchMergeKey:"<key>"`.
const fn merge_retain_by(json: &'static str, key: &'static str, elem: &'static Type) -> Field {
    Field {
        json,
        shape: Shape::List(elem),
        strategy: "merge,retainKeys",
        merge_key: key,
    }
}

/// A list of strings tagged `patchStrategy:"merge"`: merged as a set.
const fn merge_set(json: &'static str) -> Field {
    Field {
        json,
        shape: Shape::Scalars("string"),
        strategy: "merge",
        merge_key: "",
    }
}

/// Any struct whose fields carry no tags (and lead to none).
pub static OPAQUE: Type = Type {
    name: "",
    fields: &[],
};

// ---- meta/v1 --------------------------------------------------------------

pub static OBJECT_META: Type = Type {
    name: "ObjectMeta",
    fields: &[
        merge_by("ownerReferences", "uid", &OPAQUE),
        merge_set("finalizers"),
    ],
};

/// Any kind without tagged fields of its own.
pub static PLAIN_OBJECT: Type = Type {
    name: "Object",
    fields: &[object("metadata", &OBJECT_META)],
};

/// `status: {conditions: [...]}` keyed by `type`, shared by many kinds.
static CONDITIONS_STATUS: Type = Type {
    name: "Status",
    fields: &[merge_by("conditions", "type", &OPAQUE)],
};

/// A kind whose only tagged field is `status.conditions`.
static WITH_STATUS_CONDITIONS: Type = Type {
    name: "Object",
    fields: &[
        object("metadata", &OBJECT_META),
        object("status", &CONDITIONS_STATUS),
    ],
};

// ---- core/v1: pods --------------------------------------------------------

/// Container, and EphemeralContainer (its EphemeralContainerCommon is inline).
static CONTAINER: Type = Type {
    name: "Container",
    fields: &[
        merge_by("ports", "containerPort", &OPAQUE),
        merge_by("env", "name", &OPAQUE),
        merge_by("volumeMounts", "mountPath", &OPAQUE),
        merge_by("volumeDevices", "devicePath", &OPAQUE),
        // envFrom, resizePolicy, args, command: no tag, replaced.
    ],
};

static POD_SPEC: Type = Type {
    name: "PodSpec",
    fields: &[
        merge_retain_by("volumes", "name", &OPAQUE),
        merge_by("initContainers", "name", &CONTAINER),
        merge_by("containers", "name", &CONTAINER),
        merge_by("ephemeralContainers", "name", &CONTAINER),
        merge_by("imagePullSecrets", "name", &OPAQUE),
        merge_by("hostAliases", "ip", &OPAQUE),
        merge_by("topologySpreadConstraints", "topologyKey", &OPAQUE),
        merge_by("schedulingGates", "name", &OPAQUE),
        merge_retain_by("resourceClaims", "name", &OPAQUE),
        // tolerations, readinessGates: no tag, replaced.
    ],
};

static POD_STATUS: Type = Type {
    name: "PodStatus",
    fields: &[
        merge_by("conditions", "type", &OPAQUE),
        merge_by("hostIPs", "ip", &OPAQUE),
        merge_by("podIPs", "ip", &OPAQUE),
        merge_retain_by("resourceClaimStatuses", "name", &OPAQUE),
        // containerStatuses and friends: no tag, replaced.
    ],
};

static POD: Type = Type {
    name: "Pod",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &POD_SPEC),
        object("status", &POD_STATUS),
    ],
};

static POD_TEMPLATE_SPEC: Type = Type {
    name: "PodTemplateSpec",
    fields: &[object("metadata", &OBJECT_META), object("spec", &POD_SPEC)],
};

static POD_TEMPLATE: Type = Type {
    name: "PodTemplate",
    fields: &[
        object("metadata", &OBJECT_META),
        object("template", &POD_TEMPLATE_SPEC),
    ],
};

/// The `spec` of the workload kinds that only carry a pod template.
static TEMPLATE_SPEC: Type = Type {
    name: "Spec",
    fields: &[object("template", &POD_TEMPLATE_SPEC)],
};

/// ReplicationController, ReplicaSet, StatefulSet, DaemonSet, Job.
static WORKLOAD: Type = Type {
    name: "Workload",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &TEMPLATE_SPEC),
        object("status", &CONDITIONS_STATUS),
    ],
};

// ---- core/v1: the rest ----------------------------------------------------

static SERVICE_SPEC: Type = Type {
    name: "ServiceSpec",
    fields: &[merge_by("ports", "port", &OPAQUE)],
};

static SERVICE: Type = Type {
    name: "Service",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &SERVICE_SPEC),
        object("status", &CONDITIONS_STATUS),
    ],
};

static SERVICE_ACCOUNT: Type = Type {
    name: "ServiceAccount",
    fields: &[
        object("metadata", &OBJECT_META),
        merge_by("secrets", "name", &OPAQUE),
        // imagePullSecrets: no tag, replaced.
    ],
};

static NODE_SPEC: Type = Type {
    name: "NodeSpec",
    fields: &[merge_set("podCIDRs")],
};

static NODE_STATUS: Type = Type {
    name: "NodeStatus",
    fields: &[
        merge_by("conditions", "type", &OPAQUE),
        merge_by("addresses", "type", &OPAQUE),
    ],
};

static NODE: Type = Type {
    name: "Node",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &NODE_SPEC),
        object("status", &NODE_STATUS),
    ],
};

static COMPONENT_STATUS: Type = Type {
    name: "ComponentStatus",
    fields: &[
        object("metadata", &OBJECT_META),
        merge_by("conditions", "type", &OPAQUE),
    ],
};

// ---- apps/v1, batch/v1 ----------------------------------------------------

static DEPLOYMENT_SPEC: Type = Type {
    name: "DeploymentSpec",
    fields: &[
        object("template", &POD_TEMPLATE_SPEC),
        retain_keys("strategy", &OPAQUE),
    ],
};

static DEPLOYMENT: Type = Type {
    name: "Deployment",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &DEPLOYMENT_SPEC),
        object("status", &CONDITIONS_STATUS),
    ],
};

static JOB_TEMPLATE_SPEC: Type = Type {
    name: "JobTemplateSpec",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &TEMPLATE_SPEC),
    ],
};

static CRON_JOB_SPEC: Type = Type {
    name: "CronJobSpec",
    fields: &[object("jobTemplate", &JOB_TEMPLATE_SPEC)],
};

static CRON_JOB: Type = Type {
    name: "CronJob",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &CRON_JOB_SPEC),
    ],
};

// ---- other groups ---------------------------------------------------------

static PDB_SPEC: Type = Type {
    name: "PodDisruptionBudgetSpec",
    fields: &[replace("selector")],
};

static PDB: Type = Type {
    name: "PodDisruptionBudget",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &PDB_SPEC),
        object("status", &CONDITIONS_STATUS),
    ],
};

static WEBHOOK: Type = Type {
    name: "Webhook",
    fields: &[merge_by("matchConditions", "name", &OPAQUE)],
};

static WEBHOOK_CONFIGURATION: Type = Type {
    name: "WebhookConfiguration",
    fields: &[
        object("metadata", &OBJECT_META),
        merge_by("webhooks", "name", &WEBHOOK),
    ],
};

static VALIDATING_ADMISSION_POLICY_SPEC: Type = Type {
    name: "ValidatingAdmissionPolicySpec",
    fields: &[
        merge_by("matchConditions", "name", &OPAQUE),
        merge_by("variables", "name", &OPAQUE),
    ],
};

static VALIDATING_ADMISSION_POLICY: Type = Type {
    name: "ValidatingAdmissionPolicy",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &VALIDATING_ADMISSION_POLICY_SPEC),
    ],
};

static CSI_NODE_SPEC: Type = Type {
    name: "CSINodeSpec",
    fields: &[merge_by("drivers", "name", &OPAQUE)],
};

static CSI_NODE: Type = Type {
    name: "CSINode",
    fields: &[
        object("metadata", &OBJECT_META),
        object("spec", &CSI_NODE_SPEC),
    ],
};

static RESOURCE_CLAIM_STATUS: Type = Type {
    name: "ResourceClaimStatus",
    fields: &[merge_by("reservedFor", "uid", &OPAQUE)],
};

static RESOURCE_CLAIM: Type = Type {
    name: "ResourceClaim",
    fields: &[
        object("metadata", &OBJECT_META),
        object("status", &RESOURCE_CLAIM_STATUS),
    ],
};

/// The API groups served by built-in Go types. Strategic merge patch works
/// for every kind in them; any other group is served by a
/// CustomResourceDefinition (or an aggregated server) and gets a 415.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// The type of a kind served by a built-in group, or `None` for kinds of
/// other groups (custom resources).
pub fn root(group: &str, kind: &str) -> Option<&'static Type> {
    if !BUILTIN_GROUPS.contains(&group) {
        return None;
    }
    let ty: &'static Type = match (group, kind) {
        ("", "Pod") => &POD,
        ("", "PodTemplate") => &POD_TEMPLATE,
        ("", "ReplicationController") => &WORKLOAD,
        ("", "Service") => &SERVICE,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "Node") => &NODE,
        ("", "Namespace" | "PersistentVolumeClaim") => &WITH_STATUS_CONDITIONS,
        ("", "ComponentStatus") => &COMPONENT_STATUS,
        ("apps", "Deployment") => &DEPLOYMENT,
        ("apps", "ReplicaSet" | "StatefulSet" | "DaemonSet") => &WORKLOAD,
        ("batch", "Job") => &WORKLOAD,
        ("batch", "CronJob") => &CRON_JOB,
        ("autoscaling", "HorizontalPodAutoscaler") => &WITH_STATUS_CONDITIONS,
        ("policy", "PodDisruptionBudget") => &PDB,
        ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration") => {
            &WITH_STATUS_CONDITIONS
        }
        ("networking.k8s.io", "ServiceCIDR") => &WITH_STATUS_CONDITIONS,
        ("apiregistration.k8s.io", "APIService") => &WITH_STATUS_CONDITIONS,
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => &WEBHOOK_CONFIGURATION,
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            &VALIDATING_ADMISSION_POLICY
        }
        ("storage.k8s.io", "CSINode") => &CSI_NODE,
        ("resource.k8s.io", "ResourceClaim") => &RESOURCE_CLAIM,
        // ConfigMap, Secret, Endpoints, Event, LimitRange, ResourceQuota,
        // RBAC, Lease, EndpointSlice, ...: nothing tagged below metadata.
        _ => &PLAIN_OBJECT,
    };
    Some(ty)
}
