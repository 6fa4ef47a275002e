//! Interned strings for resource table rows built from CRDs.
//!
//! `ResourceInfo` (shared with the built-in table) holds `&'static str`s. A
//! CRD's names live as long as the process in practice and repeat across
//! table rebuilds, so each distinct string (and string list) is leaked once
//! and reused: memory grows only with the number of distinct names ever
//! served, not with rebuilds.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use crate::resources::Subresource;

fn strings() -> &'static Mutex<HashSet<&'static str>> {
    static S: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    S.get_or_init(Default::default)
}

/// The interned copy of `s`.
pub fn str(s: &str) -> &'static str {
    let mut set = match strings().lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(found) = set.get(s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// The interned copy of a list of strings.
pub fn list(items: &[String]) -> &'static [&'static str] {
    static L: OnceLock<Mutex<HashMap<Vec<String>, &'static [&'static str]>>> = OnceLock::new();
    let mut map = match L.get_or_init(Default::default).lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(found) = map.get(items) {
        return found;
    }
    let interned: Vec<&'static str> = items.iter().map(|s| str(s)).collect();
    let leaked: &'static [&'static str] = Box::leak(interned.into_boxed_slice());
    map.insert(items.to_vec(), leaked);
    leaked
}

/// The interned copy of a subresource list.
pub fn subresources(items: &[Subresource]) -> &'static [Subresource] {
    static L: OnceLock<Mutex<Vec<&'static [Subresource]>>> = OnceLock::new();
    let mut known = match L.get_or_init(Default::default).lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(found) = known.iter().find(|k| **k == items) {
        return found;
    }
    let leaked: &'static [Subresource] = Box::leak(items.to_vec().into_boxed_slice());
    known.push(leaked);
    leaked
}
