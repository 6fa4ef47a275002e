//! Kubernetes resource quantities as numbers ("100m", "2", "0.25", "128Mi",
//! "1G", "1.5Gi", "1e3"): the value in milli-units, rounded up like
//! upstream's `Quantity.MilliValue()`, and in whole units rounded up like
//! `Quantity.Value()`.

/// The value of `q` times 1000 (millicores for cpu, milli-units otherwise),
/// rounded up; None when `q` is not a quantity.
pub fn milli_value(q: &str) -> Option<i64> {
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
    Some((number * multiplier * 1000.0).ceil() as i64)
}

/// The value of `q` in whole units (bytes for memory), rounded up.
pub fn value(q: &str) -> Option<i64> {
    milli_value(q).map(|m| m.div_euclid(1000) + i64::from(m.rem_euclid(1000) != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_forms() {
        assert_eq!(milli_value("500m"), Some(500));
        assert_eq!(milli_value("2"), Some(2000));
        assert_eq!(milli_value("0.25"), Some(250));
        assert_eq!(milli_value("1.5"), Some(1500));
        assert_eq!(value("128Mi"), Some(128 << 20));
        assert_eq!(value("1G"), Some(1_000_000_000));
        assert_eq!(value("1e3"), Some(1000));
        assert_eq!(value("1.5Gi"), Some(3 << 29));
        assert_eq!(value("1m"), Some(1));
        assert_eq!(value("12Xi"), None);
        assert_eq!(milli_value("-1"), Some(-1000));
    }
}
