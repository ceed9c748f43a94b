//! Quality evaluation of the learned families on labelled sets (`vllm-sr eval-suite`).
//!
//! Layout: `<dir>/<family>/<set>.tsv` (default `data/eval`), one `label<TAB>text` row a line;
//! in the text `\n`, `\t` and `\\` stand for a newline, a tab and a backslash. Lines starting
//! with `#` are comments; `# source: …` and `# licence: …` name where the set comes from (every
//! set must say: a figure means something only on data from another source than the training
//! data), and `# profile: <path>` (relative to the set file) names the config a `routing` set
//! is routed through.
//!
//! Each family has a [`Classifier`] that turns a text into a predicted label, made per set by a
//! factory registered on the [`Suite`]: [`Suite::learned`] registers `domain`, `jailbreak`,
//! `routing` (whole-router decisions, for paraphrases of probe prompts) and `pii` (rules plus
//! the token classifier when installed); another family plugs in with [`Suite::register`]. [`Suite::run`] scores every set into a
//! [`SetReport`]: accuracy, per-class recall, and for binary families recall and false-positive
//! rate of the positive label, with the confusion table.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use vsr_engine::EvalMode;
use vsr_models::{Exemplars, Head};
use vsr_signals::RequestView;

use crate::jailbreak::window_probability;
use crate::pii::PiiDetector;
use crate::{ModelSet, Space, build_router};

/// What went wrong loading or scoring a set; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {message}")]
    Set { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Row {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

/// One labelled set read from `<family>/<set>.tsv`.
#[derive(Debug, Clone)]
pub struct EvalSet {
    pub family: String,
    pub name: String,
    pub path: PathBuf,
    pub source: String,
    pub licence: String,
    /// `# profile:` resolved against the set's directory (routing sets).
    pub profile: Option<PathBuf>,
    /// (gold label, text).
    pub rows: Vec<(String, String)>,
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

impl EvalSet {
    /// Reads one set; `family` is its directory name.
    pub fn load(path: &Path, family: &str) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::Set {
            path: path.into(),
            message: e.to_string(),
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (mut source, mut licence, mut profile) = (String::new(), String::new(), None);
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(c) = line.strip_prefix('#') {
                // `#   more text` continues the `# source:` line above it.
                if c.starts_with("   ") && !source.is_empty() && licence.is_empty() {
                    source.push(' ');
                    source.push_str(c.trim());
                    continue;
                }
                let c = c.trim();
                if let Some(v) = c.strip_prefix("source:") {
                    source = v.trim().to_string();
                } else if let Some(v) = c.strip_prefix("licence:") {
                    licence = v.trim().to_string();
                } else if let Some(v) = c.strip_prefix("profile:") {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    profile = Some(dir.join(v.trim()));
                }
                continue;
            }
            let Some((label, t)) = line.split_once('\t') else {
                return Err(EvalError::Row {
                    path: path.into(),
                    line: i + 1,
                    message: "expected `label<TAB>text`".into(),
                });
            };
            if label.trim().is_empty() || t.trim().is_empty() {
                return Err(EvalError::Row {
                    path: path.into(),
                    line: i + 1,
                    message: "empty label or text".into(),
                });
            }
            rows.push((label.trim().to_string(), unescape(t)));
        }
        if source.is_empty() {
            return Err(EvalError::Set {
                path: path.into(),
                message: "no `# source:` line (say where the set comes from)".into(),
            });
        }
        if rows.is_empty() {
            return Err(EvalError::Set {
                path: path.into(),
                message: "no rows".into(),
            });
        }
        Ok(Self {
            family: family.to_string(),
            name,
            path: path.into(),
            source,
            licence,
            profile,
            rows,
        })
    }

    /// Every set under `dir` (`<family>/<set>.tsv`), sorted by family and name; `families`
    /// (when not empty) keeps those families only.
    pub fn discover(dir: &Path, families: &[String]) -> Result<Vec<Self>, EvalError> {
        let read = |d: &Path| {
            std::fs::read_dir(d).map_err(|e| EvalError::Set {
                path: d.into(),
                message: e.to_string(),
            })
        };
        let mut paths = Vec::new();
        for fam in read(dir)?.flatten() {
            let family = fam.file_name().to_string_lossy().into_owned();
            if !fam.path().is_dir() || (!families.is_empty() && !families.contains(&family)) {
                continue;
            }
            for f in read(&fam.path())?.flatten() {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "tsv") {
                    paths.push((family.clone(), p));
                }
            }
        }
        paths.sort();
        paths.iter().map(|(f, p)| Self::load(p, f)).collect()
    }
}

/// Predicts one label per text for the sets of one family.
pub trait Classifier {
    /// The label whose recall and false-positive rate are reported (binary families).
    fn positive(&self) -> Option<&str> {
        None
    }
    fn classify(&self, text: &str) -> Result<String, EvalError>;
    /// The prediction that is right for a row labelled `gold`: `gold` itself, unless the
    /// family predicts coarser labels than its sets carry (pii rows name the kind of PII,
    /// the family says only `pii` or `none`).
    fn expected(&self, gold: &str) -> String {
        gold.to_string()
    }
}

/// Makes the classifier for one set (a routing set needs its profile).
pub type Factory<'a> = Box<dyn Fn(&EvalSet) -> Result<Box<dyn Classifier + 'a>, EvalError> + 'a>;

/// The scores of one set.
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    pub family: String,
    pub set: String,
    pub source: String,
    pub licence: String,
    pub n: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// Binary families: the positive label, its recall and the false-positive rate of the rest.
    pub positive: Option<String>,
    pub recall: Option<f64>,
    pub false_positive_rate: Option<f64>,
    /// gold → (n, recall).
    pub per_class: BTreeMap<String, (usize, f64)>,
    /// gold → predicted → count.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Up to 20 misses: (gold, predicted, text cut to 100 characters).
    pub misses: Vec<(String, String, String)>,
}

impl SetReport {
    /// Scores `(gold, predicted)` pairs.
    pub fn score(set: &EvalSet, positive: Option<&str>, predicted: &[String]) -> Self {
        Self::score_with(set, positive, predicted, &|g| g.to_string())
    }

    /// Scores `(gold, predicted)` pairs where `expected(gold)` is the right prediction; the
    /// per-class rows stay by gold label (so a pii set reports recall per kind of PII).
    pub fn score_with(
        set: &EvalSet,
        positive: Option<&str>,
        predicted: &[String],
        expected: &dyn Fn(&str) -> String,
    ) -> Self {
        let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut misses = Vec::new();
        let mut correct = 0;
        for ((gold, text), pred) in set.rows.iter().zip(predicted) {
            *confusion
                .entry(gold.clone())
                .or_default()
                .entry(pred.clone())
                .or_default() += 1;
            if expected(gold) == *pred {
                correct += 1;
            } else if misses.len() < 20 {
                misses.push((gold.clone(), pred.clone(), text.chars().take(100).collect()));
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class = confusion
            .iter()
            .map(|(g, row)| {
                let n: usize = row.values().sum();
                let right = row.get(&expected(g)).copied().unwrap_or(0);
                (g.clone(), (n, ratio(right, n)))
            })
            .collect();
        let (recall, fpr) = match positive {
            Some(pos) => {
                let mut tp = 0;
                let mut pos_n = 0;
                let mut fp = 0;
                let mut neg_n = 0;
                for ((gold, _), pred) in set.rows.iter().zip(predicted) {
                    if expected(gold) == pos {
                        pos_n += 1;
                        tp += usize::from(pred == pos);
                    } else {
                        neg_n += 1;
                        fp += usize::from(pred == pos);
                    }
                }
                (
                    (pos_n > 0).then(|| ratio(tp, pos_n)),
                    (neg_n > 0).then(|| ratio(fp, neg_n)),
                )
            }
            None => (None, None),
        };
        Self {
            family: set.family.clone(),
            set: set.name.clone(),
            source: set.source.clone(),
            licence: set.licence.clone(),
            n: set.rows.len(),
            correct,
            accuracy: ratio(correct, set.rows.len()),
            positive: positive.map(str::to_string),
            recall,
            false_positive_rate: fpr,
            per_class,
            confusion,
            misses,
        }
    }

    /// A plain-text table: the headline figures, per-class recall and the confusion rows.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}/{}  n={}  accuracy {:.1}% ({}/{})",
            self.family,
            self.set,
            self.n,
            100.0 * self.accuracy,
            self.correct,
            self.n
        );
        let _ = writeln!(s, "  source: {}  licence: {}", self.source, self.licence);
        if let Some(pos) = &self.positive {
            let pct =
                |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{:.1}%", 100.0 * v));
            let _ = writeln!(
                s,
                "  {pos}: recall {}  false-positive rate {}",
                pct(self.recall),
                pct(self.false_positive_rate)
            );
        }
        let _ = writeln!(s, "  {:<22} {:>4} {:>7}  predicted", "gold", "n", "recall");
        for (gold, (n, r)) in &self.per_class {
            let row = self.confusion.get(gold).cloned().unwrap_or_default();
            let cells: Vec<String> = row.iter().map(|(p, c)| format!("{p}:{c}")).collect();
            let _ = writeln!(
                s,
                "  {gold:<22} {n:>4} {:>6.1}%  {}",
                100.0 * r,
                cells.join(" ")
            );
        }
        for (g, p, t) in &self.misses {
            let _ = writeln!(s, "  miss {g} -> {p}: {t}");
        }
        s
    }
}

/// Probability at which the domain rule emits the head's top-1 label (the spec's default
/// threshold); below it a request falls to `other`.
pub const DOMAIN_THRESHOLD: f32 = 0.5;
/// The reference profile's jailbreak threshold.
pub const JAILBREAK_THRESHOLD: f32 = 0.65;

/// The domain family as a rule with the default threshold sees it: the top-1 label of the head
/// (with its examples' vote, [`Space::exemplars`]) when its probability reaches
/// [`DOMAIN_THRESHOLD`], else `other`.
pub struct DomainClassifier<'a> {
    pub space: &'a Space,
    pub head: &'a Head,
    pub exemplars: Option<Arc<Exemplars>>,
}

impl Classifier for DomainClassifier<'_> {
    fn classify(&self, text: &str) -> Result<String, EvalError> {
        let x = self
            .space
            .embed_query(text)
            .map_err(|e| EvalError::Other(e.to_string()))?;
        if x.len() != self.head.dim() {
            return Err(EvalError::Other(format!(
                "the domain head reads {} values, the encoder gives {}",
                self.head.dim(),
                x.len()
            )));
        }
        let probs = self.head.probabilities_with(&x, self.exemplars.as_deref());
        let best = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .filter(|(_, p)| **p >= DOMAIN_THRESHOLD);
        Ok(match best {
            Some((i, _)) => self.head.labels[i].clone(),
            None => "other".into(),
        })
    }
}

/// The jailbreak classifier rule at [`JAILBREAK_THRESHOLD`], over scanning windows.
pub struct JailbreakClassifier<'a> {
    pub space: &'a Space,
    pub head: &'a Head,
}

impl Classifier for JailbreakClassifier<'_> {
    fn positive(&self) -> Option<&str> {
        Some("jailbreak")
    }
    fn classify(&self, text: &str) -> Result<String, EvalError> {
        let p = window_probability(self.space, self.head, text)
            .map_err(|e| EvalError::Other(e.to_string()))?;
        Ok(if p >= JAILBREAK_THRESHOLD {
            "jailbreak"
        } else {
            "benign"
        }
        .into())
    }
}

/// The decision a whole router takes for a text (`routing` sets: paraphrases of probes).
pub struct RoutingClassifier {
    router: crate::Router,
}

impl Classifier for RoutingClassifier {
    fn classify(&self, text: &str) -> Result<String, EvalError> {
        let r = self
            .router
            .route(&RequestView::from_text(text), EvalMode::All);
        Ok(r.decision.unwrap_or_else(|| "(none)".into()))
    }
}

/// The threshold pii rules are scored at: the reference config's `restricted_pii` rule and
/// PII plugin (0.85), the level the rule confidences are graded around (`vsr_pii::confidence`).
pub const PII_THRESHOLD: f32 = 0.85;

/// The pii family as a rule that allows no type sees it: `pii` when some finding reaches
/// [`PII_THRESHOLD`], else `none`. Rows labelled with a kind of PII expect `pii`.
pub struct PiiClassifier {
    pub detector: PiiDetector,
}

impl Classifier for PiiClassifier {
    fn positive(&self) -> Option<&str> {
        Some("pii")
    }

    fn classify(&self, text: &str) -> Result<String, EvalError> {
        let hit = self
            .detector
            .detect(text)
            .iter()
            .any(|m| m.confidence >= PII_THRESHOLD);
        Ok(if hit { "pii" } else { "none" }.to_string())
    }

    fn expected(&self, gold: &str) -> String {
        if gold == "none" { "none" } else { "pii" }.to_string()
    }
}

/// The families to score and how to score them.
#[derive(Default)]
pub struct Suite<'a> {
    factories: BTreeMap<String, Factory<'a>>,
}

impl<'a> Suite<'a> {
    /// `domain`, `jailbreak` and `routing` on `models` (a family whose model is missing fails
    /// its sets with a message naming it).
    pub fn learned(models: &'a ModelSet) -> Self {
        let mut suite = Self::default();
        let need = |what: &str| {
            EvalError::Other(format!("{what} is not available (vllm-sr models fetch)"))
        };
        suite.register("domain", move |_| {
            let space = models.space.as_deref().ok_or_else(|| need("the encoder"))?;
            let head = models
                .domain_head
                .as_ref()
                .ok_or_else(|| need("the domain head"))?;
            let exemplars = space
                .exemplars(head)
                .map_err(|e| EvalError::Other(e.to_string()))?;
            Ok(Box::new(DomainClassifier {
                space,
                head,
                exemplars,
            }) as Box<dyn Classifier>)
        });
        suite.register("jailbreak", move |_| {
            let space = models.space.as_deref().ok_or_else(|| need("the encoder"))?;
            let head = models
                .jailbreak_head
                .as_ref()
                .ok_or_else(|| need("the jailbreak head"))?;
            Ok(Box::new(JailbreakClassifier { space, head }) as Box<dyn Classifier>)
        });
        suite.register("routing", move |set| {
            let profile = set.profile.as_ref().ok_or_else(|| EvalError::Set {
                path: set.path.clone(),
                message: "a routing set needs a `# profile: <config>` line".into(),
            })?;
            let loaded = vsr_config::load_file(profile).map_err(|e| EvalError::Set {
                path: set.path.clone(),
                message: format!("profile {}: {e}", profile.display()),
            })?;
            let router = build_router(&loaded.config, models).map_err(|e| EvalError::Set {
                path: set.path.clone(),
                message: format!("profile {}: {e}", profile.display()),
            })?;
            Ok(Box::new(RoutingClassifier { router }) as Box<dyn Classifier>)
        });
        suite.register("pii", move |_| {
            let detector = if models.pii_rules_only {
                PiiDetector::rules_only()
            } else {
                PiiDetector::installed()
            };
            Ok(Box::new(PiiClassifier { detector }) as Box<dyn Classifier>)
        });
        suite
    }

    /// Adds (or replaces) the evaluator of `family`.
    pub fn register(
        &mut self,
        family: &str,
        factory: impl Fn(&EvalSet) -> Result<Box<dyn Classifier + 'a>, EvalError> + 'a,
    ) {
        self.factories.insert(family.to_string(), Box::new(factory));
    }

    /// The families this suite can score.
    pub fn families(&self) -> Vec<String> {
        self.factories.keys().cloned().collect()
    }

    /// Scores one set.
    pub fn run_set(&self, set: &EvalSet) -> Result<SetReport, EvalError> {
        let factory = self
            .factories
            .get(&set.family)
            .ok_or_else(|| EvalError::Set {
                path: set.path.clone(),
                message: format!(
                    "no evaluator for family `{}` (known: {})",
                    set.family,
                    self.families().join(", ")
                ),
            })?;
        let classifier = factory(set)?;
        let predicted = set
            .rows
            .iter()
            .map(|(_, t)| classifier.classify(t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SetReport::score_with(
            set,
            classifier.positive(),
            &predicted,
            &|g| classifier.expected(g),
        ))
    }

    /// Scores every set.
    pub fn run(&self, sets: &[EvalSet]) -> Result<Vec<SetReport>, EvalError> {
        sets.iter().map(|s| self.run_set(s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Upper;
    impl Classifier for Upper {
        fn positive(&self) -> Option<&str> {
            Some("yes")
        }
        fn classify(&self, text: &str) -> Result<String, EvalError> {
            Ok(if text.chars().next().is_some_and(char::is_uppercase) {
                "yes"
            } else {
                "no"
            }
            .into())
        }
    }

    fn write_set(dir: &Path, family: &str, body: &str) -> PathBuf {
        let d = dir.join(family);
        std::fs::create_dir_all(&d).expect("dir");
        let p = d.join("s.tsv");
        std::fs::write(&p, body).expect("write");
        p
    }

    #[test]
    fn a_plugged_in_family_is_scored_with_recall_fpr_and_confusion() {
        let dir = std::env::temp_dir().join(format!("vsr-eval-suite-{}", std::process::id()));
        write_set(
            &dir,
            "caps",
            "# source: written for\n#   this test\n# licence: MIT\nyes\tAbc\nyes\tdef\nno\tghi\nno\tJkl\\nx\nno\tmno\n",
        );
        let sets = EvalSet::discover(&dir, &[]).expect("sets");
        assert_eq!(sets[0].rows[3].1, "Jkl\nx");
        assert_eq!(sets[0].source, "written for this test");
        let mut suite = Suite::default();
        suite.register("caps", |_| Ok(Box::new(Upper) as Box<dyn Classifier>));
        let r = suite.run(&sets).expect("runs").remove(0);
        assert_eq!((r.n, r.correct), (5, 3));
        assert_eq!(r.recall, Some(0.5));
        assert!((r.false_positive_rate.expect("fpr") - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(r.confusion["no"]["yes"], 1);
        assert!(r.render().contains("recall 50.0%"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_sets_are_errors_naming_the_file_and_line() {
        let dir = std::env::temp_dir().join(format!("vsr-eval-suite-bad-{}", std::process::id()));
        let p = write_set(&dir, "x", "# source: s\nno tab here\n");
        let e = EvalSet::load(&p, "x").expect_err("bad row").to_string();
        assert!(e.ends_with("s.tsv:2: expected `label<TAB>text`"), "{e}");
        let p = write_set(&dir, "x", "a\tb\n");
        let e = EvalSet::load(&p, "x").expect_err("no source").to_string();
        assert!(e.contains("no `# source:` line"), "{e}");
        let mut suite = Suite::default();
        let sets = EvalSet::discover(&dir, &[]).map(|_| ());
        assert!(sets.is_err());
        let set = EvalSet {
            family: "nope".into(),
            name: "n".into(),
            path: p,
            source: "s".into(),
            licence: String::new(),
            profile: None,
            rows: vec![("a".into(), "b".into())],
        };
        suite.register("caps", |_| Ok(Box::new(Upper) as Box<dyn Classifier>));
        let e = suite.run_set(&set).expect_err("unknown family").to_string();
        assert!(
            e.contains("no evaluator for family `nope` (known: caps)"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
