//! The node agent: node registration and lease, pod workers, the containerd runtime, CNI, volumes, probes and the kubelet HTTPS API. Talks to the API server only over HTTPS with the `kube` client.
