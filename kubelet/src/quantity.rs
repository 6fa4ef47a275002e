//! Kubernetes resource quantities as numbers: CPU in millicores, memory in
//! bytes ("128Mi", "1G", "1.5Gi", "500m", "2", "1e3").

/// The value of `q` times `scale` (1000 for millicores, 1 for bytes),
/// rounded up, or None when it does not parse.
pub fn scaled(q: &str, scale: f64) -> Option<u64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    let value = number * multiplier * scale;
    (value >= 0.0).then(|| value.ceil() as u64)
}

/// CPU quantity in millicores.
pub fn cpu_millis(q: &str) -> Option<u64> {
    scaled(q, 1000.0)
}

/// Memory (or storage) quantity in bytes.
pub fn bytes(q: &str) -> Option<u64> {
    scaled(q, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_forms() {
        assert_eq!(cpu_millis("500m"), Some(500));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(cpu_millis("0.25"), Some(250));
        assert_eq!(bytes("128Mi"), Some(128 << 20));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("1e3"), Some(1000));
        assert_eq!(bytes("1.5Gi"), Some(3 << 29));
        assert_eq!(bytes("12Xi"), None);
        assert_eq!(bytes("-1"), None);
    }
}
