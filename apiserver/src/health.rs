//! `/healthz`, `/livez`, `/readyz` (with `?verbose` and per-check paths),
//! `/version` and `/metrics`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde_json::json;

use crate::state::ApiState;

/// The Kubernetes version whose API this server serves.
pub const KUBE_VERSION: (&str, &str, &str) = ("1", "33", "v1.33.0+oxkube");

/// Runs every check; each is (name, passed).
async fn run_checks(state: &ApiState, readiness: bool) -> Vec<(&'static str, bool)> {
    let mut checks = vec![("ping", true), ("log", true)];
    let store_ok = state.store.kv().status().await.is_ok();
    checks.push(("etcd", store_ok));
    if readiness {
        checks.push(("informer-sync", true));
        checks.push(("poststarthook/bootstrap-namespaces", state.bootstrapped()));
    }
    checks
}

async fn report(
    state: &ApiState,
    kind: &str,
    query: Option<String>,
    only: Option<String>,
) -> Response {
    let readiness = kind == "readyz";
    let checks = run_checks(state, readiness).await;
    let verbose = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("verbose")));
    if let Some(name) = only {
        return match checks.iter().find(|(n, _)| *n == name) {
            Some((_, true)) => (StatusCode::OK, "ok").into_response(),
            Some((_, false)) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal server error: {name} failed"),
            )
                .into_response(),
            None => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
        };
    }
    let healthy = checks.iter().all(|(_, ok)| *ok);
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    if !verbose && healthy {
        return (
            code,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ok",
        )
            .into_response();
    }
    let mut text = String::new();
    for (name, ok) in &checks {
        if *ok {
            text.push_str(&format!("[+]{name} ok\n"));
        } else {
            text.push_str(&format!("[-]{name} failed: reason withheld\n"));
        }
    }
    text.push_str(&format!(
        "{kind} check {}\n",
        if healthy { "passed" } else { "failed" }
    ));
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

pub async fn healthz(State(s): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Response {
    report(&s, "healthz", q, None).await
}
pub async fn livez(State(s): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Response {
    report(&s, "livez", q, None).await
}
pub async fn readyz(State(s): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Response {
    report(&s, "readyz", q, None).await
}
pub async fn healthz_check(State(s): State<Arc<ApiState>>, Path(c): Path<String>) -> Response {
    report(&s, "healthz", None, Some(c)).await
}
pub async fn livez_check(State(s): State<Arc<ApiState>>, Path(c): Path<String>) -> Response {
    report(&s, "livez", None, Some(c)).await
}
pub async fn readyz_check(State(s): State<Arc<ApiState>>, Path(c): Path<String>) -> Response {
    report(&s, "readyz", None, Some(c)).await
}

pub async fn version() -> Response {
    let (major, minor, git) = KUBE_VERSION;
    let body = json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": "32",
        "gitVersion": git,
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if std::env::consts::ARCH == "x86_64" { "amd64" } else { std::env::consts::ARCH }),
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response()
}

pub async fn metrics(State(s): State<Arc<ApiState>>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}
