//! `ObjectStore`: Kubernetes object semantics over the `Kv` engine, for every
//! resource alike (upstream's generic `registry.Store` + `etcd3.store`).
//!
//! Objects are JSON under `/registry/<storage_prefix>/[<namespace>/]<name>`;
//! `metadata.resourceVersion` is never stored: it is the key's mod revision,
//! set when an object is read. Writes are compare-and-swap transactions on
//! the mod revision, so a refused or raced request never changes data.

use std::sync::Arc;

use serde_json::Value;
use store::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, KeyValue, Kv, PutRequest,
    RangeRequest, RequestOp, ResponseOp, TxnRequest,
};

use super::table::Resource;
use crate::error::{ApiError, ApiResult, Target};
use crate::meta;

/// How an update treats status and spec (upstream's status strategy split).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// The main resource: status changes are ignored when the resource has a
    /// status subresource.
    Main,
    /// The status subresource: only status (and metadata) changes apply.
    Status,
    /// `namespaces/<n>/finalize`: only `spec.finalizers` changes.
    Finalize,
    /// Any other subresource: the caller decides what changes.
    Raw,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
    /// "Orphan", "Background" or "Foreground".
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
}

/// What a delete did: removed the object, or only marked it (finalizers).
pub enum DeleteOutcome {
    Deleted(Value),
    Pending(Value),
}

#[derive(Clone)]
pub struct ObjectStore {
    kv: Arc<dyn Kv>,
}

pub fn target<'a>(res: &'a Resource, name: &'a str) -> Target<'a> {
    Target {
        group: res.info.group,
        resource: res.info.plural,
        name,
    }
}

/// Decodes a stored object in the version `res` serves and sets its
/// resourceVersion.
pub fn decode(res: &Resource, kv: &KeyValue) -> ApiResult<Value> {
    let stored: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")))?;
    let mut obj = res.from_storage(stored)?;
    meta::meta_mut(&mut obj).insert(
        "resourceVersion".into(),
        Value::String(kv.mod_revision.to_string()),
    );
    Ok(obj)
}

/// Encodes `obj` for storage, in the resource's storage version.
fn encode(res: &Resource, obj: &Value) -> ApiResult<Vec<u8>> {
    let mut copy = res.to_storage(obj.clone())?;
    let m = meta::meta_mut(&mut copy);
    m.remove("resourceVersion");
    m.remove("selfLink");
    serde_json::to_vec(&copy).map_err(|e| ApiError::internal(e.to_string()))
}

fn mod_equals(key: &[u8], rev: i64) -> Compare {
    Compare {
        key: key.to_vec(),
        range_end: Vec::new(),
        result: CompareResult::Equal,
        target: CompareTarget::Mod(rev),
    }
}

impl ObjectStore {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        ObjectStore { kv }
    }

    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.kv
    }

    /// `/registry/<prefix>/` or `/registry/<prefix>/<namespace>/`.
    pub fn prefix(res: &Resource, namespace: Option<&str>) -> Vec<u8> {
        match namespace {
            Some(ns) if res.info.namespaced => {
                format!("/registry/{}/{}/", res.info.storage_prefix, ns).into_bytes()
            }
            _ => format!("/registry/{}/", res.info.storage_prefix).into_bytes(),
        }
    }

    pub fn key(res: &Resource, namespace: Option<&str>, name: &str) -> Vec<u8> {
        let mut key = Self::prefix(res, namespace);
        key.extend_from_slice(name.as_bytes());
        key
    }

    async fn get_kv(&self, key: &[u8]) -> ApiResult<Option<KeyValue>> {
        let resp = self.kv.range(RangeRequest::key(key.to_vec())).await?;
        Ok(resp.kvs.into_iter().next())
    }

    pub async fn get(&self, res: &Resource, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        let key = Self::key(res, ns, name);
        match self.get_kv(&key).await? {
            Some(kv) => decode(res, &kv),
            None => Err(ApiError::not_found(target(res, name))),
        }
    }

    /// Stores a new object (already prepared and validated).
    pub async fn create(
        &self,
        res: &Resource,
        ns: Option<&str>,
        obj: Value,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let name = meta::name(&obj).to_string();
        let key = Self::key(res, ns, &name);
        let value = encode(res, &obj)?;
        if dry_run {
            if self.get_kv(&key).await?.is_some() {
                return Err(ApiError::already_exists(target(res, &name)));
            }
            return Ok(obj);
        }
        let resp = self
            .kv
            .txn(TxnRequest {
                compare: vec![mod_equals(&key, 0)],
                success: vec![RequestOp::Put(PutRequest {
                    key: key.clone(),
                    value,
                    ..Default::default()
                })],
                failure: Vec::new(),
            })
            .await?;
        if !resp.succeeded {
            return Err(ApiError::already_exists(target(res, &name)));
        }
        let mut created = obj;
        meta::meta_mut(&mut created).insert(
            "resourceVersion".into(),
            Value::String(resp.header.revision.to_string()),
        );
        Ok(created)
    }

    /// Read-modify-write with optimistic concurrency (upstream's
    /// GuaranteedUpdate): `update` gets the current object (None when it does
    /// not exist) and returns the new one; a concurrent change retries.
    /// Returns the stored object and whether it was created.
    pub async fn guaranteed_update<F>(
        &self,
        res: &Resource,
        ns: Option<&str>,
        name: &str,
        dry_run: bool,
        mut update: F,
    ) -> ApiResult<(Value, bool)>
    where
        F: FnMut(Option<Value>) -> ApiResult<Value> + Send,
    {
        let key = Self::key(res, ns, name);
        let mut current = self.get_kv(&key).await?;
        loop {
            let mod_rev = current.as_ref().map(|kv| kv.mod_revision).unwrap_or(0);
            let old = current.as_ref().map(|kv| decode(res, kv)).transpose()?;
            let existed = old.is_some();
            let unchanged_bytes = current.as_ref().map(|kv| kv.value.clone());
            let new_obj = update(old)?;
            let value = encode(res, &new_obj)?;
            if dry_run {
                return Ok((new_obj, !existed));
            }
            // An update that changes nothing writes nothing (upstream too).
            if unchanged_bytes.as_deref() == Some(value.as_slice()) {
                let mut same = new_obj;
                meta::meta_mut(&mut same)
                    .insert("resourceVersion".into(), Value::String(mod_rev.to_string()));
                return Ok((same, false));
            }
            let resp = self
                .kv
                .txn(TxnRequest {
                    compare: vec![mod_equals(&key, mod_rev)],
                    success: vec![RequestOp::Put(PutRequest {
                        key: key.clone(),
                        value,
                        ..Default::default()
                    })],
                    failure: vec![RequestOp::Range(RangeRequest::key(key.clone()))],
                })
                .await?;
            if resp.succeeded {
                let mut stored = new_obj;
                meta::meta_mut(&mut stored).insert(
                    "resourceVersion".into(),
                    Value::String(resp.header.revision.to_string()),
                );
                return Ok((stored, !existed));
            }
            current = match resp.responses.into_iter().next() {
                Some(ResponseOp::Range(r)) => r.kvs.into_iter().next(),
                _ => None,
            };
        }
    }

    /// Deletes `name`, or marks it for deletion when it has finalizers.
    pub async fn delete(
        &self,
        res: &Resource,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<DeleteOutcome> {
        let key = Self::key(res, ns, name);
        let mut current = self.get_kv(&key).await?;
        loop {
            let Some(kv) = current.take() else {
                return Err(ApiError::not_found(target(res, name)));
            };
            let obj = decode(res, &kv)?;
            check_preconditions(res, name, &obj, opts)?;
            let finalizers = meta::finalizers(&obj);
            // Orphan/Foreground propagation add the "orphan" and
            // "foregroundDeletion" finalizers; the garbage collector
            // (controllers/) removes them.
            let wanted = super::deletion_policy::finalizers_after_delete(res, &finalizers, opts);
            let namespace_pending = res.info.kind == "Namespace" && res.info.group.is_empty();
            let grace = graceful_deletion(res, &obj, opts);
            if grace == Grace::Pending && wanted == finalizers {
                return Ok(DeleteOutcome::Pending(obj));
            }
            let mark = match grace {
                Grace::Mark(seconds) => Some(seconds),
                _ => None,
            };
            if !wanted.is_empty() || namespace_pending || mark.is_some() {
                if meta::is_deleting(&obj) && wanted == finalizers && mark.is_none() {
                    return Ok(DeleteOutcome::Pending(obj));
                }
                let mut marked = obj.clone();
                let m = meta::meta_mut(&mut marked);
                if let Some(seconds) = mark {
                    let due = chrono::Utc::now() + chrono::Duration::seconds(seconds);
                    m.insert(
                        "deletionTimestamp".into(),
                        Value::String(due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    );
                    m.insert("deletionGracePeriodSeconds".into(), Value::from(seconds));
                } else if !m.contains_key("deletionTimestamp") {
                    m.insert(
                        "deletionTimestamp".into(),
                        Value::String(meta::now_rfc3339()),
                    );
                    m.insert("deletionGracePeriodSeconds".into(), Value::from(0));
                }
                if !wanted.is_empty() {
                    m.insert(
                        "finalizers".into(),
                        Value::Array(wanted.iter().cloned().map(Value::String).collect()),
                    );
                }
                if namespace_pending {
                    marked["status"]["phase"] = Value::String("Terminating".into());
                }
                if opts.dry_run {
                    return Ok(DeleteOutcome::Pending(marked));
                }
                let resp = self
                    .kv
                    .txn(TxnRequest {
                        compare: vec![mod_equals(&key, kv.mod_revision)],
                        success: vec![RequestOp::Put(PutRequest {
                            key: key.clone(),
                            value: encode(res, &marked)?,
                            ..Default::default()
                        })],
                        failure: vec![RequestOp::Range(RangeRequest::key(key.clone()))],
                    })
                    .await?;
                if resp.succeeded {
                    meta::meta_mut(&mut marked).insert(
                        "resourceVersion".into(),
                        Value::String(resp.header.revision.to_string()),
                    );
                    return Ok(DeleteOutcome::Pending(marked));
                }
                current = first_range_kv(resp.responses);
                continue;
            }
            if opts.dry_run {
                return Ok(DeleteOutcome::Deleted(obj));
            }
            let resp = self
                .kv
                .txn(TxnRequest {
                    compare: vec![mod_equals(&key, kv.mod_revision)],
                    success: vec![RequestOp::DeleteRange(DeleteRangeRequest {
                        key: key.clone(),
                        ..Default::default()
                    })],
                    failure: vec![RequestOp::Range(RangeRequest::key(key.clone()))],
                })
                .await?;
            if resp.succeeded {
                return Ok(DeleteOutcome::Deleted(obj));
            }
            current = first_range_kv(resp.responses);
        }
    }

    /// Removes the object outright if it is marked for deletion and has no
    /// finalizers left (called after updates that drop the last finalizer).
    pub async fn delete_if_finalized(
        &self,
        res: &Resource,
        ns: Option<&str>,
        obj: &Value,
    ) -> ApiResult<bool> {
        if !meta::is_deleting(obj) || !meta::finalizers(obj).is_empty() {
            return Ok(false);
        }
        if res.info.kind == "Namespace" && res.info.group.is_empty() {
            let spec_finalizers = obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            if spec_finalizers {
                return Ok(false);
            }
        }
        let key = Self::key(res, ns, meta::name(obj));
        let rev: i64 = meta::resource_version(obj).parse().unwrap_or(0);
        let resp = self
            .kv
            .txn(TxnRequest {
                compare: vec![mod_equals(&key, rev)],
                success: vec![RequestOp::DeleteRange(DeleteRangeRequest {
                    key,
                    ..Default::default()
                })],
                failure: Vec::new(),
            })
            .await?;
        Ok(resp.succeeded)
    }
}

fn first_range_kv(responses: Vec<ResponseOp>) -> Option<KeyValue> {
    match responses.into_iter().next() {
        Some(ResponseOp::Range(r)) => r.kvs.into_iter().next(),
        _ => None,
    }
}

/// What graceful deletion (upstream's `rest.BeforeDelete` with the kind's
/// `CheckGracefulDelete`) asks of a DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grace {
    /// Not graceful, or the grace period is over: delete now (finalizers
    /// permitting).
    Now,
    /// Set the deletion timestamp this many seconds ahead (a new graceful
    /// deletion, or one that shortens the pending period).
    Mark(i64),
    /// Already being deleted gracefully; this request changes nothing.
    Pending,
}

fn graceful_deletion(res: &Resource, obj: &Value, opts: &DeleteOptions) -> Grace {
    let Some(period) = res
        .strategy
        .deletion_grace_period(obj, opts.grace_period_seconds)
    else {
        return Grace::Now;
    };
    if !meta::is_deleting(obj) {
        return if period > 0 {
            Grace::Mark(period)
        } else {
            Grace::Now
        };
    }
    let pending = meta::meta(obj)
        .get("deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    match opts.grace_period_seconds {
        _ if pending == 0 => Grace::Now,
        Some(_) if period < pending => {
            if period > 0 {
                Grace::Mark(period)
            } else {
                Grace::Now
            }
        }
        _ => Grace::Pending,
    }
}

fn check_preconditions(
    res: &Resource,
    name: &str,
    obj: &Value,
    opts: &DeleteOptions,
) -> ApiResult<()> {
    if let Some(uid) = &opts.precondition_uid
        && uid != meta::uid(obj)
    {
        return Err(ApiError::conflict(
            target(res, name),
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(obj)
            ),
        ));
    }
    if let Some(rv) = &opts.precondition_resource_version
        && rv != meta::resource_version(obj)
    {
        return Err(ApiError::conflict(
            target(res, name),
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta::resource_version(obj)
            ),
        ));
    }
    Ok(())
}
