//! `reask` (head-delta §4): the user asks again. The current user text is compared with
//! earlier user turns (most recent first) on the shared encoder; a rule matches when the
//! `lookback_turns` most recent ones are all at least `threshold` similar. Only the matched
//! rules with the longest look-back are kept.

use std::sync::Arc;

use vsr_signals::text::bounded_text;
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::space::Space;

#[derive(Debug, Clone, PartialEq)]
pub struct ReaskRule {
    pub name: String,
    pub threshold: f64,
    pub lookback: usize,
}

impl ReaskRule {
    pub fn from_config(r: &vsr_config::ReaskSignal) -> Self {
        Self {
            name: r.name.clone(),
            threshold: r.threshold.filter(|t| *t > 0.0).unwrap_or(0.8),
            lookback: r.lookback_turns.filter(|n| *n > 0).unwrap_or(1) as usize,
        }
    }
}

pub struct ReaskFamily {
    space: Arc<Space>,
    rules: Vec<ReaskRule>,
}

impl ReaskFamily {
    pub fn new(space: Arc<Space>, rules: Vec<ReaskRule>) -> Self {
        Self { space, rules }
    }
}

/// The rules' outcomes for similarities `s` (most recent prior turn first): per rule the
/// streak and, when it matches, the confidence; then only the longest matched look-back kept.
pub fn outcomes(rules: &[ReaskRule], s: &[f64]) -> Vec<(usize, Option<f64>)> {
    let mut out: Vec<(usize, Option<f64>)> = rules
        .iter()
        .map(|r| {
            let streak = s.iter().take_while(|x| **x >= r.threshold).count();
            if s.len() < r.lookback || streak < r.lookback {
                return (streak, None);
            }
            let conf = s[..r.lookback]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            (streak, Some(conf))
        })
        .collect();
    let longest = rules
        .iter()
        .zip(&out)
        .filter(|(_, o)| o.1.is_some())
        .map(|(r, _)| r.lookback)
        .max();
    for (r, o) in rules.iter().zip(out.iter_mut()) {
        if Some(r.lookback) != longest {
            o.1 = None;
        }
    }
    out
}

impl SignalFamily for ReaskFamily {
    fn family(&self) -> Family {
        Family::Reask
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let prior: Vec<String> = ctx
            .view()
            .prior_user_texts()
            .filter(|t| !t.trim().is_empty())
            .map(|t| bounded_text(t).into_owned())
            .collect();
        if prior.is_empty() || ctx.text().trim().is_empty() {
            return Ok(());
        }
        let space = &self.space;
        let current = ctx
            .embedding_or_compute(|t| space.embed_query(&bounded_text(t)).ok())
            .ok_or_else(|| SignalError::new(Family::Reask, "no prompt embedding"))?;
        let mut distinct: Vec<&str> = Vec::new();
        for p in &prior {
            if !distinct.contains(&p.as_str()) {
                distinct.push(p);
            }
        }
        let vectors = space
            .encoder()
            .embed(&distinct)
            .map_err(|e| SignalError::new(Family::Reask, e.to_string()))?;
        let sims: Vec<f64> = prior
            .iter()
            .filter_map(|p| distinct.iter().position(|d| *d == p))
            .map(|i| f64::from(space.similarity(current, &vectors[i])))
            .collect();
        for ((streak, conf), slot) in outcomes(&self.rules, &sims).into_iter().zip(out.iter_mut()) {
            slot.value = streak as f64;
            if let Some(c) = conf {
                slot.set_match(c);
                slot.evidence = vec![format!("streak {streak}")];
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, lookback: usize) -> ReaskRule {
        ReaskRule {
            name: name.into(),
            threshold: 0.8,
            lookback,
        }
    }

    #[test]
    fn streaks_and_the_longest_lookback_wins() {
        let rules = [rule("one", 1), rule("two", 2)];
        assert_eq!(
            outcomes(&rules, &[0.9, 0.85, 0.1]),
            vec![(2, None), (2, Some(0.85))]
        );
        assert_eq!(
            outcomes(&rules, &[0.9, 0.5]),
            vec![(1, Some(0.9)), (1, None)]
        );
        assert_eq!(outcomes(&rules, &[0.9]), vec![(1, Some(0.9)), (1, None)]);
        assert_eq!(outcomes(&rules, &[0.5, 0.9]), vec![(0, None), (0, None)]);
        assert_eq!(outcomes(&rules, &[]), vec![(0, None), (0, None)]);
        let d = ReaskRule::from_config(&vsr_config::ReaskSignal {
            name: "d".into(),
            threshold: Some(0.0),
            lookback_turns: Some(0),
            ..Default::default()
        });
        assert_eq!((d.threshold, d.lookback), (0.8, 1));
    }
}
