//! Strategic merge patch (`application/strategic-merge-patch+json`), as
//! apimachinery's `strategicpatch.StrategicMergeMapPatch` applies it on the
//! server, for the built-in kinds.
//!
//! - Maps merge key by key; `null` deletes a key.
//! - Lists follow the field's patch strategy (see `schema`): lists tagged
//!   `merge` merge by their merge key (lists of scalars as sets), all
//!   others are replaced.
//! - Directives: `$patch: replace|delete` on maps and list items,
//!   `$retainKeys`, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`.
//!   None of them appear in the result.
//! - Custom resources have no patch strategies; upstream refuses strategic
//!   merge patch for them with 415 (`StrategicError::UnsupportedForKind`).
//!
//! Where upstream leaves patch content verbatim in its result (a `$patch:
//! replace` map, the items of a replaced list), its conversion to the typed
//! object then drops unknown keys such as directives and turns `null` into
//! "absent"; we do the same to the JSON we return.

mod gofmt;
mod order;
pub mod schema;

use serde_json::{Map, Value};

use gofmt::{GoType, go_type};
use schema::{FieldMeta, Type};

type JMap = Map<String, Value>;

const DIRECTIVE: &str = "$patch";
const DELETE: &str = "delete";
const REPLACE: &str = "replace";
const MERGE: &str = "merge";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Why a strategic merge patch failed. `Display` is the message of the
/// Status upstream answers with; `code` and `reason` are its code and reason.
#[derive(Debug, thiserror::Error)]
pub enum StrategicError {
    /// 400 BadRequest: the patch document or a directive is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 422 Invalid (lists of lists). Upstream's Status keeps only a generic
    /// message; the detail is here for logs.
    #[error("the server rejected our request due to an error in our request")]
    Invalid(String),
    /// 500 with an empty reason: upstream returns these errors as plain Go
    /// errors, which the API server reports as internal errors with the
    /// error text as the message (e.g. a missing merge key).
    #[error("{0}")]
    Internal(String),
    /// 415 UnsupportedMediaType: the kind is not a built-in type (custom
    /// resources support only JSON patch, merge patch and apply).
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )]
    UnsupportedForKind { group: String, kind: String },
}

impl StrategicError {
    /// The HTTP status code upstream answers with.
    pub fn code(&self) -> u16 {
        match self {
            StrategicError::BadRequest(_) => 400,
            StrategicError::Invalid(_) => 422,
            StrategicError::Internal(_) => 500,
            StrategicError::UnsupportedForKind { .. } => 415,
        }
    }

    /// The `reason` of upstream's Status ("" for internal errors).
    pub fn reason(&self) -> &'static str {
        match self {
            StrategicError::BadRequest(_) => "BadRequest",
            StrategicError::Invalid(_) => "Invalid",
            StrategicError::Internal(_) => "",
            StrategicError::UnsupportedForKind { .. } => "UnsupportedMediaType",
        }
    }
}

type Result<T> = std::result::Result<T, StrategicError>;

fn internal(msg: impl Into<String>) -> StrategicError {
    StrategicError::Internal(msg.into())
}

/// What upstream answers when its merge code panics (Go's `==` on maps, a
/// nil list element).
fn panicked() -> StrategicError {
    internal("This request caused apiserver to panic. Look in the logs for details.")
}

pub(crate) fn no_merge_key(m: &JMap, key: &str) -> StrategicError {
    internal(format!(
        "map: {} does not contain declared merge key: {key}",
        gofmt::v(&Value::Object(m.clone()))
    ))
}

pub(crate) fn bad_arg_type(expected: &str, actual: &Value) -> StrategicError {
    internal(format!(
        "expected a {expected}, but received a {}",
        gofmt::type_name(actual)
    ))
}

fn bad_patch_type(directive: &Value, m: &JMap) -> StrategicError {
    internal(format!(
        "unknown patch type: {} in map: {}",
        gofmt::s(directive),
        gofmt::v(&Value::Object(m.clone()))
    ))
}

fn bad_primitive_list() -> StrategicError {
    StrategicError::BadRequest("invalid patch format of primitive list".into())
}

fn bad_retain_keys() -> StrategicError {
    StrategicError::BadRequest("invalid patch format of retainKeys".into())
}

fn bad_set_element_order() -> StrategicError {
    StrategicError::BadRequest("invalid patch format of setElementOrder list".into())
}

/// Applies `patch` to `original` for an object of `group`/`kind`.
pub fn apply(original: &Value, patch: &Value, group: &str, kind: &str) -> Result<Value> {
    let Some(root) = schema::root(group, kind) else {
        return Err(StrategicError::UnsupportedForKind {
            group: group.to_string(),
            kind: kind.to_string(),
        });
    };
    let patch = match patch {
        Value::Object(m) => m.clone(),
        // `null` decodes into a nil map: nothing to do.
        Value::Null => JMap::new(),
        other => {
            let what = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            };
            return Err(StrategicError::BadRequest(format!(
                "json: cannot unmarshal {what} into Go value of type map[string]interface {{}}"
            )));
        }
    };
    let Value::Object(original) = original else {
        return Err(bad_arg_type("map[string]interface {}", original));
    };
    let mut merged = merge_map(original.clone(), patch, root)?;
    strip_directives(&mut merged);
    Ok(Value::Object(merged))
}

/// Merges `patch` into `original`, a value of type `ty` (upstream's
/// `mergeMap` with `MergeParallelList` and `IgnoreUnmatchedNulls`).
fn merge_map(mut original: JMap, mut patch: JMap, ty: &'static Type) -> Result<JMap> {
    if let Some(directive) = patch.get(DIRECTIVE).cloned() {
        return match directive.as_str() {
            Some(REPLACE) => {
                patch.shift_remove(DIRECTIVE);
                Ok(typed_map(patch))
            }
            Some(DELETE) => Ok(JMap::new()),
            _ => Err(bad_patch_type(&directive, &patch)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_ordered_lists(&mut original, &mut patch, ty)?;

    for (key, patch_v) in patch {
        let (key, delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST)?, true)
        } else {
            (key, false)
        };
        if patch_v.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let same_type = original
            .get(&key)
            .map(|orig_v| go_type(orig_v) == go_type(&patch_v));
        if same_type != Some(true) {
            // Absent from the original, or of another type: take the patch
            // value (a deletion list has nothing to delete from).
            if !delete_list {
                set_from_patch(&mut original, key, patch_v);
            }
            continue;
        }
        let Some(slot) = original.get_mut(&key) else {
            continue;
        };
        match (slot.take(), patch_v) {
            (Value::Object(orig_m), Value::Object(patch_m)) => {
                let meta = ty.meta(&key);
                *slot = Value::Object(if meta.strategy == REPLACE {
                    typed_map(patch_m)
                } else {
                    merge_map(orig_m, patch_m, meta.ty)?
                });
            }
            (Value::Array(orig_l), Value::Array(patch_l)) => {
                let meta = slice_meta(ty, &key)?;
                *slot = Value::Array(merge_list_field(orig_l, patch_l, meta, delete_list)?.0);
            }
            (_, patch_v) => *slot = patch_v,
        }
    }
    Ok(original)
}

/// The metadata of a field merged as a list.
fn slice_meta(ty: &'static Type, key: &str) -> Result<FieldMeta> {
    let meta = ty.meta(key);
    if meta.not_a_list {
        // Upstream names the kind of the enclosing type here.
        return Err(internal("expected slice or array type, but got: struct"));
    }
    Ok(meta)
}

/// Stores a patch value that upstream takes verbatim, minus `null`s and
/// maps carrying `$patch` (upstream's `discardNullValuesFromPatch` and
/// `removeDirectives`).
fn set_from_patch(original: &mut JMap, key: String, mut value: Value) {
    discard_nulls(&mut value);
    match remove_directives(value) {
        Some(v) => {
            original.insert(key, v);
        }
        None => {
            original.shift_remove(&key);
        }
    }
}

fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Drops every map that carries `$patch`; `None` when `value` is one.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            let m = m
                .into_iter()
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect();
            Some(Value::Object(m))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// Patch content upstream keeps verbatim and then converts to the typed
/// object, where `null` means absent.
fn typed_map(mut m: JMap) -> JMap {
    m.retain(|_, v| !v.is_null());
    m.values_mut().for_each(discard_nulls);
    m
}

fn typed_list(mut items: Vec<Value>) -> Vec<Value> {
    items.iter_mut().for_each(discard_nulls);
    items
}

/// Removes directive keys left in content upstream keeps verbatim; its
/// typed conversion drops them as unknown fields.
fn strip_directives(m: &mut JMap) {
    m.retain(|k, _| {
        k != DIRECTIVE
            && k != RETAIN_KEYS
            && !k.starts_with(SET_ELEMENT_ORDER)
            && !k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
    });
    for v in m.values_mut() {
        strip_directives_value(v);
    }
}

fn strip_directives_value(v: &mut Value) {
    match v {
        Value::Object(m) => strip_directives(m),
        Value::Array(items) => items.iter_mut().for_each(strip_directives_value),
        _ => {}
    }
}

/// `$setElementOrder/x` -> `x`.
fn extract_key(key: &str, prefix: &str) -> Result<String> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => Err(bad_primitive_list()),
        _ => Err(bad_set_element_order()),
    }
}

/// `$retainKeys`: the patch may only set listed keys, and keys of the
/// original that are not listed are cleared.
fn apply_retain_keys(original: &mut JMap, patch: &mut JMap) -> Result<()> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(bad_retain_keys());
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(bad_retain_keys());
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// Merges the lists named by `$setElementOrder/<list>` directives and puts
/// their items in that order (upstream's `mergePatchIntoOriginal`). The
/// lists are removed from `patch`.
fn merge_ordered_lists(original: &mut JMap, patch: &mut JMap, ty: &'static Type) -> Result<()> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive in directives {
        let Some(order_v) = patch.shift_remove(&directive) else {
            continue;
        };
        let Value::Array(order) = order_v else {
            return Err(bad_arg_type("[]interface {}", &order_v));
        };
        let field = extract_key(&directive, SET_ELEMENT_ORDER)?;
        let as_list = |v: Option<&Value>| -> Result<Option<Vec<Value>>> {
            match v {
                None => Ok(None),
                Some(Value::Array(items)) => Ok(Some(items.clone())),
                Some(other) => Err(bad_arg_type("[]interface {}", other)),
            }
        };
        let orig_list = as_list(original.get(&field))?;
        let patch_list = as_list(patch.get(&field))?;
        let meta = slice_meta(ty, &field)?;
        validate_order(patch_list.as_deref().unwrap_or(&[]), &order, meta.merge_key)?;

        // `server_order` is the live list as upstream's comparison sees it
        // after the merge (see `merge_list`).
        let (merged, server_order) = match (&orig_list, &patch_list) {
            (Some(o), None) => (o.clone(), o.clone()),
            (None, Some(p)) => {
                let mut items = Value::Array(p.clone());
                discard_nulls(&mut items);
                match remove_directives(items) {
                    Some(Value::Array(items)) => (items, Vec::new()),
                    _ => continue,
                }
            }
            (Some(o), Some(p)) => {
                let (merged, view) = merge_list_field(o.clone(), p.clone(), meta, false)?;
                (merged, view.unwrap_or_else(|| o.clone()))
            }
            (None, None) => continue,
        };

        let (in_order, server_only) = if meta.merge_key.is_empty() {
            partition_scalars(merged, &order)
        } else {
            partition_maps(merged, &order, meta.merge_key)?
        };
        let kind = element_type(&[
            orig_list.as_deref().unwrap_or(&[]),
            patch_list.as_deref().unwrap_or(&[]),
        ])?;
        let sorted = order::normalize_element_order(
            in_order,
            server_only,
            &order,
            &server_order,
            meta.merge_key,
            kind == GoType::Map,
        )?;
        original.insert(field.clone(), Value::Array(sorted));
        patch.shift_remove(&field);
    }
    Ok(())
}

/// The patch list must name its items in the order of `$setElementOrder`
/// (deletions and other directive items aside), and name no others.
fn validate_order(patch_list: &[Value], order: &[Value], merge_key: &str) -> Result<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let items = if merge_key.is_empty() {
        patch_list.to_vec()
    } else {
        order::split_deletions(patch_list.to_vec())?.0
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < items.len() && oi < order.len() {
        if items[pi]
            .as_object()
            .is_some_and(|m| m.contains_key(DIRECTIVE))
        {
            pi += 1;
            continue;
        }
        if merge_key_equal(&items[pi], &order[oi], merge_key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < items.len() && oi >= order.len() {
        return Err(internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            gofmt::v(&Value::Array(patch_list.to_vec())),
            gofmt::v(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn merge_key_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(bad_arg_type("map[string]interface {}", left));
    };
    let Value::Object(r) = right else {
        return Err(bad_arg_type("map[string]interface {}", right));
    };
    let Some(lk) = l.get(merge_key) else {
        return Err(no_merge_key(l, merge_key));
    };
    let Some(rk) = r.get(merge_key) else {
        return Err(no_merge_key(r, merge_key));
    };
    Ok(lk == rk)
}

/// Merges the list field described by `meta`: by its merge strategy, or as
/// a deletion list, or else replaced by the patch. Returns the list and,
/// when the merge changed it in place, the live list as upstream's later
/// ordering sees it.
fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: FieldMeta,
    delete_list: bool,
) -> Result<(Vec<Value>, Option<Vec<Value>>)> {
    if meta.strategy == MERGE || delete_list {
        merge_list(original, patch, meta, delete_list)
    } else {
        Ok((typed_list(patch), None))
    }
}

/// The Go type shared by all items of `lists`.
fn element_type(lists: &[&[Value]]) -> Result<GoType> {
    let mut found: Option<GoType> = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let t = go_type(item);
        match found {
            None => {
                if t == GoType::Null {
                    return Err(panicked());
                }
                if t == GoType::Slice {
                    return Err(StrategicError::Invalid(
                        "lists of lists are not supported".into(),
                    ));
                }
                found = Some(t);
            }
            Some(prev) if prev != t => {
                return Err(internal(format!(
                    "list element types are not identical: {}",
                    gofmt::v_lists(lists)
                )));
            }
            Some(_) => {}
        }
    }
    found.ok_or_else(|| internal("no elements in any of the given slices"))
}

/// Upstream's `mergeSlice` for a list with merge semantics.
///
/// The second value emulates what upstream's caller in the
/// `$setElementOrder` path sees of the live list afterwards: Go deletes
/// items by shifting them down in the shared array and appends new items
/// into the freed slots, so the live list it later orders by contains those
/// appended items at the end.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: FieldMeta,
    delete_list: bool,
) -> Result<(Vec<Value>, Option<Vec<Value>>)> {
    if original.is_empty() && patch.is_empty() {
        return Ok((original, None));
    }
    let kind = element_type(&[&original, &patch])?;

    if kind != GoType::Map {
        if delete_list {
            let kept = original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect();
            return Ok((kept, None));
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        let merged = dedup_scalars(both);
        let (in_patch, server_only) = partition_scalars(merged, &patch);
        let sorted =
            order::normalize_element_order(in_patch, server_only, &patch, &original, "", false)?;
        return Ok((sorted, None));
    }

    let key = meta.merge_key;
    if key.is_empty() {
        return Err(internal(format!(
            "cannot merge lists without merge key for {}",
            meta.elem_kind
        )));
    }

    // Items with `$patch`: deletions and `replace`.
    let mut view = original.clone();
    let mut live = original;
    let mut rest = Vec::new();
    let mut replace = false;
    for item in patch {
        let Value::Object(m) = &item else {
            return Err(panicked());
        };
        let Some(directive) = m.get(DIRECTIVE) else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE) => {
                let Some(kv) = m.get(key) else {
                    return Err(no_merge_key(m, key));
                };
                while let Some(i) = find_by_key(&live, key, kv)? {
                    live.remove(i);
                    // Go shifts the tail down; the last slot keeps its value.
                    view[i..live.len()].clone_from_slice(&live[i..]);
                }
            }
            Some(REPLACE) => replace = true,
            Some(MERGE) => {
                return Err(internal(
                    "merging lists cannot yet be specified in the patch",
                ));
            }
            _ => return Err(bad_patch_type(directive, m)),
        }
    }
    let (mut merged, patch) = if replace {
        (typed_list(rest), Vec::new())
    } else {
        (live, rest)
    };
    let server_order = merged.clone();

    for item in &patch {
        let Value::Object(pm) = item else {
            return Err(panicked());
        };
        let Some(kv) = pm.get(key) else {
            return Err(no_merge_key(pm, key));
        };
        match find_by_key(&merged, key, kv)? {
            Some(i) => {
                let Value::Object(om) = merged[i].take() else {
                    return Err(panicked());
                };
                merged[i] = Value::Object(merge_map(om, pm.clone(), meta.ty)?);
            }
            None => {
                if merged.len() < view.len() {
                    let slot = merged.len();
                    view[slot] = item.clone();
                }
                let mut new_item = item.clone();
                discard_nulls(&mut new_item);
                merged.push(new_item);
            }
        }
    }

    let (in_patch, server_only) = partition_maps(merged, &patch, key)?;
    let sorted =
        order::normalize_element_order(in_patch, server_only, &patch, &server_order, key, true)?;
    Ok((sorted, Some(view)))
}

/// The index of the first map in `list` whose `key` equals `value`.
fn find_by_key(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>> {
    for (i, item) in list.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(internal(format!("value for key {i} is not a map")));
        };
        if m.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Go's in-place deduplication: a duplicate is overwritten by the last item.
fn dedup_scalars(mut s: Vec<Value>) -> Vec<Value> {
    let mut length = s.len() as isize - 1;
    let mut i: isize = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if s[i as usize] == s[j as usize] {
                s[j as usize] = s[length as usize].clone();
                s.truncate(length as usize);
                length -= 1;
                j -= 1;
            }
            j += 1;
        }
        i += 1;
    }
    s
}

/// Splits scalars into those present in `by` and the rest.
fn partition_scalars(list: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    list.into_iter().partition(|v| by.contains(v))
}

/// Splits maps into those whose merge key is present in `by` and the rest.
fn partition_maps(list: Vec<Value>, by: &[Value], key: &str) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for item in list {
        let Value::Object(m) = &item else {
            return Err(bad_arg_type("map[string]interface {}", &item));
        };
        let Some(kv) = m.get(key) else {
            return Err(no_merge_key(m, key));
        };
        if find_by_key(by, key, kv)?.is_some() {
            present.push(item);
        } else {
            absent.push(item);
        }
    }
    Ok((present, absent))
}

#[cfg(test)]
mod tests;
