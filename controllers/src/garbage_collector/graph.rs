//! The ownership graph of the garbage collector (upstream's `GraphBuilder`
//! `uidToNode`): one node per object seen by the metadata watches, with its
//! owner references, and an index from an owner's uid to its dependents.
//! Owners may be absent (never seen, or gone): that is what makes a
//! dependent a candidate for collection.

use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// Where an object lives and how to address it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: Identity,
    pub resource_version: String,
    pub owners: Vec<OwnerReference>,
    pub finalizers: Vec<String>,
    pub deleting: bool,
}

#[derive(Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    /// Adds or replaces a node; returns the uids whose state may now need
    /// a look (the node, its current and former owners).
    pub fn upsert(&mut self, node: Node) -> Vec<String> {
        let uid = node.id.uid.clone();
        let mut touched = vec![uid.clone()];
        if let Some(old) = self.nodes.get(&uid) {
            for o in &old.owners {
                if let Some(set) = self.dependents.get_mut(&o.uid) {
                    set.remove(&uid);
                }
                touched.push(o.uid.clone());
            }
        }
        for o in &node.owners {
            self.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(uid.clone());
            touched.push(o.uid.clone());
        }
        self.nodes.insert(uid, node);
        touched
    }

    /// Removes a node; returns its owners and dependents, which may now
    /// need a look.
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let mut touched = Vec::new();
        if let Some(old) = self.nodes.remove(uid) {
            for o in &old.owners {
                if let Some(set) = self.dependents.get_mut(&o.uid) {
                    set.remove(uid);
                }
                touched.push(o.uid.clone());
            }
        }
        touched.extend(self.dependents_of(uid).into_iter().map(|n| n.id.uid));
        touched
    }

    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    pub fn dependents_of(&self, uid: &str) -> Vec<Node> {
        self.dependents
            .get(uid)
            .map(|set| {
                set.iter()
                    .filter_map(|d| self.nodes.get(d).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Uids of the nodes of one kind (to drop those a relist no longer has).
    pub fn uids_of(&self, group: &str, kind: &str) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| n.id.group == group && n.id.kind == kind)
            .map(|n| n.id.uid.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node with owners or with a GC finalizer: the work to check
    /// once all watches have listed.
    pub fn candidates(&self) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| !n.owners.is_empty() || n.deleting)
            .map(|n| n.id.uid.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(uid: &str, owners: &[&str]) -> Node {
        Node {
            id: Identity {
                group: String::new(),
                version: "v1".into(),
                kind: "Pod".into(),
                plural: "pods".into(),
                namespace: Some("default".into()),
                name: uid.into(),
                uid: uid.into(),
            },
            resource_version: "1".into(),
            owners: owners
                .iter()
                .map(|o| OwnerReference {
                    uid: o.to_string(),
                    ..Default::default()
                })
                .collect(),
            finalizers: Vec::new(),
            deleting: false,
        }
    }

    #[test]
    fn dependents_follow_owner_references() {
        let mut g = Graph::default();
        g.upsert(node("rs", &[]));
        g.upsert(node("p1", &["rs"]));
        g.upsert(node("p2", &["rs"]));
        assert_eq!(g.dependents_of("rs").len(), 2);
        // p1 is released: no longer a dependent.
        g.upsert(node("p1", &[]));
        assert_eq!(g.dependents_of("rs").len(), 1);
        // Removing the owner points at its dependents.
        let touched = g.remove("rs");
        assert!(touched.contains(&"p2".to_string()));
    }
}
