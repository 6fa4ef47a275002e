//! Objects encoded with `prost` + `k8s-pb`, wrapped like client-go wraps them,
//! decoded and compared with their hand-written JSON form.

use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message as _;
use serde_json::{Value, json};

use super::schema::{self, Kind};
use super::schema_data::{KINDS, MESSAGES};
use super::*;

/// `k8s\0` + `runtime.Unknown`, with the empty strings Go always writes.
fn envelope(api_version: &str, kind: &str, object: &impl prost::Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

/// Object metadata as Go's generated marshaller writes it: every non-pointer
/// field, zero or not, and a zero `creationTimestamp` (an empty message).
fn go_meta(name: &str, namespace: &str) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: Some(name.into()),
        generate_name: Some(String::new()),
        namespace: Some(namespace.into()),
        self_link: Some(String::new()),
        uid: Some(String::new()),
        resource_version: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn quantity(s: &str) -> Quantity {
    Quantity {
        string: Some(s.into()),
    }
}

fn int_or_string_int(i: i32) -> IntOrString {
    IntOrString {
        r#type: Some(0),
        int_val: Some(i),
        str_val: Some(String::new()),
    }
}

fn int_or_string_str(s: &str) -> IntOrString {
    IntOrString {
        r#type: Some(1),
        int_val: Some(0),
        str_val: Some(s.into()),
    }
}

/// Decodes and compares, key order included.
fn check(body: &[u8], expected: Value) {
    let got = decode_to_json(body).expect("decodes");
    assert_eq!(
        serde_json::to_string_pretty(&got).unwrap_or_default(),
        serde_json::to_string_pretty(&expected).unwrap_or_default()
    );
}

#[test]
fn namespace() {
    let ns = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            labels: labels(&[("team", "a")]),
            ..go_meta("demo", "")
        }),
        spec: Some(core::NamespaceSpec::default()),
        status: Some(core::NamespaceStatus {
            phase: Some(String::new()),
            ..Default::default()
        }),
    };
    check(
        &envelope("v1", "Namespace", &ns),
        json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {"name": "demo", "creationTimestamp": null, "labels": {"team": "a"}},
            "spec": {},
            "status": {}
        }),
    );
}

#[test]
fn configmap_with_binary_data() {
    let cm = core::ConfigMap {
        metadata: Some(go_meta("settings", "default")),
        immutable: None,
        data: labels(&[("b.conf", "x=1\n"), ("a", "")]),
        binary_data: BTreeMap::from([("blob".to_string(), vec![0u8, 1, 2, 255])]),
    };
    check(
        &envelope("v1", "ConfigMap", &cm),
        json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {"name": "settings", "namespace": "default", "creationTimestamp": null},
            "data": {"a": "", "b.conf": "x=1\n"},
            "binaryData": {"blob": "AAEC/w=="}
        }),
    );
}

#[test]
fn secret_bytes_are_base64() {
    let secret = core::Secret {
        metadata: Some(go_meta("creds", "default")),
        immutable: Some(false),
        data: BTreeMap::from([
            ("password".to_string(), b"s3cr3t".to_vec()),
            ("empty".to_string(), Vec::new()),
        ]),
        string_data: BTreeMap::new(),
        r#type: Some("Opaque".into()),
    };
    check(
        &envelope("v1", "Secret", &secret),
        json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {"name": "creds", "namespace": "default", "creationTimestamp": null},
            "immutable": false,
            "data": {"empty": "", "password": "czNjcjN0"},
            "type": "Opaque"
        }),
    );
}

fn nginx_container() -> core::Container {
    core::Container {
        name: Some("nginx".into()),
        image: Some("nginx:1.27".into()),
        args: vec!["--port".into(), "80".into()],
        ports: vec![core::ContainerPort {
            name: Some(String::new()),
            host_port: Some(0),
            container_port: Some(80),
            protocol: Some("TCP".into()),
            host_ip: Some(String::new()),
        }],
        env: vec![core::EnvVar {
            name: Some("MODE".into()),
            value: Some("prod".into()),
            value_from: None,
        }],
        resources: Some(core::ResourceRequirements {
            limits: BTreeMap::from([
                ("memory".to_string(), quantity("128Mi")),
                ("cpu".to_string(), quantity("500m")),
            ]),
            requests: BTreeMap::from([("cpu".to_string(), quantity("100m"))]),
            ..Default::default()
        }),
        readiness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: Some("/healthz".into()),
                    port: Some(int_or_string_int(8080)),
                    host: Some(String::new()),
                    scheme: Some("HTTP".into()),
                    http_headers: Vec::new(),
                }),
                ..Default::default()
            }),
            initial_delay_seconds: Some(0),
            period_seconds: Some(5),
            ..Default::default()
        }),
        termination_message_path: Some("/dev/termination-log".into()),
        image_pull_policy: Some("IfNotPresent".into()),
        stdin: Some(false),
        tty: Some(false),
        ..Default::default()
    }
}

fn nginx_container_json() -> Value {
    json!({
        "name": "nginx",
        "image": "nginx:1.27",
        "args": ["--port", "80"],
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "prod"}],
        "resources": {
            "limits": {"cpu": "500m", "memory": "128Mi"},
            "requests": {"cpu": "100m"}
        },
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
            "periodSeconds": 5
        },
        "terminationMessagePath": "/dev/termination-log",
        "imagePullPolicy": "IfNotPresent"
    })
}

fn deployment() -> apps::Deployment {
    let selector = meta::LabelSelector {
        match_labels: labels(&[("app", "web")]),
        match_expressions: Vec::new(),
    };
    apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            labels: labels(&[("app", "web")]),
            ..go_meta("web", "default")
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            selector: Some(selector),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: labels(&[("app", "web")]),
                    ..go_meta("", "")
                }),
                spec: Some(core::PodSpec {
                    containers: vec![nginx_container()],
                    restart_policy: Some("Always".into()),
                    termination_grace_period_seconds: Some(30),
                    dns_policy: Some("ClusterFirst".into()),
                    host_network: Some(false),
                    host_ipc: Some(true),
                    automount_service_account_token: Some(false),
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: Some("RollingUpdate".into()),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: Some(int_or_string_int(1)),
                    max_surge: Some(int_or_string_str("25%")),
                }),
            }),
            min_ready_seconds: Some(0),
            revision_history_limit: Some(10),
            paused: Some(false),
            progress_deadline_seconds: Some(600),
        }),
        status: Some(apps::DeploymentStatus::default()),
    }
}

#[test]
fn deployment_with_pod_template() {
    check(
        &envelope("apps/v1", "Deployment", &deployment()),
        json!({
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "creationTimestamp": null,
                "labels": {"app": "web"}
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {
                        "containers": [nginx_container_json()],
                        "restartPolicy": "Always",
                        "terminationGracePeriodSeconds": 30,
                        "dnsPolicy": "ClusterFirst",
                        "automountServiceAccountToken": false,
                        "hostIPC": true
                    }
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}
                },
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600
            },
            "status": {}
        }),
    );
}

fn job_spec() -> batch::JobSpec {
    batch::JobSpec {
        parallelism: Some(1),
        completions: Some(1),
        backoff_limit: Some(0),
        template: Some(core::PodTemplateSpec {
            metadata: Some(go_meta("", "")),
            spec: Some(core::PodSpec {
                containers: vec![core::Container {
                    name: Some("pi".into()),
                    image: Some("perl".into()),
                    command: vec!["perl".into(), "-e".into(), "print 1".into()],
                    ..Default::default()
                }],
                restart_policy: Some("Never".into()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

fn job_spec_json() -> Value {
    json!({
        "parallelism": 1,
        "completions": 1,
        "backoffLimit": 0,
        "template": {
            "metadata": {"creationTimestamp": null},
            "spec": {
                "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-e", "print 1"]}],
                "restartPolicy": "Never"
            }
        }
    })
}

#[test]
fn job() {
    let job = batch::Job {
        metadata: Some(go_meta("pi", "default")),
        spec: Some(job_spec()),
        status: Some(batch::JobStatus {
            active: Some(0),
            ..Default::default()
        }),
    };
    check(
        &envelope("batch/v1", "Job", &job),
        json!({
            "kind": "Job",
            "apiVersion": "batch/v1",
            "metadata": {"name": "pi", "namespace": "default", "creationTimestamp": null},
            "spec": job_spec_json(),
            "status": {}
        }),
    );
}

#[test]
fn cronjob() {
    let cj = batch::CronJob {
        metadata: Some(go_meta("nightly", "default")),
        spec: Some(batch::CronJobSpec {
            schedule: Some("0 3 * * *".into()),
            suspend: Some(false),
            job_template: Some(batch::JobTemplateSpec {
                metadata: Some(go_meta("nightly", "")),
                spec: Some(job_spec()),
            }),
            ..Default::default()
        }),
        status: Some(batch::CronJobStatus::default()),
    };
    check(
        &envelope("batch/v1", "CronJob", &cj),
        json!({
            "kind": "CronJob",
            "apiVersion": "batch/v1",
            "metadata": {"name": "nightly", "namespace": "default", "creationTimestamp": null},
            "spec": {
                "schedule": "0 3 * * *",
                "suspend": false,
                "jobTemplate": {
                    "metadata": {"name": "nightly", "creationTimestamp": null},
                    "spec": job_spec_json()
                }
            },
            "status": {}
        }),
    );
}

#[test]
fn service_with_int_target_port() {
    let svc = core::Service {
        metadata: Some(go_meta("web", "default")),
        spec: Some(core::ServiceSpec {
            ports: vec![core::ServicePort {
                name: Some("80-8080".into()),
                protocol: Some("TCP".into()),
                app_protocol: None,
                port: Some(80),
                target_port: Some(int_or_string_int(8080)),
                node_port: Some(0),
            }],
            selector: labels(&[("app", "web")]),
            cluster_ip: Some(String::new()),
            r#type: Some("ClusterIP".into()),
            ..Default::default()
        }),
        status: Some(core::ServiceStatus {
            load_balancer: Some(core::LoadBalancerStatus::default()),
            conditions: Vec::new(),
        }),
    };
    check(
        &envelope("v1", "Service", &svc),
        json!({
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null},
            "spec": {
                "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                "selector": {"app": "web"},
                "type": "ClusterIP"
            },
            "status": {"loadBalancer": {}}
        }),
    );
}

#[test]
fn pod_with_creation_timestamp() {
    let pod = core::Pod {
        metadata: Some(meta::ObjectMeta {
            creation_timestamp: Some(meta::Time {
                seconds: Some(1_704_164_645),
                nanos: Some(999_999_999),
            }),
            deletion_grace_period_seconds: Some(0),
            owner_references: vec![meta::OwnerReference {
                api_version: Some("apps/v1".into()),
                kind: Some("ReplicaSet".into()),
                name: Some("web-1".into()),
                uid: Some("u-1".into()),
                controller: Some(true),
                block_owner_deletion: None,
            }],
            finalizers: vec!["x/y".into()],
            ..go_meta("web-1-abc", "default")
        }),
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: Some("c".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    check(
        &envelope("v1", "Pod", &pod),
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": "web-1-abc",
                "namespace": "default",
                "creationTimestamp": "2024-01-02T03:04:05Z",
                "deletionGracePeriodSeconds": 0,
                "ownerReferences": [{
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-1",
                    "uid": "u-1",
                    "controller": true
                }],
                "finalizers": ["x/y"]
            },
            "spec": {"containers": [{"name": "c"}]}
        }),
    );
}

#[test]
fn micro_time_and_raw_extension() {
    let lease = coordination::Lease {
        metadata: Some(go_meta("lock", "kube-system")),
        spec: Some(coordination::LeaseSpec {
            holder_identity: Some("me".into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(meta::MicroTime {
                seconds: Some(1_704_164_645),
                nanos: Some(123_456_789),
            }),
            ..Default::default()
        }),
    };
    check(
        &envelope("coordination.k8s.io/v1", "Lease", &lease),
        json!({
            "kind": "Lease",
            "apiVersion": "coordination.k8s.io/v1",
            "metadata": {"name": "lock", "namespace": "kube-system", "creationTimestamp": null},
            "spec": {
                "holderIdentity": "me",
                "leaseDurationSeconds": 15,
                "renewTime": "2024-01-02T03:04:05.123456Z"
            }
        }),
    );
    let revision = apps::ControllerRevision {
        metadata: Some(go_meta("web-1", "default")),
        data: Some(RawExtension {
            raw: Some(br#"{"spec":{"a":[1,"x"]}}"#.to_vec()),
        }),
        revision: Some(2),
    };
    check(
        &envelope("apps/v1", "ControllerRevision", &revision),
        json!({
            "kind": "ControllerRevision",
            "apiVersion": "apps/v1",
            "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": null},
            "data": {"spec": {"a": [1, "x"]}},
            "revision": 2
        }),
    );
}

#[test]
fn options_kinds_under_any_group_version() {
    let opts = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        propagation_policy: Some("Foreground".into()),
        dry_run: vec!["All".into()],
        ..Default::default()
    };
    let expected = json!({
        "kind": "DeleteOptions",
        "apiVersion": "apps/v1",
        "gracePeriodSeconds": 0,
        "propagationPolicy": "Foreground",
        "dryRun": ["All"]
    });
    check(&envelope("apps/v1", "DeleteOptions", &opts), expected);
}

#[test]
fn packed_and_unpacked_repeated_scalars() {
    // PodSecurityContext.supplementalGroups (int64, field 4), packed by hand.
    let mut sc = vec![0x22, 0x03, 0x01, 0x02, 0x03];
    // ... and one more element unpacked.
    sc.extend([0x20, 0x07]);
    let mut spec = vec![0x72, sc.len() as u8]; // PodSpec.securityContext = 14
    spec.extend(sc);
    let mut pod = vec![0x12, spec.len() as u8]; // Pod.spec = 2
    pod.extend(spec);
    let mut body = MAGIC.to_vec();
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
        }),
        raw: Some(pod),
        ..Default::default()
    };
    body.extend(unknown.encode_to_vec());
    check(
        &body,
        json!({"kind": "Pod", "apiVersion": "v1",
               "spec": {"securityContext": {"supplementalGroups": [1, 2, 3, 7]}}}),
    );
}

#[test]
fn go_durations() {
    let cases = [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (2_000_000, "2ms"),
        (1_500_000_000, "1.5s"),
        (60_000_000_000, "1m0s"),
        (3_723_000_000_000, "1h2m3s"),
        (-90_000_000_000, "-1m30s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ];
    for (d, s) in cases {
        assert_eq!(go_duration(d), s);
    }
}

#[test]
fn garbage_is_an_error_never_a_panic() {
    assert_eq!(decode_to_json(b""), Err(ProtobufError::MissingMagic));
    assert_eq!(decode_to_json(b"{}"), Err(ProtobufError::MissingMagic));
    assert_eq!(decode_to_json(b"k8s\0"), Err(ProtobufError::MissingKind));
    assert!(matches!(
        decode_to_json(&envelope("v1", "Nope", &core::Namespace::default())),
        Err(ProtobufError::UnknownKind { .. })
    ));
    let body = envelope("apps/v1", "Deployment", &deployment());
    // Every truncation inside `typeMeta` or `raw` (fields 1, 2; the two empty
    // strings after them, 4 bytes, are optional, and so is `raw` itself):
    // a length then runs past the end.
    let type_meta_end = MAGIC.len() + 2 + (2 + "apps/v1".len()) + (2 + "Deployment".len());
    for len in (5..type_meta_end).chain(type_meta_end + 1..body.len() - 4) {
        assert!(decode_to_json(&body[..len]).is_err(), "prefix {len}");
    }
    // Every single-byte corruption, and random bytes: anything but a panic.
    for i in 4..body.len() {
        for b in [0x00, 0x07, 0x0f, 0x80, 0xff] {
            let mut bad = body.clone();
            bad[i] = b;
            let _ = decode_to_json(&bad);
        }
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2_000 {
        let mut bytes = MAGIC.to_vec();
        for _ in 0..64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(seed as u8);
        }
        let _ = decode_to_json(&bytes);
    }
    // A wrong wire type for a known field is rejected.
    let mut bad = MAGIC.to_vec();
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some("v1".into()),
            kind: Some("Namespace".into()),
        }),
        raw: Some(vec![0x08, 0x01]), // metadata (LEN) sent as a varint
        ..Default::default()
    };
    bad.extend(unknown.encode_to_vec());
    assert!(matches!(
        decode_to_json(&bad),
        Err(ProtobufError::WireType { field: 1, .. })
    ));
    // Invalid embedded JSON.
    let revision = apps::ControllerRevision {
        data: Some(RawExtension {
            raw: Some(b"{not json".to_vec()),
        }),
        ..Default::default()
    };
    assert!(matches!(
        decode_to_json(&envelope("apps/v1", "ControllerRevision", &revision)),
        Err(ProtobufError::EmbeddedJson { .. })
    ));
}

#[test]
fn deep_nesting_is_bounded() {
    // JSONSchemaProps.properties (field 29) nests without limit; build the
    // bytes by hand, 300 levels deep.
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..300 {
        // map entry {key=1 "a", value=2 inner}
        let mut entry = vec![0x0a, 0x01, b'a', 0x12];
        push_varint(&mut entry, inner.len() as u64);
        entry.extend(&inner);
        let mut props = vec![0xea, 0x01]; // field 29, LEN
        push_varint(&mut props, entry.len() as u64);
        props.extend(entry);
        inner = props;
    }
    let mut crd_validation = vec![0x0a]; // CustomResourceValidation.openAPIV3Schema = 1
    push_varint(&mut crd_validation, inner.len() as u64);
    crd_validation.extend(inner);
    // Not a kind: decode the message directly.
    let index = schema::message_index(
        "apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceValidation",
    )
    .expect("in table");
    assert_eq!(
        decode_message(&crd_validation, index, 0),
        Err(ProtobufError::TooDeep)
    );
    // Nested `k8s\0` envelopes inside RawExtensions are bounded too.
    let mut nested = envelope("v1", "Namespace", &core::Namespace::default());
    for _ in 0..200 {
        nested = envelope(
            "apps/v1",
            "ControllerRevision",
            &apps::ControllerRevision {
                data: Some(RawExtension { raw: Some(nested) }),
                ..Default::default()
            },
        );
    }
    assert_eq!(decode_to_json(&nested), Err(ProtobufError::TooDeep));
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[test]
fn table_is_consistent() {
    for m in MESSAGES {
        for &(_, _, kind, _) in m.fields {
            if let Kind::Msg(i) | Kind::MapMsg(i) = kind {
                assert!(usize::from(i) < MESSAGES.len(), "{}", m.name);
            }
        }
    }
    assert!(
        KINDS
            .windows(2)
            .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1))
    );
    // The kinds stock kubectl's imperative commands send.
    for (av, kind) in [
        ("v1", "Namespace"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("v1", "ResourceQuota"),
        ("v1", "Pod"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("policy/v1", "PodDisruptionBudget"),
        ("policy/v1", "Eviction"),
        ("networking.k8s.io/v1", "Ingress"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("autoscaling/v1", "Scale"),
        ("storage.k8s.io/v1", "CSIDriver"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("apiregistration.k8s.io/v1", "APIService"),
        ("meta.k8s.io/v1", "DeleteOptions"),
    ] {
        let index = schema::kind_message(av, kind).unwrap_or(u16::MAX);
        let msg = schema::message(index).map(|m| m.name).unwrap_or_default();
        assert!(msg.ends_with(&format!(".{kind}")), "{av} {kind}: {msg}");
    }
}

/// Decode cost of the Deployment sample (`cargo test -p apiserver --release
/// protobuf::tests::bench -- --ignored --nocapture`).
#[test]
#[ignore]
fn bench_deployment_decode() {
    let body = envelope("apps/v1", "Deployment", &deployment());
    let n = 20_000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(decode_to_json(std::hint::black_box(&body)).ok());
    }
    let per = start.elapsed() / n;
    println!(
        "deployment: {} bytes, {per:?} per decode; table: {} messages, {} fields, {} kinds",
        body.len(),
        MESSAGES.len(),
        MESSAGES.iter().map(|m| m.fields.len()).sum::<usize>(),
        KINDS.len()
    );
}
