//! The FieldsV1 encoding of a field set, exactly as upstream writes it: a
//! JSON object whose keys are path elements (`f:name`, `k:{"name":"c"}`,
//! `v:"x"`, `i:0`) in element order, `{}` for a member without children,
//! and `".": {}` first in a child object when the node itself is also a
//! member.

use serde_json::{Map, Value};

use super::fieldpath::{PathElement, Set};

/// Why a FieldsV1 value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsV1Error {
    #[error("expected an object, got {0}")]
    NotAnObject(String),
    #[error("invalid path element {0:?}")]
    BadElement(String),
}

/// The key of one element.
pub fn element_key(pe: &PathElement) -> String {
    match pe {
        PathElement::Field(name) => format!("f:{name}"),
        PathElement::Key(keys) => {
            let mut m = Map::new();
            for (k, v) in keys {
                m.insert(k.clone(), v.clone());
            }
            format!("k:{}", Value::Object(m))
        }
        PathElement::Value(v) => format!("v:{v}"),
        PathElement::Index(i) => format!("i:{i}"),
    }
}

/// Parses one key.
pub fn parse_element(key: &str) -> Result<PathElement, FieldsV1Error> {
    let bad = || FieldsV1Error::BadElement(key.to_string());
    let (kind, rest) = key.split_once(':').ok_or_else(bad)?;
    match kind {
        "f" => Ok(PathElement::Field(rest.to_string())),
        "k" => {
            let Value::Object(m) = serde_json::from_str(rest).map_err(|_| bad())? else {
                return Err(bad());
            };
            let mut keys: Vec<(String, Value)> = m.into_iter().collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(keys))
        }
        "v" => Ok(PathElement::Value(
            serde_json::from_str(rest).map_err(|_| bad())?,
        )),
        "i" => Ok(PathElement::Index(rest.parse().map_err(|_| bad())?)),
        _ => Err(bad()),
    }
}

/// The FieldsV1 object of a set.
pub fn encode(set: &Set) -> Value {
    Value::Object(encode_contents(set, false))
}

fn encode_contents(set: &Set, include_self: bool) -> Map<String, Value> {
    let mut out = Map::new();
    if include_self {
        out.insert(".".into(), Value::Object(Map::new()));
    }
    let mut members = set.members.iter().peekable();
    let mut children = set.children.iter().peekable();
    loop {
        match (members.peek(), children.peek()) {
            (None, None) => break,
            (Some(m), Some((c, child))) if *m == *c => {
                out.insert(element_key(m), Value::Object(encode_contents(child, true)));
                members.next();
                children.next();
            }
            (Some(m), Some((c, _))) if *m < *c => {
                out.insert(element_key(m), Value::Object(Map::new()));
                members.next();
            }
            (Some(m), None) => {
                out.insert(element_key(m), Value::Object(Map::new()));
                members.next();
            }
            (_, Some((c, child))) => {
                out.insert(element_key(c), Value::Object(encode_contents(child, false)));
                children.next();
            }
        }
    }
    out
}

/// Reads a FieldsV1 object.
pub fn decode(value: &Value) -> Result<Set, FieldsV1Error> {
    let Value::Object(m) = value else {
        return Err(FieldsV1Error::NotAnObject(value.to_string()));
    };
    let mut set = Set::new();
    for (key, child) in m {
        if key == "." {
            continue;
        }
        let pe = parse_element(key)?;
        let Value::Object(cm) = child else {
            return Err(FieldsV1Error::NotAnObject(child.to_string()));
        };
        if cm.is_empty() || cm.contains_key(".") {
            set.members.insert(pe.clone());
        }
        if cm.keys().any(|k| k != ".") {
            let sub = decode(child)?;
            if !sub.is_empty() {
                set.children.insert(pe, sub);
            }
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_upstream_text() {
        let text = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    "k:{\"name\":\"nginx\"}": {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {
                            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                ".": {}, "f:containerPort": {}
                            }
                        }
                    }
                },
                "f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}},
                "f:replicas": {}
            }
        });
        let set = decode(&text).unwrap();
        assert!(set.has(&[PathElement::field("metadata"), PathElement::field("labels")]));
        let out = encode(&set);
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            serde_json::to_string(&text).unwrap()
        );
    }

    #[test]
    fn refuses_bad_elements() {
        assert!(decode(&json!({"x:y": {}})).is_err());
        assert!(decode(&json!({"k:notjson": {}})).is_err());
        assert!(decode(&json!([])).is_err());
    }
}
