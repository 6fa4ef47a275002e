//! The scheduler: an informer-fed cache of nodes and pods (`cache`, with
//! assumed pods), a scheduling queue (`queue`: active, back-off,
//! unschedulable), a filter/score plugin framework (`framework`,
//! `plugins/`), preemption of lower-priority pods (`preemption`),
//! upstream's failure message (`fit_error`) and the loop that binds pods
//! through `pods/binding` (`scheduler`). Talks to the API server
//! only over HTTPS with the `kube` client; depends on no sibling crate.
//! Leader election is wired by the binary (`oxkube scheduler`).

pub mod cache;
pub mod fit_error;
pub mod framework;
pub mod plugins;
pub mod preemption;
pub mod queue;
pub mod resources;
pub mod scheduler;

pub use scheduler::{SchedulerConfig, run};
