//! CustomResourceDefinitions served like built-in resources.
//!
//! - `strategy`: the CRD kind's strategy (defaults, status reset, cleanup
//!   finalizer, validation in `crd_validation`) and the strategy of custom
//!   resources (defaults, pruning, structural validation in `schema` and
//!   `formats`, CEL rules in `cel`).
//! - `model`: one served CRD version (`CustomVersion`) and the resource
//!   table rows built from an established CRD; `intern` gives those rows
//!   their `&'static` names.
//! - `controller`: names, Established, Terminating and the deletion of a
//!   deleted CRD's objects; it swaps in a new resource table, so discovery,
//!   routing, OpenAPI and the generic handlers serve the new resources.
//! - `printer` (with `jsonpath`): Table output with
//!   `additionalPrinterColumns`.
//! - `webhook`: `Webhook` conversion (ConversionReview over HTTPS).
//! - `openapi`: the OpenAPI definitions of custom resources (the OpenAPI
//!   builder adds them, so `kubectl explain` sees them).
//!
//! What it does not own: the generic registry and handlers (custom
//! resources go through the same code as built-ins), server-side apply.

pub mod cel;
pub mod controller;
pub mod crd_validation;
pub mod formats;
mod intern;
pub mod jsonpath;
pub mod model;
pub mod openapi;
pub mod printer;
pub mod schema;
pub mod strategy;
pub mod webhook;

pub use model::CustomVersion;

use std::sync::Arc;
use std::time::Duration;

use crate::registry::Resource;
use crate::state::ApiState;

/// Resolves once `res` (a custom resource row) is no longer served as it
/// was: its CRD changed, is being deleted or is gone. Watches of custom
/// resources end then, as upstream tears down a CRD's storage on change.
/// Never resolves for built-in rows.
pub async fn until_definition_changes(state: Arc<ApiState>, res: Arc<Resource>) {
    let Some(mine) = res.custom.clone() else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let current = state
            .table()
            .get(res.info.group, res.info.version, res.info.plural);
        let same = current
            .as_ref()
            .and_then(|r| r.custom.as_ref())
            .is_some_and(|c| c.same_definition(&mine));
        if !same {
            return;
        }
    }
}
pub use strategy::{CLEANUP_FINALIZER, CrdStrategy, CustomResourceStrategy};
