//! `kb` and `kb_metric` (head-delta §6): knowledge bases of labelled exemplars on the shared
//! encoder. At build time each label's exemplars become a prototype bank (greedy clustering,
//! medoids); per request the prompt embedding is scored against every prototype of every
//! knowledge base the profile uses, once (shared by both families through the request
//! context), giving label and group scores and the metrics.

use std::collections::HashMap;
use std::sync::Arc;

use vsr_config::KnowledgeBase;
use vsr_config::kb::PrototypeScoring;
use vsr_models::ModelError;
use vsr_signals::{Family, RequestContext, SignalError, SignalFamily, SignalResult};

use crate::space::{Bank, Space};

/// One label: its prototypes and threshold.
struct Label {
    name: String,
    threshold: f64,
    prototypes: Bank,
}

/// A knowledge base built on the encoder.
pub struct KbClassifier {
    pub name: String,
    labels: Vec<Label>,
    groups: Vec<(String, Vec<usize>)>,
    metrics: Vec<(String, usize, usize)>,
    scoring: PrototypeScoring,
}

/// Scores of one knowledge base for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct KbScores {
    pub labels: Vec<(String, f64)>,
    pub best_label: Option<usize>,
    pub matched: Vec<bool>,
    pub groups: Vec<(String, f64)>,
    pub best_group: Option<usize>,
    pub matched_groups: Vec<bool>,
    /// Metric name (lower-cased) → value.
    pub metrics: Vec<(String, f64)>,
}

/// The prototypes of one label's exemplar vectors: every exemplar when scoring is disabled,
/// else greedy clusters (seed = the unclustered exemplar with the most unclustered
/// neighbours at or above the threshold, ties by text) reduced to their medoids, ordered by
/// cluster size then mean similarity, at most `max_prototypes`.
fn prototypes(
    texts: &[&str],
    vectors: Vec<Vec<f32>>,
    space: &Space,
    s: &PrototypeScoring,
) -> Vec<Vec<f32>> {
    if !s.enabled {
        return vectors;
    }
    let n = vectors.len();
    let sim = |a: usize, b: usize| f64::from(space.similarity(&vectors[a], &vectors[b]));
    let mut free: Vec<bool> = vec![true; n];
    let mut clusters: Vec<(usize, f64, usize)> = Vec::new(); // (size, mean sim, medoid)
    while free.iter().any(|f| *f) {
        let members_of = |seed: usize, free: &[bool]| -> Vec<usize> {
            (0..n)
                .filter(|&j| {
                    free[j] && (j == seed || sim(seed, j) >= s.cluster_similarity_threshold)
                })
                .collect()
        };
        let seed = (0..n)
            .filter(|&i| free[i])
            .max_by(|&a, &b| {
                members_of(a, &free)
                    .len()
                    .cmp(&members_of(b, &free).len())
                    .then_with(|| texts[b].cmp(texts[a]))
            })
            .unwrap_or(0);
        let members = members_of(seed, &free);
        let mean =
            |i: usize| members.iter().map(|&j| sim(i, j)).sum::<f64>() / members.len() as f64;
        let medoid = members
            .iter()
            .copied()
            .max_by(|&a, &b| {
                mean(a)
                    .total_cmp(&mean(b))
                    .then_with(|| texts[b].cmp(texts[a]))
            })
            .unwrap_or(seed);
        clusters.push((members.len(), mean(medoid), medoid));
        for m in members {
            free[m] = false;
        }
    }
    clusters.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| b.1.total_cmp(&a.1))
            .then_with(|| texts[a.2].cmp(texts[b.2]))
    });
    clusters
        .into_iter()
        .take(s.max_prototypes.max(1))
        .map(|c| vectors[c.2].clone())
        .collect()
}

impl KbClassifier {
    /// Loads the manifest and embeds every exemplar (through the embedding cache).
    pub fn build(space: &Space, kb: &KnowledgeBase) -> Result<Self, ModelError> {
        let manifest = kb.load_manifest().map_err(|msg| ModelError::Format {
            path: format!("{}{}", kb.path, kb.manifest).into(),
            msg,
        })?;
        let mut labels = Vec::new();
        for (name, label) in &manifest.labels {
            let mut texts: Vec<&str> = Vec::new();
            for e in &label.exemplars {
                let e = e.trim();
                if !e.is_empty() && !texts.contains(&e) {
                    texts.push(e);
                }
            }
            if texts.is_empty() {
                continue;
            }
            let vectors = space.embed_configured(&texts)?;
            let protos = prototypes(&texts, vectors, space, &kb.prototype_scoring);
            labels.push(Label {
                name: name.clone(),
                threshold: kb.label_threshold(name),
                prototypes: Bank::new(space.dim(), protos),
            });
        }
        let index = |l: &str| labels.iter().position(|x: &Label| x.name == l);
        let groups: Vec<(String, Vec<usize>)> = kb
            .groups
            .iter()
            .map(|(g, ls)| (g.clone(), ls.iter().filter_map(|l| index(l)).collect()))
            .collect();
        let group = |g: &str| groups.iter().position(|(n, _)| n == g);
        let metrics = kb
            .metrics
            .iter()
            .filter_map(|m| {
                Some((
                    m.name.to_lowercase(),
                    group(&m.positive_group)?,
                    group(&m.negative_group)?,
                ))
            })
            .collect();
        Ok(Self {
            name: kb.name.clone(),
            labels,
            groups,
            metrics,
            scoring: kb.prototype_scoring,
        })
    }

    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(|l| l.name.as_str())
    }

    /// Scores a prompt embedding.
    pub fn classify(&self, space: &Space, query: &[f32]) -> KbScores {
        let s = &self.scoring;
        let labels: Vec<(String, f64)> = self
            .labels
            .iter()
            .map(|l| {
                let mut sims: Vec<f64> = l
                    .prototypes
                    .similarities(space.calibration(), query)
                    .into_iter()
                    .map(f64::from)
                    .collect();
                sims.sort_by(|a, b| b.total_cmp(a));
                let best = sims.first().copied().unwrap_or(0.0);
                let m = s.top_m.max(1).min(sims.len().max(1));
                let support = sims.iter().take(m).sum::<f64>() / m as f64;
                (
                    l.name.clone(),
                    s.best_weight * best + (1.0 - s.best_weight) * support,
                )
            })
            .collect();
        let best_label = argmax(&labels);
        let matched: Vec<bool> = labels
            .iter()
            .zip(&self.labels)
            .map(|((_, sc), l)| *sc >= l.threshold)
            .collect();
        let groups: Vec<(String, f64)> = self
            .groups
            .iter()
            .map(|(g, ls)| {
                let best = ls
                    .iter()
                    .map(|&i| labels[i].1)
                    .fold(f64::NEG_INFINITY, f64::max);
                (g.clone(), if best.is_finite() { best } else { 0.0 })
            })
            .collect();
        let best_group = argmax(&groups);
        let matched_groups = self
            .groups
            .iter()
            .map(|(_, ls)| ls.iter().any(|&i| matched[i]))
            .collect();
        let best_score = best_label.map_or(0.0, |i| labels[i].1);
        let best_matched = labels
            .iter()
            .zip(&matched)
            .filter(|(_, m)| **m)
            .map(|((_, s), _)| *s)
            .fold(0.0, f64::max);
        let mut metrics = vec![
            ("best_score".to_string(), best_score),
            ("best_matched_score".to_string(), best_matched),
        ];
        for (name, p, n) in &self.metrics {
            metrics.push((name.clone(), groups[*p].1 - groups[*n].1));
        }
        KbScores {
            labels,
            best_label,
            matched,
            groups,
            best_group,
            matched_groups,
            metrics,
        }
    }
}

/// Highest score; ties go to the alphabetically first name.
fn argmax(xs: &[(String, f64)]) -> Option<usize> {
    (0..xs.len()).max_by(|&a, &b| {
        xs[a]
            .1
            .total_cmp(&xs[b].1)
            .then_with(|| xs[b].0.cmp(&xs[a].0))
    })
}

/// The knowledge bases of one profile, shared by the `kb` and `kb_metric` families.
pub struct KbSet {
    space: Arc<Space>,
    kbs: Vec<KbClassifier>,
}

impl KbSet {
    pub fn new(space: Arc<Space>, kbs: Vec<KbClassifier>) -> Arc<Self> {
        Arc::new(Self { space, kbs })
    }

    /// Every knowledge base's scores for this request, computed once per request.
    fn scores(&self, ctx: &RequestContext<'_>) -> Result<Arc<Vec<KbScores>>, SignalError> {
        let space = &self.space;
        let embedding = ctx
            .embedding_or_compute(|t| space.embed_query(&vsr_signals::text::bounded_text(t)).ok())
            .ok_or_else(|| SignalError::new(Family::Kb, "no prompt embedding"))?;
        Ok(ctx.artefact("kb.scores", |_| {
            self.kbs
                .iter()
                .map(|k| k.classify(space, embedding))
                .collect::<Vec<_>>()
        }))
    }

    fn index(&self, kb: &str) -> Option<usize> {
        self.kbs.iter().position(|k| k.name == kb)
    }
}

/// One `kb` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct KbRule {
    pub name: String,
    pub kb: String,
    pub group: bool,
    pub value: String,
    pub best: bool,
}

pub struct KbFamily {
    set: Arc<KbSet>,
    rules: Vec<KbRule>,
}

impl KbFamily {
    pub fn new(set: Arc<KbSet>, rules: Vec<KbRule>) -> Self {
        Self { set, rules }
    }
}

impl SignalFamily for KbFamily {
    fn family(&self) -> Family {
        Family::Kb
    }

    fn signal_names(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.name.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let scores = self.set.scores(ctx)?;
        for (rule, slot) in self.rules.iter().zip(out.iter_mut()) {
            let Some(k) = self.set.index(&rule.kb) else {
                continue;
            };
            let s = &scores[k];
            let (names, best, matched) = if rule.group {
                (&s.groups, s.best_group, &s.matched_groups)
            } else {
                (&s.labels, s.best_label, &s.matched)
            };
            let Some(i) = names.iter().position(|(n, _)| *n == rule.value) else {
                continue;
            };
            let score = names[i].1;
            slot.value = score;
            let hit = if rule.best {
                best == Some(i)
            } else {
                matched[i]
            };
            if hit {
                slot.set_match(score);
                slot.evidence = vec![format!("{}:{}={score:.3}", rule.kb, rule.value)];
            }
        }
        Ok(())
    }
}

/// `kb_metric`: every metric of every knowledge base of the profile, named
/// `<kb>:<metric>` (lower-cased), as values (never matches).
pub struct KbMetricFamily {
    set: Arc<KbSet>,
    names: Vec<(String, usize, String)>,
}

impl KbMetricFamily {
    pub fn new(set: Arc<KbSet>, kbs: &[KnowledgeBase]) -> Self {
        let mut names = Vec::new();
        for kb in kbs {
            if let Some(i) = set.index(&kb.name) {
                for m in kb.metric_names() {
                    names.push((
                        vsr_engine::config::kb_metric_name(&kb.name, &m),
                        i,
                        m.to_lowercase(),
                    ));
                }
            }
        }
        Self { set, names }
    }
}

impl SignalFamily for KbMetricFamily {
    fn family(&self) -> Family {
        Family::KbMetric
    }

    fn signal_names(&self) -> Vec<String> {
        self.names.iter().map(|(n, _, _)| n.clone()).collect()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let scores = self.set.scores(ctx)?;
        let by_name: HashMap<(usize, &str), f64> = scores
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.metrics.iter().map(move |(m, v)| ((i, m.as_str()), *v)))
            .collect();
        for ((_, kb, metric), slot) in self.names.iter().zip(out.iter_mut()) {
            slot.value = by_name.get(&(*kb, metric.as_str())).copied().unwrap_or(0.0);
        }
        Ok(())
    }
}
