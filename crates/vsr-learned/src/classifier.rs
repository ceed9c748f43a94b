//! The `classifier` family (head-delta §9): generic label classifiers a config declares. An
//! `llm` classifier asks an external chat model (`global.model_catalog.external[]`) to choose
//! one of its labels for the request's bounded text and reads the answer one-hot; a `local`
//! classifier is a two-label sequence classifier at `model_path` (a Hugging Face BERT export,
//! [`vsr_models::seqcls`]; builds with the `bert` feature), whose label probabilities are the
//! values and whose best label matches. Signals are `name:label`, valued by the label's score;
//! a classifier's failure (or a model that cannot load) marks its label signals with the error,
//! and `on_error` decides.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vsr_config::{ClassifierSignal, Config};
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

/// The call timeout when the external model sets none (upstream's).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most an answer may be (a label and a short rationale).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// How one classifier is evaluated.
#[derive(Clone)]
enum Runtime {
    Llm(LlmCall),
    /// A sequence classifier whose outputs are the labels, in order.
    Local(Arc<vsr_models::seqcls::SequenceClassifier>),
    /// Why the classifier cannot run (every evaluation reports it).
    Unavailable(String),
}

/// The local classifier at `path` for `labels`, or why it cannot run.
fn local(name: &str, path: Option<&str>, labels: &[String]) -> Runtime {
    let Some(path) = path else {
        return Runtime::Unavailable("a local classifier needs model_path".into());
    };
    match vsr_models::seqcls::SequenceClassifier::load(std::path::Path::new(path)) {
        Ok(c) if c.num_labels() == labels.len() => Runtime::Local(Arc::new(c)),
        Ok(c) => Runtime::Unavailable(format!(
            "the model at {path} has {} labels, the classifier {}",
            c.num_labels(),
            labels.len()
        )),
        Err(e) => {
            tracing::warn!(classifier = name, error = %e, "local classifier unavailable; its leaves read an error");
            Runtime::Unavailable(e.to_string())
        }
    }
}

#[derive(Debug, Clone)]
struct LlmCall {
    url: String,
    model: String,
    instructions: String,
    timeout: Duration,
    access_key: Option<String>,
}

#[derive(Clone)]
struct Generic {
    name: String,
    labels: Vec<String>,
    runtime: Runtime,
}

/// The classifier family of one routing profile.
pub struct ClassifierFamily {
    classifiers: Vec<Generic>,
    agent: ureq::Agent,
}

impl ClassifierFamily {
    /// The family for `signals` of `config` (the external models are read from `config`).
    pub fn from_config(config: &Config, signals: &[ClassifierSignal]) -> Self {
        let externals = config.external_models();
        let classifiers = signals
            .iter()
            .map(|c| {
                let runtime = match c.kind {
                    Some(vsr_config::vocab::ClassifierKind::Llm) => {
                        let model = c.model.as_deref().unwrap_or("");
                        match externals.iter().find(|e| e.name == model) {
                            None => Runtime::Unavailable(format!(
                                "external model {model:?} is not configured"
                            )),
                            Some(e) => match e.chat_url() {
                                None => Runtime::Unavailable(format!(
                                    "external model {model:?} has no llm_endpoint address and port"
                                )),
                                Some(url) => Runtime::Llm(LlmCall {
                                    url,
                                    model: e.llm_model_name.clone().unwrap_or_default(),
                                    instructions: c.instructions.clone().unwrap_or_default(),
                                    timeout: e
                                        .timeout_seconds
                                        .filter(|t| t.is_finite() && *t > 0.0)
                                        .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64),
                                    access_key: e.access_key.clone(),
                                }),
                            },
                        }
                    }
                    _ => local(&c.name, c.model_path.as_deref(), &c.labels),
                };
                Generic {
                    name: c.name.clone(),
                    labels: c.labels.clone(),
                    runtime,
                }
            })
            .collect();
        let agent = ureq::Agent::config_builder()
            .tls_config(vsr_models::pypi::system_tls())
            .http_status_as_error(false)
            .build()
            .into();
        Self { classifiers, agent }
    }

    /// Each label's score for `text` (in label order) and the evidence of the best one.
    fn classify(&self, c: &Generic, text: &str) -> Result<(Vec<f64>, String), String> {
        let call = match &c.runtime {
            Runtime::Llm(call) => call,
            Runtime::Local(model) => {
                let scores = model.scores(text).map_err(|e| e.to_string())?;
                if scores.iter().any(|s| !s.is_finite()) {
                    return Err("the classifier produced a non-finite score".into());
                }
                return Ok((scores.into_iter().map(f64::from).collect(), String::new()));
            }
            Runtime::Unavailable(why) => return Err(why.clone()),
        };
        let system = format!(
            "{}\n\nChoose exactly one of these labels: {}.\nReply with a JSON object with \
             exactly two keys: \"label\" (one of the labels) and \"rationale\" (one short \
             sentence).",
            call.instructions.trim(),
            c.labels.join(", ")
        );
        let body = json!({
            "model": call.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}],
            "temperature": 0,
            "max_tokens": 128,
            "response_format": {"type": "json_object"},
        });
        let mut req = self
            .agent
            .post(&call.url)
            .config()
            .timeout_global(Some(call.timeout))
            .build()
            .header("content-type", "application/json");
        if let Some(k) = &call.access_key {
            req = req.header("authorization", &format!("Bearer {k}"));
        }
        let mut resp = req.send(body.to_string()).map_err(|e| match e {
            ureq::Error::Timeout(_) => "timed out".to_string(),
            e => format!("call failed: {e}"),
        })?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| format!("reading the answer: {e}"))?;
        if !status.is_success() {
            return Err(format!("the classifier model answered {status}"));
        }
        // One-hot: the chosen label 1, the others 0.
        let (chosen, rationale) = parse_answer(&text, &c.labels)?;
        let scores = c
            .labels
            .iter()
            .map(|l| if *l == chosen { 1.0 } else { 0.0 })
            .collect();
        Ok((scores, rationale))
    }
}

/// The label and rationale of a chat completion whose message is `{"label", "rationale"}`:
/// exactly those keys, a declared label, a non-empty rationale.
fn parse_answer(completion: &str, labels: &[String]) -> Result<(String, String), String> {
    let v: Value = serde_json::from_str(completion).map_err(|_| "the answer is not JSON")?;
    let content = v["choices"][0]["message"]["content"]
        .as_str()
        .ok_or("the answer has no message content")?;
    let o: serde_json::Map<String, Value> = serde_json::from_str(content.trim())
        .map_err(|_| format!("the message is not a JSON object: {content:?}"))?;
    if o.len() != 2 || !o.contains_key("label") || !o.contains_key("rationale") {
        return Err("the message must have exactly the keys label and rationale".into());
    }
    let label = o["label"].as_str().unwrap_or_default().trim();
    let rationale = o["rationale"].as_str().unwrap_or_default().trim();
    if rationale.is_empty() {
        return Err("the rationale is empty".into());
    }
    match labels.iter().find(|l| l.as_str() == label) {
        Some(l) => Ok((l.clone(), rationale.to_string())),
        None => Err(format!(
            "label {label:?} is not one of {}",
            labels.join(", ")
        )),
    }
}

impl SignalFamily for ClassifierFamily {
    fn family(&self) -> Family {
        Family::Classifier
    }

    fn signal_names(&self) -> Vec<String> {
        self.classifiers
            .iter()
            .flat_map(|c| c.labels.iter().map(move |l| format!("{}:{l}", c.name)))
            .collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let text = vsr_signals::text::bounded_text(ctx.text());
        // The classifiers' calls run concurrently; each fills its own label slots.
        let answers: Vec<Result<(Vec<f64>, String), String>> = std::thread::scope(|s| {
            let calls: Vec<_> = self
                .classifiers
                .iter()
                .map(|c| s.spawn(|| self.classify(c, &text)))
                .collect();
            calls
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("the call panicked".into())))
                .collect()
        });
        let mut slots = out.iter_mut();
        for (c, answer) in self.classifiers.iter().zip(answers) {
            let error: Option<Arc<str>> = answer.as_ref().err().map(|e| Arc::from(e.as_str()));
            if let Some(e) = &error {
                tracing::debug!(classifier = %c.name, error = %e, "classifier failed");
            }
            // The best label matches (the first among equals), valued by its score.
            let best = answer.as_ref().ok().and_then(|(scores, _)| {
                (0..scores.len()).reduce(|b, i| if scores[i] > scores[b] { i } else { b })
            });
            for (i, _label) in c.labels.iter().enumerate() {
                let Some(slot) = slots.next() else {
                    return Ok(());
                };
                match &answer {
                    Ok((scores, evidence)) => {
                        slot.value = scores.get(i).copied().unwrap_or(0.0);
                        if best == Some(i) {
                            slot.set_match(slot.value);
                            if !evidence.is_empty() {
                                slot.evidence = vec![evidence.clone()];
                            }
                        }
                    }
                    Err(_) => slot.error = error.clone(),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(content: &str) -> String {
        json!({"choices": [{"message": {"role": "assistant", "content": content}}]}).to_string()
    }

    #[test]
    fn the_answer_must_be_exactly_a_declared_label_and_a_rationale() {
        let labels = vec!["toxic".to_string(), "safe".to_string()];
        let ok = parse_answer(
            &completion(r#"{"label": "safe", "rationale": "a greeting"}"#),
            &labels,
        );
        assert_eq!(ok, Ok(("safe".into(), "a greeting".into())));
        for bad in [
            r#"{"label": "rude", "rationale": "x"}"#,
            r#"{"label": "safe", "rationale": ""}"#,
            r#"{"label": "safe", "rationale": "x", "score": 1}"#,
            "safe",
        ] {
            assert!(parse_answer(&completion(bad), &labels).is_err(), "{bad}");
        }
        assert!(parse_answer("not json", &labels).is_err());
    }
}
