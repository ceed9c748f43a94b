//! `global` defaults and the sparse-override merge.
use serde_json::Value;

use crate::model::Global;

/// The router's built-in `global` defaults.
pub fn defaults() -> Value {
    serde_json::json!({})
}

/// Deep-merges `over` onto `base`: mappings merge key by key, everything else replaces.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) if !v.is_null() => *slot = v.clone(),
        _ => {}
    }
}

/// The defaults with `global`'s sections merged on top.
pub fn effective(global: Option<&Global>) -> Value {
    let mut out = defaults();
    if let Some(g) = global
        && let Ok(v) = serde_json::to_value(g)
    {
        merge(&mut out, &v);
    }
    out
}
