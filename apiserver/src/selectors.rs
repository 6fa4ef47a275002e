//! Label and field selectors, as upstream parses them from `labelSelector`
//! and `fieldSelector` query parameters.

use std::collections::BTreeMap;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    reqs: Vec<LabelReq>,
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for term in split_top_level(s) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            reqs.push(parse_label_term(term)?);
        }
        Ok(LabelSelector { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.reqs.iter().all(|r| match r {
            LabelReq::Eq(k, v) => labels.get(k) == Some(v),
            LabelReq::NotEq(k, v) => labels.get(k) != Some(v),
            LabelReq::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            LabelReq::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            LabelReq::Exists(k) => labels.contains_key(k),
            LabelReq::NotExists(k) => !labels.contains_key(k),
        })
    }
}

/// Splits on commas that are not inside `( ... )`.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn bad_selector(term: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: {why}: {term}"))
}

fn check_key(key: &str, term: &str) -> Result<String, ApiError> {
    if crate::validation::qualified_name(key).is_empty() {
        Ok(key.to_string())
    } else {
        Err(bad_selector(term, &format!("invalid label key \"{key}\"")))
    }
}

fn check_value(value: &str, term: &str) -> Result<String, ApiError> {
    if crate::validation::label_value(value).is_empty() {
        Ok(value.to_string())
    } else {
        Err(bad_selector(
            term,
            &format!("invalid label value: \"{value}\""),
        ))
    }
}

fn parse_label_term(term: &str) -> Result<LabelReq, ApiError> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(LabelReq::NotExists(check_key(key.trim(), term)?));
    }
    for (op, neg) in [(" notin ", true), (" in ", false)] {
        if let Some(idx) = term.find(op) {
            let key = check_key(term[..idx].trim(), term)?;
            let set = term[idx + op.len()..].trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| bad_selector(term, "expected a set in parentheses"))?;
            let values = inner
                .split(',')
                .map(|v| check_value(v.trim(), term))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if neg {
                LabelReq::NotIn(key, values)
            } else {
                LabelReq::In(key, values)
            });
        }
    }
    for (op, neg) in [("!=", true), ("==", false), ("=", false)] {
        if let Some(idx) = term.find(op) {
            let key = check_key(term[..idx].trim(), term)?;
            let value = check_value(term[idx + op.len()..].trim(), term)?;
            return Ok(if neg {
                LabelReq::NotEq(key, value)
            } else {
                LabelReq::Eq(key, value)
            });
        }
    }
    Ok(LabelReq::Exists(check_key(term, term)?))
}

/// A parsed field selector: `a=b`, `a==b`, `a!=b` terms joined by commas.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for term in s.split(',') {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let (field, negate, value) = if let Some(i) = term.find("!=") {
                (&term[..i], true, &term[i + 2..])
            } else if let Some(i) = term.find("==") {
                (&term[..i], false, &term[i + 2..])
            } else if let Some(i) = term.find('=') {
                (&term[..i], false, &term[i + 1..])
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                )));
            };
            terms.push((field.trim().to_string(), negate, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The fields this selector names, to check against what a kind supports.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|(f, _, _)| f.as_str())
    }

    /// The value required for `field` by an `=` term, if any (used to narrow
    /// a list to one name or namespace).
    pub fn required(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|(f, neg, _)| f == field && !neg)
            .map(|(_, _, v)| v.as_str())
    }

    pub fn matches(&self, fields: &dyn Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|(f, neg, v)| {
            let actual = fields(f).unwrap_or_default();
            (actual == *v) != *neg
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_operators() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web,db)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier in (front)", true),
            ("missing notin (x)", true),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&l),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn bad_label_selector_is_400() {
        let e = LabelSelector::parse("app in web").unwrap_err();
        assert_eq!(e.code, 400);
        assert!(LabelSelector::parse("a b=c").is_err());
    }

    #[test]
    fn field_selector() {
        let f = FieldSelector::parse("metadata.name=a,status.phase!=Failed").unwrap();
        let get = |field: &str| match field {
            "metadata.name" => Some("a".to_string()),
            "status.phase" => Some("Running".to_string()),
            _ => None,
        };
        assert!(f.matches(&get));
        assert_eq!(f.required("metadata.name"), Some("a"));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
