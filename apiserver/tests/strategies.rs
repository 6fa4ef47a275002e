//! Per-kind strategies through `strategy::for_kind`: the defaults a user
//! sees on create, validation causes (field, reason, message) as upstream
//! kube-apiserver v1.33 reports them, update rules, and service IP/port
//! allocation.

use apiserver::error::Cause;
use apiserver::strategy::{ServiceAllocator, for_kind};
use serde_json::{Value, json};

fn create(group: &str, kind: &str, mut obj: Value) -> (Value, Vec<Cause>) {
    let s = for_kind(group, kind);
    s.prepare_for_create(&mut obj);
    let causes = s.validate(&obj);
    (obj, causes)
}

fn find<'a>(causes: &'a [Cause], field: &str) -> &'a Cause {
    causes
        .iter()
        .find(|c| c.field == field)
        .unwrap_or_else(|| panic!("no cause for {field} in {causes:?}"))
}

fn pod_template(labels: Value) -> Value {
    json!({"metadata": {"labels": labels},
           "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}})
}

#[test]
fn deployment_defaults() {
    let (d, causes) = create(
        "apps",
        "Deployment",
        json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": pod_template(json!({"app": "web"}))},
            "status": {"replicas": 3}}),
    );
    assert!(causes.is_empty(), "{causes:?}");
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(d["status"], json!({}));
    assert!(for_kind("apps", "Deployment").tracks_generation());
}

#[test]
fn deployment_selector_errors() {
    let (_, causes) = create(
        "apps",
        "Deployment",
        json!({"metadata": {"name": "web"}, "spec": {
            "template": pod_template(json!({"app": "web"})), "replicas": -1}}),
    );
    let c = find(&causes, "spec.replicas");
    assert_eq!(
        c.message,
        "Invalid value: -1: must be greater than or equal to 0"
    );
    let c = find(&causes, "spec.selector");
    assert_eq!(
        (c.reason, c.message.as_str()),
        ("FieldValueRequired", "Required value")
    );
    let c = find(&causes, "spec.template.metadata.labels");
    assert_eq!(c.reason, "FieldValueInvalid");
    assert_eq!(
        c.message,
        "Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
    );

    let (_, causes) = create(
        "apps",
        "Deployment",
        json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "other"}},
            "template": pod_template(json!({"app": "web"}))}}),
    );
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].field, "spec.template.metadata.labels");
}

#[test]
fn deployment_selector_is_immutable() {
    let s = for_kind("apps", "Deployment");
    let (old, _) = create(
        "apps",
        "Deployment",
        json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": pod_template(json!({"app": "web", "v": "2"}))}}),
    );
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "v": "2"}});
    s.prepare_for_update(&mut new, &old);
    let causes = s.validate_update(&new, &old);
    let c = find(&causes, "spec.selector");
    assert_eq!(c.reason, "FieldValueInvalid");
    assert_eq!(
        c.message,
        "Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"v\":\"2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    );
    // Scaling is fine.
    let mut scaled = old.clone();
    scaled["spec"]["replicas"] = json!(5);
    assert!(s.validate_update(&scaled, &old).is_empty());
}

#[test]
fn statefulset_defaults_and_update_rules() {
    let (sts, causes) = create(
        "apps",
        "StatefulSet",
        json!({"metadata": {"name": "db"}, "spec": {
            "selector": {"matchLabels": {"app": "db"}},
            "template": pod_template(json!({"app": "db"})),
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}}),
    );
    assert!(causes.is_empty(), "{causes:?}");
    let spec = &sts["spec"];
    assert_eq!(spec["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        spec["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["volumeClaimTemplates"][0]["status"]["phase"],
        "Pending"
    );
    assert!(spec.get("serviceName").is_none());

    let s = for_kind("apps", "StatefulSet");
    let mut new = sts.clone();
    new["spec"]["serviceName"] = json!("other");
    let causes = s.validate_update(&new, &sts);
    let c = find(&causes, "spec");
    assert_eq!(c.reason, "FieldValueForbidden");
    assert_eq!(
        c.message,
        "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    );
    let mut scaled = sts.clone();
    scaled["spec"]["replicas"] = json!(3);
    assert!(s.validate_update(&scaled, &sts).is_empty());
}

#[test]
fn daemonset_and_replicaset() {
    let (ds, causes) = create(
        "apps",
        "DaemonSet",
        json!({"metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": pod_template(json!({"app": "agent"}))}}),
    );
    assert!(causes.is_empty(), "{causes:?}");
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);

    let (rs, causes) = create(
        "apps",
        "ReplicaSet",
        json!({"metadata": {"name": "rs"}, "spec": {
            "selector": {},
            "template": pod_template(json!({"app": "x"}))}}),
    );
    let c = find(&causes, "spec.selector");
    assert_eq!(
        c.message,
        "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
    );
    assert_eq!(rs["status"], json!({"replicas": 0}));
    let s = for_kind("apps", "ReplicaSet");
    assert_eq!(s.selectable_fields(), &["status.replicas"]);
    assert_eq!(s.field_value(&rs, "status.replicas").as_deref(), Some("0"));
}

#[test]
fn replication_controller_selector_from_template() {
    let (rc, causes) = create(
        "",
        "ReplicationController",
        json!({"metadata": {"name": "rc"}, "spec": {"template": pod_template(json!({"app": "rc"}))}}),
    );
    assert!(causes.is_empty(), "{causes:?}");
    assert_eq!(rc["spec"]["selector"], json!({"app": "rc"}));
    assert_eq!(rc["spec"]["replicas"], 1);
}

fn job(restart: &str) -> Value {
    json!({"metadata": {"name": "pi", "uid": "0b1c"}, "spec": {"template": {"spec": {
        "containers": [{"name": "pi", "image": "perl:5.34"}], "restartPolicy": restart}}}})
}

#[test]
fn job_defaults_and_generated_selector() {
    let (j, causes) = create("batch", "Job", job("Never"));
    assert!(causes.is_empty(), "{causes:?}");
    let spec = &j["spec"];
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["manualSelector"], false);
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(
        spec["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "0b1c"}})
    );
    assert_eq!(
        spec["template"]["metadata"]["labels"],
        json!({"batch.kubernetes.io/controller-uid": "0b1c", "batch.kubernetes.io/job-name": "pi",
               "controller-uid": "0b1c", "job-name": "pi"})
    );
    assert_eq!(j["metadata"]["labels"]["job-name"], "pi");
    assert_eq!(
        for_kind("batch", "Job")
            .field_value(&j, "status.successful")
            .as_deref(),
        Some("0")
    );
}

#[test]
fn job_restart_policy_and_immutability() {
    let (_, causes) = create("batch", "Job", job(""));
    let c = find(&causes, "spec.template.spec.restartPolicy");
    assert_eq!(c.reason, "FieldValueRequired");
    assert_eq!(
        c.message,
        "Required value: valid values: \"OnFailure\", \"Never\""
    );
    let (_, causes) = create("batch", "Job", job("Sometimes"));
    // The pod spec check and the job's own check both report the field.
    let messages: Vec<&str> = causes
        .iter()
        .filter(|c| c.field == "spec.template.spec.restartPolicy")
        .map(|c| c.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            "Unsupported value: \"Sometimes\": supported values: \"OnFailure\", \"Never\""
        ]
    );

    let s = for_kind("batch", "Job");
    let (old, _) = create("batch", "Job", job("Never"));
    let mut new = old.clone();
    new["spec"]["selector"]["matchLabels"]["extra"] = json!("x");
    new["spec"]["template"]["metadata"]["labels"]["extra"] = json!("x");
    let causes = s.validate_update(&new, &old);
    let immutable = |field: &str| {
        causes.iter().any(|c| {
            c.field == field
                && c.reason == "FieldValueInvalid"
                && c.message.ends_with(": field is immutable")
        })
    };
    assert!(immutable("spec.selector"), "{causes:?}");
    assert!(
        find(&causes, "spec.template")
            .message
            .ends_with(": field is immutable")
    );
}

#[test]
fn cronjob_defaults_and_schedule() {
    let cj = |schedule: &str| {
        json!({"metadata": {"name": "tick"}, "spec": {"schedule": schedule,
            "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}}})
    };
    let (c, causes) = create("batch", "CronJob", cj("@hourly"));
    assert!(causes.is_empty(), "{causes:?}");
    assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(c["spec"]["suspend"], false);
    assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(c["spec"]["failedJobsHistoryLimit"], 1);
    assert!(
        c["spec"]["jobTemplate"]["spec"]
            .get("backoffLimit")
            .is_none()
    );

    let (_, causes) = create("batch", "CronJob", cj("*/5 * * *"));
    let e = find(&causes, "spec.schedule");
    assert_eq!(
        e.message,
        "Invalid value: \"*/5 * * *\": expected exactly 5 fields, found 4: [*/5 * * *]"
    );
    let (_, causes) = create("batch", "CronJob", cj(""));
    assert_eq!(find(&causes, "spec.schedule").reason, "FieldValueRequired");
    let mut tz = cj("0 * * * *");
    tz["spec"]["timeZone"] = json!("Mars/Olympus");
    let (_, causes) = create("batch", "CronJob", tz);
    assert_eq!(
        find(&causes, "spec.timeZone").message,
        "Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus"
    );
    let (_, causes) = create("batch", "CronJob", cj("TZ=UTC 0 * * * *"));
    assert_eq!(
        find(&causes, "spec.schedule").message,
        "Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    );
}

#[test]
fn service_defaults_and_validation() {
    let (svc, causes) = create(
        "",
        "Service",
        json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort",
            "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}),
    );
    assert!(causes.is_empty(), "{causes:?}");
    let spec = &svc["spec"];
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ports"][0]["targetPort"], "http");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));

    let (_, causes) = create(
        "",
        "Service",
        json!({"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 0, "protocol": "HTTP"}]}}),
    );
    assert!(find(&causes, "metadata.name").message.contains("DNS-1035"));
    assert_eq!(
        find(&causes, "spec.ports[0].port").message,
        "Invalid value: 0: must be between 1 and 65535, inclusive"
    );
    assert_eq!(
        find(&causes, "spec.ports[0].protocol").message,
        "Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\""
    );
    let s = for_kind("", "Service");
    assert!(!s.tracks_generation());
    assert_eq!(
        s.field_value(&svc, "spec.type").as_deref(),
        Some("NodePort")
    );
}

#[test]
fn service_allocation() -> Result<(), String> {
    let alloc = ServiceAllocator::new("10.96.0.0/12", (30000, 32767))?;
    assert_eq!(alloc.kubernetes_service_ip().to_string(), "10.96.0.1");
    let svc = |name: &str, extra: Value| {
        let mut s = json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}});
        if let (Some(spec), Some(extra)) = (s["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        let st = for_kind("", "Service");
        st.prepare_for_create(&mut s);
        s
    };
    // The kubernetes service takes the first address explicitly.
    let mut k = svc("kubernetes", json!({"clusterIP": "10.96.0.1"}));
    alloc
        .allocate_create(&mut k, false)
        .map_err(|e| e.message)?;
    // Dynamic addresses: above the static band, never duplicated.
    let mut a = svc("a", json!({}));
    let ra = alloc
        .allocate_create(&mut a, false)
        .map_err(|e| e.message)?;
    let mut b = svc("b", json!({}));
    alloc
        .allocate_create(&mut b, false)
        .map_err(|e| e.message)?;
    assert_eq!(a["spec"]["clusterIP"], "10.96.1.1");
    assert_eq!(a["spec"]["clusterIPs"], json!(["10.96.1.1"]));
    assert_eq!(b["spec"]["clusterIP"], "10.96.1.2");
    assert!(for_kind("", "Service").validate(&a).is_empty());
    // Taken and out-of-range addresses.
    let mut dup = svc("dup", json!({"clusterIP": "10.96.1.1"}));
    let err = alloc
        .allocate_create(&mut dup, false)
        .err()
        .ok_or("duplicate allowed")?;
    assert_eq!(err.code, 422);
    let cause = &err.details.as_ref().ok_or("no details")?.causes[0];
    assert_eq!(cause.field, "spec.clusterIPs");
    assert_eq!(
        cause.message,
        "Invalid value: []string{\"10.96.1.1\"}: failed to allocate IP 10.96.1.1: provided IP is already allocated"
    );
    let mut out = svc("out", json!({"clusterIP": "10.0.0.1"}));
    let err = alloc
        .allocate_create(&mut out, false)
        .err()
        .ok_or("out of range allowed")?;
    assert!(err.message.contains(
        "failed to allocate IP 10.0.0.1: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"
    ));
    // Headless: nothing allocated.
    let mut h = svc("h", json!({"clusterIP": "None", "selector": {"app": "h"}}));
    let rh = alloc
        .allocate_create(&mut h, false)
        .map_err(|e| e.message)?;
    assert!(rh.is_empty());
    assert_eq!(h["spec"]["clusterIP"], "None");
    // Release on delete, revert on failed write.
    alloc.release_service(&a);
    assert!(!alloc.ip_in_use("10.96.1.1".parse().map_err(|_| "ip")?));
    alloc.revert(&ra);
    // Node ports.
    let mut np = svc("np", json!({"type": "NodePort"}));
    for_kind("", "Service").prepare_for_create(&mut np);
    alloc
        .allocate_create(&mut np, false)
        .map_err(|e| e.message)?;
    assert_eq!(np["spec"]["ports"][0]["nodePort"], 30086);
    let mut taken = svc(
        "taken",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30086}]}),
    );
    let err = alloc
        .allocate_create(&mut taken, false)
        .err()
        .ok_or("dup port")?;
    let cause = &err.details.as_ref().ok_or("no details")?.causes[0];
    assert_eq!(cause.field, "spec.ports[0].nodePort");
    assert_eq!(
        cause.message,
        "Invalid value: 30086: provided port is already allocated"
    );
    let mut low = svc(
        "low",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 8080}]}),
    );
    let err = alloc
        .allocate_create(&mut low, false)
        .err()
        .ok_or("port out of range")?;
    assert_eq!(
        err.details.as_ref().ok_or("no details")?.causes[0].message,
        "Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
    Ok(())
}

#[test]
fn service_ip_range_exhaustion() -> Result<(), String> {
    let alloc = ServiceAllocator::new("10.0.0.0/29", (30000, 30001))?;
    let mut n = 0;
    loop {
        let mut s =
            json!({"metadata": {"name": format!("s{n}")}, "spec": {"ports": [{"port": 80}]}});
        for_kind("", "Service").prepare_for_create(&mut s);
        match alloc.allocate_create(&mut s, false) {
            Ok(_) => n += 1,
            Err(e) => {
                assert_eq!(e.code, 500);
                assert_eq!(
                    e.message,
                    "Internal error occurred: failed to allocate a serviceIP: range is full"
                );
                break;
            }
        }
    }
    // 6 usable addresses, the first kept for the kubernetes service.
    assert_eq!(n, 5);
    Ok(())
}

#[test]
fn misc_kinds() {
    let (_, causes) = create(
        "",
        "PersistentVolumeClaim",
        json!({"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"]}}),
    );
    assert_eq!(
        find(&causes, "spec.resources[storage]").reason,
        "FieldValueRequired"
    );
    let node = for_kind("", "Node");
    assert!(!node.tracks_generation());
    assert_eq!(node.selectable_fields(), &["spec.unschedulable"]);
    assert_eq!(
        node.field_value(&json!({"spec": {}}), "spec.unschedulable")
            .as_deref(),
        Some("false")
    );
    for (g, k) in [
        ("", "ServiceAccount"),
        ("", "Endpoints"),
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "Namespace"),
        ("coordination.k8s.io", "Lease"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("events.k8s.io", "Event"),
        ("", "Event"),
    ] {
        assert!(!for_kind(g, k).tracks_generation(), "{g}/{k}");
    }
    for (g, k) in [
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
    ] {
        assert!(for_kind(g, k).tracks_generation(), "{g}/{k}");
    }
    let (_, causes) = create(
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        json!({"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r"},
               "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}),
    );
    assert_eq!(
        find(&causes, "roleRef.kind").message,
        "Unsupported value: \"Role\": supported values: \"ClusterRole\""
    );
    assert_eq!(
        find(&causes, "subjects[0].namespace").reason,
        "FieldValueRequired"
    );
    let (_, causes) = create(
        "rbac.authorization.k8s.io",
        "Role",
        json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]}),
    );
    assert_eq!(
        find(&causes, "rules[0].verbs").message,
        "Required value: verbs must contain at least one value"
    );
}
