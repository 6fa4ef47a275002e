//! Per-kind behaviour on top of the generic registry (upstream's
//! `rest.RESTCreateStrategy`/`RESTUpdateStrategy`): defaults, validation,
//! status/spec rules and extra selectable fields. Kinds without special
//! needs use `Generic`.

mod admissionregistration;
mod batch;
mod certificates;
mod common;
mod configmap;
mod core_misc;
mod events;
mod flowcontrol;
mod immutable;
mod namespace;
mod networking;
mod pod;
pub(crate) use pod::qos_class;
mod policy;
mod rbac;
pub mod scheduling;
mod secret;
mod service;
pub mod service_alloc;
mod workloads;

pub use batch::parse_cron;
pub(crate) use common::Selector;
pub use service_alloc::{Reservation, ServiceAllocator, UpdateLedger};

use serde_json::Value;

use crate::error::Cause;

/// How `metadata.name` is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    Subdomain,
    Label,
    /// Path-segment names (RBAC roles and the like): no `/`, `%`, `.` or `..`.
    PathSegment,
}

pub trait Strategy: Send + Sync {
    /// Whether `metadata.generation` is kept and bumped on spec changes.
    fn tracks_generation(&self) -> bool {
        true
    }
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }
    /// Defaults and server-owned fields on create (after metadata stamping).
    fn prepare_for_create(&self, _obj: &mut Value) {}
    /// Fields recorded from the requesting user on create (after
    /// `prepare_for_create`; CertificateSigningRequest's `spec.username`).
    fn prepare_for_create_by(&self, _obj: &mut Value, _user: &crate::authn::UserInfo) {}
    /// Called on update of the main resource, after the status reset.
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}
    /// Called on update through a subresource other than scale and finalize
    /// (`status`: after the spec was restored from `old`).
    fn prepare_for_subresource_update(&self, _subresource: &str, _new: &mut Value, _old: &Value) {}
    fn validate(&self, _obj: &Value) -> Vec<Cause> {
        Vec::new()
    }
    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<Cause> {
        self.validate(new)
    }
    /// Fields beyond metadata.name/namespace usable in field selectors.
    fn selectable_fields(&self) -> &'static [&'static str] {
        &[]
    }
    fn field_value(&self, _obj: &Value, _field: &str) -> Option<String> {
        None
    }
    /// Graceful deletion (upstream's `CheckGracefulDelete`): the grace
    /// period in seconds a DELETE asking for `requested` gets, `None` for
    /// kinds deleted at once. Only pods are deleted gracefully.
    fn deletion_grace_period(&self, _obj: &Value, _requested: Option<i64>) -> Option<i64> {
        None
    }
    /// DELETE answers with the object (true) or a Status (false).
    fn return_deleted_object(&self) -> bool {
        false
    }
    /// PUT of a missing object creates it.
    fn allow_create_on_update(&self) -> bool {
        false
    }
    /// Removes the fields the kind's own schema does not know and returns
    /// their paths; None when the OpenAPI definitions decide (built-ins).
    /// Custom resources prune with their CRD's structural schema.
    fn prune_unknown(&self, _obj: &mut Value) -> Option<Vec<String>> {
        None
    }
}

/// The strategy of kinds with no special rules.
pub struct Generic;
impl Strategy for Generic {}

/// Kinds without a spec (ConfigMap-like) do not track generation.
pub struct NoGeneration;
impl Strategy for NoGeneration {
    fn tracks_generation(&self) -> bool {
        false
    }
}

/// The strategy for a built-in kind.
pub fn for_kind(group: &str, kind: &str) -> &'static dyn Strategy {
    match (group, kind) {
        ("", "Namespace") => &namespace::NamespaceStrategy,
        ("", "ConfigMap") => &configmap::ConfigMapStrategy,
        ("", "Secret") => &secret::SecretStrategy,
        ("", "Pod") => &pod::PodStrategy,
        ("", "Event") => &EventStrategy,
        ("events.k8s.io", "Event") => &events::EventsV1Strategy,
        ("", "Service") => &service::ServiceStrategy,
        ("", "Node") => &core_misc::NodeStrategy,
        ("", "Endpoints") => &core_misc::EndpointsStrategy,
        ("", "PersistentVolumeClaim") => &core_misc::PvcStrategy,
        ("", "PersistentVolume") => &core_misc::PvStrategy,
        ("", "ServiceAccount") => &core_misc::ServiceAccountStrategy,
        ("", "ReplicationController") => &workloads::ReplicationControllerStrategy,
        ("coordination.k8s.io", "Lease") => &core_misc::LeaseStrategy,
        ("apps", "Deployment") => &workloads::DeploymentStrategy,
        ("apps", "ReplicaSet") => &workloads::ReplicaSetStrategy,
        ("apps", "StatefulSet") => &workloads::StatefulSetStrategy,
        ("apps", "DaemonSet") => &workloads::DaemonSetStrategy,
        ("batch", "Job") => &batch::JobStrategy,
        ("batch", "CronJob") => &batch::CronJobStrategy,
        ("rbac.authorization.k8s.io", "Role") => &rbac::RoleStrategy { namespaced: true },
        ("rbac.authorization.k8s.io", "ClusterRole") => &rbac::RoleStrategy { namespaced: false },
        ("rbac.authorization.k8s.io", "RoleBinding") => &rbac::BindingStrategy { namespaced: true },
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            &rbac::BindingStrategy { namespaced: false }
        }
        ("rbac.authorization.k8s.io", _) => &NoGeneration,
        ("node.k8s.io", "RuntimeClass") => &immutable::RUNTIME_CLASS,
        ("scheduling.k8s.io", "PriorityClass") => &scheduling::PriorityClassStrategy,
        ("storage.k8s.io", "StorageClass") => &immutable::STORAGE_CLASS,
        ("networking.k8s.io", "IngressClass") => &immutable::INGRESS_CLASS,
        ("networking.k8s.io", "Ingress") => &networking::IngressStrategy,
        ("discovery.k8s.io", "EndpointSlice") => &networking::EndpointSliceStrategy,
        ("policy", "PodDisruptionBudget") => &policy::PodDisruptionBudgetStrategy,
        ("certificates.k8s.io", "CertificateSigningRequest") => &certificates::CsrStrategy,
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => &flowcontrol::FlowSchemaStrategy,
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => {
            &flowcontrol::PriorityLevelStrategy
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            &admissionregistration::PolicyStrategy
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding") => {
            &admissionregistration::PolicyBindingStrategy
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            &admissionregistration::WebhookConfigurationStrategy { mutating: false }
        }
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            &admissionregistration::WebhookConfigurationStrategy { mutating: true }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => &crate::crd::CrdStrategy,
        _ => &Generic,
    }
}

/// Core events: selectable by involvedObject.* and friends.
struct EventStrategy;
impl Strategy for EventStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn selectable_fields(&self) -> &'static [&'static str] {
        &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let v = match field {
            "source" => obj.pointer("/source/component"),
            f => {
                let path = format!("/{}", f.replace('.', "/"));
                obj.pointer(&path)
            }
        };
        Some(v.and_then(Value::as_str).unwrap_or_default().to_string())
    }
    fn allow_create_on_update(&self) -> bool {
        true
    }
}

/// Path-segment name problems (RBAC names), as upstream's
/// `ValidatePathSegmentName`.
pub(crate) fn path_segment_errors(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|s| name.contains(*s))
        .map(|s| format!("may not contain '{s}'"))
        .collect()
}

/// Reads a string at a JSON pointer, for field selectors.
pub(crate) fn pointer_str(obj: &Value, pointer: &str) -> Option<String> {
    Some(
        obj.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    )
}
