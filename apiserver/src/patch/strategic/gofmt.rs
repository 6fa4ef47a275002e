//! How upstream's error messages print JSON values: Go's `%v`/`%s` of the
//! `interface{}` tree that `encoding/json` decodes into, and the Go types the
//! merge compares (`int64` and `float64` are different types there).

use serde_json::Value;

/// The Go dynamic type of a decoded JSON value. `Null` is the nil interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoType {
    Null,
    Bool,
    Int64,
    Float64,
    String,
    Slice,
    Map,
}

pub fn go_type(v: &Value) -> GoType {
    match v {
        Value::Null => GoType::Null,
        Value::Bool(_) => GoType::Bool,
        // Integers that fit an int64 stay integers; the rest are float64.
        Value::Number(n) if n.is_i64() => GoType::Int64,
        Value::Number(_) => GoType::Float64,
        Value::String(_) => GoType::String,
        Value::Array(_) => GoType::Slice,
        Value::Object(_) => GoType::Map,
    }
}

/// `reflect.TypeOf(v)` printed with `%s`.
pub fn type_name(v: &Value) -> &'static str {
    match go_type(v) {
        GoType::Null => "%!s(<nil>)",
        GoType::Bool => "bool",
        GoType::Int64 => "int64",
        GoType::Float64 => "float64",
        GoType::String => "string",
        GoType::Slice => "[]interface {}",
        GoType::Map => "map[string]interface {}",
    }
}

/// Go's `%v`.
pub fn v(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, false);
    out
}

/// Go's `%v` of a list of lists, as `fmt.Sprint([][]interface{}{...})`.
pub fn v_lists(lists: &[&[Value]]) -> String {
    let parts: Vec<String> = lists
        .iter()
        .map(|l| {
            let items: Vec<String> = l.iter().map(v).collect();
            format!("[{}]", items.join(" "))
        })
        .collect();
    format!("[{}]", parts.join(" "))
}

/// Go's `%s`: strings print bare, other scalars as `%!s(type=value)`.
pub fn s(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, true);
    out
}

fn write(out: &mut String, value: &Value, verb_s: bool) {
    match value {
        Value::Null if verb_s => out.push_str("%!s(<nil>)"),
        Value::Null => out.push_str("<nil>"),
        Value::String(s) => out.push_str(s),
        Value::Bool(_) | Value::Number(_) => {
            let text = match value {
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => i.to_string(),
                    None => float_g(n.as_f64().unwrap_or(0.0)),
                },
                _ => String::new(),
            };
            if verb_s {
                out.push_str(&format!("%!s({}={text})", type_name(value)));
            } else {
                out.push_str(&text);
            }
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write(out, item, verb_s);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // fmt prints maps with their keys sorted.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                if let Some(item) = map.get(k.as_str()) {
                    write(out, item, verb_s);
                }
            }
            out.push(']');
        }
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`, which is what `%v` prints.
pub fn float_g(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = mantissa.trim_start_matches('-').replace('.', "");
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let mut eprec = 6;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if exp < -4 || exp >= eprec {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_go() {
        assert_eq!(v(&json!({"b": 1, "a": "x"})), "map[a:x b:1]");
        assert_eq!(v(&json!([1, "a", null, true])), "[1 a <nil> true]");
        assert_eq!(v(&json!({"m": {"k": [1.5]}})), "map[m:map[k:[1.5]]]");
        assert_eq!(s(&json!(5)), "%!s(int64=5)");
        assert_eq!(s(&json!("merge")), "merge");
        assert_eq!(float_g(1e6), "1e+06");
        assert_eq!(float_g(100000.0), "100000");
        assert_eq!(float_g(123.5), "123.5");
        assert_eq!(float_g(0.00001), "1e-05");
        assert_eq!(float_g(1234567.5), "1.2345675e+06");
    }
}
