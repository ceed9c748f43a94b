//! Rule trees: AND / OR / NOT over signal leaves, with confidence arithmetic.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vsr_signals::{Bounds, Family, SignalCatalog, SignalSet};

/// A rule tree as written in a config (decisions and complexity composers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleNode {
    /// A signal: `kind` is the leaf `type` (parsed case-insensitively), `name` is exact.
    Leaf {
        kind: String,
        name: String,
        /// A predicate leaf (head-delta §2): matches, with confidence 1, when the signal's value
        /// satisfies the bounds, whatever the matched list says; for a classifier leaf the
        /// signal is `name:label`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        predicate: Option<Bounds>,
        /// With a predicate: match when the signal failed for the request (`on_error: match`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        match_on_error: bool,
    },
    /// Every child; the mean of their confidences. No children: never matches.
    And(Vec<RuleNode>),
    /// Any child; the best child's confidence. No children: never matches.
    Or(Vec<RuleNode>),
    /// Exactly one child, which must not match; confidence 1. Any other arity never matches.
    Not(Vec<RuleNode>),
    /// A decision without `rules` (upstream HEAD), or an empty AND in an August-2026 config:
    /// always matches, with confidence 0.
    Fallback,
}

impl RuleNode {
    pub fn leaf(kind: impl Into<String>, name: impl Into<String>) -> Self {
        RuleNode::Leaf {
            kind: kind.into(),
            name: name.into(),
            predicate: None,
            match_on_error: false,
        }
    }

    /// A predicate leaf over `name`'s value (see [`RuleNode::Leaf`]).
    pub fn predicate_leaf(
        kind: impl Into<String>,
        name: impl Into<String>,
        predicate: Bounds,
        match_on_error: bool,
    ) -> Self {
        RuleNode::Leaf {
            kind: kind.into(),
            name: name.into(),
            predicate: Some(predicate),
            match_on_error,
        }
    }

    /// The tree with every empty AND made a match of confidence 0 ([`RuleNode::Fallback`]), as
    /// upstream HEAD (August 2026) evaluates it; March configs keep an empty AND unmatched.
    pub fn with_matching_empty_and(self) -> Self {
        match self {
            RuleNode::And(c) if c.is_empty() => RuleNode::Fallback,
            RuleNode::And(c) => {
                RuleNode::And(c.into_iter().map(Self::with_matching_empty_and).collect())
            }
            RuleNode::Or(c) => {
                RuleNode::Or(c.into_iter().map(Self::with_matching_empty_and).collect())
            }
            RuleNode::Not(c) => {
                RuleNode::Not(c.into_iter().map(Self::with_matching_empty_and).collect())
            }
            other => other,
        }
    }

    /// Every leaf `(kind, name)` in tree order (duplicates kept).
    pub fn leaves(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        self.walk(&mut |k, n| out.push((k, n)));
        out
    }

    fn walk<'a>(&'a self, f: &mut impl FnMut(&'a str, &'a str)) {
        match self {
            RuleNode::Leaf { kind, name, .. } => f(kind, name),
            RuleNode::And(c) | RuleNode::Or(c) | RuleNode::Not(c) => {
                c.iter().for_each(|n| n.walk(f))
            }
            RuleNode::Fallback => {}
        }
    }
}

/// A leaf resolved against a [`SignalCatalog`].
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub kind: Arc<str>,
    pub name: Arc<str>,
    /// `type:name` as written, for traces.
    pub label: Arc<str>,
    /// `None` when the type is unknown or excluded: such a leaf never matches.
    pub family: Option<Family>,
    /// `None` when the catalog has no such signal: never matches.
    pub slot: Option<usize>,
    pub predicate: Option<Bounds>,
    pub match_on_error: bool,
}

/// A compiled rule tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Leaf(Leaf),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Vec<Node>),
    Fallback,
}

/// Result of evaluating a node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Outcome {
    pub matched: bool,
    pub confidence: f64,
}

const NO: Outcome = Outcome {
    matched: false,
    confidence: 0.0,
};

impl Node {
    /// Compiles a tree. `allow` filters leaf families (composers exclude complexity and
    /// projection leaves, which then never match).
    pub fn compile(
        rule: &RuleNode,
        catalog: &SignalCatalog,
        allow: &dyn Fn(Family) -> bool,
    ) -> Node {
        match rule {
            RuleNode::Leaf {
                kind,
                name,
                predicate,
                match_on_error,
            } => {
                let family = Family::parse(kind).filter(|f| allow(*f));
                let slot = family.and_then(|f| catalog.position(f, name));
                Node::Leaf(Leaf {
                    label: Arc::from(format!("{}:{name}", kind.trim())),
                    kind: Arc::from(kind.trim()),
                    name: Arc::from(name.as_str()),
                    family,
                    slot,
                    predicate: *predicate,
                    match_on_error: *match_on_error,
                })
            }
            RuleNode::And(c) => {
                Node::And(c.iter().map(|n| Node::compile(n, catalog, allow)).collect())
            }
            RuleNode::Or(c) => {
                Node::Or(c.iter().map(|n| Node::compile(n, catalog, allow)).collect())
            }
            RuleNode::Not(c) => {
                Node::Not(c.iter().map(|n| Node::compile(n, catalog, allow)).collect())
            }
            RuleNode::Fallback => Node::Fallback,
        }
    }

    /// Evaluates the tree. A matched leaf's confidence is its signal's, or 1 when that is 0.
    pub fn eval(&self, set: &SignalSet) -> Outcome {
        match self {
            Node::Leaf(leaf) => leaf_outcome(leaf, set),
            Node::And(children) => {
                if children.is_empty() {
                    return NO;
                }
                let mut sum = 0.0;
                for c in children {
                    let o = c.eval(set);
                    if !o.matched {
                        return NO;
                    }
                    sum += o.confidence;
                }
                Outcome {
                    matched: true,
                    confidence: sum / children.len() as f64,
                }
            }
            Node::Or(children) => {
                let mut best = NO;
                for c in children {
                    let o = c.eval(set);
                    if o.matched && (!best.matched || o.confidence > best.confidence) {
                        best = o;
                    }
                }
                best
            }
            Node::Not(children) => match children.as_slice() {
                [only] if !only.eval(set).matched => Outcome {
                    matched: true,
                    confidence: 1.0,
                },
                _ => NO,
            },
            Node::Fallback => Outcome {
                matched: true,
                confidence: 0.0,
            },
        }
    }

    /// The leaves that made the node match, as `type:name` (AND: all children's; OR: the best
    /// child's; NOT: none, since nothing matched beneath it).
    pub fn matched_rules(&self, set: &SignalSet, out: &mut Vec<Arc<str>>) {
        match self {
            Node::Leaf(leaf) => {
                if leaf_outcome(leaf, set).matched {
                    out.push(leaf.label.clone());
                }
            }
            Node::And(children) => {
                if self.eval(set).matched {
                    children.iter().for_each(|c| c.matched_rules(set, out));
                }
            }
            Node::Or(children) => {
                let mut best: Option<(&Node, f64)> = None;
                for c in children {
                    let o = c.eval(set);
                    if o.matched && best.is_none_or(|(_, b)| o.confidence > b) {
                        best = Some((c, o.confidence));
                    }
                }
                if let Some((c, _)) = best {
                    c.matched_rules(set, out);
                }
            }
            Node::Not(_) | Node::Fallback => {}
        }
    }

    /// Every leaf in tree order.
    pub fn for_each_leaf<'a>(&'a self, f: &mut impl FnMut(&'a Leaf)) {
        match self {
            Node::Leaf(l) => f(l),
            Node::And(c) | Node::Or(c) | Node::Not(c) => c.iter().for_each(|n| n.for_each_leaf(f)),
            Node::Fallback => {}
        }
    }
}

pub(crate) fn leaf_outcome(leaf: &Leaf, set: &SignalSet) -> Outcome {
    let (Some(family), Some(slot)) = (leaf.family, leaf.slot) else {
        return NO;
    };
    if let Some(bounds) = &leaf.predicate {
        let fam = set.family(family);
        let Some(s) = set.slot(family, slot) else {
            return NO;
        };
        let failed = fam.error.is_some() || s.error.is_some();
        let holds = fam.evaluated && !failed && bounds.holds(s.value);
        return if holds || (failed && leaf.match_on_error) {
            Outcome {
                matched: true,
                confidence: 1.0,
            }
        } else {
            NO
        };
    }
    match set.slot(family, slot) {
        Some(s) if s.matched => Outcome {
            matched: true,
            confidence: if s.confidence > 0.0 {
                s.confidence
            } else {
                1.0
            },
        },
        _ => NO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> SignalCatalog {
        let mut c = SignalCatalog::new();
        c.declare(Family::Keyword, ["a", "b", "c"]);
        c.declare(Family::Complexity, ["x:hard"]);
        c
    }

    fn set(matches: &[(&str, f64)]) -> SignalSet {
        let mut s = SignalSet::empty(&catalog());
        for (n, c) in matches {
            s.set_match(Family::Keyword, n, *c);
        }
        s
    }

    fn kw(n: &str) -> RuleNode {
        RuleNode::leaf("keyword", n)
    }

    fn eval(rule: &RuleNode, s: &SignalSet) -> Outcome {
        Node::compile(rule, &catalog(), &|_| true).eval(s)
    }

    #[test]
    fn leaf_reads_confidence_and_zero_reads_one() {
        let s = set(&[("a", 0.4), ("b", 0.0)]);
        assert_eq!(
            eval(&kw("a"), &s),
            Outcome {
                matched: true,
                confidence: 0.4
            }
        );
        assert_eq!(
            eval(&kw("b"), &s),
            Outcome {
                matched: true,
                confidence: 1.0
            }
        );
        assert!(!eval(&kw("c"), &s).matched);
    }

    #[test]
    fn unknown_type_or_name_never_matches_and_type_is_case_insensitive() {
        let s = set(&[("a", 1.0)]);
        assert!(!eval(&RuleNode::leaf("bogus", "a"), &s).matched);
        assert!(!eval(&kw("missing"), &s).matched);
        assert!(eval(&RuleNode::leaf(" KEYWORD ", "a"), &s).matched);
        assert!(!eval(&RuleNode::leaf("keyword", "A"), &s).matched);
    }

    #[test]
    fn and_is_the_mean_and_empty_and_fails() {
        let s = set(&[("a", 0.4), ("b", 0.8)]);
        let o = eval(&RuleNode::And(vec![kw("a"), kw("b")]), &s);
        assert!(o.matched && (o.confidence - 0.6).abs() < 1e-12);
        assert!(!eval(&RuleNode::And(vec![kw("a"), kw("c")]), &s).matched);
        assert!(!eval(&RuleNode::And(vec![]), &s).matched);
    }

    #[test]
    fn august_empty_and_matches_with_confidence_zero_at_any_depth() {
        let s = set(&[("a", 0.4)]);
        let o = eval(&RuleNode::And(vec![]).with_matching_empty_and(), &s);
        assert!(o.matched && o.confidence == 0.0);
        // Nested: OR over an unmatched leaf and an empty AND matches through the AND.
        let nested = RuleNode::Or(vec![kw("c"), RuleNode::And(vec![])]);
        assert!(!eval(&nested, &s).matched);
        assert!(eval(&nested.with_matching_empty_and(), &s).matched);
        // NOT over an empty AND no longer matches.
        let not = RuleNode::Not(vec![RuleNode::And(vec![])]);
        assert!(eval(&not, &s).matched);
        assert!(!eval(&not.with_matching_empty_and(), &s).matched);
    }

    #[test]
    fn or_is_the_best_child_and_empty_or_fails() {
        let s = set(&[("a", 0.4), ("b", 0.8)]);
        let o = eval(&RuleNode::Or(vec![kw("a"), kw("b"), kw("c")]), &s);
        assert_eq!(
            o,
            Outcome {
                matched: true,
                confidence: 0.8
            }
        );
        assert!(!eval(&RuleNode::Or(vec![kw("c")]), &s).matched);
        assert!(!eval(&RuleNode::Or(vec![]), &s).matched);
    }

    #[test]
    fn not_needs_exactly_one_child() {
        let s = set(&[("a", 0.4)]);
        assert_eq!(
            eval(&RuleNode::Not(vec![kw("c")]), &s),
            Outcome {
                matched: true,
                confidence: 1.0
            }
        );
        assert!(!eval(&RuleNode::Not(vec![kw("a")]), &s).matched);
        assert!(!eval(&RuleNode::Not(vec![]), &s).matched);
        assert!(!eval(&RuleNode::Not(vec![kw("c"), kw("b")]), &s).matched);
    }

    #[test]
    fn nested_trees_combine() {
        // AND(a[0.83], OR(b[0.81], c[0.97]), NOT(missing)) = (0.83 + 0.97 + 1) / 3
        let s = set(&[("a", 0.83), ("b", 0.81), ("c", 0.97)]);
        let rule = RuleNode::And(vec![
            kw("a"),
            RuleNode::Or(vec![kw("b"), kw("c")]),
            RuleNode::Not(vec![RuleNode::leaf("domain", "law")]),
        ]);
        let o = eval(&rule, &s);
        assert!(o.matched && (o.confidence - (0.83 + 0.97 + 1.0) / 3.0).abs() < 1e-12);
        let mut rules = Vec::new();
        Node::compile(&rule, &catalog(), &|_| true).matched_rules(&s, &mut rules);
        let rules: Vec<&str> = rules.iter().map(|r| &**r).collect();
        assert_eq!(rules, vec!["keyword:a", "keyword:c"]);
    }

    #[test]
    fn excluded_families_never_match() {
        let mut s = SignalSet::empty(&catalog());
        s.set_match(Family::Complexity, "x:hard", 1.0);
        let rule = RuleNode::leaf("complexity", "x:hard");
        let node = Node::compile(&rule, &catalog(), &|f| f != Family::Complexity);
        assert!(!node.eval(&s).matched);
        assert_eq!(rule.leaves(), vec![("complexity", "x:hard")]);
    }
}
