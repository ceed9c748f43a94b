use std::path::{Path, PathBuf};

use serde_json::Value;

/// A file under ../shared, or None (with a notice) when the shared folder is absent.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        vsr_testkit::missing(format!("{} not found", p.display()));
        None
    }
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `routing` section of a YAML config, as an ordered generic tree.
pub fn yaml_routing(src: &str) -> Value {
    let doc: Value = serde_yaml::from_str(src).expect("reference YAML parses");
    doc.get("routing").cloned().expect("has routing")
}

/// Normalises what is semantically equal but written differently (see docs/compatibility.md, DSL):
/// - numbers compare by value (`10` and `10.0`, `0.90` and `0.9`);
/// - `false` equals an absent key for the booleans whose schema default is false
///   (`case_sensitive`, `include_history`, `capture_request_body`, `capture_response_body`);
/// - model cards form a catalog keyed by name, so they are compared sorted by name.
pub fn normalise(v: &Value) -> Value {
    let mut v = norm(v);
    if let Some(Value::Array(cards)) = v.get_mut("modelCards") {
        cards.sort_by(|a, b| {
            a["name"]
                .as_str()
                .unwrap_or_default()
                .cmp(b["name"].as_str().unwrap_or_default())
        });
    }
    v
}

const DEFAULT_FALSE: [&str; 4] = [
    "case_sensitive",
    "include_history",
    "capture_request_body",
    "capture_response_body",
];

fn norm(v: &Value) -> Value {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| {
                    !(DEFAULT_FALSE.contains(&k.as_str()) && **v == Value::Bool(false))
                })
                .map(|(k, v)| (k.clone(), norm(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every path where the two trees differ (lists compared in order, maps by key).
pub fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => diff(va, vb, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: only on the left ({va})")),
                }
            }
            for k in y.keys() {
                if !x.contains_key(k) {
                    out.push(format!("{path}.{k}: only on the right ({})", y[k]));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!("{path}: lengths {} vs {}", x.len(), y.len()));
            }
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff(va, vb, &format!("{path}[{i}]"), out);
            }
        }
        _ => {
            if a != b {
                out.push(format!("{path}: {a} vs {b}"));
            }
        }
    }
}

pub fn assert_same_routing(left: &Value, right: &Value) {
    let (l, r) = (normalise(left), normalise(right));
    let mut out = Vec::new();
    diff(&l, &r, "routing", &mut out);
    assert!(
        out.is_empty(),
        "{} differences:\n{}",
        out.len(),
        out.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}
