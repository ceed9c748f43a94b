//! Signal families and the interface every family evaluator implements.

use crate::request::RequestContext;
use crate::set::SignalResult;

/// A signal family: the `type` of a rule leaf (`keyword`, `domain`, ...). It is the config's
/// [`vsr_config::SignalType`] (one enum for the whole workspace), named for how the signal code
/// uses it. `Projection` is not produced by an evaluator; the engine fills it from mapping
/// outputs, but a [`crate::SignalSet`] holds every leaf a decision may reference.
pub use vsr_config::SignalType as Family;

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
