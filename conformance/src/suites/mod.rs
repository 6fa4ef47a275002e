//! The tests, grouped by SIG area. [`all`] lists every test the runner knows.

use crate::framework::TestCase;

mod apimachinery;
mod apps;
mod auth;
mod chunking;
mod cli;
mod cli_rc;
mod crd;
mod deployment;
mod disruption;
mod extra;
mod garbage_collector;
mod garbage_collector_rc;
mod instrumentation;
mod network;
mod node;
mod node_containers;
mod node_ephemeral;
mod node_lifecycle;
mod node_pods;
mod node_pods_api;
mod predicates;
mod preemption;
mod replica_pods;
mod replica_set;
mod replication_controller;
mod resource_apis;
mod resource_quota;
mod scheduling;
mod storage;
mod watching;

/// Every test, in a stable order.
pub fn all() -> Vec<TestCase> {
    let mut tests = Vec::new();
    tests.extend(apimachinery::tests());
    tests.extend(chunking::tests());
    tests.extend(resource_quota::tests());
    tests.extend(garbage_collector::tests());
    tests.extend(garbage_collector_rc::tests());
    tests.extend(apps::tests());
    tests.extend(replication_controller::tests());
    tests.extend(replica_set::tests());
    tests.extend(deployment::tests());
    tests.extend(disruption::tests());
    tests.extend(auth::tests());
    tests.extend(cli::tests());
    tests.extend(cli_rc::tests());
    tests.extend(instrumentation::tests());
    tests.extend(network::tests());
    tests.extend(node::tests());
    tests.extend(node_pods::tests());
    tests.extend(node_containers::tests());
    tests.extend(node_lifecycle::tests());
    tests.extend(node_pods_api::tests());
    tests.extend(node_ephemeral::tests());
    tests.extend(scheduling::tests());
    tests.extend(preemption::tests());
    tests.extend(predicates::tests());
    tests.extend(storage::tests());
    tests.extend(resource_apis::tests());
    tests.extend(crd::tests());
    tests.extend(extra::tests());
    tests
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::{UPSTREAM, find};

    #[test]
    fn upstream_list_parses() {
        assert!(
            UPSTREAM.len() > 400,
            "upstream list has {} entries",
            UPSTREAM.len()
        );
        for u in UPSTREAM {
            assert!(u.codename.ends_with("[Conformance]"), "{}", u.codename);
            assert_eq!(crate::upstream::area_of(u.codename), Some(u.area));
        }
        let mut names: Vec<_> = UPSTREAM.iter().map(|u| u.codename).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), UPSTREAM.len(), "duplicate codenames");
    }

    #[test]
    fn every_upstream_test_names_an_upstream_codename() {
        for t in all() {
            if t.upstream {
                assert!(
                    find(t.name).is_some(),
                    "not an upstream codename: {}",
                    t.name
                );
            } else {
                assert!(
                    find(t.name).is_none(),
                    "extra test uses an upstream codename: {}",
                    t.name
                );
                assert!(
                    crate::upstream::area_of(t.name).is_some(),
                    "no SIG area: {}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn test_names_are_unique() {
        let mut names: Vec<_> = all().iter().map(|t| t.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
