//! The generic registry: one store implementation for every resource
//! (`store`), the lookup table from URL coordinates to resources (`table`),
//! and list/continue helpers (`list`).

pub mod deletion_policy;
pub mod list;
pub mod store;
pub mod table;

pub use store::{DeleteOptions, DeleteOutcome, ObjectStore, UpdateKind};
pub use table::{Resource, ResourceTable};
