//! `workflows` ("Router Flow"): a plan of steps — one per configured role (`static`), or
//! written by a planner model (`dynamic`) — whose worker models run in parallel within a step
//! and read earlier steps' outputs; then one model synthesises the final answer.

use serde::Deserialize;
use serde_json::{Value, json};
use vsr_config::looper::WorkflowsSpec;
use vsr_config::vocab::{LooperOnError, WorkflowsMode};

use super::fusion::usage_of;
use super::{
    Answer, Call, CallError, Caller, Conversation, Looper, Reply, bound, round, seconds,
    workflows_on_error,
};
use crate::error::ApiError;

const DEFAULT_MAX_STEPS: usize = 3;
const DEFAULT_MAX_PARALLEL: usize = 2;
const DEFAULT_PLANNER_TOKENS: u32 = 2048;
const DEFAULT_STEP_PROMPT: &str = "Work on the request above and give your best answer.";
const DEFAULT_FINAL_PROMPT: &str = "Combine the work below into the final answer to the request \
     above. Keep the format the request asks for and do not mention the steps or the workers.";

fn failed(cause: impl Into<String>) -> ApiError {
    ApiError::LooperFailed {
        algorithm: "workflows",
        cause: cause.into(),
    }
}

/// One planned step.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Step {
    pub id: String,
    /// `thinker`, `worker` or `verifier` (a label for the step message).
    pub role: String,
    pub models: Vec<String>,
    pub prompt: String,
    /// Earlier step ids or agent ids (`<step>:<index>:<model>`) this step reads; `None`: all.
    pub access_list: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    pub steps: Vec<Step>,
    pub final_prompt: Option<String>,
    pub final_model: Option<String>,
}

/// The planner's JSON, loosely typed (missing fields take defaults in [`validate`]).
#[derive(Debug, Deserialize)]
struct PlanJson {
    #[serde(default)]
    steps: Vec<StepJson>,
    #[serde(default, rename = "final")]
    final_stage: Option<FinalJson>,
}

#[derive(Debug, Deserialize)]
struct StepJson {
    id: Option<String>,
    role: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    prompt: Option<String>,
    access_list: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct FinalJson {
    prompt: Option<String>,
    model: Option<String>,
}

struct Limits {
    max_steps: usize,
    max_parallel: usize,
}

/// Checks a planner's plan against the workers and limits (head-delta §15.2 step 2).
fn validate(raw: PlanJson, workers: &[String], limits: &Limits) -> Result<Plan, String> {
    if raw.steps.is_empty() {
        return Err("the plan has no steps".into());
    }
    if raw.steps.len() > limits.max_steps {
        return Err(format!(
            "the plan has {} steps; at most {} are allowed",
            raw.steps.len(),
            limits.max_steps
        ));
    }
    let mut steps: Vec<Step> = Vec::new();
    for (i, s) in raw.steps.into_iter().enumerate() {
        let id =
            s.id.filter(|id| !id.trim().is_empty())
                .unwrap_or_else(|| format!("step-{}", i + 1));
        if s.models.is_empty() || s.models.len() > limits.max_parallel {
            return Err(format!(
                "step {id:?} has {} models; 1 to {} are allowed",
                s.models.len(),
                limits.max_parallel
            ));
        }
        if let Some(m) = s.models.iter().find(|m| !workers.contains(m)) {
            return Err(format!("step {id:?} names {m:?}, which is not a worker"));
        }
        if let Some(list) = &s.access_list {
            for a in list {
                let earlier = steps
                    .iter()
                    .any(|p| *a == p.id || a.split(':').next().is_some_and(|head| head == p.id));
                if !earlier {
                    return Err(format!(
                        "step {id:?} reads {a:?}, which is not an earlier step"
                    ));
                }
            }
        }
        steps.push(Step {
            id,
            role: s
                .role
                .filter(|r| matches!(r.as_str(), "thinker" | "worker" | "verifier"))
                .unwrap_or_else(|| "worker".into()),
            models: s.models,
            prompt: s
                .prompt
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_STEP_PROMPT.into()),
            access_list: s.access_list,
        });
    }
    let (final_prompt, final_model) = match raw.final_stage {
        Some(f) => (f.prompt, f.model.filter(|m| workers.contains(m))),
        None => (None, None),
    };
    Ok(Plan {
        steps,
        final_prompt,
        final_model,
    })
}

fn static_plan(spec: &WorkflowsSpec) -> Plan {
    Plan {
        steps: spec
            .roles
            .iter()
            .map(|r| Step {
                id: r.name.clone(),
                role: "worker".into(),
                models: r.models.clone(),
                prompt: r
                    .prompt
                    .clone()
                    .filter(|p| !p.trim().is_empty())
                    .unwrap_or_else(|| DEFAULT_STEP_PROMPT.into()),
                access_list: r.access_list.clone(),
            })
            .collect(),
        final_prompt: None,
        final_model: None,
    }
}

/// With `on_error: skip`, a failed planner falls back to one step of the first workers.
fn fallback_plan(workers: &[String], limits: &Limits) -> Plan {
    Plan {
        steps: vec![Step {
            id: "fallback_solve".into(),
            role: "worker".into(),
            models: workers.iter().take(limits.max_parallel).cloned().collect(),
            prompt: DEFAULT_STEP_PROMPT.into(),
            access_list: None,
        }],
        final_prompt: Some(DEFAULT_FINAL_PROMPT.into()),
        final_model: None,
    }
}

fn planner_stage(original: &str, workers: &[String], limits: &Limits) -> String {
    format!(
        "Plan how worker models should answer the request below. Workers: {workers}. Use 1 to \
         {steps} steps, each with 1 to {parallel} of the workers; steps run in order and a step \
         may read earlier steps' outputs. Reply with one JSON object only: \
         {{\"steps\": [{{\"id\": \"...\", \"role\": \"thinker|worker|verifier\", \"models\": \
         [\"...\"], \"prompt\": \"what this step does\", \"access_list\": [\"earlier step \
         ids; omit to read all\"]}}], \"final\": {{\"prompt\": \"how to combine the work\"}}}}\
         \n\nRequest:\n{original}",
        workers = workers.join(", "),
        steps = limits.max_steps,
        parallel = limits.max_parallel,
    )
}

/// One worker's output, with its agent id.
struct Output {
    step: String,
    agent: String,
    reply: Reply,
}

fn step_stage(step: &Step, earlier: &[Output]) -> String {
    let readable: Vec<&Output> = earlier
        .iter()
        .filter(|o| match &step.access_list {
            None => true,
            Some(list) => list.iter().any(|a| *a == o.step || *a == o.agent),
        })
        .collect();
    let mut s = format!("Step \"{}\" ({}): {}", step.id, step.role, step.prompt);
    if !readable.is_empty() {
        s.push_str("\n\nOutputs of earlier steps:\n");
        for o in readable {
            s.push_str(&format!("[{}]\n{}\n\n", o.agent, o.reply.content.trim()));
        }
    }
    s
}

pub(super) async fn run(
    caller: &Caller,
    spec: &WorkflowsSpec,
    looper: &Looper,
    conversation: &Conversation,
) -> Result<Answer, ApiError> {
    let workers = looper.ref_models();
    let on_error = workflows_on_error(spec);
    let limits = Limits {
        max_steps: bound(spec.max_steps, DEFAULT_MAX_STEPS, usize::MAX),
        max_parallel: bound(spec.max_parallel, DEFAULT_MAX_PARALLEL, usize::MAX),
    };
    let no_tools = conversation.without_tools();
    let mut calls = 0usize;
    let mut parts: Vec<(String, crate::record::Usage)> = Vec::new();
    let planner = spec.planner.as_ref().and_then(|p| p.model.clone());
    let dynamic = spec.mode == Some(WorkflowsMode::Dynamic);
    let mut plan_error: Option<String> = None;
    let plan = if dynamic {
        let model = planner
            .clone()
            .ok_or_else(|| failed("a dynamic workflow needs planner.model"))?;
        calls += 1;
        let planned = caller
            .call(Call {
                model: model.clone(),
                messages: Conversation::with_stage(
                    &no_tools,
                    planner_stage(&conversation.prompt, &workers, &limits),
                ),
                max_completion_tokens: Some(
                    spec.planner
                        .as_ref()
                        .and_then(|p| p.max_completion_tokens)
                        .filter(|n| *n > 0)
                        .unwrap_or(DEFAULT_PLANNER_TOKENS),
                ),
                json_plan: true,
                ..Default::default()
            })
            .await;
        let parsed = match planned {
            Ok(r) => {
                parts.push((model, r.usage));
                parse_plan(&r.content).and_then(|p| validate(p, &workers, &limits))
            }
            Err(e) => Err(format!("planner {e}")),
        };
        match parsed {
            Ok(p) => p,
            Err(e) if on_error == LooperOnError::Skip => {
                tracing::debug!(error = %e, "workflow plan rejected; fallback plan");
                plan_error = Some(e);
                fallback_plan(&workers, &limits)
            }
            Err(e) => return Err(failed(format!("plan: {e}"))),
        }
    } else {
        static_plan(spec)
    };

    let mut outputs: Vec<Output> = Vec::new();
    let mut failures: Vec<CallError> = Vec::new();
    let mut steps_trace: Vec<Value> = Vec::new();
    for step in &plan.steps {
        let stage = step_stage(step, &outputs);
        let step_calls: Vec<Call> = step
            .models
            .iter()
            .map(|m| Call {
                model: m.clone(),
                messages: Conversation::with_stage(&no_tools, stage.clone()),
                temperature: spec.temperature,
                max_completion_tokens: spec.max_completion_tokens,
                ..Default::default()
            })
            .collect();
        let n = step_calls.len();
        calls += n;
        let quorum = match spec.min_successful_responses {
            Some(q) if q > 0 && (q as usize) < n => q as usize,
            _ => n,
        };
        let done = round(
            caller,
            step_calls,
            limits.max_parallel,
            quorum,
            on_error,
            seconds(spec.round_timeout_seconds),
        )
        .await
        .map_err(|e| failed(format!("step {:?}: {e}", step.id)))?;
        parts.extend(usage_of(&done.replies));
        steps_trace.push(json!({
            "id": step.id, "role": step.role, "models": step.models,
            "responses": done.replies.iter().map(|r| json!({"model": r.model, "content": r.content})).collect::<Vec<_>>(),
            "failed_models": done.failed.iter().map(CallError::to_json).collect::<Vec<_>>(),
        }));
        for (i, r) in done.replies.into_iter().enumerate() {
            outputs.push(Output {
                step: step.id.clone(),
                agent: format!("{}:{}:{}", step.id, i, r.model),
                reply: r,
            });
        }
        failures.extend(done.failed);
    }
    if outputs.is_empty() {
        let why: Vec<String> = failures.iter().map(ToString::to_string).collect();
        return Err(failed(format!("no worker answered ({})", why.join("; "))));
    }

    let final_model = plan
        .final_model
        .clone()
        .or_else(|| spec.final_stage.as_ref().and_then(|f| f.model.clone()))
        .or_else(|| planner.clone())
        .unwrap_or_else(|| outputs[0].reply.model.clone());
    let final_prompt = plan
        .final_prompt
        .clone()
        .or_else(|| spec.final_stage.as_ref().and_then(|f| f.prompt.clone()))
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_FINAL_PROMPT.into());
    let mut work = format!("{final_prompt}\n\nStep outputs:\n");
    for o in &outputs {
        work.push_str(&format!("[{}]\n{}\n\n", o.agent, o.reply.content.trim()));
    }
    calls += 1;
    let synthesised = caller
        .call(Call {
            model: final_model.clone(),
            messages: Conversation::with_stage(&conversation.messages, work),
            temperature: spec.temperature,
            max_completion_tokens: spec.max_completion_tokens,
            keep_tools: true,
            ..Default::default()
        })
        .await;
    let last = match synthesised {
        Ok(r) => r,
        Err(e) if on_error == LooperOnError::Skip => {
            tracing::debug!(error = %e, "workflow synthesis failed; last worker answer");
            failures.push(e);
            let mut r = outputs.last().map(|o| o.reply.clone()).unwrap_or_default();
            r.usage = Default::default();
            r
        }
        Err(e) => return Err(failed(format!("final synthesis {e}"))),
    };
    parts.push((last.model.clone(), last.usage));
    let reasoning_on = looper.asks_reasoning(&last.model);
    let mut answer = Answer::new("flow", last);
    answer.set_parts(parts);
    answer.calls = calls;
    answer.reasoning_on = reasoning_on;
    if spec.include_intermediate_responses.unwrap_or(true) {
        let mut trace = json!({
            "mode": if dynamic { "dynamic" } else { "static" },
            "template": spec.template.as_deref().unwrap_or("micro_agent"),
            "worker_models": workers,
            "final_model": final_model,
            "plan": plan.steps.iter().map(|s| json!({"id": s.id, "role": s.role,
                "models": s.models, "prompt": s.prompt, "access_list": s.access_list})).collect::<Vec<_>>(),
            "steps": steps_trace,
        });
        if let Some(p) = planner {
            trace["planner_model"] = json!(p);
        }
        if let Some(e) = plan_error {
            trace["plan_error"] = json!(e);
        }
        if !failures.is_empty() {
            trace["failed_models"] = failures.iter().map(CallError::to_json).collect();
        }
        answer.trace = Some(trace);
    }
    Ok(answer)
}

fn parse_plan(text: &str) -> Result<PlanJson, String> {
    let (a, b) = text
        .find('{')
        .zip(text.rfind('}'))
        .filter(|(a, b)| a < b)
        .ok_or("the planner's answer holds no JSON object")?;
    serde_json::from_str(&text[a..=b]).map_err(|e| format!("the plan is not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_steps: 2,
            max_parallel: 2,
        }
    }

    fn workers() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    #[test]
    fn a_plan_gets_default_ids_roles_and_prompts() {
        let p = parse_plan(r#"{"steps": [{"models": ["a"]}, {"id": "check", "role": "verifier", "models": ["b", "c"], "access_list": ["step-1"]}], "final": {"prompt": "sum"}}"#).unwrap();
        let plan = validate(p, &workers(), &limits()).unwrap();
        assert_eq!(plan.steps[0].id, "step-1");
        assert_eq!(plan.steps[0].role, "worker");
        assert_eq!(plan.steps[0].prompt, DEFAULT_STEP_PROMPT);
        assert_eq!(plan.steps[1].role, "verifier");
        assert_eq!(plan.final_prompt.as_deref(), Some("sum"));
    }

    #[test]
    fn plans_beyond_the_limits_or_workers_are_refused() {
        let check = |json: &str| validate(parse_plan(json).unwrap(), &workers(), &limits());
        assert!(check(r#"{"steps": []}"#).unwrap_err().contains("no steps"));
        assert!(
            check(r#"{"steps": [{"models": ["a"]}, {"models": ["a"]}, {"models": ["a"]}]}"#)
                .unwrap_err()
                .contains("at most 2")
        );
        assert!(
            check(r#"{"steps": [{"models": ["a", "b", "c"]}]}"#)
                .unwrap_err()
                .contains("1 to 2")
        );
        assert!(
            check(r#"{"steps": [{"models": ["z"]}]}"#)
                .unwrap_err()
                .contains("not a worker")
        );
        assert!(
            check(r#"{"steps": [{"id": "x", "models": ["a"], "access_list": ["later"]}]}"#)
                .unwrap_err()
                .contains("not an earlier step")
        );
        assert!(parse_plan("no plan").is_err());
    }

    #[test]
    fn a_step_reads_only_what_its_access_list_names() {
        let out = |step: &str, model: &str, text: &str| Output {
            step: step.into(),
            agent: format!("{step}:0:{model}"),
            reply: Reply {
                model: model.into(),
                content: text.into(),
                ..Default::default()
            },
        };
        let earlier = vec![out("s1", "a", "alpha"), out("s2", "b", "beta")];
        let mut step = Step {
            id: "s3".into(),
            role: "worker".into(),
            models: vec!["c".into()],
            prompt: "go".into(),
            access_list: Some(vec!["s2".into()]),
        };
        let s = step_stage(&step, &earlier);
        assert!(s.contains("beta") && !s.contains("alpha"));
        step.access_list = Some(vec![]);
        assert!(!step_stage(&step, &earlier).contains("beta"));
        step.access_list = None;
        let s = step_stage(&step, &earlier);
        assert!(s.contains("alpha") && s.contains("beta"));
    }
}
