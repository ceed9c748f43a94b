//! Export to YAML through the model's `Serialize` impls (field order = canonical key order).

use crate::model::Config;

pub(crate) fn to_yaml(cfg: &Config) -> String {
    // Serializing plain data into a string cannot fail; keep a readable fallback regardless.
    serde_yaml::to_string(cfg).unwrap_or_else(|e| format!("# export failed: {e}\n"))
}
