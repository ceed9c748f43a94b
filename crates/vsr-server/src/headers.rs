//! The router's own header names, built once: inserting by `&str` parses and checks the name
//! on every request, which on the proxy's hot path costs more than the rest of the header work.

use std::sync::LazyLock;

use http::HeaderName;
use vsr_config::SignalType;

macro_rules! names {
    ($($id:ident = $s:literal),* $(,)?) => {
        $(pub static $id: HeaderName = HeaderName::from_static($s);)*
    };
}

names! {
    REQUEST_ID = "x-request-id",
    SELECTED_DECISION = "x-vsr-selected-decision",
    SELECTED_RECIPE = "x-vsr-selected-recipe",
    SELECTED_MODEL = "x-vsr-selected-model",
    SELECTED_CATEGORY = "x-vsr-selected-category",
    SELECTED_CONFIDENCE = "x-vsr-selected-confidence",
    SELECTED_REASONING = "x-vsr-selected-reasoning",
    MATCHED_PROJECTIONS = "x-vsr-matched-projections",
    CONTEXT_TOKEN_COUNT = "x-vsr-context-token-count",
    INJECTED_SYSTEM_PROMPT = "x-vsr-injected-system-prompt",
    REPLAY_ID = "x-vsr-replay-id",
    FAST_RESPONSE = "x-vsr-fast-response",
    LOOPER = "x-vsr-looper",
    LOOPER_CALLS = "x-vsr-looper-calls",
    CACHE = "x-vsr-cache",
    CACHE_REASON = "x-vsr-cache-reason",
    CACHE_KEY = "x-vsr-cache-key",
    CACHE_SIMILARITY = "x-vsr-cache-similarity",
    SESSION_ID = "x-vsr-session-id",
    SESSION_ACTION = "x-vsr-session-action",
    SESSION_OWN_MODEL = "x-vsr-session-own-model",
    SESSION_REASON = "x-vsr-session-reason",
    SESSION_TURNS = "x-vsr-session-turns",
    LEARNING_METHODS = "x-vsr-learning-methods",
    LEARNING_ACTIONS = "x-vsr-learning-actions",
    LEARNING_REASONS = "x-vsr-learning-reasons",
    LEARNING_BASE_MODEL = "x-vsr-learning-base-model",
    UPSTREAM_ATTEMPTS = "x-vsr-upstream-attempts",
    FALLBACK_PATH = "x-vsr-fallback-path",
    DESTINATION_ENDPOINT = "x-vsr-destination-endpoint",
    SELECTED_MODEL_UPSTREAM = "x-selected-model",
}

/// `x-vsr-matched-<family>` for each signal family (projections have their own name).
pub fn matched(family: SignalType) -> &'static HeaderName {
    static BY_FAMILY: LazyLock<Vec<(SignalType, HeaderName)>> = LazyLock::new(|| {
        SignalType::ALL
            .iter()
            .filter_map(|&f| {
                let name = format!("x-vsr-matched-{}", f.header_suffix());
                HeaderName::from_bytes(name.as_bytes()).ok().map(|n| (f, n))
            })
            .collect()
    });
    if family == SignalType::Projection {
        return &MATCHED_PROJECTIONS;
    }
    BY_FAMILY
        .iter()
        .find(|(f, _)| *f == family)
        .map_or(&MATCHED_PROJECTIONS, |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_its_matched_header() {
        for f in SignalType::ALL {
            let want = if f == SignalType::Projection {
                "x-vsr-matched-projections".to_string()
            } else {
                format!("x-vsr-matched-{}", f.header_suffix())
            };
            assert_eq!(matched(f).as_str(), want);
        }
    }
}
