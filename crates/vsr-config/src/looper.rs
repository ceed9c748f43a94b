//! The typed blocks of the "looper" algorithms of upstream HEAD (head-delta §15): `fusion` (a
//! panel of models, then a judge) and `workflows` (planned steps of worker models, then a
//! synthesis). The decoder has already checked every key and type of these blocks, so turning
//! the validated JSON into these structs only fails on a config built by hand.

use serde::Deserialize;
use serde_json::Value;

use crate::model::{Algorithm, Decision};
use crate::vocab::{LooperOnError, WorkflowsMode};

/// `algorithm.fusion`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FusionSpec {
    /// The judge; unset: the first analysis model.
    pub model: Option<String>,
    /// The panel; empty: the decision's model refs.
    pub analysis_models: Vec<String>,
    pub analysis_overrides: Vec<AnalysisOverride>,
    /// Parallel panel calls; 0 or unset: the panel size.
    pub max_concurrent: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub round_timeout_seconds: Option<u32>,
    /// The quorum: the panel stops once this many answered; unset or above the panel: all.
    pub min_successful_responses: Option<u32>,
    pub temperature: Option<f64>,
    pub include_analysis: Option<bool>,
    pub include_intermediate_responses: Option<bool>,
    /// Unset: `skip` (a failed panel member is recorded, the rest go on).
    pub on_error: Option<LooperOnError>,
    pub analysis_template: Option<String>,
    pub synthesis_template: Option<String>,
    pub judge_prompt_version: Option<String>,
    /// Parsed and validated; grounding needs local NLI models this build does not ship.
    pub grounding: Option<Value>,
}

/// One `analysis_overrides[]` entry: per-panel-model sampling.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AnalysisOverride {
    pub model: String,
    pub temperature: Option<f64>,
    pub max_completion_tokens: Option<u32>,
}

/// `algorithm.workflows` ("Router Flow").
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct WorkflowsSpec {
    /// Unset: `static` (one step per role).
    pub mode: Option<WorkflowsMode>,
    /// A label carried into the trace.
    pub template: Option<String>,
    pub roles: Vec<WorkflowRole>,
    #[serde(rename = "final")]
    pub final_stage: Option<WorkflowFinal>,
    pub planner: Option<WorkflowPlanner>,
    pub max_steps: Option<u32>,
    pub max_parallel: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub round_timeout_seconds: Option<u32>,
    /// 0 or unset: every model of a step.
    pub min_successful_responses: Option<u32>,
    pub temperature: Option<f64>,
    pub include_intermediate_responses: Option<bool>,
    /// Unset: `fail` (upstream's default for workflows).
    pub on_error: Option<LooperOnError>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct WorkflowRole {
    pub name: String,
    pub models: Vec<String>,
    pub prompt: Option<String>,
    /// Earlier role names whose outputs this role reads; unset: all earlier outputs.
    pub access_list: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct WorkflowFinal {
    pub model: Option<String>,
    pub prompt: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct WorkflowPlanner {
    pub model: Option<String>,
    pub max_completion_tokens: Option<u32>,
}

/// A decision's looper algorithm, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum LooperSpec {
    Fusion(FusionSpec),
    Workflows(WorkflowsSpec),
}

impl Algorithm {
    /// The `fusion` or `workflows` block of this algorithm; `None` for every other type.
    pub fn looper(&self) -> Option<Result<LooperSpec, serde_json::Error>> {
        let block = self
            .params
            .clone()
            .unwrap_or(Value::Object(Default::default()));
        match self.kind.as_str() {
            "fusion" => Some(serde_json::from_value(block).map(LooperSpec::Fusion)),
            "workflows" => Some(serde_json::from_value(block).map(LooperSpec::Workflows)),
            _ => None,
        }
    }
}

impl Decision {
    /// The decision's looper algorithm, when it has one.
    pub fn looper(&self) -> Option<Result<LooperSpec, serde_json::Error>> {
        self.algorithm.as_ref().and_then(Algorithm::looper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn algorithm(kind: &str, block: Value) -> Algorithm {
        Algorithm {
            kind: kind.into(),
            on_error: None,
            params: Some(block),
        }
    }

    #[test]
    fn fusion_and_workflows_blocks_become_typed_specs() {
        let f = algorithm(
            "fusion",
            json!({"model": "judge", "analysis_models": ["a", "b"], "max_concurrent": 2,
                   "on_error": "fail", "analysis_overrides": [{"model": "a", "temperature": 0.2}]}),
        );
        let Some(Ok(LooperSpec::Fusion(s))) = f.looper() else {
            panic!("fusion parses");
        };
        assert_eq!(s.model.as_deref(), Some("judge"));
        assert_eq!(s.analysis_models, ["a", "b"]);
        assert_eq!(s.on_error, Some(LooperOnError::Fail));
        assert_eq!(s.analysis_overrides[0].temperature, Some(0.2));

        let w = algorithm(
            "workflows",
            json!({"mode": "dynamic", "planner": {"model": "p"}, "final": {"prompt": "sum up"},
                   "roles": [{"name": "r", "models": ["a"], "access_list": []}]}),
        );
        let Some(Ok(LooperSpec::Workflows(s))) = w.looper() else {
            panic!("workflows parses");
        };
        assert_eq!(s.mode, Some(WorkflowsMode::Dynamic));
        assert_eq!(
            s.final_stage.and_then(|f| f.prompt).as_deref(),
            Some("sum up")
        );
        assert_eq!(s.roles[0].access_list, Some(vec![]));
        assert!(algorithm("static", json!({})).looper().is_none());
        assert!(
            algorithm("fusion", json!({"max_concurrent": "x"}))
                .looper()
                .unwrap()
                .is_err()
        );
    }
}
