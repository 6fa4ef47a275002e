//! CEL validation rules of custom resources (`x-kubernetes-validations`):
//! compiled when the CRD is written (a rule that does not parse makes the
//! CRD invalid) and evaluated against each object on create and update,
//! with `self` bound to the value at the rule's schema node and, for
//! transition rules on update, `oldSelf` to the old value.
//!
//! Evaluation uses the `cel` crate (cel-rust, MIT). Differences from
//! upstream: rules are parsed, not type-checked, at CRD time (a reference to
//! a missing field is found when evaluated, not when the CRD is written);
//! no cost budget; `oldSelf` is only correlated through object properties
//! (not through list items).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, ValidationRule,
};
use serde_json::Value;

use super::schema::{child, items, property};
use crate::error::Cause;
use crate::validation;

/// The parsed programs of every rule of one schema, by source text.
#[derive(Default)]
pub struct CompiledRules {
    programs: HashMap<String, Arc<cel::Program>>,
}

/// A rule (or message expression) that does not compile, with where it is
/// in the schema (`properties[spec].x-kubernetes-validations[0].rule`).
#[derive(Debug, Clone)]
pub struct CompileError {
    pub path: String,
    pub rule: String,
    pub error: String,
}

/// Parses every rule and message expression under `schema`.
pub fn compile(schema: &JSONSchemaProps) -> CompiledRules {
    let mut rules = CompiledRules::default();
    let mut errors = Vec::new();
    collect(schema, "", &mut rules, &mut errors);
    rules
}

/// The compile errors of every rule under `schema` (for CRD validation);
/// `base` is the schema's field path.
pub fn compile_errors(schema: &JSONSchemaProps, base: &str) -> Vec<CompileError> {
    let mut rules = CompiledRules::default();
    let mut errors = Vec::new();
    collect(schema, base, &mut rules, &mut errors);
    errors
}

fn collect(
    s: &JSONSchemaProps,
    path: &str,
    rules: &mut CompiledRules,
    errors: &mut Vec<CompileError>,
) {
    for (i, r) in s.x_kubernetes_validations.iter().flatten().enumerate() {
        let base = format!("{path}.x-kubernetes-validations[{i}]");
        for (field, text) in [
            ("rule", Some(&r.rule)),
            ("messageExpression", r.message_expression.as_ref()),
        ] {
            let Some(text) = text else { continue };
            match cel::Program::compile(text) {
                Ok(p) => {
                    rules.programs.insert(text.clone(), Arc::new(p));
                }
                Err(e) => errors.push(CompileError {
                    path: format!("{base}.{field}"),
                    rule: text.clone(),
                    error: e.to_string(),
                }),
            }
        }
    }
    for (name, ps) in s.properties.iter().flatten() {
        collect(ps, &format!("{path}.properties[{name}]"), rules, errors);
    }
    if let Some(is) = items(s) {
        collect(is, &format!("{path}.items"), rules, errors);
    }
    if let Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrBool::Schema(a)) =
        &s.additional_properties
    {
        collect(a, &format!("{path}.additionalProperties"), rules, errors);
    }
}

fn to_cel(v: &Value) -> cel::Value {
    cel::to_value(v).unwrap_or(cel::Value::Null)
}

fn uses_old_self(rule: &str) -> bool {
    rule.contains("oldSelf")
}

impl CompiledRules {
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }

    fn run(&self, text: &str, this: &Value, old: Option<&Value>) -> Result<cel::Value, String> {
        let Some(program) = self.programs.get(text) else {
            return Err("rule was not compiled".into());
        };
        let mut ctx = cel::Context::default();
        ctx.add_variable_from_value("self", to_cel(this));
        if let Some(o) = old {
            ctx.add_variable_from_value("oldSelf", to_cel(o));
        }
        program.execute(&ctx).map_err(|e| e.to_string())
    }

    /// Evaluates the rules under `s` against `v` (and `old` on update),
    /// adding a cause per failed rule.
    pub fn validate(
        &self,
        s: &JSONSchemaProps,
        v: &Value,
        old: Option<&Value>,
        path: &str,
        out: &mut Vec<Cause>,
    ) {
        if v.is_null() {
            return;
        }
        for r in s.x_kubernetes_validations.iter().flatten() {
            let transition = uses_old_self(&r.rule);
            if transition && old.is_none() && r.optional_old_self != Some(true) {
                continue;
            }
            let ty = s.type_.as_deref().unwrap_or("object");
            match self.run(&r.rule, v, old) {
                Ok(cel::Value::Bool(true)) => {}
                Ok(cel::Value::Bool(false)) => out.push(self.failure(r, ty, v, old, path)),
                Ok(other) => out.push(validation::invalid(
                    path,
                    &Value::String(ty.into()),
                    &format!("rule did not evaluate to a boolean: {other:?}"),
                )),
                Err(e) => out.push(validation::invalid(
                    path,
                    &Value::String(ty.into()),
                    &format!("rule evaluation error: {e}"),
                )),
            }
        }
        match v {
            Value::Object(map) => {
                for (key, value) in map {
                    if path.is_empty()
                        && (key == "metadata" || key == "apiVersion" || key == "kind")
                    {
                        continue;
                    }
                    if let Some(ps) = property(s, key) {
                        let old_value = old.and_then(|o| o.get(key));
                        self.validate(ps, value, old_value, &child(path, key), out);
                    }
                }
            }
            Value::Array(list) => {
                if let Some(is) = items(s) {
                    for (i, item) in list.iter().enumerate() {
                        self.validate(is, item, None, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }

    /// The cause of a failed rule: its message (or messageExpression, or
    /// `failed rule: <rule>`), reason and fieldPath as upstream.
    fn failure(
        &self,
        r: &ValidationRule,
        ty: &str,
        v: &Value,
        old: Option<&Value>,
        path: &str,
    ) -> Cause {
        let from_expression =
            r.message_expression
                .as_ref()
                .and_then(|m| match self.run(m, v, old) {
                    Ok(cel::Value::String(s)) if !s.trim().is_empty() => Some(s.to_string()),
                    _ => None,
                });
        let message = from_expression
            .or_else(|| r.message.clone().filter(|m| !m.is_empty()))
            .unwrap_or_else(|| format!("failed rule: {}", r.rule));
        let field = match r.field_path.as_deref() {
            Some(fp) if !fp.is_empty() => {
                let rel = fp.trim_start_matches('.');
                if path.is_empty() {
                    rel.to_string()
                } else {
                    format!("{path}.{rel}")
                }
            }
            _ => path.to_string(),
        };
        let bad = Value::String(ty.into());
        match r.reason.as_deref() {
            Some("FieldValueRequired") => validation::required(&field, &message),
            Some("FieldValueForbidden") => validation::forbidden(&field, &message),
            Some("FieldValueDuplicate") => Cause {
                reason: "FieldValueDuplicate",
                message: format!("Duplicate value: {}: {message}", Value::String(ty.into())),
                field,
            },
            _ => validation::invalid(&field, &bad, &message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> JSONSchemaProps {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn rules_and_transition_rules() {
        let s = schema(
            json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [
                {"rule": "self.replicas <= self.maxReplicas", "message": "replicas must not exceed maxReplicas"},
                {"rule": "self.replicas >= oldSelf.replicas", "message": "replicas may not decrease"}],
            "properties": {"replicas": {"type": "integer"}, "maxReplicas": {"type": "integer"}}}}}),
        );
        let rules = compile(&s);
        let mut out = Vec::new();
        let obj = json!({"spec": {"replicas": 5, "maxReplicas": 3}});
        rules.validate(&s, &obj, None, "", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].field, "spec");
        assert_eq!(
            out[0].message,
            "Invalid value: \"object\": replicas must not exceed maxReplicas"
        );
        let mut out = Vec::new();
        let new = json!({"spec": {"replicas": 1, "maxReplicas": 3}});
        let old = json!({"spec": {"replicas": 2, "maxReplicas": 3}});
        rules.validate(&s, &new, Some(&old), "", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].message,
            "Invalid value: \"object\": replicas may not decrease"
        );
    }

    #[test]
    fn bad_rules_do_not_compile() {
        let s =
            schema(json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.a >"}]}));
        let errs = compile_errors(&s, "spec.versions[0].schema.openAPIV3Schema");
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].path,
            "spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule"
        );
    }
}
