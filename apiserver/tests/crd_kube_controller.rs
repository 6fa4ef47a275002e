//! A kube-rs controller against oxkube: a `#[derive(CustomResource)]` type
//! installs its own CRD, `kube::runtime::Controller` reconciles objects and
//! writes their status through the status subresource, and the test reads
//! the results back with the typed API and a watcher.

mod crd_common;

use std::sync::Arc;
use std::time::Duration;

use crd_common::{harness, wait_established};
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "demo.oxkube.io",
    version = "v1",
    kind = "Greeting",
    namespaced,
    status = "GreetingStatus",
    shortname = "gr",
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.message"}"#
)]
pub struct GreetingSpec {
    pub name: String,
    pub times: Option<i32>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct GreetingStatus {
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ReconcileError(#[from] kube::Error);

async fn reconcile(g: Arc<Greeting>, api: Arc<Api<Greeting>>) -> Result<Action, ReconcileError> {
    let times = g.spec.times.unwrap_or(1).max(1) as usize;
    let message = vec![format!("hello {}", g.spec.name); times].join(", ");
    let patch = serde_json::json!({"status": {"message": message}});
    api.patch_status(
        &g.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(Action::await_change())
}

#[tokio::test]
async fn kube_controller_reconciles_custom_resources() {
    let h = harness().await;
    let crds: Api<CustomResourceDefinition> = Api::all(h.client.clone());
    crds.create(&PostParams::default(), &Greeting::crd())
        .await
        .expect("install the derived CRD");
    wait_established(&h.client, "greetings.demo.oxkube.io").await;

    let api: Api<Greeting> = Api::namespaced(h.client.clone(), "default");
    let ctx = Arc::new(api.clone());
    let controller = tokio::spawn(
        Controller::new(api.clone(), watcher::Config::default())
            .run(
                reconcile,
                |_, _, _| Action::requeue(Duration::from_secs(1)),
                ctx,
            )
            .for_each(|_| async {}),
    );

    for (name, who, times) in [("one", "world", None), ("two", "oxkube", Some(2))] {
        let g = Greeting::new(
            name,
            GreetingSpec {
                name: who.into(),
                times,
            },
        );
        api.create(&PostParams::default(), &g)
            .await
            .expect("create");
    }
    let mut done = false;
    for _ in 0..200 {
        let list = api.list(&ListParams::default()).await.expect("list");
        let messages: Vec<String> = list
            .items
            .iter()
            .map(|g| g.status.clone().unwrap_or_default().message)
            .collect();
        if messages
            == vec![
                "hello world".to_string(),
                "hello oxkube, hello oxkube".to_string(),
            ]
        {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done, "the controller did not reconcile both greetings");

    // A spec change is reconciled again; status stays out of the spec write.
    api.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"spec": {"name": "again"}})),
    )
    .await
    .expect("patch spec");
    let mut updated = false;
    for _ in 0..200 {
        let g = api.get("one").await.expect("get");
        if g.status.map(|s| s.message) == Some("hello again".into()) {
            assert_eq!(g.metadata.generation, Some(2));
            updated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    controller.abort();
    assert!(updated, "the spec change was not reconciled");
}
