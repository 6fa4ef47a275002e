//! Resource quantities as the kubelet uses them (cgroup limits, downward
//! API values): non-negative numbers, from `component_base::quantity`.

use component_base::quantity;

/// CPU quantity in millicores.
pub fn cpu_millis(q: &str) -> Option<u64> {
    quantity::milli_value(q).and_then(|v| u64::try_from(v).ok())
}

/// Memory (or storage) quantity in bytes.
pub fn bytes(q: &str) -> Option<u64> {
    quantity::value(q).and_then(|v| u64::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_quantities_are_refused() {
        assert_eq!(cpu_millis("250m"), Some(250));
        assert_eq!(bytes("1.5Gi"), Some(3 << 29));
        assert_eq!(bytes("-1"), None);
    }
}
