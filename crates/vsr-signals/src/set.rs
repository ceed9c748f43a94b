//! The values of every signal for one request.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::family::Family;

/// One signal's value for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalResult {
    /// Rule name (for complexity `rule:level`, for projection the mapping output).
    pub name: Arc<str>,
    pub matched: bool,
    /// Strength of the match in [0, 1]; 0 when unmatched.
    pub confidence: f64,
    /// The raw measurement behind the match (a count, a density, a token count, a score).
    pub value: f64,
    /// What matched: terms, markers, labels. Empty when there is nothing to say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// Why this signal has no value for the request (a classifier call that failed); a leaf
    /// with `on_error: match` then matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Arc<str>>,
}

impl SignalResult {
    /// An unmatched result for `name`.
    pub fn unmatched(name: Arc<str>) -> Self {
        Self {
            name,
            matched: false,
            confidence: 0.0,
            value: 0.0,
            evidence: Vec::new(),
            error: None,
        }
    }

    /// Marks the signal as matched with a confidence clamped into [0, 1] (NaN reads as 0).
    pub fn set_match(&mut self, confidence: f64) {
        self.matched = true;
        self.confidence = clamp_unit(confidence);
    }

    /// Resets the signal to unmatched (the raw value and evidence are kept for the trace).
    pub fn clear_match(&mut self) {
        self.matched = false;
        self.confidence = 0.0;
    }
}

/// Clamps into [0, 1]; NaN becomes 0.
pub fn clamp_unit(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// The signal names of every family, in declaration order: the slots of a [`SignalSet`].
#[derive(Debug, Clone, Default)]
pub struct SignalCatalog {
    names: Vec<Vec<Arc<str>>>,
}

impl SignalCatalog {
    pub fn new() -> Self {
        Self {
            names: vec![Vec::new(); Family::COUNT],
        }
    }

    /// Declares the names of a family (replacing earlier ones). Duplicates keep their first slot.
    pub fn declare<S: AsRef<str>>(&mut self, family: Family, names: impl IntoIterator<Item = S>) {
        let slot = &mut self.names[family.index()];
        slot.clear();
        for n in names {
            let n = n.as_ref();
            if !slot.iter().any(|s| &**s == n) {
                slot.push(Arc::from(n));
            }
        }
    }

    /// The names of one family.
    pub fn names(&self, family: Family) -> &[Arc<str>] {
        &self.names[family.index()]
    }

    /// The slot of `(family, name)`, compared exactly.
    pub fn position(&self, family: Family, name: &str) -> Option<usize> {
        self.names[family.index()].iter().position(|n| &**n == name)
    }
}

/// One family's values for a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilySignals {
    pub family: Family,
    /// Whether the family's evaluator ran (or the values were supplied) for this request.
    pub evaluated: bool,
    /// Set when the evaluator failed; the family then has no matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of the evaluator in nanoseconds (0 when not run).
    #[serde(default)]
    pub elapsed_ns: u64,
    pub signals: Vec<SignalResult>,
}

/// Every signal of every family for one request, slot-aligned with a [`SignalCatalog`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalSet {
    families: Vec<FamilySignals>,
}

impl SignalSet {
    /// All signals of the catalog, unmatched and not evaluated.
    pub fn empty(catalog: &SignalCatalog) -> Self {
        let families = Family::ALL
            .into_iter()
            .map(|family| FamilySignals {
                family,
                evaluated: false,
                error: None,
                elapsed_ns: 0,
                signals: catalog
                    .names(family)
                    .iter()
                    .map(|n| SignalResult::unmatched(n.clone()))
                    .collect(),
            })
            .collect();
        Self { families }
    }

    pub fn family(&self, family: Family) -> &FamilySignals {
        &self.families[family.index()]
    }

    pub fn family_mut(&mut self, family: Family) -> &mut FamilySignals {
        &mut self.families[family.index()]
    }

    /// Every family, in [`Family::ALL`] order.
    pub fn families(&self) -> impl Iterator<Item = &FamilySignals> {
        self.families.iter()
    }

    /// The signal in slot `index` of `family`.
    pub fn slot(&self, family: Family, index: usize) -> Option<&SignalResult> {
        self.families[family.index()].signals.get(index)
    }

    pub fn slot_mut(&mut self, family: Family, index: usize) -> Option<&mut SignalResult> {
        self.families[family.index()].signals.get_mut(index)
    }

    /// The signal `(family, name)`, compared exactly.
    pub fn get(&self, family: Family, name: &str) -> Option<&SignalResult> {
        self.families[family.index()]
            .signals
            .iter()
            .find(|s| &*s.name == name)
    }

    pub fn get_mut(&mut self, family: Family, name: &str) -> Option<&mut SignalResult> {
        self.families[family.index()]
            .signals
            .iter_mut()
            .find(|s| &*s.name == name)
    }

    /// Whether `(family, name)` matched.
    pub fn is_matched(&self, family: Family, name: &str) -> bool {
        self.get(family, name).is_some_and(|s| s.matched)
    }

    /// Marks `(family, name)` matched with `confidence` and the family evaluated. Returns false
    /// when the catalog has no such signal.
    pub fn set_match(&mut self, family: Family, name: &str, confidence: f64) -> bool {
        self.families[family.index()].evaluated = true;
        match self.get_mut(family, name) {
            Some(s) => {
                s.set_match(confidence);
                true
            }
            None => false,
        }
    }

    /// Every matched signal as `(family, result)`, families in [`Family::ALL`] order.
    pub fn matched(&self) -> impl Iterator<Item = (Family, &SignalResult)> {
        self.families.iter().flat_map(|f| {
            f.signals
                .iter()
                .filter(|s| s.matched)
                .map(move |s| (f.family, s))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> SignalCatalog {
        let mut c = SignalCatalog::new();
        c.declare(Family::Keyword, ["a", "b", "a"]);
        c.declare(Family::Domain, ["law"]);
        c
    }

    #[test]
    fn catalog_deduplicates_and_keeps_order() {
        let c = catalog();
        assert_eq!(c.names(Family::Keyword).len(), 2);
        assert_eq!(c.position(Family::Keyword, "b"), Some(1));
        assert_eq!(c.position(Family::Keyword, "B"), None);
    }

    #[test]
    fn set_match_clamps_and_marks_evaluated() {
        let mut s = SignalSet::empty(&catalog());
        assert!(!s.family(Family::Domain).evaluated);
        assert!(s.set_match(Family::Domain, "law", 1.7));
        assert!(s.family(Family::Domain).evaluated);
        assert_eq!(
            s.get(Family::Domain, "law").map(|r| r.confidence),
            Some(1.0)
        );
        assert!(!s.set_match(Family::Domain, "nope", 0.5));
        assert_eq!(s.matched().count(), 1);
        assert_eq!(clamp_unit(f64::NAN), 0.0);
    }
}
