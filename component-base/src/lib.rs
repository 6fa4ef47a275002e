//! What the components share, like upstream's `k8s.io/component-base`:
//! the core/v1 event recorder (`events`), Kubernetes resource quantities
//! as numbers (`quantity`) and ResourceQuota accounting (`quota`: what an
//! object uses, scopes; shared by the quota controller and the API
//! server's quota admission, as upstream's `pkg/quota/v1/evaluator`). It
//! owns no component logic, so the controllers, the scheduler, the kubelet
//! and the API server can use it and still depend on no sibling component.

pub mod events;
pub mod quantity;
pub mod quota;
