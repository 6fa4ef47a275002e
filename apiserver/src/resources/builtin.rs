//! The built-in resources kube-apiserver v1.33 serves with its default
//! configuration: every stable group/version (`DefaultAPIResourceConfigSource`
//! enables GA versions only; every beta and alpha group/version served by 1.33
//! — admissionregistration v1beta1, authentication v1beta1,
//! certificates/coordination/networking/storage v1beta1, resource.k8s.io
//! v1beta1/v1beta2, all alphas — is disabled by default, and flowcontrol
//! v1beta3 stopped being served in 1.32).
//!
//! Facts come from upstream: verbs, short names, categories, singular names
//! and subresources as the discovery documents list them (`api/discovery/`),
//! subresource wiring from `pkg/registry/*/rest/storage_*.go` (`pods/resize`
//! is installed when the `InPlacePodVerticalScaling` gate is on, which it is
//! by default in 1.33), etcd keys and storage versions from
//! `test/integration/etcd/data.go`.
//!
//! Row order is the order discovery uses: `/api/v1` first, then the groups in
//! the aggregator's group priority order (the order of `/apis`), versions of a
//! group in preference order (so the first row of a group carries its
//! preferred version), resources of a group/version sorted by plural.
//! Subresources are sorted by name and verbs alphabetically, as discovery
//! prints them.
//!
//! Storage: `storage_prefix` is the key prefix after `/registry/`. Several
//! rows may share one prefix (autoscaling v1 and v2 HorizontalPodAutoscalers,
//! core and events.k8s.io Events): they are one stored resource and exactly
//! one of those rows has `storage_version`. Two upstream facts the struct
//! cannot express beyond that: events.k8s.io/v1 Events are stored encoded as
//! core `v1` `Event` (so the storage-version row of `/registry/events` is the
//! core one), and CustomResourceDefinitions are encoded in etcd as
//! `apiextensions.k8s.io/v1beta1`, a version 1.33 no longer serves (the v1 row
//! carries `storage_version` as the only served one). Virtual resources
//! (reviews, `bindings`, `componentstatuses`) have an empty prefix and no
//! storage version.

use super::{ResourceInfo, Subresource};

// ---------------------------------------------------------------- verb lists

/// The full verb set of a stored resource.
const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces have no `deletecollection`.
const CRUD_NO_DELETECOLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// Create-only: reviews, bindings, eviction, token.
const CREATE: &[&str] = &["create"];
const GET_LIST: &[&str] = &["get", "list"];
/// Status, scale, approval, ephemeralcontainers, resize.
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
/// Streaming connect subresources: attach, exec, portforward.
const CONNECT: &[&str] = &["create", "get"];
/// Proxy subresources of pods, services and nodes.
const PROXY: &[&str] = &["create", "delete", "get", "patch", "update"];
const GET: &[&str] = &["get"];
const UPDATE: &[&str] = &["update"];

// ------------------------------------------------------------- categories

const ALL: &[&str] = &["all"];
const API_EXTENSIONS: &[&str] = &["api-extensions"];

/// Storage prefix of resources that are not stored (reviews, bindings,
/// componentstatuses).
const VIRTUAL: &str = "";

// ---------------------------------------------------------- group/versions

type GroupVersion = (&'static str, &'static str);

const CORE_V1: GroupVersion = ("", "v1");
const APIREGISTRATION_V1: GroupVersion = ("apiregistration.k8s.io", "v1");
const APPS_V1: GroupVersion = ("apps", "v1");
const EVENTS_V1: GroupVersion = ("events.k8s.io", "v1");
const AUTHENTICATION_V1: GroupVersion = ("authentication.k8s.io", "v1");
const AUTHORIZATION_V1: GroupVersion = ("authorization.k8s.io", "v1");
const AUTOSCALING_V2: GroupVersion = ("autoscaling", "v2");
const AUTOSCALING_V1: GroupVersion = ("autoscaling", "v1");
const BATCH_V1: GroupVersion = ("batch", "v1");
const CERTIFICATES_V1: GroupVersion = ("certificates.k8s.io", "v1");
const NETWORKING_V1: GroupVersion = ("networking.k8s.io", "v1");
const POLICY_V1: GroupVersion = ("policy", "v1");
const RBAC_V1: GroupVersion = ("rbac.authorization.k8s.io", "v1");
const STORAGE_V1: GroupVersion = ("storage.k8s.io", "v1");
const ADMISSIONREGISTRATION_V1: GroupVersion = ("admissionregistration.k8s.io", "v1");
const APIEXTENSIONS_V1: GroupVersion = ("apiextensions.k8s.io", "v1");
const SCHEDULING_V1: GroupVersion = ("scheduling.k8s.io", "v1");
const COORDINATION_V1: GroupVersion = ("coordination.k8s.io", "v1");
const NODE_V1: GroupVersion = ("node.k8s.io", "v1");
const DISCOVERY_V1: GroupVersion = ("discovery.k8s.io", "v1");
const FLOWCONTROL_V1: GroupVersion = ("flowcontrol.apiserver.k8s.io", "v1");

// ------------------------------------------------------------ subresources

/// A subresource serving a kind of the parent's group/version.
const fn sub(
    name: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        kind,
        group: "",
        version: "",
        verbs,
    }
}

/// A subresource serving a kind of another group/version.
const fn sub_in(
    name: &'static str,
    (group, version): GroupVersion,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        kind,
        group,
        version,
        verbs,
    }
}

/// `<resource>/status`, serving the parent kind.
const fn status(kind: &'static str) -> Subresource {
    sub("status", kind, GET_PATCH_UPDATE)
}

/// `<resource>/scale`, serving `autoscaling/v1` `Scale`.
const fn scale() -> Subresource {
    sub_in("scale", AUTOSCALING_V1, "Scale", GET_PATCH_UPDATE)
}

// ------------------------------------------------------------------- rows

/// `$default` unless a value was given.
macro_rules! or_default {
    ($value:expr; $default:expr) => {
        $value
    };
    (; $default:expr) => {
        $default
    };
}

macro_rules! scope {
    (ns) => {
        true
    };
    (cluster) => {
        false
    };
}

/// One row: group/version, kind, plural, singular, scope (`ns`/`cluster`),
/// storage prefix, then optional `verbs` (default [`CRUD`]), `short`,
/// `cat`, `sub` and `storage_version` (default: stored iff the prefix is
/// not empty), in that order.
macro_rules! res {
    (
        $gv:expr, $kind:literal, $plural:literal, $singular:literal, $scope:ident, $prefix:expr
        $(, verbs = $verbs:expr)?
        $(, short = [$($short:literal),* $(,)?])?
        $(, cat = $cat:expr)?
        $(, sub = [$($sub:expr),* $(,)?])?
        $(, storage_version = $sv:expr)?
        $(,)?
    ) => {
        ResourceInfo {
            group: $gv.0,
            version: $gv.1,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: scope!($scope),
            verbs: or_default!($($verbs)?; CRUD),
            short_names: &[$($($short),*)?],
            categories: or_default!($($cat)?; &[]),
            subresources: &[$($($sub),*)?],
            storage_prefix: $prefix,
            storage_version: or_default!($($sv)?; !str::is_empty($prefix)),
        }
    };
}

static BUILTIN: &[ResourceInfo] = &[
    // ------------------------------------------------------------ /api/v1
    res!(
        CORE_V1,
        "Binding",
        "bindings",
        "binding",
        ns,
        VIRTUAL,
        verbs = CREATE
    ),
    res!(
        CORE_V1,
        "ComponentStatus",
        "componentstatuses",
        "componentstatus",
        cluster,
        VIRTUAL,
        verbs = GET_LIST,
        short = ["cs"],
    ),
    res!(
        CORE_V1,
        "ConfigMap",
        "configmaps",
        "configmap",
        ns,
        "configmaps",
        short = ["cm"]
    ),
    res!(
        CORE_V1,
        "Endpoints",
        "endpoints",
        "endpoints",
        ns,
        "services/endpoints",
        short = ["ep"],
    ),
    res!(
        CORE_V1,
        "Event",
        "events",
        "event",
        ns,
        "events",
        short = ["ev"]
    ),
    res!(
        CORE_V1,
        "LimitRange",
        "limitranges",
        "limitrange",
        ns,
        "limitranges",
        short = ["limits"],
    ),
    res!(
        CORE_V1,
        "Namespace",
        "namespaces",
        "namespace",
        cluster,
        "namespaces",
        verbs = CRUD_NO_DELETECOLLECTION,
        short = ["ns"],
        sub = [sub("finalize", "Namespace", UPDATE), status("Namespace")],
    ),
    res!(
        CORE_V1,
        "Node",
        "nodes",
        "node",
        cluster,
        "minions",
        short = ["no"],
        sub = [sub("proxy", "NodeProxyOptions", PROXY), status("Node")],
    ),
    res!(
        CORE_V1,
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        ns,
        "persistentvolumeclaims",
        short = ["pvc"],
        sub = [status("PersistentVolumeClaim")],
    ),
    res!(
        CORE_V1,
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        cluster,
        "persistentvolumes",
        short = ["pv"],
        sub = [status("PersistentVolume")],
    ),
    res!(
        CORE_V1,
        "Pod",
        "pods",
        "pod",
        ns,
        "pods",
        short = ["po"],
        cat = ALL,
        sub = [
            sub("attach", "PodAttachOptions", CONNECT),
            sub("binding", "Binding", CREATE),
            sub("ephemeralcontainers", "Pod", GET_PATCH_UPDATE),
            sub_in("eviction", POLICY_V1, "Eviction", CREATE),
            sub("exec", "PodExecOptions", CONNECT),
            sub("log", "Pod", GET),
            sub("portforward", "PodPortForwardOptions", CONNECT),
            sub("proxy", "PodProxyOptions", PROXY),
            sub("resize", "Pod", GET_PATCH_UPDATE),
            status("Pod"),
        ],
    ),
    res!(
        CORE_V1,
        "PodTemplate",
        "podtemplates",
        "podtemplate",
        ns,
        "podtemplates"
    ),
    res!(
        CORE_V1,
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        ns,
        "controllers",
        short = ["rc"],
        cat = ALL,
        sub = [scale(), status("ReplicationController")],
    ),
    res!(
        CORE_V1,
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        ns,
        "resourcequotas",
        short = ["quota"],
        sub = [status("ResourceQuota")],
    ),
    res!(CORE_V1, "Secret", "secrets", "secret", ns, "secrets"),
    res!(
        CORE_V1,
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        ns,
        "serviceaccounts",
        short = ["sa"],
        sub = [sub_in("token", AUTHENTICATION_V1, "TokenRequest", CREATE)],
    ),
    res!(
        CORE_V1,
        "Service",
        "services",
        "service",
        ns,
        "services/specs",
        short = ["svc"],
        cat = ALL,
        sub = [
            sub("proxy", "ServiceProxyOptions", PROXY),
            status("Service")
        ],
    ),
    // ------------------------------------------- apiregistration.k8s.io
    res!(
        APIREGISTRATION_V1,
        "APIService",
        "apiservices",
        "apiservice",
        cluster,
        "apiregistration.k8s.io/apiservices",
        cat = API_EXTENSIONS,
        sub = [status("APIService")],
    ),
    // ------------------------------------------------------------- apps
    res!(
        APPS_V1,
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        ns,
        "controllerrevisions",
    ),
    res!(
        APPS_V1,
        "DaemonSet",
        "daemonsets",
        "daemonset",
        ns,
        "daemonsets",
        short = ["ds"],
        cat = ALL,
        sub = [status("DaemonSet")],
    ),
    res!(
        APPS_V1,
        "Deployment",
        "deployments",
        "deployment",
        ns,
        "deployments",
        short = ["deploy"],
        cat = ALL,
        sub = [scale(), status("Deployment")],
    ),
    res!(
        APPS_V1,
        "ReplicaSet",
        "replicasets",
        "replicaset",
        ns,
        "replicasets",
        short = ["rs"],
        cat = ALL,
        sub = [scale(), status("ReplicaSet")],
    ),
    res!(
        APPS_V1,
        "StatefulSet",
        "statefulsets",
        "statefulset",
        ns,
        "statefulsets",
        short = ["sts"],
        cat = ALL,
        sub = [scale(), status("StatefulSet")],
    ),
    // ---------------------------------------------------- events.k8s.io
    // Shares /registry/events with core v1 Events and is stored as v1 Event.
    res!(
        EVENTS_V1,
        "Event",
        "events",
        "event",
        ns,
        "events",
        short = ["ev"],
        storage_version = false,
    ),
    // -------------------------------------------- authentication.k8s.io
    res!(
        AUTHENTICATION_V1,
        "SelfSubjectReview",
        "selfsubjectreviews",
        "selfsubjectreview",
        cluster,
        VIRTUAL,
        verbs = CREATE,
    ),
    res!(
        AUTHENTICATION_V1,
        "TokenReview",
        "tokenreviews",
        "tokenreview",
        cluster,
        VIRTUAL,
        verbs = CREATE,
    ),
    // --------------------------------------------- authorization.k8s.io
    res!(
        AUTHORIZATION_V1,
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        "localsubjectaccessreview",
        ns,
        VIRTUAL,
        verbs = CREATE,
    ),
    res!(
        AUTHORIZATION_V1,
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        cluster,
        VIRTUAL,
        verbs = CREATE,
    ),
    res!(
        AUTHORIZATION_V1,
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        cluster,
        VIRTUAL,
        verbs = CREATE,
    ),
    res!(
        AUTHORIZATION_V1,
        "SubjectAccessReview",
        "subjectaccessreviews",
        "subjectaccessreview",
        cluster,
        VIRTUAL,
        verbs = CREATE,
    ),
    // ------------------------------------------------------ autoscaling
    // v2 is preferred and is the storage version; v1 shares its storage.
    res!(
        AUTOSCALING_V2,
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        ns,
        "horizontalpodautoscalers",
        short = ["hpa"],
        cat = ALL,
        sub = [status("HorizontalPodAutoscaler")],
    ),
    res!(
        AUTOSCALING_V1,
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        ns,
        "horizontalpodautoscalers",
        short = ["hpa"],
        cat = ALL,
        sub = [status("HorizontalPodAutoscaler")],
        storage_version = false,
    ),
    // ------------------------------------------------------------ batch
    res!(
        BATCH_V1,
        "CronJob",
        "cronjobs",
        "cronjob",
        ns,
        "cronjobs",
        short = ["cj"],
        cat = ALL,
        sub = [status("CronJob")],
    ),
    res!(
        BATCH_V1,
        "Job",
        "jobs",
        "job",
        ns,
        "jobs",
        cat = ALL,
        sub = [status("Job")]
    ),
    // ---------------------------------------------- certificates.k8s.io
    res!(
        CERTIFICATES_V1,
        "CertificateSigningRequest",
        "certificatesigningrequests",
        "certificatesigningrequest",
        cluster,
        "certificatesigningrequests",
        short = ["csr"],
        sub = [
            sub("approval", "CertificateSigningRequest", GET_PATCH_UPDATE),
            status("CertificateSigningRequest"),
        ],
    ),
    // ------------------------------------------------ networking.k8s.io
    res!(
        NETWORKING_V1,
        "IngressClass",
        "ingressclasses",
        "ingressclass",
        cluster,
        "ingressclasses",
    ),
    res!(
        NETWORKING_V1,
        "Ingress",
        "ingresses",
        "ingress",
        ns,
        "ingress",
        short = ["ing"],
        sub = [status("Ingress")],
    ),
    res!(
        NETWORKING_V1,
        "IPAddress",
        "ipaddresses",
        "ipaddress",
        cluster,
        "ipaddresses",
        short = ["ip"],
    ),
    res!(
        NETWORKING_V1,
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        ns,
        "networkpolicies",
        short = ["netpol"],
    ),
    res!(
        NETWORKING_V1,
        "ServiceCIDR",
        "servicecidrs",
        "servicecidr",
        cluster,
        "servicecidrs",
        sub = [status("ServiceCIDR")],
    ),
    // ----------------------------------------------------------- policy
    res!(
        POLICY_V1,
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        ns,
        "poddisruptionbudgets",
        short = ["pdb"],
        sub = [status("PodDisruptionBudget")],
    ),
    // ---------------------------------------- rbac.authorization.k8s.io
    res!(
        RBAC_V1,
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        cluster,
        "clusterrolebindings",
    ),
    res!(
        RBAC_V1,
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        cluster,
        "clusterroles",
    ),
    res!(
        RBAC_V1,
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        ns,
        "rolebindings",
    ),
    res!(RBAC_V1, "Role", "roles", "role", ns, "roles"),
    // --------------------------------------------------- storage.k8s.io
    res!(
        STORAGE_V1,
        "CSIDriver",
        "csidrivers",
        "csidriver",
        cluster,
        "csidrivers",
    ),
    res!(
        STORAGE_V1, "CSINode", "csinodes", "csinode", cluster, "csinodes"
    ),
    res!(
        STORAGE_V1,
        "CSIStorageCapacity",
        "csistoragecapacities",
        "csistoragecapacity",
        ns,
        "csistoragecapacities",
    ),
    res!(
        STORAGE_V1,
        "StorageClass",
        "storageclasses",
        "storageclass",
        cluster,
        "storageclasses",
        short = ["sc"],
    ),
    res!(
        STORAGE_V1,
        "VolumeAttachment",
        "volumeattachments",
        "volumeattachment",
        cluster,
        "volumeattachments",
        sub = [status("VolumeAttachment")],
    ),
    // -------------------------------------- admissionregistration.k8s.io
    res!(
        ADMISSIONREGISTRATION_V1,
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        "mutatingwebhookconfiguration",
        cluster,
        "mutatingwebhookconfigurations",
        cat = API_EXTENSIONS,
    ),
    res!(
        ADMISSIONREGISTRATION_V1,
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        "validatingadmissionpolicy",
        cluster,
        "validatingadmissionpolicies",
        cat = API_EXTENSIONS,
        sub = [status("ValidatingAdmissionPolicy")],
    ),
    res!(
        ADMISSIONREGISTRATION_V1,
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        "validatingadmissionpolicybinding",
        cluster,
        "validatingadmissionpolicybindings",
        cat = API_EXTENSIONS,
    ),
    res!(
        ADMISSIONREGISTRATION_V1,
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        "validatingwebhookconfiguration",
        cluster,
        "validatingwebhookconfigurations",
        cat = API_EXTENSIONS,
    ),
    // ---------------------------------------------- apiextensions.k8s.io
    res!(
        APIEXTENSIONS_V1,
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        cluster,
        "apiextensions.k8s.io/customresourcedefinitions",
        short = ["crd", "crds"],
        cat = API_EXTENSIONS,
        sub = [status("CustomResourceDefinition")],
    ),
    // ------------------------------------------------- scheduling.k8s.io
    res!(
        SCHEDULING_V1,
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        cluster,
        "priorityclasses",
        short = ["pc"],
    ),
    // ----------------------------------------------- coordination.k8s.io
    res!(COORDINATION_V1, "Lease", "leases", "lease", ns, "leases"),
    // ------------------------------------------------------- node.k8s.io
    res!(
        NODE_V1,
        "RuntimeClass",
        "runtimeclasses",
        "runtimeclass",
        cluster,
        "runtimeclasses",
    ),
    // -------------------------------------------------- discovery.k8s.io
    res!(
        DISCOVERY_V1,
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        ns,
        "endpointslices",
    ),
    // -------------------------------------- flowcontrol.apiserver.k8s.io
    res!(
        FLOWCONTROL_V1,
        "FlowSchema",
        "flowschemas",
        "flowschema",
        cluster,
        "flowschemas",
        sub = [status("FlowSchema")],
    ),
    res!(
        FLOWCONTROL_V1,
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        "prioritylevelconfiguration",
        cluster,
        "prioritylevelconfigurations",
        sub = [status("PriorityLevelConfiguration")],
    ),
];

/// Every resource kube-apiserver v1.33 serves by default, one row per
/// group/version/resource, in discovery order (see the module docs).
pub fn builtin_resources() -> Vec<ResourceInfo> {
    BUILTIN.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::any::TypeId;
    use std::collections::{BTreeMap, BTreeSet, HashSet};

    // Counts found upstream for a default-configured kube-apiserver v1.33:
    // - group/versions: 21 = core v1 + the 19 stable group/versions of
    //   `stableAPIGroupVersionsEnabledByDefault` (pkg/controlplane/instance.go;
    //   core v1 is one of them, autoscaling counts v1 and v2) + apiextensions
    //   v1 + apiregistration v1 (served by the extensions and aggregator
    //   servers). No beta or alpha group/version is enabled by default.
    // - resources: 61 group/version/resource rows = the non-alpha, non-beta
    //   top-level resources of the 1.33 OpenAPI spec (as generated into
    //   k8s-openapi's `v1_33` module) = 17 in /api/v1 + 44 under /apis
    //   (networking.k8s.io/v1 gained ipaddresses and servicecidrs in 1.33).
    // - `kubectl api-resources` rows: 60, one per group/resource in its
    //   preferred version (horizontalpodautoscalers appears once).
    const GROUP_VERSIONS: usize = 21;
    const RESOURCES: usize = 61;
    const CORE_RESOURCES: usize = 17;
    const API_RESOURCES_ROWS: usize = 60;

    fn find(group: &str, version: &str, plural: &str) -> ResourceInfo {
        builtin_resources()
            .into_iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .unwrap_or_else(|| panic!("{group}/{version} {plural} missing"))
    }

    #[test]
    fn counts_match_upstream() {
        let all = builtin_resources();
        assert_eq!(all.len(), RESOURCES);
        let gvs: BTreeSet<_> = all.iter().map(|r| (r.group, r.version)).collect();
        assert_eq!(gvs.len(), GROUP_VERSIONS, "{gvs:?}");
        assert_eq!(
            all.iter().filter(|r| r.group.is_empty()).count(),
            CORE_RESOURCES
        );
        let group_resources: BTreeSet<_> = all.iter().map(|r| (r.group, r.plural)).collect();
        assert_eq!(group_resources.len(), API_RESOURCES_ROWS);
        // Nothing but stable versions.
        assert!(
            all.iter()
                .all(|r| !r.version.contains("alpha") && !r.version.contains("beta"))
        );
    }

    #[test]
    fn no_duplicate_group_version_plural() {
        let mut seen = HashSet::new();
        for r in builtin_resources() {
            assert!(
                seen.insert((r.group, r.version, r.plural)),
                "duplicate {}/{} {}",
                r.group,
                r.version,
                r.plural
            );
        }
    }

    #[test]
    fn exactly_one_storage_version_per_stored_resource() {
        let all = builtin_resources();
        // Rows sharing a storage prefix are one stored resource.
        let mut by_prefix: BTreeMap<&str, Vec<&ResourceInfo>> = BTreeMap::new();
        for r in all.iter().filter(|r| !r.storage_prefix.is_empty()) {
            by_prefix.entry(r.storage_prefix).or_default().push(r);
        }
        for (prefix, rows) in &by_prefix {
            let versions = rows.iter().filter(|r| r.storage_version).count();
            assert_eq!(versions, 1, "{prefix}: {versions} storage versions");
            // Sharing rows serve the same kind.
            assert!(rows.iter().all(|r| r.kind == rows[0].kind), "{prefix}");
            assert!(rows.iter().all(|r| r.namespaced == rows[0].namespaced));
        }
        // Per (group, plural): one prefix, and at most one storage version
        // (events.k8s.io events have none: they are stored as core v1 Event).
        let mut by_gr: BTreeMap<(&str, &str), Vec<&ResourceInfo>> = BTreeMap::new();
        for r in &all {
            by_gr.entry((r.group, r.plural)).or_default().push(r);
        }
        for ((group, plural), rows) in &by_gr {
            assert!(
                rows.iter()
                    .all(|r| r.storage_prefix == rows[0].storage_prefix)
            );
            let versions = rows.iter().filter(|r| r.storage_version).count();
            let expected = match (*group, *plural) {
                ("events.k8s.io", "events") => 0,
                _ if rows[0].storage_prefix.is_empty() => 0,
                _ => 1,
            };
            assert_eq!(versions, expected, "{group} {plural}");
        }
        assert_eq!(
            find("events.k8s.io", "v1", "events").storage_prefix,
            "events"
        );
        assert!(find("", "v1", "events").storage_version);
        assert!(find("autoscaling", "v2", "horizontalpodautoscalers").storage_version);
        assert!(!find("autoscaling", "v1", "horizontalpodautoscalers").storage_version);
    }

    #[test]
    fn virtual_resources_are_not_stored() {
        let virt: BTreeSet<_> = builtin_resources()
            .into_iter()
            .filter(|r| r.storage_prefix.is_empty())
            .map(|r| r.plural)
            .collect();
        let expected: BTreeSet<_> = [
            "bindings",
            "componentstatuses",
            "localsubjectaccessreviews",
            "selfsubjectaccessreviews",
            "selfsubjectreviews",
            "selfsubjectrulesreviews",
            "subjectaccessreviews",
            "tokenreviews",
        ]
        .into_iter()
        .collect();
        assert_eq!(virt, expected);
        for r in builtin_resources()
            .iter()
            .filter(|r| r.storage_prefix.is_empty())
        {
            assert!(!r.storage_version, "{}", r.plural);
            assert!(r.subresources.is_empty(), "{}", r.plural);
        }
        assert_eq!(find("", "v1", "bindings").verbs, ["create"]);
        assert_eq!(find("", "v1", "componentstatuses").verbs, ["get", "list"]);
        assert_eq!(
            find("authentication.k8s.io", "v1", "tokenreviews").verbs,
            ["create"]
        );
    }

    #[test]
    fn storage_prefix_exceptions() {
        for (group, plural, prefix) in [
            ("", "services", "services/specs"),
            ("", "endpoints", "services/endpoints"),
            ("", "nodes", "minions"),
            ("", "replicationcontrollers", "controllers"),
            ("networking.k8s.io", "ingresses", "ingress"),
            (
                "apiregistration.k8s.io",
                "apiservices",
                "apiregistration.k8s.io/apiservices",
            ),
            (
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "apiextensions.k8s.io/customresourcedefinitions",
            ),
        ] {
            let r = builtin_resources()
                .into_iter()
                .find(|r| r.group == group && r.plural == plural)
                .unwrap();
            assert_eq!(r.storage_prefix, prefix);
        }
        // Everything else is stored under its plural.
        let exceptions = [
            "services",
            "endpoints",
            "nodes",
            "replicationcontrollers",
            "ingresses",
            "apiservices",
            "customresourcedefinitions",
        ];
        for r in builtin_resources() {
            if !r.storage_prefix.is_empty() && !exceptions.contains(&r.plural) {
                assert_eq!(r.storage_prefix, r.plural);
            }
        }
    }

    #[test]
    fn well_known_rows() {
        let pods = find("", "v1", "pods");
        assert_eq!(pods.kind, "Pod");
        assert_eq!(pods.singular, "pod");
        assert!(pods.namespaced);
        assert_eq!(pods.short_names, ["po"]);
        assert_eq!(pods.categories, ["all"]);
        assert_eq!(
            pods.verbs,
            [
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch"
            ]
        );
        let subs: Vec<_> = pods.subresources.iter().map(|s| s.name).collect();
        assert_eq!(
            subs,
            [
                "attach",
                "binding",
                "ephemeralcontainers",
                "eviction",
                "exec",
                "log",
                "portforward",
                "proxy",
                "resize",
                "status"
            ]
        );
        let eviction = pods
            .subresources
            .iter()
            .find(|s| s.name == "eviction")
            .unwrap();
        assert_eq!(
            (eviction.group, eviction.version, eviction.kind),
            ("policy", "v1", "Eviction")
        );

        let deploy = find("apps", "v1", "deployments");
        assert_eq!(deploy.short_names, ["deploy"]);
        assert_eq!(deploy.categories, ["all"]);
        let scale = deploy
            .subresources
            .iter()
            .find(|s| s.name == "scale")
            .unwrap();
        assert_eq!(
            (scale.group, scale.version, scale.kind),
            ("autoscaling", "v1", "Scale")
        );
        assert_eq!(scale.verbs, ["get", "patch", "update"]);

        let svc = find("", "v1", "services");
        assert_eq!(svc.short_names, ["svc"]);
        assert_eq!(svc.categories, ["all"]);
        assert_eq!(svc.storage_prefix, "services/specs");

        let ns = find("", "v1", "namespaces");
        assert!(!ns.namespaced);
        assert!(!ns.verbs.contains(&"deletecollection"));

        let token = find("", "v1", "serviceaccounts").subresources[0];
        assert_eq!(
            (token.name, token.group, token.version, token.kind),
            ("token", "authentication.k8s.io", "v1", "TokenRequest")
        );
        assert_eq!(
            find("apiextensions.k8s.io", "v1", "customresourcedefinitions").short_names,
            ["crd", "crds"]
        );
    }

    #[test]
    fn categories() {
        let with = |cat: &str| -> BTreeSet<&str> {
            builtin_resources()
                .into_iter()
                .filter(|r| r.categories.contains(&cat))
                .map(|r| r.plural)
                .collect()
        };
        let all: BTreeSet<_> = [
            "cronjobs",
            "daemonsets",
            "deployments",
            "horizontalpodautoscalers",
            "jobs",
            "pods",
            "replicasets",
            "replicationcontrollers",
            "services",
            "statefulsets",
        ]
        .into_iter()
        .collect();
        assert_eq!(with("all"), all);
        let ext: BTreeSet<_> = [
            "apiservices",
            "customresourcedefinitions",
            "mutatingwebhookconfigurations",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
            "validatingwebhookconfigurations",
        ]
        .into_iter()
        .collect();
        assert_eq!(with("api-extensions"), ext);
    }

    #[test]
    fn short_names_are_unique() {
        let mut seen = BTreeMap::new();
        for r in builtin_resources() {
            for s in r.short_names {
                let prev = seen.insert(*s, (r.group, r.plural));
                // The same resource in two versions, and core/events.k8s.io
                // `ev`, may repeat a short name.
                if let Some((_, plural)) = prev {
                    assert_eq!(plural, r.plural, "short name {s} reused");
                }
            }
        }
    }

    #[test]
    fn rows_are_well_formed() {
        let known = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        for r in builtin_resources() {
            assert_eq!(r.singular, r.kind.to_lowercase(), "{}", r.plural);
            assert!(
                r.verbs.windows(2).all(|w| w[0] < w[1]),
                "{} verbs unsorted",
                r.plural
            );
            assert!(r.verbs.iter().all(|v| known.contains(v)));
            assert!(
                r.subresources.windows(2).all(|w| w[0].name < w[1].name),
                "{}",
                r.plural
            );
            for s in r.subresources {
                assert!(!s.verbs.is_empty());
                assert!(s.verbs.windows(2).all(|w| w[0] < w[1]));
                assert_eq!(s.group.is_empty(), s.version.is_empty());
                assert!(s.group != r.group || s.group.is_empty());
                if s.name == "status" {
                    assert_eq!(s.kind, r.kind);
                }
            }
        }
    }

    #[test]
    fn discovery_order() {
        let all = builtin_resources();
        // Groups are contiguous and each group's versions are contiguous.
        let mut groups_seen: Vec<&str> = Vec::new();
        let mut gvs_seen: Vec<(&str, &str)> = Vec::new();
        for r in &all {
            if groups_seen.last() != Some(&r.group) {
                assert!(!groups_seen.contains(&r.group), "group {} split", r.group);
                groups_seen.push(r.group);
            }
            if gvs_seen.last() != Some(&(r.group, r.version)) {
                assert!(!gvs_seen.contains(&(r.group, r.version)));
                gvs_seen.push((r.group, r.version));
            }
        }
        assert_eq!(groups_seen[0], "");
        assert_eq!(groups_seen[1], "apiregistration.k8s.io");
        // Preferred version first.
        let autoscaling: Vec<_> = gvs_seen.iter().filter(|gv| gv.0 == "autoscaling").collect();
        assert_eq!(
            autoscaling,
            [&("autoscaling", "v2"), &("autoscaling", "v1")]
        );
        // Plurals sorted within a group/version.
        for gv in &gvs_seen {
            let plurals: Vec<_> = all
                .iter()
                .filter(|r| (r.group, r.version) == *gv)
                .map(|r| r.plural)
                .collect();
            assert!(
                plurals.windows(2).all(|w| w[0] < w[1]),
                "{gv:?}: {plurals:?}"
            );
        }
    }

    /// Kind, group, version, plural and scope agree with the types
    /// k8s-openapi generated from the upstream 1.33 OpenAPI spec, and the
    /// table holds exactly those types.
    #[test]
    fn agrees_with_k8s_openapi() {
        use k8s_openapi::api::{
            admissionregistration::v1 as admissionregistration, apps::v1 as apps,
            authentication::v1 as authentication, authorization::v1 as authorization,
            autoscaling::v1 as autoscaling1, autoscaling::v2 as autoscaling2, batch::v1 as batch,
            certificates::v1 as certificates, coordination::v1 as coordination, core::v1 as core,
            discovery::v1 as discovery, events::v1 as events, flowcontrol::v1 as flowcontrol,
            networking::v1 as networking, node::v1 as node, policy::v1 as policy, rbac::v1 as rbac,
            scheduling::v1 as scheduling, storage::v1 as storage,
        };
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
        use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;
        use k8s_openapi::{NamespaceResourceScope, Resource};

        fn row<T: Resource>() -> (&'static str, &'static str, &'static str, &'static str, bool)
        where
            T::Scope: 'static,
        {
            (
                T::GROUP,
                T::VERSION,
                T::KIND,
                T::URL_PATH_SEGMENT,
                TypeId::of::<T::Scope>() == TypeId::of::<NamespaceResourceScope>(),
            )
        }
        macro_rules! rows {
            ($($t:ty),* $(,)?) => { vec![$(row::<$t>()),*] };
        }
        let expected = rows![
            core::Binding,
            core::ComponentStatus,
            core::ConfigMap,
            core::Endpoints,
            core::Event,
            core::LimitRange,
            core::Namespace,
            core::Node,
            core::PersistentVolumeClaim,
            core::PersistentVolume,
            core::Pod,
            core::PodTemplate,
            core::ReplicationController,
            core::ResourceQuota,
            core::Secret,
            core::ServiceAccount,
            core::Service,
            apiregistration::APIService,
            apps::ControllerRevision,
            apps::DaemonSet,
            apps::Deployment,
            apps::ReplicaSet,
            apps::StatefulSet,
            events::Event,
            authentication::SelfSubjectReview,
            authentication::TokenReview,
            authorization::LocalSubjectAccessReview,
            authorization::SelfSubjectAccessReview,
            authorization::SelfSubjectRulesReview,
            authorization::SubjectAccessReview,
            autoscaling2::HorizontalPodAutoscaler,
            autoscaling1::HorizontalPodAutoscaler,
            batch::CronJob,
            batch::Job,
            certificates::CertificateSigningRequest,
            networking::IngressClass,
            networking::Ingress,
            networking::IPAddress,
            networking::NetworkPolicy,
            networking::ServiceCIDR,
            policy::PodDisruptionBudget,
            rbac::ClusterRoleBinding,
            rbac::ClusterRole,
            rbac::RoleBinding,
            rbac::Role,
            storage::CSIDriver,
            storage::CSINode,
            storage::CSIStorageCapacity,
            storage::StorageClass,
            storage::VolumeAttachment,
            admissionregistration::MutatingWebhookConfiguration,
            admissionregistration::ValidatingAdmissionPolicy,
            admissionregistration::ValidatingAdmissionPolicyBinding,
            admissionregistration::ValidatingWebhookConfiguration,
            apiextensions::CustomResourceDefinition,
            scheduling::PriorityClass,
            coordination::Lease,
            node::RuntimeClass,
            discovery::EndpointSlice,
            flowcontrol::FlowSchema,
            flowcontrol::PriorityLevelConfiguration,
        ];
        let actual: Vec<_> = builtin_resources()
            .into_iter()
            .map(|r| (r.group, r.version, r.kind, r.plural, r.namespaced))
            .collect();
        assert_eq!(actual, expected);
    }
}
