//! sig-node and sig-storage behaviour of running containers, checked from
//! what the container prints: downward API and ConfigMap/Secret values in
//! the environment, variable expansion, and ConfigMap, Secret and downward
//! API volumes. Each pod runs to completion (`pod_runs::output_of`).

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::PostParams;
use serde_json::{Value, json};

use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, from_json, truncate};
use crate::images::busybox;
use crate::pod_runs::{expect_lines, output_of};

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-node] Downward API should provide pod name, namespace and IP address as env vars [NodeConformance] [Conformance]",
            |c| Box::pin(downward_name_namespace_ip(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Downward API should provide host IP as an env var [NodeConformance] [Conformance]",
            |c| Box::pin(downward_host_ip(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Downward API should provide pod UID as env vars [NodeConformance] [Conformance]",
            |c| Box::pin(downward_uid(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] ConfigMap should be consumable via environment variable [NodeConformance] [Conformance]",
            |c| Box::pin(configmap_env_var(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] ConfigMap should be consumable via the environment [NodeConformance] [Conformance]",
            |c| Box::pin(configmap_env_from(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Secrets should be consumable from pods in env vars [NodeConformance] [Conformance]",
            |c| Box::pin(secret_env_var(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Secrets should be consumable via the environment [NodeConformance] [Conformance]",
            |c| Box::pin(secret_env_from(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Variable Expansion should allow composing env vars into new env vars [NodeConformance] [Conformance]",
            |c| Box::pin(expansion_composing(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Variable Expansion should allow substituting values in a container's command [NodeConformance] [Conformance]",
            |c| Box::pin(expansion_command(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Variable Expansion should allow substituting values in a container's args [NodeConformance] [Conformance]",
            |c| Box::pin(expansion_args(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-storage] ConfigMap should be consumable from pods in volume [NodeConformance] [Conformance]",
            |c| Box::pin(configmap_volume(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-storage] ConfigMap should be consumable from pods in volume with mappings [NodeConformance] [Conformance]",
            |c| Box::pin(configmap_volume_mappings(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-storage] Secrets should be consumable from pods in volume [NodeConformance] [Conformance]",
            |c| Box::pin(secret_volume(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-storage] Downward API volume should provide podname only [NodeConformance] [Conformance]",
            |c| Box::pin(downward_volume_podname(c)),
        )
        .with_nodes(),
    ]
}

/// A pod `name` whose one container runs `sh -c <script>` with `env`;
/// the script `env` runs `env` itself, with no shell in between (a shell
/// may drop variables whose names are not identifiers, like `data-1`).
fn shell_pod(name: &str, script: &str, env: Value) -> Value {
    let command = if script == "env" {
        json!(["env"])
    } else {
        json!(["sh", "-c", script])
    };
    json!({
        "metadata": {"name": name},
        "spec": {"containers": [{
            "name": "test-container",
            "image": busybox(),
            "command": command,
            "env": env
        }]}
    })
}

fn field_env(var: &str, path: &str) -> Value {
    json!({"name": var, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}})
}

/// The value of `VAR=value` in the container's output.
fn env_value(output: &str, var: &str) -> TestResult<String> {
    output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{var}=")))
        .map(str::to_string)
        .ok_or_else(|| {
            TestError::Assertion(format!(
                "{var} missing from the container's environment: {}",
                truncate(output, 800)
            ))
        })
}

fn ensure_ip(value: &str, what: &str) -> TestResult {
    value
        .parse::<std::net::IpAddr>()
        .map(|_| ())
        .map_err(|_| TestError::Assertion(format!("{what} {value:?} is not an IP address")))
}

async fn pod_uid(ctx: &Ctx, name: &str) -> TestResult<String> {
    let pod = ctx.api::<Pod>().get(name).await.step("reading the pod")?;
    Ok(pod.metadata.uid.unwrap_or_default())
}

async fn downward_name_namespace_ip(ctx: Ctx) -> TestResult {
    let name = ctx.name("downward-api");
    let env = json!([
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
        field_env("POD_IP", "status.podIP"),
    ]);
    let out = output_of(&ctx, shell_pod(&name, "env", env)).await?;
    expect_lines(
        &out,
        &[
            format!("POD_NAME={name}"),
            format!("POD_NAMESPACE={}", ctx.ns),
        ],
        "downward API env",
    )?;
    ensure_ip(&env_value(&out, "POD_IP")?, "POD_IP")
}

async fn downward_host_ip(ctx: Ctx) -> TestResult {
    let name = ctx.name("downward-api");
    let env = json!([field_env("HOST_IP", "status.hostIP")]);
    let out = output_of(&ctx, shell_pod(&name, "env", env)).await?;
    ensure_ip(&env_value(&out, "HOST_IP")?, "HOST_IP")
}

async fn downward_uid(ctx: Ctx) -> TestResult {
    let name = ctx.name("downward-api");
    let env = json!([field_env("POD_UID", "metadata.uid")]);
    let out = output_of(&ctx, shell_pod(&name, "env", env)).await?;
    let uid = pod_uid(&ctx, &name).await?;
    expect_lines(&out, &[format!("POD_UID={uid}")], "downward API pod UID")
}

async fn create_configmap(ctx: &Ctx, name: &str) -> TestResult {
    let cm: ConfigMap = from_json(json!({
        "metadata": {"name": name},
        "data": {"data-1": "value-1", "data-2": "value-2", "data-3": "value-3"}
    }))?;
    ctx.api::<ConfigMap>()
        .create(&PostParams::default(), &cm)
        .await
        .step("creating the ConfigMap")?;
    Ok(())
}

async fn create_secret(ctx: &Ctx, name: &str) -> TestResult {
    let secret: Secret = from_json(json!({
        "metadata": {"name": name},
        "stringData": {"data-1": "value-1", "data-2": "value-2", "data-3": "value-3"}
    }))?;
    ctx.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .step("creating the Secret")?;
    Ok(())
}

async fn configmap_env_var(ctx: Ctx) -> TestResult {
    let cm = ctx.name("configmap-test");
    create_configmap(&ctx, &cm).await?;
    let env = json!([{"name": "CONFIG_DATA_1",
        "valueFrom": {"configMapKeyRef": {"name": cm, "key": "data-1"}}}]);
    let out = output_of(&ctx, shell_pod(&ctx.name("pod-configmaps"), "env", env)).await?;
    expect_lines(&out, &["CONFIG_DATA_1=value-1".into()], "ConfigMap env var")
}

async fn configmap_env_from(ctx: Ctx) -> TestResult {
    let cm = ctx.name("configmap-test");
    create_configmap(&ctx, &cm).await?;
    let mut pod = shell_pod(&ctx.name("pod-configmaps"), "env", json!([]));
    pod["spec"]["containers"][0]["envFrom"] = json!([
        {"configMapRef": {"name": cm}},
        {"prefix": "p-", "configMapRef": {"name": cm}}
    ]);
    let out = output_of(&ctx, pod).await?;
    expect_lines(
        &out,
        &["data-1=value-1".into(), "p-data-1=value-1".into()],
        "ConfigMap envFrom",
    )
}

async fn secret_env_var(ctx: Ctx) -> TestResult {
    let secret = ctx.name("secret-test");
    create_secret(&ctx, &secret).await?;
    let env = json!([{"name": "SECRET_DATA",
        "valueFrom": {"secretKeyRef": {"name": secret, "key": "data-1"}}}]);
    let out = output_of(&ctx, shell_pod(&ctx.name("pod-secrets"), "env", env)).await?;
    expect_lines(&out, &["SECRET_DATA=value-1".into()], "Secret env var")
}

async fn secret_env_from(ctx: Ctx) -> TestResult {
    let secret = ctx.name("secret-test");
    create_secret(&ctx, &secret).await?;
    let mut pod = shell_pod(&ctx.name("pod-secrets"), "env", json!([]));
    pod["spec"]["containers"][0]["envFrom"] = json!([
        {"secretRef": {"name": secret}},
        {"prefix": "p-", "secretRef": {"name": secret}}
    ]);
    let out = output_of(&ctx, pod).await?;
    expect_lines(
        &out,
        &["data-1=value-1".into(), "p-data-1=value-1".into()],
        "Secret envFrom",
    )
}

async fn expansion_composing(ctx: Ctx) -> TestResult {
    let env = json!([
        {"name": "FOO", "value": "foo-value"},
        {"name": "BAR", "value": "bar-value"},
        {"name": "FOOBAR", "value": "$(FOO);;$(BAR)"}
    ]);
    let out = output_of(&ctx, shell_pod(&ctx.name("var-expansion"), "env", env)).await?;
    expect_lines(
        &out,
        &[
            "FOO=foo-value".into(),
            "BAR=bar-value".into(),
            "FOOBAR=foo-value;;bar-value".into(),
        ],
        "composed env vars",
    )
}

async fn expansion_command(ctx: Ctx) -> TestResult {
    let env = json!([{"name": "TEST_VAR", "value": "test-value"}]);
    let pod = shell_pod(
        &ctx.name("var-expansion"),
        "TEST_VAR=wrong echo \"$(TEST_VAR)\"",
        env,
    );
    let out = output_of(&ctx, pod).await?;
    expect_lines(&out, &["test-value".into()], "expanded command")
}

async fn expansion_args(ctx: Ctx) -> TestResult {
    let mut pod = shell_pod(
        &ctx.name("var-expansion"),
        "",
        json!([{"name": "TEST_VAR", "value": "test-value"}]),
    );
    let container = &mut pod["spec"]["containers"][0];
    container["command"] = json!(["sh"]);
    container["args"] = json!(["-c", "TEST_VAR=wrong echo \"$(TEST_VAR)\""]);
    let out = output_of(&ctx, pod).await?;
    expect_lines(&out, &["test-value".into()], "expanded args")
}

/// A pod that prints `file` from a volume mounted at `mount`.
fn volume_pod(name: &str, volume: Value, mount: &str, file: &str) -> Value {
    let mut pod = shell_pod(name, &format!("cat {mount}/{file}"), json!([]));
    pod["spec"]["volumes"] = json!([volume]);
    pod["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "test-volume", "mountPath": mount, "readOnly": true}]);
    pod
}

async fn configmap_volume(ctx: Ctx) -> TestResult {
    let cm = ctx.name("configmap-test-volume");
    create_configmap(&ctx, &cm).await?;
    let volume = json!({"name": "test-volume", "configMap": {"name": cm}});
    let pod = volume_pod(
        &ctx.name("pod-configmaps"),
        volume,
        "/etc/configmap-volume",
        "data-1",
    );
    let out = output_of(&ctx, pod).await?;
    expect_lines(&out, &["value-1".into()], "ConfigMap volume file")
}

async fn configmap_volume_mappings(ctx: Ctx) -> TestResult {
    let cm = ctx.name("configmap-test-volume-map");
    create_configmap(&ctx, &cm).await?;
    let volume = json!({"name": "test-volume", "configMap": {
        "name": cm, "items": [{"key": "data-2", "path": "path/to/data-2"}]
    }});
    let pod = volume_pod(
        &ctx.name("pod-configmaps"),
        volume,
        "/etc/configmap-volume",
        "path/to/data-2",
    );
    let out = output_of(&ctx, pod).await?;
    expect_lines(&out, &["value-2".into()], "mapped ConfigMap volume file")
}

async fn secret_volume(ctx: Ctx) -> TestResult {
    let secret = ctx.name("secret-test");
    create_secret(&ctx, &secret).await?;
    let volume = json!({"name": "test-volume", "secret": {"secretName": secret}});
    let pod = volume_pod(
        &ctx.name("pod-secrets"),
        volume,
        "/etc/secret-volume",
        "data-1",
    );
    let out = output_of(&ctx, pod).await?;
    expect_lines(&out, &["value-1".into()], "Secret volume file")
}

async fn downward_volume_podname(ctx: Ctx) -> TestResult {
    let name = ctx.name("downwardapi-volume");
    let volume = json!({"name": "test-volume", "downwardAPI": {"items": [
        {"path": "podname", "fieldRef": {"fieldPath": "metadata.name"}}
    ]}});
    let pod = volume_pod(&name, volume, "/etc/podinfo", "podname");
    let out = output_of(&ctx, pod).await?;
    let printed = out.trim();
    if printed != name {
        return Err(TestError::Assertion(format!(
            "downward API volume file podname: {printed:?}, want {name:?}"
        )));
    }
    Ok(())
}
