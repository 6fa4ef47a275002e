//! The scheduler: an informer-fed cache of nodes and pods, a filter/score plugin framework, and binding through `pods/binding`. Talks to the API server only over HTTPS with the `kube` client.
