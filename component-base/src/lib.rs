//! What the components share, like upstream's `k8s.io/component-base`:
//! the core/v1 event recorder (`events`) and Kubernetes resource
//! quantities as numbers (`quantity`). It owns no component logic, so the
//! controllers, the scheduler and the kubelet can use it and still depend
//! on no sibling component.

pub mod events;
pub mod quantity;
