//! sig-api-machinery, API chunking after compaction: a continue token whose
//! revision the cluster compacted away is refused with 410 Expired, and the
//! Status carries a token to go on with an inconsistent list from the same
//! key at the latest revision (upstream's `test/e2e/apimachinery/chunking.go`).
//! The wait follows the cluster's compaction schedule (kube-apiserver's
//! `--etcd-compaction-interval`, 5 minutes by default: up to 10 minutes).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::PodTemplate;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};

use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, from_json};
use crate::{ensure, ensure_eq};

const TOTAL: usize = 400;
const PAGE: usize = TOTAL / 10;
/// Upstream waits two default compaction intervals, polling every 20 s.
const EXPIRY_WAIT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_secs(20);

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-api-machinery] Servers with support for API chunking should support continue listing from the last key if the original version has been compacted away, though the list is inconsistent [Slow] [Conformance]",
            |c| Box::pin(continue_after_compaction(c)),
        )
        .with_timeout(Duration::from_secs(720)),
    ]
}

/// Creates `template-0000` .. `template-<count - 1>`, the objects both
/// chunking tests page through.
pub(super) async fn create_pod_templates(api: &Api<PodTemplate>, count: usize) -> TestResult {
    for i in 0..count {
        let pt: PodTemplate = from_json(json!({
            "metadata": {"name": format!("template-{i:04}")},
            "template": {"spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
        }))?;
        api.create(&PostParams::default(), &pt)
            .await
            .step(format!("creating pod template {i}"))?;
    }
    Ok(())
}

fn list_path(ns: &str, token: &str) -> String {
    format!("/api/v1/namespaces/{ns}/podtemplates?limit={PAGE}&continue={token}")
}

async fn continue_after_compaction(ctx: Ctx) -> TestResult {
    let api = ctx.api::<PodTemplate>();
    create_pod_templates(&api, TOTAL).await?;
    let first = api
        .list(&ListParams::default().limit(PAGE as u32))
        .await
        .step("retrieving the first page")?;
    ensure_eq!(first.items.len(), PAGE, "items on the first page");
    let first_rv = first.metadata.resource_version.clone().unwrap_or_default();
    let first_token = first
        .metadata
        .continue_
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TestError::Assertion("the first page has no continue token".into()))?;

    // The second page, again and again, until the token's revision is
    // compacted away.
    let started = Instant::now();
    let inconsistent = loop {
        let resp = ctx
            .get_raw(&list_path(&ctx.ns, &first_token), "application/json")
            .await?;
        match resp.status.as_u16() {
            200 => {}
            410 => {
                let status: Value = resp.json("the 410 Status")?;
                ensure_eq!(
                    status["reason"].as_str(),
                    Some("Expired"),
                    "reason of the 410"
                );
                let token = status["metadata"]["continue"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        TestError::Assertion(format!(
                            "the 410 Status has no continue token: {status}"
                        ))
                    })?;
                break token.to_string();
            }
            code => {
                return Err(TestError::Assertion(format!(
                    "continuing the list answered {code}: {}",
                    resp.text()
                )));
            }
        }
        ensure!(
            started.elapsed() < EXPIRY_WAIT,
            "the continue token did not expire within {EXPIRY_WAIT:?}"
        );
        tokio::time::sleep(POLL).await;
    };

    let second = api
        .list(
            &ListParams::default()
                .limit(PAGE as u32)
                .continue_token(&inconsistent),
        )
        .await
        .step("retrieving the second page with the token of the 410")?;
    ensure!(
        second.metadata.resource_version.as_deref() != Some(first_rv.as_str()),
        "the inconsistent page kept the first page's resourceVersion {first_rv}"
    );
    ensure_eq!(second.items.len(), PAGE, "items on the second page");
    let mut expected = PAGE;
    let mut check_page = |items: &[PodTemplate]| -> TestResult {
        for item in items {
            let name = item.metadata.name.clone().unwrap_or_default();
            ensure_eq!(
                name,
                format!("template-{expected:04}"),
                "next item of the list"
            );
            expected += 1;
        }
        Ok(())
    };
    check_page(&second.items)?;
    let rv = second.metadata.resource_version.clone();
    let mut token = second.metadata.continue_.clone();
    while let Some(t) = token.filter(|t| !t.is_empty()) {
        let page = api
            .list(&ListParams::default().limit(PAGE as u32).continue_token(&t))
            .await
            .step("retrieving a remaining page")?;
        ensure_eq!(
            page.metadata.resource_version,
            rv,
            "resourceVersion of the remaining pages"
        );
        check_page(&page.items)?;
        token = page.metadata.continue_.clone();
    }
    ensure_eq!(expected, TOTAL, "items seen over all pages");
    Ok(())
}
