//! The images test pods run. By default upstream's e2e images (as a
//! conformant cluster pulls them); clusters that reach no registry set
//! `OXKUBE_CONFORMANCE_IMAGE` to one local busybox-like image (with `sh`,
//! `env`, `cat` and `sleep`), which then stands for every test image, the
//! way upstream's `KUBE_TEST_REPO_LIST` remaps registries.

use serde_json::{Value, json};

/// Environment variable naming the one image that replaces the e2e images.
pub const IMAGE_ENV: &str = "OXKUBE_CONFORMANCE_IMAGE";

const BUSYBOX: &str = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1";
const PAUSE: &str = "registry.k8s.io/pause:3.10";

fn replacement() -> Option<String> {
    std::env::var(IMAGE_ENV).ok().filter(|s| !s.is_empty())
}

/// An image with a POSIX shell and the busybox tools.
pub fn busybox() -> String {
    replacement().unwrap_or_else(|| BUSYBOX.to_string())
}

/// A container named `name` that runs until it is stopped (the pause
/// image, or a shell sleeping in the replacement image).
pub fn sleeper(name: &str) -> Value {
    match replacement() {
        Some(image) => json!({"name": name, "image": image, "command": ["sleep", "3600"]}),
        None => json!({"name": name, "image": PAUSE}),
    }
}
