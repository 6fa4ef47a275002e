//! sig-instrumentation: the core/v1 and events.k8s.io/v1 Event APIs.

use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::framework::{Ctx, Step, TestCase, TestResult, expect_status, from_json};
use crate::{ensure, ensure_eq};

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-instrumentation] Events should manage the lifecycle of an event [Conformance]",
            |c| Box::pin(core_event_lifecycle(c)),
        ),
        TestCase::upstream(
            "[sig-instrumentation] Events should delete a collection of events [Conformance]",
            |c| Box::pin(core_event_delete_collection(c)),
        ),
        TestCase::upstream(
            "[sig-instrumentation] Events API should ensure that an event can be fetched, patched, deleted, and listed [Conformance]",
            |c| Box::pin(events_v1_lifecycle(c)),
        ),
        TestCase::upstream(
            "[sig-instrumentation] Events API should delete a collection of events [Conformance]",
            |c| Box::pin(events_v1_delete_collection(c)),
        ),
    ]
}

fn core_event(ctx: &Ctx, name: &str, label: &str) -> TestResult<CoreEvent> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"testevent-set": label}},
        "involvedObject": {"kind": "Pod", "namespace": ctx.ns, "name": "no-such-pod", "apiVersion": "v1"},
        "reason": "Testing",
        "message": "This is a test event",
        "type": "Normal",
        "count": 1,
        "firstTimestamp": "2024-01-01T00:00:00Z",
        "lastTimestamp": "2024-01-01T00:00:00Z",
        "source": {"component": "conformance"}
    }))
}

async fn core_event_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.api::<CoreEvent>();
    let label = ctx.name("ev");
    api.create(
        &PostParams::default(),
        &core_event(&ctx, "event-test", &label)?,
    )
    .await
    .step("creating event")?;
    let all = ctx.all_api::<CoreEvent>();
    let list = all
        .list(&ListParams::default().labels(&format!("testevent-set={label}")))
        .await
        .step("listing events in all namespaces by label")?;
    ensure_eq!(list.items.len(), 1, "events found by label");
    // Field selectors on core events: involvedObject.name and reason.
    let list = api
        .list(&ListParams::default().fields("involvedObject.name=no-such-pod,reason=Testing"))
        .await
        .step("listing events by field selector")?;
    ensure_eq!(list.items.len(), 1, "events found by field selector");
    let none = api
        .list(&ListParams::default().fields("reason=Other"))
        .await
        .step("listing events by a non-matching field selector")?;
    ensure_eq!(none.items.len(), 0, "events matching reason=Other");
    api.patch(
        "event-test",
        &PatchParams::default(),
        &Patch::Strategic(json!({"message": "This is a test event - patched"})),
    )
    .await
    .step("patching event")?;
    let got = api.get("event-test").await.step("reading event")?;
    ensure_eq!(
        got.message.as_deref(),
        Some("This is a test event - patched"),
        "message after patch"
    );
    let mut body = got;
    body.series = Some(from_json(
        json!({"count": 2, "lastObservedTime": "2024-01-01T00:00:05.000000Z"}),
    )?);
    let updated = api
        .replace("event-test", &PostParams::default(), &body)
        .await
        .step("updating event")?;
    ensure_eq!(
        updated.series.as_ref().and_then(|s| s.count),
        Some(2),
        "series.count after update"
    );
    api.delete("event-test", &DeleteParams::default())
        .await
        .step("deleting event")?;
    expect_status(api.get("event-test").await, 404, "GET of the deleted event")?;
    Ok(())
}

async fn core_event_delete_collection(ctx: Ctx) -> TestResult {
    let api = ctx.api::<CoreEvent>();
    let label = ctx.name("evset");
    for i in 1..=3 {
        api.create(
            &PostParams::default(),
            &core_event(&ctx, &format!("event-test-{i}"), &label)?,
        )
        .await
        .step(format!("creating event {i}"))?;
    }
    let selector = format!("testevent-set={label}");
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing events")?;
    ensure_eq!(list.items.len(), 3, "events found by label");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .step("deleting events by collection")?;
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing events")?;
    ensure_eq!(list.items.len(), 0, "events left after deletecollection");
    Ok(())
}

fn new_event(ctx: &Ctx, name: &str, label: &str) -> TestResult<Event> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"testevent-set": label}},
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "conformance.oxkube.io/test",
        "reportingInstance": "conformance",
        "action": "Testing",
        "reason": "Testing",
        "note": "This is a test event",
        "type": "Normal",
        "regarding": {"kind": "Pod", "namespace": ctx.ns, "name": "no-such-pod", "apiVersion": "v1"}
    }))
}

async fn events_v1_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Event>();
    let label = ctx.name("evv1");
    api.create(
        &PostParams::default(),
        &new_event(&ctx, "event-test", &label)?,
    )
    .await
    .step("creating events.k8s.io/v1 event")?;
    let got = api.get("event-test").await.step("reading event")?;
    ensure_eq!(
        got.note.as_deref(),
        Some("This is a test event"),
        "note after create"
    );
    // The same object is visible through core/v1 with its fields mapped.
    let core = ctx
        .api::<CoreEvent>()
        .get("event-test")
        .await
        .step("reading it through core/v1")?;
    ensure_eq!(
        core.message.as_deref(),
        Some("This is a test event"),
        "core/v1 message of a events.k8s.io event"
    );
    api.patch(
        "event-test",
        &PatchParams::default(),
        &Patch::Strategic(json!({"note": "This is a test event - patched"})),
    )
    .await
    .step("patching event")?;
    let got = api.get("event-test").await.step("reading event")?;
    ensure_eq!(
        got.note.as_deref(),
        Some("This is a test event - patched"),
        "note after patch"
    );
    let mut body = got;
    body.series = Some(from_json(
        json!({"count": 100, "lastObservedTime": "2024-01-01T00:00:05.000000Z"}),
    )?);
    let updated = api
        .replace("event-test", &PostParams::default(), &body)
        .await
        .step("updating event")?;
    ensure_eq!(
        updated.series.as_ref().map(|s| s.count),
        Some(100),
        "series.count after update"
    );
    let list = ctx
        .all_api::<Event>()
        .list(&ListParams::default().labels(&format!("testevent-set={label}")))
        .await
        .step("listing events in all namespaces")?;
    ensure_eq!(list.items.len(), 1, "events found by label");
    let by_field = api
        .list(&ListParams::default().fields("regarding.name=no-such-pod"))
        .await
        .step("listing events by field selector")?;
    ensure_eq!(by_field.items.len(), 1, "events found by regarding.name");
    api.delete("event-test", &DeleteParams::default())
        .await
        .step("deleting event")?;
    let list = api
        .list(&ListParams::default())
        .await
        .step("listing events")?;
    ensure!(
        !list
            .items
            .iter()
            .any(|e| e.metadata.name.as_deref() == Some("event-test")),
        "deleted event still listed"
    );
    Ok(())
}

async fn events_v1_delete_collection(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Event>();
    let label = ctx.name("evv1set");
    for i in 1..=3 {
        api.create(
            &PostParams::default(),
            &new_event(&ctx, &format!("event-test-{i}"), &label)?,
        )
        .await
        .step(format!("creating event {i}"))?;
    }
    let selector = format!("testevent-set={label}");
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing events")?;
    ensure_eq!(list.items.len(), 3, "events found by label");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .step("deleting events by collection")?;
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing events")?;
    ensure_eq!(list.items.len(), 0, "events left after deletecollection");
    Ok(())
}
