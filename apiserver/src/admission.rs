//! Built-in admission that every write passes: object metadata validation
//! (upstream `ValidateObjectMeta`), namespace lifecycle (no content in
//! missing or terminating namespaces), the mutating plugins of new objects
//! (`mutate_new`: LimitRanger, ServiceAccount, Priority) and ResourceQuota
//! (`quota`).
//! Webhooks and policies come later and will hang off this module.

pub mod limit_ranger;
pub mod priority;
pub mod quota;

use serde_json::Value;

use crate::error::{ApiError, ApiResult, Cause};
use crate::handlers::Ctx;
use crate::meta;
use crate::registry::Resource;
use crate::strategy::NameRule;
use crate::validation::{self, invalid, required};

/// Name, generateName, labels and annotations of `obj`.
pub fn validate_object_meta(obj: &Value, res: &Resource, creating: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = meta::name(obj);
    if name.is_empty() {
        if creating {
            causes.push(required(
                "metadata.name",
                "name or generateName is required",
            ));
        }
    } else {
        let errs = match res.strategy.name_rule() {
            NameRule::Subdomain => validation::dns1123_subdomain(name),
            NameRule::Label => validation::dns1123_label(name),
            NameRule::PathSegment => path_segment(name),
        };
        for e in errs {
            causes.push(invalid(
                "metadata.name",
                &Value::String(name.to_string()),
                &e,
            ));
        }
    }
    validation::labels_and_annotations(meta::meta(obj), &mut causes);
    causes
}

fn path_segment(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|s| name.contains(*s))
        .map(|s| format!("may not contain '{s}'"))
        .collect()
}

/// Refuses creating namespaced objects in a namespace that does not exist
/// (404) or is terminating (403), as upstream's NamespaceLifecycle plugin.
pub async fn namespace_lifecycle(ctx: &Ctx, res: &Resource, name: &str) -> ApiResult<()> {
    let Some(ns) = ctx.ns() else {
        return Ok(());
    };
    if !res.info.namespaced {
        return Ok(());
    }
    let table = ctx.state.table();
    let Some(namespaces) = table.get("", "v1", "namespaces") else {
        return Ok(());
    };
    let namespace = match ctx.state.store.get(&namespaces, None, ns).await {
        Ok(n) => n,
        Err(e) if e.code == 404 => {
            return Err(ApiError::not_found(crate::error::Target {
                group: "",
                resource: "namespaces",
                name: ns,
            }));
        }
        Err(e) => return Err(e),
    };
    if meta::is_deleting(&namespace)
        || namespace.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
    {
        let mut e = ApiError::forbidden(format!(
            "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            res.info.plural, name
        ));
        e.details = Some(Box::new(crate::error::Details {
            name: name.to_string(),
            group: res.info.group.to_string(),
            kind: res.info.plural.to_string(),
            causes: vec![Cause {
                reason: "NamespaceTerminating",
                message: format!("namespace {ns} is being terminated"),
                field: "metadata.namespace".into(),
            }],
            retry_after_seconds: None,
        }));
        e.reason = "Forbidden";
        return Err(e);
    }
    Ok(())
}

/// The mutating admission plugins on create, in upstream's order.
pub async fn mutate_new(ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    let info = &ctx.res.info;
    if ctx.info.subresource.is_some() {
        return Ok(());
    }
    let name = meta::name(obj).to_string();
    match (info.group, info.kind) {
        ("", "Pod") => {
            let ns = ctx.ns().unwrap_or_default();
            limit_ranger::admit_pod(&ctx.state, ns, obj, |why| forbidden("pods", &name, why))
                .await?;
            if ctx.state.settings.service_account_admission {
                crate::serviceaccount::admission::admit_pod(&ctx.state, ns, obj).await?;
            }
            priority::admit_pod(&ctx.state, obj, |why| forbidden("pods", &name, why)).await?;
            // The QoS class follows the resources admission settled.
            if obj.get("status").is_some_and(Value::is_object) {
                obj["status"]["qosClass"] = Value::from(crate::strategy::qos_class(obj));
            }
            Ok(())
        }
        ("", "PersistentVolumeClaim") => {
            let ns = ctx.ns().unwrap_or_default();
            limit_ranger::admit_pvc(&ctx.state, ns, obj, |why| {
                forbidden("persistentvolumeclaims", &name, why)
            })
            .await
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            priority::admit_priority_class(&ctx.state, obj, |why| {
                forbidden("priorityclasses.scheduling.k8s.io", &name, why)
            })
            .await
        }
        _ => Ok(()),
    }
}

/// `<resource> "<name>" is forbidden: <why>` (upstream's
/// admission.NewForbidden; without a name, `<resource> is forbidden: ...`).
pub fn forbidden(resource: &str, name: &str, why: &str) -> ApiError {
    let mut err = ApiError::forbidden(if name.is_empty() {
        format!("{resource} is forbidden: {why}")
    } else {
        format!("{resource} {name:?} is forbidden: {why}")
    });
    let (kind, group) = resource.split_once('.').unwrap_or((resource, ""));
    err.details = Some(Box::new(crate::error::Details {
        name: name.to_string(),
        kind: kind.to_string(),
        group: group.to_string(),
        ..Default::default()
    }));
    err
}
