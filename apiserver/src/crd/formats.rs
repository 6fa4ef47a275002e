//! The OpenAPI `format`s upstream checks in custom resources (the subset
//! kube-openapi's strfmt registry knows that CRDs use). Unknown formats are
//! accepted, as upstream does.

use base64::Engine;

/// Whether the string `text` has `format`.
pub fn string_matches(format: &str, text: &str) -> bool {
    match format {
        "date-time" | "datetime" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        "date" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        "byte" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .is_ok(),
        "uuid" => uuid::Uuid::parse_str(text).is_ok() && text.len() == 36,
        "ipv4" => text.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => cidr(text),
        "hostname" => crate::validation::dns1123_subdomain(text).is_empty(),
        "int-or-string" => true,
        _ => true,
    }
}

fn cidr(text: &str) -> bool {
    let Some((addr, bits)) = text.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

/// Whether the number `f` has `format` (int32/int64 ranges).
pub fn number_matches(format: &str, f: f64) -> bool {
    match format {
        "int32" => f.fract() == 0.0 && f >= i32::MIN as f64 && f <= i32::MAX as f64,
        "int64" => f.fract() == 0.0 && f >= i64::MIN as f64 && f <= i64::MAX as f64,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(string_matches("date-time", "2025-01-02T03:04:05Z"));
        assert!(!string_matches("date-time", "yesterday"));
        assert!(string_matches("byte", "aGVsbG8="));
        assert!(!string_matches("byte", "not base64!"));
        assert!(string_matches("cidr", "10.0.0.0/8"));
        assert!(!number_matches("int32", 3e10));
        assert!(string_matches("made-up", "anything"));
    }
}
