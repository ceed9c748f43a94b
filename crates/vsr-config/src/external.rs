//! `global.model_catalog.external[]`: models outside the routed fleet that the router itself
//! calls — an `llm` classifier's model (head-delta §9, dsl-config-spec §647).

use serde_json::Value;

use crate::model::Config;

/// One external model entry, as far as the router calls it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalModel {
    pub name: String,
    /// `model_role` (`classification` for classifiers).
    pub role: Option<String>,
    /// The id sent as `model` in the chat call.
    pub llm_model_name: Option<String>,
    /// `llm_endpoint`: `protocol://address:port` (protocol `http` when empty).
    pub address: Option<String>,
    pub port: Option<u16>,
    pub https: bool,
    pub timeout_seconds: Option<f64>,
    /// `access_key`: sent as a bearer token. Never printed.
    pub access_key: Option<String>,
}

impl ExternalModel {
    fn of(v: &Value) -> Option<Self> {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let endpoint = v.get("llm_endpoint");
        Some(ExternalModel {
            name: s(v.get("name"))?,
            role: s(v.get("model_role")),
            llm_model_name: s(v.get("llm_model_name")),
            address: s(endpoint.and_then(|e| e.get("address"))),
            port: endpoint
                .and_then(|e| e.get("port"))
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok()),
            https: endpoint
                .and_then(|e| e.get("protocol"))
                .and_then(Value::as_str)
                .is_some_and(|p| p.eq_ignore_ascii_case("https")),
            timeout_seconds: v.get("llm_timeout_seconds").and_then(Value::as_f64),
            access_key: s(v.get("access_key")).filter(|k| !k.is_empty()),
        })
    }

    /// The chat completions URL of the endpoint; `None` without an address or port.
    pub fn chat_url(&self) -> Option<String> {
        let address = self.address.as_deref().filter(|a| !a.trim().is_empty())?;
        let port = self.port.filter(|p| *p > 0)?;
        let scheme = if self.https { "https" } else { "http" };
        Some(format!("{scheme}://{address}:{port}/v1/chat/completions"))
    }
}

impl Config {
    /// The named entries of `global.model_catalog.external[]`, in order.
    pub fn external_models(&self) -> Vec<ExternalModel> {
        self.global
            .as_ref()
            .and_then(|g| g.model_catalog.as_ref())
            .and_then(|m| m.get("external"))
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(ExternalModel::of).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_external_entry_gives_its_url_and_call_settings() {
        let yaml = "version: v0.3
providers:
  defaults: {default_model: m}
  models: [{name: m, backend_refs: [{endpoint: \"h:1\"}]}]
global:
  model_catalog:
    external:
      - name: judge
        model_role: classification
        llm_model_name: qwen-small
        llm_timeout_seconds: 2
        llm_endpoint: {address: 127.0.0.1, port: 8123, protocol: http}
";
        let cfg = crate::load_str(yaml, "x.yaml").unwrap().config;
        let e = &cfg.external_models()[0];
        assert_eq!(e.name, "judge");
        assert_eq!(e.llm_model_name.as_deref(), Some("qwen-small"));
        assert_eq!(
            e.chat_url().as_deref(),
            Some("http://127.0.0.1:8123/v1/chat/completions")
        );
        assert_eq!(e.timeout_seconds, Some(2.0));
    }
}
