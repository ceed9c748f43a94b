//! The `context` family: token-count bands over the whole conversation.

use crate::family::{Family, SignalError, SignalFamily};
use crate::request::RequestContext;
use crate::set::SignalResult;

/// One context band; both ends inclusive. `max_tokens: None` means unbounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRuleSpec {
    pub name: String,
    pub min_tokens: u64,
    pub max_tokens: Option<u64>,
}

/// Parses a token count such as `999`, `"1K"`, `"1.5k"` or `256K` (K = 1000, M = 1,000,000;
/// the product is truncated). `None` for anything else.
pub fn parse_token_count(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_uppercase();
    let (num, mult) = if let Some(n) = s.strip_suffix('K') {
        (n, 1_000.0)
    } else if let Some(n) = s.strip_suffix('M') {
        (n, 1_000_000.0)
    } else {
        (s.as_str(), 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some((v * mult) as u64)
}

/// The compiled context family.
pub struct ContextFamily {
    rules: Vec<ContextRuleSpec>,
    envelope_floor: bool,
}

impl ContextFamily {
    pub fn new(specs: &[ContextRuleSpec]) -> Self {
        Self {
            rules: specs.to_vec(),
            envelope_floor: false,
        }
    }

    /// Counts as upstream does since August 2026 ([`crate::RequestView::envelope_tokens`]: the request
    /// envelope's floor, tools, images and `max_tokens` included) instead of the March
    /// estimate of the conversation's words.
    pub fn with_envelope_floor(mut self, on: bool) -> Self {
        self.envelope_floor = on;
        self
    }
}

impl SignalFamily for ContextFamily {
    fn family(&self) -> Family {
        Family::Context
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let view = ctx.view();
        let tokens = if self.envelope_floor {
            view.envelope_tokens()
        } else {
            view.token_count
        };
        for (rule, result) in self.rules.iter().zip(out.iter_mut()) {
            result.value = tokens as f64;
            if tokens >= rule.min_tokens && rule.max_tokens.is_none_or(|m| tokens <= m) {
                result.set_match(1.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RequestView;

    #[test]
    fn parses_units() {
        assert_eq!(parse_token_count("999"), Some(999));
        assert_eq!(parse_token_count(" 1K "), Some(1000));
        assert_eq!(parse_token_count("1.5k"), Some(1500));
        assert_eq!(parse_token_count("256K"), Some(256_000));
        assert_eq!(parse_token_count("2M"), Some(2_000_000));
        assert_eq!(parse_token_count("lots"), None);
        assert_eq!(parse_token_count("-1"), None);
    }

    #[test]
    fn bands_are_inclusive() {
        let fam = ContextFamily::new(&[
            ContextRuleSpec {
                name: "short".into(),
                min_tokens: 0,
                max_tokens: Some(4),
            },
            ContextRuleSpec {
                name: "long".into(),
                min_tokens: 4,
                max_tokens: None,
            },
        ]);
        let eval = |text: &str| {
            let view = RequestView::from_text(text);
            let ctx = RequestContext::new(&view);
            let mut out: Vec<SignalResult> = fam
                .signal_names()
                .into_iter()
                .map(|n| SignalResult::unmatched(n.into()))
                .collect();
            fam.evaluate(&ctx, &mut out).expect("evaluates");
            (out[0].matched, out[1].matched, out[0].value)
        };
        assert_eq!(eval("Who are you?"), (true, true, 4.0));
        assert_eq!(eval("Hi"), (true, false, 1.0));
        assert_eq!(eval("one two three four five"), (false, true, 6.0));
    }

    #[test]
    fn the_august_count_is_the_envelope_floor() {
        let fam = ContextFamily::new(&[ContextRuleSpec {
            name: "short".into(),
            min_tokens: 0,
            max_tokens: Some(1000),
        }])
        .with_envelope_floor(true);
        let eval = |view: RequestView| {
            let ctx = RequestContext::new(&view);
            let mut out = vec![SignalResult::unmatched("short".into())];
            fam.evaluate(&ctx, &mut out).expect("evaluates");
            (out[0].matched, out[0].value)
        };
        // A bare text of 8 bytes: ⌈(8 + 4) / 4⌉ + 4.
        assert_eq!(eval(RequestView::from_text("12345678")), (true, 7.0));
        // The same text asking for 2000 output tokens no longer fits the band.
        let body = serde_json::json!({
            "messages": [{"role": "user", "content": "12345678"}],
            "max_tokens": 2000
        });
        let view = RequestView::from_text("12345678")
            .with_envelope(crate::ContextEnvelope::of_chat(&body));
        assert_eq!(eval(view), (false, 2007.0));
        // A long text counts at the learned ratio when it is denser than 4 bytes a token.
        let long = "word ".repeat(400);
        let at_four = eval(RequestView::from_text(long.as_str())).1;
        let learned = eval(RequestView::from_text(long.as_str()).with_bytes_per_token(Some(2.0))).1;
        assert_eq!(at_four, 505.0, "⌈(2000 + 4) / 4⌉ + 4 (the floor)");
        assert_eq!(learned, 1000.0, "2000 bytes at 2 a token");
        assert_eq!(
            eval(RequestView::from_text(long.as_str()).with_bytes_per_token(Some(f64::NAN))).1,
            at_four,
            "a nonsense ratio reads as 4"
        );
    }
}
