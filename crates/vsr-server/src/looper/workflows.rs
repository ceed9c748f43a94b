//! `workflows` ("Router Flow"): a plan of steps — one per configured role (`static`), or
//! written by a planner model (`dynamic`) — whose worker models run in parallel within a step
//! and read earlier steps' outputs; then one model synthesises the final answer.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
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
#[derive(Debug, Clone)]
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

/// Where a workflow is: its plan, what the finished steps produced, and how far the current
/// step got. Saved whole when a worker's tool call interrupts the workflow.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    plan: Plan,
    dynamic: bool,
    planner: Option<String>,
    plan_error: Option<String>,
    outputs: Vec<Output>,
    failures: Vec<CallError>,
    steps_trace: Vec<Value>,
    parts: Vec<(String, crate::record::Usage)>,
    calls: usize,
    /// The step running (index into the plan), the next of its models to call, and what its
    /// models answered so far.
    step: usize,
    next_model: usize,
    step_replies: Vec<Reply>,
    step_failed: Vec<CallError>,
}

/// A workflow waiting for the client's tool results: where it was, and the interrupted
/// worker call (its model and messages, its tool-calling answer included).
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    progress: Progress,
    model: String,
    messages: Vec<Value>,
}

/// Workflows interrupted by a tool call, by the tool call ids the client answers with
/// (head-delta §15.2 step 3: `looper.flow.state`). In-process, bounded, with a TTL; a
/// resumed or expired workflow is forgotten.
#[derive(Debug, Default)]
pub struct FlowStore {
    entries: std::sync::Mutex<std::collections::HashMap<String, (Instant, Arc<Pending>)>>,
}

/// Most workflows kept waiting at once (the oldest expire first beyond it).
const MAX_PENDING: usize = 10_000;

impl FlowStore {
    fn save(&self, ids: &[String], pending: Pending, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        entries.retain(|_, (until, _)| *until > now);
        if entries.len() + ids.len() > MAX_PENDING {
            tracing::warn!("too many workflows waiting for tool results; not saving one");
            return;
        }
        let pending = Arc::new(pending);
        for id in ids {
            entries.insert(id.clone(), (now + ttl, Arc::clone(&pending)));
        }
    }

    /// The workflow waiting for the tool call `id`, removed (with its other ids).
    fn take(&self, id: &str) -> Option<Arc<Pending>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (until, pending) = entries.remove(id)?;
        entries.retain(|_, (_, p)| !Arc::ptr_eq(p, &pending));
        (until > Instant::now()).then_some(pending)
    }

    /// Workflows waiting now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen: Vec<*const Pending> = entries.values().map(|(_, p)| Arc::as_ptr(p)).collect();
        seen.sort();
        seen.dedup();
        seen.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The client's trailing tool results (the messages after its last non-tool message) and the
/// workflow waiting for them, if one is.
fn resumable(caller: &Caller, conversation: &Conversation) -> Option<(Arc<Pending>, Vec<Value>)> {
    let results: Vec<Value> = conversation
        .messages
        .iter()
        .rev()
        .take_while(|m| m["role"] == "tool")
        .cloned()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let pending = results
        .iter()
        .filter_map(|m| m["tool_call_id"].as_str())
        .find_map(|id| caller.shared.flows.take(id))?;
    Some((pending, results))
}

fn tool_call_ids(reply: &Reply) -> Vec<String> {
    reply
        .tool_calls
        .as_ref()
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .filter_map(|c| c["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
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
    // With the client's tools, workers may call them: steps then run one model at a time, and
    // a tool call hands the workflow to the client until its results come back.
    let tool_mode = caller
        .base
        .get("tools")
        .and_then(|t| serde_json::from_str::<Vec<Value>>(t.get()).ok())
        .is_some_and(|t| !t.is_empty());
    let step_call = |model: &str, messages: Vec<Value>| Call {
        model: model.to_string(),
        messages,
        temperature: spec.temperature,
        max_completion_tokens: spec.max_completion_tokens,
        keep_tools: tool_mode,
        ..Default::default()
    };
    let mut resumed = false;
    let mut prog = match tool_mode.then(|| resumable(caller, conversation)).flatten() {
        Some((pending, results)) => {
            resumed = true;
            let mut prog = pending.progress.clone();
            let mut messages = pending.messages.clone();
            messages.extend(results);
            prog.calls += 1;
            match caller
                .call(step_call(&pending.model, messages.clone()))
                .await
            {
                Ok(r) if !tool_call_ids(&r).is_empty() => {
                    return Ok(interrupt(
                        caller,
                        spec,
                        &workers,
                        prog,
                        pending.model.clone(),
                        messages,
                        r,
                    ));
                }
                Ok(r) => {
                    prog.parts.push((r.model.clone(), r.usage));
                    prog.step_replies.push(r);
                }
                Err(e) if on_error == LooperOnError::Fail => {
                    return Err(failed(format!(
                        "step {:?}: {e}",
                        prog.plan.steps[prog.step].id
                    )));
                }
                Err(e) => prog.step_failed.push(e),
            }
            prog.next_model += 1;
            prog
        }
        None => {
            plan(
                caller,
                spec,
                &workers,
                &limits,
                conversation,
                &no_tools,
                on_error,
            )
            .await?
        }
    };

    while prog.step < prog.plan.steps.len() {
        let step = prog.plan.steps[prog.step].clone();
        let stage = step_stage(&step, &prog.outputs);
        let n = step.models.len();
        let quorum = match spec.min_successful_responses {
            Some(q) if q > 0 && (q as usize) < n => q as usize,
            _ => n,
        };
        if tool_mode {
            while prog.next_model < n && prog.step_replies.len() < quorum {
                let model = step.models[prog.next_model].clone();
                let messages = Conversation::with_stage(&no_tools, stage.clone());
                prog.calls += 1;
                match caller.call(step_call(&model, messages.clone())).await {
                    Ok(r) if !tool_call_ids(&r).is_empty() => {
                        return Ok(interrupt(caller, spec, &workers, prog, model, messages, r));
                    }
                    Ok(r) => {
                        prog.parts.push((r.model.clone(), r.usage));
                        prog.step_replies.push(r);
                    }
                    Err(e) if on_error == LooperOnError::Fail => {
                        return Err(failed(format!("step {:?}: {e}", step.id)));
                    }
                    Err(e) => prog.step_failed.push(e),
                }
                prog.next_model += 1;
            }
        } else {
            let calls: Vec<Call> = step
                .models
                .iter()
                .map(|m| step_call(m, Conversation::with_stage(&no_tools, stage.clone())))
                .collect();
            let done = round(
                caller,
                calls,
                limits.max_parallel,
                quorum,
                on_error,
                seconds(spec.round_timeout_seconds),
            )
            .await
            .map_err(|e| failed(format!("step {:?}: {e}", step.id)))?;
            prog.calls += done.started;
            prog.parts.extend(usage_of(&done.replies));
            prog.step_replies = done.replies;
            prog.step_failed = done.failed;
        }
        prog.finish_step(&step);
    }
    if prog.outputs.is_empty() {
        let why: Vec<String> = prog.failures.iter().map(ToString::to_string).collect();
        return Err(failed(format!("no worker answered ({})", why.join("; "))));
    }

    let final_model = prog
        .plan
        .final_model
        .clone()
        .or_else(|| spec.final_stage.as_ref().and_then(|f| f.model.clone()))
        .or_else(|| prog.planner.clone())
        .unwrap_or_else(|| prog.outputs[0].reply.model.clone());
    let final_prompt = prog
        .plan
        .final_prompt
        .clone()
        .or_else(|| spec.final_stage.as_ref().and_then(|f| f.prompt.clone()))
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_FINAL_PROMPT.into());
    let mut work = format!("{final_prompt}\n\nStep outputs:\n");
    for o in &prog.outputs {
        work.push_str(&format!("[{}]\n{}\n\n", o.agent, o.reply.content.trim()));
    }
    prog.calls += 1;
    // The final stage sees the client's conversation as sent (tool traffic included).
    let mut final_messages = conversation.messages.clone();
    if resumed {
        // Its tool traffic answered a worker, not the conversation: leave it out.
        final_messages = no_tools.clone();
    }
    let synthesised = caller
        .call(Call {
            model: final_model.clone(),
            messages: Conversation::with_stage(&final_messages, work),
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
            prog.failures.push(e);
            let mut r = prog
                .outputs
                .last()
                .map(|o| o.reply.clone())
                .unwrap_or_default();
            r.usage = Default::default();
            r
        }
        Err(e) => return Err(failed(format!("final synthesis {e}"))),
    };
    prog.parts.push((last.model.clone(), last.usage));
    let reasoning_on = looper.asks_reasoning(&last.model);
    let mut answer = Answer::new("flow", last);
    answer.calls = prog.calls;
    answer.reasoning_on = reasoning_on;
    if spec.include_intermediate_responses.unwrap_or(true) {
        let mut trace = prog.trace(spec, &workers);
        trace["final_model"] = json!(final_model);
        if resumed {
            trace["resumed"] = json!(true);
        }
        answer.trace = Some(trace);
    }
    answer.set_parts(std::mem::take(&mut prog.parts));
    Ok(answer)
}

/// A worker called a tool: the workflow waits in the flow store under the call ids and the
/// client gets the tool call (a `chat.completion` with `tool_calls`, the trace so far).
fn interrupt(
    caller: &Caller,
    spec: &WorkflowsSpec,
    workers: &[String],
    mut prog: Progress,
    model: String,
    mut messages: Vec<Value>,
    reply: Reply,
) -> Answer {
    prog.parts.push((reply.model.clone(), reply.usage));
    let ids = tool_call_ids(&reply);
    messages.push(
        json!({"role": "assistant", "content": reply.content, "tool_calls": reply.tool_calls}),
    );
    let step_id = prog.plan.steps[prog.step].id.clone();
    let mut answer = Answer::new("flow", reply);
    answer.calls = prog.calls;
    answer.set_parts(prog.parts.clone());
    if spec.include_intermediate_responses.unwrap_or(true) {
        let mut trace = prog.trace(spec, workers);
        trace["interrupted"] = json!({"step": step_id, "model": model, "tool_call_ids": ids});
        answer.trace = Some(trace);
    }
    // The calls made so far are this answer's; the resumed request counts what follows.
    prog.parts.clear();
    prog.calls = 0;
    let ttl = caller.rt.settings.flow_state_ttl;
    caller.shared.flows.save(
        &ids,
        Pending {
            progress: prog,
            model,
            messages,
        },
        ttl,
    );
    answer
}

impl Progress {
    /// Closes the current step: its answers become outputs, its trace is written.
    fn finish_step(&mut self, step: &Step) {
        let replies = std::mem::take(&mut self.step_replies);
        let failed = std::mem::take(&mut self.step_failed);
        self.steps_trace.push(json!({
            "id": step.id, "role": step.role, "models": step.models,
            "responses": replies.iter().map(|r| json!({"model": r.model, "content": r.content})).collect::<Vec<_>>(),
            "failed_models": failed.iter().map(CallError::to_json).collect::<Vec<_>>(),
        }));
        for (i, r) in replies.into_iter().enumerate() {
            self.outputs.push(Output {
                step: step.id.clone(),
                agent: format!("{}:{}:{}", step.id, i, r.model),
                reply: r,
            });
        }
        self.failures.extend(failed);
        self.step += 1;
        self.next_model = 0;
    }

    /// The `flow` trace so far.
    fn trace(&self, spec: &WorkflowsSpec, workers: &[String]) -> Value {
        let mut trace = json!({
            "mode": if self.dynamic { "dynamic" } else { "static" },
            "template": spec.template.as_deref().unwrap_or("micro_agent"),
            "worker_models": workers,
            "plan": self.plan.steps.iter().map(|s| json!({"id": s.id, "role": s.role,
                "models": s.models, "prompt": s.prompt, "access_list": s.access_list})).collect::<Vec<_>>(),
            "steps": self.steps_trace,
        });
        if let Some(p) = &self.planner {
            trace["planner_model"] = json!(p);
        }
        if let Some(e) = &self.plan_error {
            trace["plan_error"] = json!(e);
        }
        if !self.failures.is_empty() {
            trace["failed_models"] = self.failures.iter().map(CallError::to_json).collect();
        }
        trace
    }
}

/// The plan: the configured roles, or the planner's (its fallback under `skip`).
async fn plan(
    caller: &Caller,
    spec: &WorkflowsSpec,
    workers: &[String],
    limits: &Limits,
    conversation: &Conversation,
    no_tools: &[Value],
    on_error: LooperOnError,
) -> Result<Progress, ApiError> {
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
                    no_tools,
                    planner_stage(&conversation.prompt, workers, limits),
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
                parse_plan(&r.content).and_then(|p| validate(p, workers, limits))
            }
            Err(e) => Err(format!("planner {e}")),
        };
        match parsed {
            Ok(p) => p,
            Err(e) if on_error == LooperOnError::Skip => {
                tracing::debug!(error = %e, "workflow plan rejected; fallback plan");
                plan_error = Some(e);
                fallback_plan(workers, limits)
            }
            Err(e) => return Err(failed(format!("plan: {e}"))),
        }
    } else {
        static_plan(spec)
    };
    Ok(Progress {
        plan,
        dynamic,
        planner,
        plan_error,
        outputs: Vec::new(),
        failures: Vec::new(),
        steps_trace: Vec::new(),
        parts,
        calls,
        step: 0,
        next_model: 0,
        step_replies: Vec::new(),
        step_failed: Vec::new(),
    })
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

    fn waiting() -> Pending {
        Pending {
            progress: Progress {
                plan: Plan {
                    steps: Vec::new(),
                    final_prompt: None,
                    final_model: None,
                },
                dynamic: false,
                planner: None,
                plan_error: None,
                outputs: Vec::new(),
                failures: Vec::new(),
                steps_trace: Vec::new(),
                parts: Vec::new(),
                calls: 0,
                step: 0,
                next_model: 0,
                step_replies: Vec::new(),
                step_failed: Vec::new(),
            },
            model: "a".into(),
            messages: Vec::new(),
        }
    }

    #[test]
    fn a_waiting_workflow_is_taken_once_by_any_of_its_call_ids_and_expires() {
        let store = FlowStore::default();
        store.save(
            &["c1".into(), "c2".into()],
            waiting(),
            Duration::from_secs(60),
        );
        assert_eq!(store.len(), 1);
        assert!(store.take("c2").is_some());
        assert!(store.take("c1").is_none(), "taken with its other ids");
        assert!(store.is_empty());
        store.save(&["c3".into()], waiting(), Duration::ZERO);
        assert!(store.take("c3").is_none(), "expired");
    }

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
