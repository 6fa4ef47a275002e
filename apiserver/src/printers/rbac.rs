//! RBAC printers: RoleBinding and ClusterRoleBinding. Role and ClusterRole have
//! no printer upstream and use the default (Name, Created At).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::util::{age, arr_at, name, str_at};
use super::{AGE, Column, NAME, Printer};

static BINDING: [Column; 6] = [
    NAME,
    Column::new(
        "Role",
        "string",
        "The role the binding grants, as Kind/name.",
    ),
    AGE,
    Column::wide("Users", "string", "Users in the binding."),
    Column::wide("Groups", "string", "Groups in the binding."),
    Column::wide(
        "ServiceAccounts",
        "string",
        "Service accounts in the binding, as namespace/name.",
    ),
];

pub(super) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    match (group, kind) {
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            Some((&BINDING, binding))
        }
        _ => None,
    }
}

fn binding(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_at(obj, &["roleRef", "kind"]),
        str_at(obj, &["roleRef", "name"])
    );
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in arr_at(obj, &["subjects"]) {
        let subject_name = str_at(s, &["name"]);
        match str_at(s, &["kind"]) {
            "User" => users.push(subject_name.to_string()),
            "Group" => groups.push(subject_name.to_string()),
            "ServiceAccount" => sas.push(format!("{}/{subject_name}", str_at(s, &["namespace"]))),
            _ => {}
        }
    }
    vec![
        json!(name(obj)),
        json!(role),
        json!(age(obj, now)),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_shape;
    use serde_json::json;

    #[test]
    fn binding_cells() {
        let rb = json!({"metadata": {"name": "admins", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                         {"kind": "Group", "name": "ops"},
                         {"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}]});
        assert_eq!(
            assert_shape("rbac.authorization.k8s.io", "RoleBinding", &rb),
            vec![
                json!("admins"),
                json!("ClusterRole/admin"),
                json!("60m"),
                json!("alice, bob"),
                json!("ops"),
                json!("ci/deployer")
            ]
        );
        let crb =
            json!({"metadata": {"name": "x"}, "roleRef": {"kind": "ClusterRole", "name": "view"}});
        let c = assert_shape("rbac.authorization.k8s.io", "ClusterRoleBinding", &crb);
        assert_eq!(c[3..6], [json!(""), json!(""), json!("")]);
    }
}
