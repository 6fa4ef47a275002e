//! The order of a merged list: items named by the patch (or by its
//! `$setElementOrder` list) keep the patch's order, items only the server
//! has keep theirs, and the two are interleaved by the live object's order.
//!
//! Upstream sorts with Go's `sort.SliceStable` and a comparator that calls
//! any item it cannot place "less"; `stable_sort` runs the same algorithm
//! (insertion-sorted blocks of 20, then SymMerge) so even such lists come
//! out in the same order.

use serde_json::{Map, Value};

use super::{DELETE, DIRECTIVE, StrategicError, bad_arg_type, no_merge_key};

/// The value a list item is identified by: its merge key for lists of maps
/// (nil when absent or not a map), the item itself otherwise.
fn ident<'a>(item: &'a Value, merge_key: &str, maps: bool) -> &'a Value {
    if !maps {
        return item;
    }
    item.as_object()
        .and_then(|m| m.get(merge_key))
        .unwrap_or(&Value::Null)
}

/// The position of `item` in `list`, compared by `ident`.
fn index(list: &[Value], item: &Value, merge_key: &str, maps: bool) -> Option<usize> {
    let id = ident(item, merge_key, maps);
    list.iter().position(|v| ident(v, merge_key, maps) == id)
}

/// Sorts `patch` by `patch_order` and `server_only` by `server_order`, then
/// interleaves them.
pub fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    maps: bool,
) -> Result<Vec<Value>, StrategicError> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, maps)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, maps)?;
    Ok(merge_sorted(
        server_only,
        patch,
        server_order,
        merge_key,
        maps,
    ))
}

/// Every item must be a map carrying the merge key.
fn validate_merge_key(merge_key: &str, list: &[Value]) -> Result<(), StrategicError> {
    for item in list {
        let Value::Object(m) = item else {
            return Err(bad_arg_type("map[string]interface {}", item));
        };
        if !m.contains_key(merge_key) {
            return Err(no_merge_key(m, merge_key));
        }
    }
    Ok(())
}

/// Splits a list of maps into the items without and with `$patch: delete`.
pub fn split_deletions(list: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), StrategicError> {
    let mut keep = Vec::new();
    let mut delete = Vec::new();
    for item in list {
        let Value::Object(m) = &item else {
            return Err(bad_arg_type("map[string]interface {}", &item));
        };
        if is_delete(m) {
            delete.push(item);
        } else {
            keep.push(item);
        }
    }
    Ok((keep, delete))
}

fn is_delete(m: &Map<String, Value>) -> bool {
    m.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE)
}

/// Sorts `to_sort` by the positions of its items in `order`; deletion
/// items go last.
fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    maps: bool,
) -> Result<Vec<Value>, StrategicError> {
    let (to_sort, deletions) = if maps {
        validate_merge_key(merge_key, &to_sort)?;
        validate_merge_key(merge_key, order)?;
        split_deletions(to_sort)?
    } else {
        (to_sort, Vec::new())
    };
    let mut keyed: Vec<(Option<usize>, Value)> = to_sort
        .into_iter()
        .map(|v| (index(order, &v, merge_key, maps), v))
        .collect();
    stable_sort(&mut keyed, &|a, b| match (a.0, b.0) {
        (Some(i), Some(j)) => i < j,
        _ => true,
    });
    let mut out: Vec<Value> = keyed.into_iter().map(|(_, v)| v).collect();
    out.extend(deletions);
    Ok(out)
}

/// Inserts the server-only items (`left`) into the patch items (`right`):
/// a left item goes first only when both are in the live list and it comes
/// before the right item there.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    maps: bool,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                let li = index(server_order, l, merge_key, maps);
                let ri = index(server_order, r, merge_key, maps);
                matches!((li, ri), (Some(li), Some(ri)) if li < ri)
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// A stable sort that makes the same moves as Go's `sort.SliceStable`, so
/// that comparators which are not a strict order give the same result.
fn stable_sort<T>(v: &mut [T], less: &dyn Fn(&T, &T) -> bool) {
    let n = v.len();
    let mut block = 20;
    let mut a = 0;
    let mut b = block;
    while b <= n {
        insertion_sort(v, a, b, less);
        a = b;
        b += block;
    }
    insertion_sort(v, a, n, less);
    while block < n {
        a = 0;
        b = 2 * block;
        while b <= n {
            sym_merge(v, a, a + block, b, less);
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(v, a, m, n, less);
        }
        block *= 2;
    }
}

fn insertion_sort<T>(v: &mut [T], a: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Merges the sorted runs `v[a..m]` and `v[m..b]` in place (SymMerge, Kim &
/// Kutzner 2004), making the same comparisons as Go's implementation.
fn sym_merge<T>(v: &mut [T], a: usize, m: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
    if m - a == 1 {
        // Binary search for the first item of v[m..b] not less than v[a],
        // then move v[a] just before it.
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&v[h], &v[a]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        v[a..i].rotate_left(1);
        return;
    }
    if b - m == 1 {
        // Binary search for the first item of v[a..m] greater than v[m],
        // then move v[m] just before it.
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&v[m], &v[h]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        v[i..=m].rotate_right(1);
        return;
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&v[p - c], &v[c]) {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        v[start..end].rotate_left(m - start);
    }
    if a < start && start < mid {
        sym_merge(v, a, start, mid, less);
    }
    if mid < end && end < b {
        sym_merge(v, mid, end, b, less);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_sort_sorts_and_keeps_ties() {
        let mut v: Vec<(u32, usize)> = (0..100).map(|i| ((i * 37 % 11) as u32, i)).collect();
        stable_sort(&mut v, &|a, b| a.0 < b.0);
        for w in v.windows(2) {
            assert!(w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1));
        }
    }
}
