//! Signal families and the interface every family evaluator implements.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::request::RequestContext;
use crate::set::SignalResult;

/// A signal family: the `type` of a rule leaf (`keyword`, `domain`, ...).
///
/// `Projection` is not produced by an evaluator; the engine fills it from mapping outputs, but it
/// lives here so that a [`crate::SignalSet`] can hold every leaf a decision may reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Keyword,
    Embedding,
    Domain,
    FactCheck,
    UserFeedback,
    Preference,
    Language,
    Context,
    Structure,
    Complexity,
    Modality,
    Authz,
    Jailbreak,
    Pii,
    Projection,
}

impl Family {
    /// Every family, in a fixed order (the index of [`Family::index`]).
    pub const ALL: [Family; 15] = [
        Family::Keyword,
        Family::Embedding,
        Family::Domain,
        Family::FactCheck,
        Family::UserFeedback,
        Family::Preference,
        Family::Language,
        Family::Context,
        Family::Structure,
        Family::Complexity,
        Family::Modality,
        Family::Authz,
        Family::Jailbreak,
        Family::Pii,
        Family::Projection,
    ];

    /// Number of families.
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index in `0..COUNT`.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in configs (`type:` of a rule leaf).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Keyword => "keyword",
            Family::Embedding => "embedding",
            Family::Domain => "domain",
            Family::FactCheck => "fact_check",
            Family::UserFeedback => "user_feedback",
            Family::Preference => "preference",
            Family::Language => "language",
            Family::Context => "context",
            Family::Structure => "structure",
            Family::Complexity => "complexity",
            Family::Modality => "modality",
            Family::Authz => "authz",
            Family::Jailbreak => "jailbreak",
            Family::Pii => "pii",
            Family::Projection => "projection",
        }
    }

    /// Parses a leaf `type`; it is trimmed and compared case-insensitively, as the original does.
    pub fn parse(kind: &str) -> Option<Family> {
        let kind = kind.trim();
        Family::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(kind))
    }

    /// Families whose values come from a neural model (built in `vsr-models`).
    pub fn is_learned(self) -> bool {
        matches!(
            self,
            Family::Embedding
                | Family::Domain
                | Family::FactCheck
                | Family::UserFeedback
                | Family::Preference
                | Family::Complexity
                | Family::Modality
                | Family::Jailbreak
                | Family::Pii
        )
    }

    /// The plural key used by the eval API's `MatchedSignals` objects.
    pub fn api_key(self) -> &'static str {
        match self {
            Family::Keyword => "keywords",
            Family::Embedding => "embeddings",
            Family::Domain => "domains",
            Family::Preference => "preferences",
            other => other.as_str(),
        }
    }

    /// The suffix of the response header `x-vsr-matched-<suffix>` (surface spec §2.11): the
    /// eval API's key with dashes, and `preference` singular.
    pub fn header_suffix(self) -> &'static str {
        match self {
            Family::FactCheck => "fact-check",
            Family::UserFeedback => "user-feedback",
            Family::Preference => "preference",
            other => other.api_key(),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A small set of families (a bit set over [`Family::index`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FamilySet(u32);

impl FamilySet {
    pub const EMPTY: FamilySet = FamilySet(0);

    /// Every family.
    pub fn all() -> FamilySet {
        FamilySet((1u32 << Family::COUNT) - 1)
    }

    pub fn insert(&mut self, family: Family) {
        self.0 |= 1 << family.index();
    }

    pub fn contains(self, family: Family) -> bool {
        self.0 & (1 << family.index()) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Family> {
        Family::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

impl FromIterator<Family> for FamilySet {
    fn from_iter<I: IntoIterator<Item = Family>>(iter: I) -> Self {
        let mut set = FamilySet::EMPTY;
        for f in iter {
            set.insert(f);
        }
        set
    }
}

/// Why a family evaluator produced no values for one request. The engine logs it, records it in
/// the trace and treats the family as "nothing matched" (as the original does).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{family} signal failed: {message}")]
pub struct SignalError {
    pub family: Family,
    pub message: String,
}

impl SignalError {
    pub fn new(family: Family, message: impl Into<String>) -> Self {
        Self {
            family,
            message: message.into(),
        }
    }
}

/// One signal family's evaluator: heuristic (in this crate) or learned (in `vsr-models`).
///
/// The evaluator declares its signal names once ([`SignalFamily::signal_names`]); per request
/// the engine hands it one pre-initialised, unmatched [`SignalResult`] per name, in that order,
/// and the evaluator marks those that match. Implementations must be cheap to call concurrently
/// (`&self`), keep no per-request state, and never panic on any input text.
pub trait SignalFamily: Send + Sync {
    /// The family this evaluator fills.
    fn family(&self) -> Family;

    /// The signal names (the rule names, or for complexity `rule:level`), in declaration order.
    fn signal_names(&self) -> Vec<String>;

    /// Evaluates one request. `out` has exactly one entry per name of `signal_names`, in order,
    /// all unmatched with confidence 0.
    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_trimmed_and_case_insensitive() {
        assert_eq!(Family::parse(" Keyword "), Some(Family::Keyword));
        assert_eq!(Family::parse("FACT_CHECK"), Some(Family::FactCheck));
        assert_eq!(Family::parse("keywords"), None);
        for f in Family::ALL {
            assert_eq!(Family::parse(f.as_str()), Some(f));
            assert_eq!(Family::ALL[f.index()], f);
        }
    }

    #[test]
    fn family_set_membership() {
        let set: FamilySet = [Family::Keyword, Family::Pii].into_iter().collect();
        assert!(set.contains(Family::Keyword) && set.contains(Family::Pii));
        assert!(!set.contains(Family::Domain));
        assert_eq!(set.iter().count(), 2);
        assert_eq!(FamilySet::all().iter().count(), Family::COUNT);
    }
}
