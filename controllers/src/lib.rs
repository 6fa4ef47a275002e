//! kube-controller-manager equivalents, one module per controller, on kube-runtime. Talks to the API server only over HTTPS with the `kube` client.
