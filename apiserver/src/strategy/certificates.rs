//! certificates.k8s.io/v1 CertificateSigningRequest (upstream's
//! `pkg/registry/certificates/certificates/strategy.go` and
//! `pkg/apis/certificates/validation`): the requester's identity recorded on
//! create, a spec that never changes, the `status` subresource that cannot
//! approve, and the `approval` subresource that can only approve or deny.

use serde_json::{Map, Value, json};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use super::Strategy;
use super::common::str_at;
use crate::authn::UserInfo;
use crate::error::Cause;
use crate::validation::{invalid, not_supported, required};

pub struct CsrStrategy;

const KEY_USAGES: &[&str] = &[
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

/// Condition types only the `approval` subresource may set.
fn is_approval(condition: &Value) -> bool {
    matches!(
        condition.get("type").and_then(Value::as_str),
        Some("Approved" | "Denied")
    )
}

/// `ParseCSR`: one PEM block of type CERTIFICATE REQUEST holding a DER
/// PKCS#10 request.
fn parse_request(pem_bytes: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(pem_bytes);
    const BEGIN: &str = "-----BEGIN CERTIFICATE REQUEST-----";
    const END: &str = "-----END CERTIFICATE REQUEST-----";
    let wrong = || "PEM block type must be CERTIFICATE REQUEST".to_string();
    let start = text.find(BEGIN).ok_or_else(wrong)? + BEGIN.len();
    let end = text[start..].find(END).ok_or_else(wrong)? + start;
    let body: String = text[start..end].split_whitespace().collect();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("x509: malformed certificate request: {e}"))?;
    X509CertificationRequest::from_der(&der)
        .map_err(|e| format!("x509: malformed certificate request: {e}"))?;
    Ok(())
}

/// Go's `%#v` of a byte slice, as field.Invalid renders `spec.request`.
fn go_bytes(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(|b| format!("{b:#x}")).collect();
    format!("[]byte{{{}}}", items.join(", "))
}

fn validate_csr(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let request = str_at(obj, "/spec/request");
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(request) {
        Ok(bytes) => {
            if let Err(e) = parse_request(&bytes) {
                causes.push(Cause {
                    reason: "FieldValueInvalid",
                    message: format!("Invalid value: {}: {e}", go_bytes(&bytes)),
                    field: "spec.request".to_string(),
                });
            }
        }
        Err(_) => causes.push(invalid(
            "spec.request",
            &json!(request),
            "must be base64 encoded",
        )),
    }
    let signer = str_at(obj, "/spec/signerName");
    if signer.is_empty() {
        causes.push(required("spec.signerName", ""));
    } else if !signer_name_ok(signer) {
        causes.push(invalid(
            "spec.signerName",
            &json!(signer),
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
    }
    let usages = obj
        .pointer("/spec/usages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if usages.is_empty() {
        causes.push(required("spec.usages", ""));
    }
    for (i, usage) in usages.iter().enumerate() {
        if !usage.as_str().is_some_and(|u| KEY_USAGES.contains(&u)) {
            causes.push(not_supported(
                &format!("spec.usages[{i}]"),
                usage,
                KEY_USAGES,
            ));
        }
    }
    if let Some(seconds) = obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        && seconds < 600
    {
        causes.push(invalid(
            "spec.expirationSeconds",
            &json!(seconds),
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
    causes
}

/// `domain/path`: the domain part a DNS subdomain with a dot.
fn signer_name_ok(signer: &str) -> bool {
    let Some((domain, path)) = signer.split_once('/') else {
        return false;
    };
    !path.is_empty()
        && domain.contains('.')
        && crate::validation::dns1123_subdomain(domain).is_empty()
        && !path.contains('/')
}

/// `populateConditionTimestamps`: lastUpdateTime defaults to now;
/// lastTransitionTime is kept from the old condition of the same type and
/// status, else now.
fn stamp_conditions(new: &mut Value, old: &Value) {
    let now = crate::meta::now_rfc3339();
    let old_conditions = old
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(conditions) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for condition in conditions.iter_mut().filter(|c| c.is_object()) {
        if condition.get("lastUpdateTime").is_none_or(Value::is_null) {
            condition["lastUpdateTime"] = json!(now);
        }
        if condition
            .get("lastTransitionTime")
            .is_none_or(Value::is_null)
        {
            let same = old_conditions.iter().find(|o| {
                o.get("type") == condition.get("type") && o.get("status") == condition.get("status")
            });
            condition["lastTransitionTime"] = same
                .and_then(|o| o.get("lastTransitionTime").cloned())
                .filter(|t| !t.is_null())
                .unwrap_or_else(|| json!(now));
        }
    }
}

/// New conditions: those of `take_from` that `keep` selects, followed by
/// the old object's others.
fn merge_conditions(new: &mut Value, old: &Value, approval: bool) {
    let pick = |obj: &Value, want_approval: bool| -> Vec<Value> {
        obj.pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| is_approval(c) == want_approval)
            .cloned()
            .collect()
    };
    // The approval subresource changes approval conditions only; the status
    // subresource everything but them.
    let (mut first, second) = if approval {
        (pick(new, true), pick(old, false))
    } else {
        (pick(old, true), pick(new, false))
    };
    first.extend(second);
    let status = if approval {
        // Everything else in status stays as stored (certificate included).
        let mut status = old.get("status").cloned().unwrap_or_else(|| json!({}));
        if !status.is_object() {
            status = json!({});
        }
        status
    } else {
        new.get("status").cloned().unwrap_or_else(|| json!({}))
    };
    let mut status: Map<String, Value> = status.as_object().cloned().unwrap_or_default();
    if first.is_empty() {
        status.remove("conditions");
    } else {
        status.insert("conditions".into(), Value::Array(first));
    }
    new["status"] = Value::Object(status);
}

impl Strategy for CsrStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
    }
    fn prepare_for_create_by(&self, obj: &mut Value, user: &UserInfo) {
        if !obj.get("spec").is_some_and(Value::is_object) {
            obj["spec"] = json!({});
        }
        let spec = &mut obj["spec"];
        spec["username"] = json!(user.name);
        spec["groups"] = json!(user.groups);
        if let Some(m) = spec.as_object_mut() {
            m.remove("uid");
            m.remove("extra");
        }
        if !user.uid.is_empty() {
            spec["uid"] = json!(user.uid);
        }
        if !user.extra.is_empty() {
            spec["extra"] = json!(user.extra);
        }
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // The main resource changes metadata only.
        new["spec"] = old.get("spec").cloned().unwrap_or(Value::Null);
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    fn prepare_for_subresource_update(&self, subresource: &str, new: &mut Value, old: &Value) {
        new["spec"] = old.get("spec").cloned().unwrap_or(Value::Null);
        merge_conditions(new, old, subresource == "approval");
        stamp_conditions(new, old);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_csr(obj)
    }
    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        let conditions = new
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let approved = conditions.iter().any(|c| c["type"] == "Approved");
        let denied = conditions.iter().any(|c| c["type"] == "Denied");
        if approved && denied {
            causes.push(invalid(
                "status.conditions",
                &json!("Approved"),
                "Approved and Denied conditions are mutually exclusive",
            ));
        }
        for (i, c) in conditions.iter().enumerate() {
            let status = c.get("status").cloned().unwrap_or(Value::Null);
            if !matches!(status.as_str(), Some("True" | "False" | "Unknown")) {
                causes.push(not_supported(
                    &format!("status.conditions[{i}].status"),
                    &status,
                    &["False", "True", "Unknown"],
                ));
            }
        }
        causes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An EC P-256 PKCS#10 request for CN=e2e-csr (made with openssl).
    const REQUEST_PEM: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIHaMIGCAgEAMCAxEDAOBgNVBAMMB2UyZS1jc3IxDDAKBgNVBAoMA2UyZTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABFle65WjnoTCGmjDG+g05COIZsu762ll1CBy
C/OgboAm8UGJ0CbA1fF8kXQak6wkP0llFP3HmD/Sf9xhDSmDs4SgADAKBggqhkjO
PQQDAgNHADBEAiAuar/QGhJow5FiqLE3cZ9KhZx2TbynmDuuQ9NMJ/5fIwIgLjPU
p7SnK/50rTwqNnqA49pOfOaLJVduoll06Nrt8iA=
-----END CERTIFICATE REQUEST-----
";

    fn csr(request: &[u8]) -> Value {
        use base64::Engine as _;
        json!({"spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(request),
            "signerName": "example.com/signer",
            "usages": ["digital signature", "client auth"]
        }})
    }

    #[test]
    fn request_must_be_a_pem_certificate_request() {
        assert!(validate_csr(&csr(REQUEST_PEM.as_bytes())).is_empty());
        let causes = validate_csr(&csr(b"ab"));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.request");
        assert_eq!(
            causes[0].message,
            "Invalid value: []byte{0x61, 0x62}: PEM block type must be CERTIFICATE REQUEST"
        );
    }

    #[test]
    fn requester_recorded_and_spec_frozen() {
        let mut obj = csr(REQUEST_PEM.as_bytes());
        obj["spec"]["username"] = json!("forged");
        let user = UserInfo {
            name: "alice".into(),
            groups: vec!["team".into(), "system:authenticated".into()],
            ..Default::default()
        };
        CsrStrategy.prepare_for_create_by(&mut obj, &user);
        assert_eq!(obj["spec"]["username"], "alice");
        assert_eq!(
            obj["spec"]["groups"],
            json!(["team", "system:authenticated"])
        );
        let mut changed = obj.clone();
        changed["spec"]["signerName"] = json!("example.com/other");
        CsrStrategy.prepare_for_update(&mut changed, &obj);
        assert_eq!(changed["spec"], obj["spec"]);
    }

    #[test]
    fn approval_and_status_own_different_conditions() {
        let old = json!({"spec": {}, "status": {"conditions": [
            {"type": "Failed", "status": "True", "lastUpdateTime": "2020-01-01T00:00:00Z",
             "lastTransitionTime": "2020-01-01T00:00:00Z"}
        ]}});
        let mut approve = json!({"spec": {}, "status": {"conditions": [
            {"type": "Approved", "status": "True", "reason": "R"}
        ]}});
        CsrStrategy.prepare_for_subresource_update("approval", &mut approve, &old);
        let types: Vec<_> = approve["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["type"].clone())
            .collect();
        assert_eq!(types, [json!("Approved"), json!("Failed")]);
        assert!(approve["status"]["conditions"][0]["lastUpdateTime"].is_string());

        // The status subresource cannot approve.
        let mut sneaky = json!({"spec": {}, "status": {"conditions": [
            {"type": "Approved", "status": "True"}
        ]}});
        CsrStrategy.prepare_for_subresource_update("status", &mut sneaky, &old);
        let types: Vec<_> = sneaky["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["type"].clone())
            .collect();
        assert!(types.is_empty(), "got {types:?}");
    }
}
