//! Schema extensions that k8s-openapi's schemas do not carry: strategic
//! merge patch metadata (`x-kubernetes-patch-strategy`,
//! `x-kubernetes-patch-merge-key`) and server-side apply list/map semantics
//! (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
//! `x-kubernetes-map-type`).
//!
//! Facts of the Kubernetes 1.33 API types (the `patchStrategy` /
//! `patchMergeKey` struct tags and the `+listType`, `+listMapKey`,
//! `+mapType` and `+structType` markers of the served GA group/versions),
//! as terse rows: definition, then per property
//! `(json name, patch strategy, merge key, list type, list map keys, map type)`
//! with "" for "none".

/// One property's extensions.
pub(crate) type Field = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
);

/// Definitions whose whole object is atomic for server-side apply
/// (`x-kubernetes-map-type: atomic` on the definition itself).
pub(crate) static ATOMIC_TYPES: &[&str] = &[
    "io.k8s.api.admissionregistration.v1.MatchResources",
    "io.k8s.api.admissionregistration.v1.NamedRuleWithOperations",
    "io.k8s.api.admissionregistration.v1.ParamKind",
    "io.k8s.api.admissionregistration.v1.ParamRef",
    "io.k8s.api.admissionregistration.v1.Variable",
    "io.k8s.api.autoscaling.v1.CrossVersionObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.EndpointAddress",
    "io.k8s.api.core.v1.EndpointPort",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ScopeSelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.SecretReference",
    "io.k8s.api.core.v1.TopologySelectorTerm",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.discovery.v1.EndpointPort",
    "io.k8s.api.networking.v1.ServiceBackendPort",
    "io.k8s.api.rbac.v1.RoleRef",
    "io.k8s.api.rbac.v1.Subject",
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
];

/// Per-definition property extensions, sorted by definition name.
pub(crate) static FIELDS: &[(&str, &[Field])] = &[
    (
        "io.k8s.api.admissionregistration.v1.MatchResources",
        &[
            ("excludeResourceRules", "", "", "atomic", &[], ""),
            ("resourceRules", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.admissionregistration.v1.MutatingWebhook",
        &[
            ("admissionReviewVersions", "", "", "atomic", &[], ""),
            ("matchConditions", "merge", "name", "map", &["name"], ""),
            ("rules", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration",
        &[("webhooks", "merge", "name", "map", &["name"], "")],
    ),
    (
        "io.k8s.api.admissionregistration.v1.NamedRuleWithOperations",
        &[("resourceNames", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.admissionregistration.v1.Rule",
        &[
            ("apiGroups", "", "", "atomic", &[], ""),
            ("apiVersions", "", "", "atomic", &[], ""),
            ("resources", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.admissionregistration.v1.RuleWithOperations",
        &[("operations", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.admissionregistration.v1.TypeChecking",
        &[("expressionWarnings", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpec",
        &[("validationActions", "", "", "set", &[], "")],
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicySpec",
        &[
            ("auditAnnotations", "", "", "atomic", &[], ""),
            ("matchConditions", "merge", "name", "map", &["name"], ""),
            ("validations", "", "", "atomic", &[], ""),
            ("variables", "merge", "name", "map", &["name"], ""),
        ],
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyStatus",
        &[("conditions", "", "", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingWebhook",
        &[
            ("admissionReviewVersions", "", "", "atomic", &[], ""),
            ("matchConditions", "merge", "name", "map", &["name"], ""),
            ("rules", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration",
        &[("webhooks", "merge", "name", "map", &["name"], "")],
    ),
    (
        "io.k8s.api.apps.v1.DaemonSetStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.apps.v1.DeploymentSpec",
        &[("strategy", "retainKeys", "", "", &[], "")],
    ),
    (
        "io.k8s.api.apps.v1.DeploymentStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.apps.v1.ReplicaSetStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetSpec",
        &[("volumeClaimTemplates", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.authentication.v1.TokenRequestSpec",
        &[("audiences", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.authentication.v1.TokenReviewSpec",
        &[("audiences", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.authentication.v1.TokenReviewStatus",
        &[("audiences", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.authentication.v1.UserInfo",
        &[("groups", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.authorization.v1.FieldSelectorAttributes",
        &[("requirements", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.authorization.v1.LabelSelectorAttributes",
        &[("requirements", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.authorization.v1.NonResourceRule",
        &[
            ("nonResourceURLs", "", "", "atomic", &[], ""),
            ("verbs", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.authorization.v1.ResourceRule",
        &[
            ("apiGroups", "", "", "atomic", &[], ""),
            ("resourceNames", "", "", "atomic", &[], ""),
            ("resources", "", "", "atomic", &[], ""),
            ("verbs", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.authorization.v1.SubjectAccessReviewSpec",
        &[("groups", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.authorization.v1.SubjectRulesReviewStatus",
        &[
            ("nonResourceRules", "", "", "atomic", &[], ""),
            ("resourceRules", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.autoscaling.v2.HPAScalingRules",
        &[("policies", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec",
        &[("metrics", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
        &[
            ("conditions", "merge", "type", "map", &["type"], ""),
            ("currentMetrics", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.batch.v1.CronJobStatus",
        &[("active", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.batch.v1.JobStatus",
        &[("conditions", "merge", "type", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.batch.v1.PodFailurePolicy",
        &[("rules", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
        &[("values", "", "", "set", &[], "")],
    ),
    (
        "io.k8s.api.batch.v1.PodFailurePolicyRule",
        &[("onPodConditions", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.batch.v1.SuccessPolicy",
        &[("rules", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.batch.v1.UncountedTerminatedPods",
        &[
            ("failed", "", "", "set", &[], ""),
            ("succeeded", "", "", "set", &[], ""),
        ],
    ),
    (
        "io.k8s.api.certificates.v1.CertificateSigningRequestSpec",
        &[
            ("groups", "", "", "atomic", &[], ""),
            ("request", "", "", "atomic", &[], ""),
            ("usages", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.certificates.v1.CertificateSigningRequestStatus",
        &[
            ("certificate", "", "", "atomic", &[], ""),
            ("conditions", "", "", "map", &["type"], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.AvoidPods",
        &[("preferAvoidPods", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.Capabilities",
        &[
            ("add", "", "", "atomic", &[], ""),
            ("drop", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.CephFSPersistentVolumeSource",
        &[("monitors", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.CephFSVolumeSource",
        &[("monitors", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.ComponentStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.core.v1.ConfigMapProjection",
        &[("items", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.ConfigMapVolumeSource",
        &[("items", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.Container",
        &[
            ("args", "", "", "atomic", &[], ""),
            ("command", "", "", "atomic", &[], ""),
            ("env", "merge", "name", "map", &["name"], ""),
            ("envFrom", "", "", "atomic", &[], ""),
            (
                "ports",
                "merge",
                "containerPort",
                "map",
                &["containerPort", "protocol"],
                "",
            ),
            ("resizePolicy", "", "", "atomic", &[], ""),
            (
                "volumeDevices",
                "merge",
                "devicePath",
                "map",
                &["devicePath"],
                "",
            ),
            (
                "volumeMounts",
                "merge",
                "mountPath",
                "map",
                &["mountPath"],
                "",
            ),
        ],
    ),
    (
        "io.k8s.api.core.v1.ContainerImage",
        &[("names", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.ContainerStatus",
        &[
            (
                "allocatedResourcesStatus",
                "merge",
                "name",
                "map",
                &["name"],
                "",
            ),
            (
                "volumeMounts",
                "merge",
                "mountPath",
                "map",
                &["mountPath"],
                "",
            ),
        ],
    ),
    (
        "io.k8s.api.core.v1.DownwardAPIProjection",
        &[("items", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.DownwardAPIVolumeSource",
        &[("items", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.EndpointSubset",
        &[
            ("addresses", "", "", "atomic", &[], ""),
            ("notReadyAddresses", "", "", "atomic", &[], ""),
            ("ports", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.Endpoints",
        &[("subsets", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainerCommon",
        &[
            ("args", "", "", "atomic", &[], ""),
            ("command", "", "", "atomic", &[], ""),
            ("env", "merge", "name", "map", &["name"], ""),
            ("envFrom", "", "", "atomic", &[], ""),
            (
                "ports",
                "merge",
                "containerPort",
                "map",
                &["containerPort", "protocol"],
                "",
            ),
            ("resizePolicy", "", "", "atomic", &[], ""),
            (
                "volumeDevices",
                "merge",
                "devicePath",
                "map",
                &["devicePath"],
                "",
            ),
            (
                "volumeMounts",
                "merge",
                "mountPath",
                "map",
                &["mountPath"],
                "",
            ),
        ],
    ),
    (
        "io.k8s.api.core.v1.ExecAction",
        &[("command", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.FCVolumeSource",
        &[
            ("targetWWNs", "", "", "atomic", &[], ""),
            ("wwids", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.HTTPGetAction",
        &[("httpHeaders", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.HostAlias",
        &[("hostnames", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.ISCSIPersistentVolumeSource",
        &[("portals", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.ISCSIVolumeSource",
        &[("portals", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.LimitRangeSpec",
        &[("limits", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.LinuxContainerUser",
        &[("supplementalGroups", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.LoadBalancerIngress",
        &[("ports", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.LoadBalancerStatus",
        &[("ingress", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.NamespaceSpec",
        &[("finalizers", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.NamespaceStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.core.v1.NodeAffinity",
        &[(
            "preferredDuringSchedulingIgnoredDuringExecution",
            "",
            "",
            "atomic",
            &[],
            "",
        )],
    ),
    (
        "io.k8s.api.core.v1.NodeSelector",
        &[("nodeSelectorTerms", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.NodeSelectorRequirement",
        &[("values", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.NodeSelectorTerm",
        &[
            ("matchExpressions", "", "", "atomic", &[], ""),
            ("matchFields", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.NodeSpec",
        &[
            ("podCIDRs", "merge", "", "set", &[], ""),
            ("taints", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.NodeStatus",
        &[
            ("addresses", "merge", "type", "map", &["type"], ""),
            ("conditions", "merge", "type", "map", &["type"], ""),
            ("images", "", "", "atomic", &[], ""),
            ("runtimeHandlers", "", "", "atomic", &[], ""),
            ("volumesAttached", "", "", "atomic", &[], ""),
            ("volumesInUse", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        &[("accessModes", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimStatus",
        &[
            ("accessModes", "", "", "atomic", &[], ""),
            ("allocatedResourceStatuses", "", "", "", &[], "granular"),
            ("conditions", "merge", "type", "map", &["type"], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeSpec",
        &[
            ("accessModes", "", "", "atomic", &[], ""),
            ("mountOptions", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.PodAffinity",
        &[
            (
                "preferredDuringSchedulingIgnoredDuringExecution",
                "",
                "",
                "atomic",
                &[],
                "",
            ),
            (
                "requiredDuringSchedulingIgnoredDuringExecution",
                "",
                "",
                "atomic",
                &[],
                "",
            ),
        ],
    ),
    (
        "io.k8s.api.core.v1.PodAffinityTerm",
        &[
            ("matchLabelKeys", "", "", "atomic", &[], ""),
            ("mismatchLabelKeys", "", "", "atomic", &[], ""),
            ("namespaces", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.PodAntiAffinity",
        &[
            (
                "preferredDuringSchedulingIgnoredDuringExecution",
                "",
                "",
                "atomic",
                &[],
                "",
            ),
            (
                "requiredDuringSchedulingIgnoredDuringExecution",
                "",
                "",
                "atomic",
                &[],
                "",
            ),
        ],
    ),
    (
        "io.k8s.api.core.v1.PodDNSConfig",
        &[
            ("nameservers", "", "", "atomic", &[], ""),
            ("options", "", "", "atomic", &[], ""),
            ("searches", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.PodExecOptions",
        &[("command", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.PodPortForwardOptions",
        &[("ports", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.PodSecurityContext",
        &[
            ("supplementalGroups", "", "", "atomic", &[], ""),
            ("sysctls", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        &[
            ("containers", "merge", "name", "map", &["name"], ""),
            ("ephemeralContainers", "merge", "name", "map", &["name"], ""),
            ("hostAliases", "merge", "ip", "map", &["ip"], ""),
            ("imagePullSecrets", "merge", "name", "map", &["name"], ""),
            ("initContainers", "merge", "name", "map", &["name"], ""),
            ("nodeSelector", "", "", "", &[], "atomic"),
            ("readinessGates", "", "", "atomic", &[], ""),
            (
                "resourceClaims",
                "merge,retainKeys",
                "name",
                "map",
                &["name"],
                "",
            ),
            ("schedulingGates", "merge", "name", "map", &["name"], ""),
            ("tolerations", "", "", "atomic", &[], ""),
            (
                "topologySpreadConstraints",
                "merge",
                "topologyKey",
                "map",
                &["topologyKey", "whenUnsatisfiable"],
                "",
            ),
            ("volumes", "merge,retainKeys", "name", "map", &["name"], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        &[
            ("conditions", "merge", "type", "map", &["type"], ""),
            ("containerStatuses", "", "", "atomic", &[], ""),
            ("ephemeralContainerStatuses", "", "", "atomic", &[], ""),
            ("hostIPs", "merge", "ip", "atomic", &[], ""),
            ("initContainerStatuses", "", "", "atomic", &[], ""),
            ("podIPs", "merge", "ip", "map", &["ip"], ""),
            (
                "resourceClaimStatuses",
                "merge,retainKeys",
                "name",
                "map",
                &["name"],
                "",
            ),
        ],
    ),
    (
        "io.k8s.api.core.v1.ProjectedVolumeSource",
        &[("sources", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.RBDPersistentVolumeSource",
        &[("monitors", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.RBDVolumeSource",
        &[("monitors", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.ReplicationControllerSpec",
        &[("selector", "", "", "", &[], "atomic")],
    ),
    (
        "io.k8s.api.core.v1.ReplicationControllerStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.core.v1.ResourceQuotaSpec",
        &[("scopes", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.ResourceRequirements",
        &[("claims", "", "", "map", &["name"], "")],
    ),
    (
        "io.k8s.api.core.v1.ResourceStatus",
        &[("resources", "", "", "map", &["resourceID"], "")],
    ),
    (
        "io.k8s.api.core.v1.ScopeSelector",
        &[("matchExpressions", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.ScopedResourceSelectorRequirement",
        &[("values", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.SecretProjection",
        &[("items", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.SecretVolumeSource",
        &[("items", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.ServiceAccount",
        &[
            ("imagePullSecrets", "", "", "atomic", &[], ""),
            ("secrets", "merge", "name", "map", &["name"], ""),
        ],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        &[
            ("clusterIPs", "", "", "atomic", &[], ""),
            ("externalIPs", "", "", "atomic", &[], ""),
            ("ipFamilies", "", "", "atomic", &[], ""),
            ("loadBalancerSourceRanges", "", "", "atomic", &[], ""),
            ("ports", "merge", "port", "map", &["port", "protocol"], ""),
            ("selector", "", "", "", &[], "atomic"),
        ],
    ),
    (
        "io.k8s.api.core.v1.ServiceStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.core.v1.TopologySelectorLabelRequirement",
        &[("values", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.TopologySelectorTerm",
        &[("matchLabelExpressions", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.core.v1.TopologySpreadConstraint",
        &[("matchLabelKeys", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.discovery.v1.Endpoint",
        &[("addresses", "", "", "set", &[], "")],
    ),
    (
        "io.k8s.api.discovery.v1.EndpointHints",
        &[
            ("forNodes", "", "", "atomic", &[], ""),
            ("forZones", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.discovery.v1.EndpointSlice",
        &[
            ("endpoints", "", "", "atomic", &[], ""),
            ("ports", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.flowcontrol.v1.FlowSchemaSpec",
        &[("rules", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.flowcontrol.v1.FlowSchemaStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.flowcontrol.v1.NonResourcePolicyRule",
        &[
            ("nonResourceURLs", "", "", "set", &[], ""),
            ("verbs", "", "", "set", &[], ""),
        ],
    ),
    (
        "io.k8s.api.flowcontrol.v1.PolicyRulesWithSubjects",
        &[
            ("nonResourceRules", "", "", "atomic", &[], ""),
            ("resourceRules", "", "", "atomic", &[], ""),
            ("subjects", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.flowcontrol.v1.ResourcePolicyRule",
        &[
            ("apiGroups", "", "", "set", &[], ""),
            ("namespaces", "", "", "set", &[], ""),
            ("resources", "", "", "set", &[], ""),
            ("verbs", "", "", "set", &[], ""),
        ],
    ),
    (
        "io.k8s.api.networking.v1.HTTPIngressRuleValue",
        &[("paths", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.networking.v1.IPBlock",
        &[("except", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.networking.v1.IngressLoadBalancerIngress",
        &[("ports", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.networking.v1.IngressLoadBalancerStatus",
        &[("ingress", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.networking.v1.IngressSpec",
        &[
            ("rules", "", "", "atomic", &[], ""),
            ("tls", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.networking.v1.IngressTLS",
        &[("hosts", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicyEgressRule",
        &[
            ("ports", "", "", "atomic", &[], ""),
            ("to", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicyIngressRule",
        &[
            ("from", "", "", "atomic", &[], ""),
            ("ports", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.networking.v1.NetworkPolicySpec",
        &[
            ("egress", "", "", "atomic", &[], ""),
            ("ingress", "", "", "atomic", &[], ""),
            ("policyTypes", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.networking.v1.ServiceCIDRSpec",
        &[("cidrs", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.networking.v1.ServiceCIDRStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.node.v1.Scheduling",
        &[
            ("nodeSelector", "", "", "", &[], "atomic"),
            ("tolerations", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
        &[("selector", "replace", "", "", &[], "")],
    ),
    (
        "io.k8s.api.policy.v1.PodDisruptionBudgetStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
    (
        "io.k8s.api.rbac.v1.AggregationRule",
        &[("clusterRoleSelectors", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.rbac.v1.ClusterRole",
        &[("rules", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.rbac.v1.ClusterRoleBinding",
        &[("subjects", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.rbac.v1.PolicyRule",
        &[
            ("apiGroups", "", "", "atomic", &[], ""),
            ("nonResourceURLs", "", "", "atomic", &[], ""),
            ("resourceNames", "", "", "atomic", &[], ""),
            ("resources", "", "", "atomic", &[], ""),
            ("verbs", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.api.rbac.v1.Role",
        &[("rules", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.rbac.v1.RoleBinding",
        &[("subjects", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.storage.v1.CSIDriverSpec",
        &[
            ("tokenRequests", "", "", "atomic", &[], ""),
            ("volumeLifecycleModes", "", "", "set", &[], ""),
        ],
    ),
    (
        "io.k8s.api.storage.v1.CSINodeDriver",
        &[("topologyKeys", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.api.storage.v1.CSINodeSpec",
        &[("drivers", "merge", "name", "map", &["name"], "")],
    ),
    (
        "io.k8s.api.storage.v1.StorageClass",
        &[
            ("allowedTopologies", "", "", "atomic", &[], ""),
            ("mountOptions", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ConversionRequest",
        &[("objects", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ConversionResponse",
        &[("convertedObjects", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionNames",
        &[
            ("categories", "", "", "atomic", &[], ""),
            ("shortNames", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec",
        &[("versions", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        &[
            ("conditions", "", "", "map", &["type"], ""),
            ("storedVersions", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion",
        &[
            ("additionalPrinterColumns", "", "", "atomic", &[], ""),
            ("selectableFields", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
        &[
            ("allOf", "", "", "atomic", &[], ""),
            ("anyOf", "", "", "atomic", &[], ""),
            ("enum", "", "", "atomic", &[], ""),
            ("oneOf", "", "", "atomic", &[], ""),
            ("required", "", "", "atomic", &[], ""),
            ("x-kubernetes-list-map-keys", "", "", "atomic", &[], ""),
            (
                "x-kubernetes-validations",
                "merge",
                "rule",
                "map",
                &["rule"],
                "",
            ),
        ],
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.WebhookConversion",
        &[("conversionReviewVersions", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup",
        &[
            ("serverAddressByClientCIDRs", "", "", "atomic", &[], ""),
            ("versions", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList",
        &[("groups", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIResource",
        &[
            ("categories", "", "", "atomic", &[], ""),
            ("shortNames", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
        &[("resources", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions",
        &[
            ("serverAddressByClientCIDRs", "", "", "atomic", &[], ""),
            ("versions", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ApplyOptions",
        &[("dryRun", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.CreateOptions",
        &[("dryRun", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        &[("dryRun", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement",
        &[("values", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
        &[("matchExpressions", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
        &[("values", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        &[
            ("finalizers", "merge", "", "set", &[], ""),
            ("managedFields", "", "", "atomic", &[], ""),
            ("ownerReferences", "merge", "uid", "map", &["uid"], ""),
        ],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.PatchOptions",
        &[("dryRun", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.RootPaths",
        &[("paths", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        &[("details", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails",
        &[("causes", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.Table",
        &[
            ("columnDefinitions", "", "", "atomic", &[], ""),
            ("rows", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.TableRow",
        &[
            ("cells", "", "", "atomic", &[], ""),
            ("conditions", "", "", "atomic", &[], ""),
        ],
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.UpdateOptions",
        &[("dryRun", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceSpec",
        &[("caBundle", "", "", "atomic", &[], "")],
    ),
    (
        "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus",
        &[("conditions", "merge", "type", "map", &["type"], "")],
    ),
];
