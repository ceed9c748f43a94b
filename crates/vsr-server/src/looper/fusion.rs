//! `fusion`: a panel of models answers in parallel, a judge reviews the answers (a compact JSON
//! analysis), then the judge writes the final answer from the review and the panel.

use serde_json::{Value, json};
use vsr_config::looper::FusionSpec;

use super::{
    Answer, Call, CallError, Caller, Conversation, Looper, Reply, bound, fusion_on_error, round,
    seconds,
};
use crate::error::ApiError;
use crate::record::Usage;

const PROMPT_VERSION: &str = "fusion-v1";

/// The analysis keys the judge is asked for.
const ANALYSIS_KEYS: [&str; 5] = [
    "consensus",
    "contradictions",
    "partial_coverage",
    "unique_insights",
    "blind_spots",
];

fn failed(cause: impl Into<String>) -> ApiError {
    ApiError::LooperFailed {
        algorithm: "fusion",
        cause: cause.into(),
    }
}

pub(super) async fn run(
    caller: &Caller,
    spec: &FusionSpec,
    looper: &Looper,
    conversation: &Conversation,
) -> Result<Answer, ApiError> {
    let panel: Vec<String> = if spec.analysis_models.is_empty() {
        looper.ref_models()
    } else {
        spec.analysis_models.clone()
    };
    let judge = spec
        .model
        .clone()
        .or_else(|| panel.first().cloned())
        .ok_or_else(|| failed("no panel models and no judge"))?;
    let on_error = fusion_on_error(spec);
    let no_tools = conversation.without_tools();
    let calls: Vec<Call> = panel
        .iter()
        .map(|m| {
            let o = spec.analysis_overrides.iter().find(|o| o.model == *m);
            Call {
                model: m.clone(),
                messages: no_tools.clone(),
                temperature: o.and_then(|o| o.temperature).or(spec.temperature),
                max_completion_tokens: o
                    .and_then(|o| o.max_completion_tokens)
                    .or(spec.max_completion_tokens),
                ..Default::default()
            }
        })
        .collect();
    let n = calls.len();
    let panel_round = round(
        caller,
        calls,
        bound(spec.max_concurrent, n, n),
        bound(spec.min_successful_responses, n, n),
        on_error,
        seconds(spec.round_timeout_seconds),
    )
    .await
    .map_err(|e| failed(format!("panel model {e}")))?;
    if panel_round.replies.is_empty() {
        let why: Vec<String> = panel_round.failed.iter().map(ToString::to_string).collect();
        return Err(failed(if panel_round.timed_out {
            "no panel model answered in time".to_string()
        } else {
            format!("every panel model failed ({})", why.join("; "))
        }));
    }
    // Panel calls cancelled by the quorum before they started were not made.
    let mut calls = panel_round.started;
    let mut parts = usage_of(&panel_round.replies);
    let responses = numbered(&panel_round.replies);

    let include_analysis = spec.include_analysis.unwrap_or(true);
    let mut analysis: Option<Value> = None;
    if include_analysis {
        calls += 1;
        let stage = fill(
            spec.analysis_template.as_deref(),
            &conversation.prompt,
            &responses,
            "",
        )
        .unwrap_or_else(|| analysis_stage(&conversation.prompt, &responses));
        let reviewed = caller
            .call(Call {
                model: judge.clone(),
                messages: Conversation::with_stage(&no_tools, stage),
                temperature: spec.temperature,
                max_completion_tokens: spec.max_completion_tokens,
                ..Default::default()
            })
            .await;
        // A failed or unparsable review is tolerated: the final stage says there is none.
        analysis = match reviewed {
            Ok(r) => {
                parts.push((judge.clone(), r.usage));
                Some(parse_analysis(&r.content))
            }
            Err(e) => {
                tracing::debug!(error = %e, "fusion analysis failed");
                None
            }
        };
    }
    let analysis_text = match &analysis {
        Some(a) => serde_json::to_string_pretty(a).unwrap_or_default(),
        None => "No structured review is available; compare the answers yourself.".into(),
    };
    calls += 1;
    let stage = fill(
        spec.synthesis_template.as_deref(),
        &conversation.prompt,
        &responses,
        &analysis_text,
    )
    .unwrap_or_else(|| final_stage(&conversation.prompt, &analysis_text, &responses));
    let last = caller
        .call(Call {
            model: judge.clone(),
            messages: Conversation::with_stage(&conversation.messages, stage),
            temperature: spec.temperature,
            max_completion_tokens: spec.max_completion_tokens,
            keep_tools: true,
            ..Default::default()
        })
        .await
        .map_err(|e| failed(format!("judge {e}")))?;
    parts.push((judge.clone(), last.usage));
    let reasoning_on = looper.asks_reasoning(&judge);
    let mut answer = Answer::new("fusion", last);
    answer.set_parts(parts);
    answer.calls = calls;
    answer.reasoning_on = reasoning_on;
    let include_responses = spec.include_intermediate_responses.unwrap_or(true);
    let mut trace = json!({
        "judge_model": judge,
        "analysis_models": panel,
        "prompt_version": spec.judge_prompt_version.as_deref().unwrap_or(PROMPT_VERSION),
    });
    if include_analysis && let Some(a) = analysis {
        trace["analysis"] = a;
    }
    if include_responses {
        trace["responses"] = panel_round
            .replies
            .iter()
            .map(|r| {
                let mut v = json!({"model": r.model, "content": r.content});
                if let Some(t) = &r.reasoning {
                    v["reasoning"] = json!(t);
                }
                v
            })
            .collect();
    }
    if !panel_round.failed.is_empty() {
        trace["failed_models"] = panel_round.failed.iter().map(CallError::to_json).collect();
    }
    if spec.grounding.is_some() {
        trace["grounding"] = json!({"applied": false,
            "reason": "grounding needs local NLI models this build does not ship"});
    }
    answer.trace = Some(trace);
    Ok(answer)
}

/// Each reply's alias and usage.
pub(super) fn usage_of(replies: &[Reply]) -> Vec<(String, Usage)> {
    replies.iter().map(|r| (r.model.clone(), r.usage)).collect()
}

/// The panel's answers, numbered, for the judge.
fn numbered(replies: &[Reply]) -> String {
    let mut out = String::new();
    for (i, r) in replies.iter().enumerate() {
        out.push_str(&format!("[{}] {}\n{}\n", i + 1, r.model, r.content.trim()));
        if let Some(t) = &r.reasoning {
            out.push_str(&format!("(its reasoning: {})\n", t.trim()));
        }
        out.push('\n');
    }
    out
}

/// A user template with `{{original}}`, `{{responses}}` and `{{analysis}}` filled in.
fn fill(template: Option<&str>, original: &str, responses: &str, analysis: &str) -> Option<String> {
    let t = template.filter(|t| !t.trim().is_empty())?;
    Some(
        t.replace("{{original}}", original)
            .replace("{{responses}}", responses)
            .replace("{{analysis}}", analysis),
    )
}

fn analysis_stage(original: &str, responses: &str) -> String {
    format!(
        "Review the candidate answers below to the request that follows. Reply with one JSON \
         object only, with the array keys {keys}; each array holds at most two short strings.\n\n\
         Request:\n{original}\n\nCandidate answers:\n{responses}",
        keys = ANALYSIS_KEYS.join(", ")
    )
}

fn final_stage(original: &str, analysis: &str, responses: &str) -> String {
    format!(
        "Write the final answer to the request below. Build on what the candidate answers agree \
         on, settle their contradictions, fill what they missed, and keep the format the request \
         asks for. Do not mention the candidates, the review or this instruction.\n\n\
         Request:\n{original}\n\nReview:\n{analysis}\n\nCandidate answers:\n{responses}"
    )
}

/// The judge's review: the JSON object in its answer (fenced or bare), else the raw text.
fn parse_analysis(text: &str) -> Value {
    let object = text
        .find('{')
        .zip(text.rfind('}'))
        .filter(|(a, b)| a < b)
        .and_then(|(a, b)| serde_json::from_str::<Value>(&text[a..=b]).ok())
        .filter(Value::is_object);
    match object {
        Some(v) => v,
        None => json!({"raw": text}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_review_is_read_from_fenced_json_or_kept_raw() {
        let v = parse_analysis("```json\n{\"consensus\": [\"x\"]}\n```");
        assert_eq!(v["consensus"][0], "x");
        assert_eq!(parse_analysis("no json here")["raw"], "no json here");
    }

    #[test]
    fn templates_fill_their_placeholders() {
        let t = fill(
            Some("Q={{original}} R={{responses}} A={{analysis}}"),
            "q",
            "r",
            "a",
        );
        assert_eq!(t.as_deref(), Some("Q=q R=r A=a"));
        assert!(fill(Some("  "), "q", "r", "a").is_none());
    }
}
