//! Semantic checks over the typed config, after decoding: names unique, every reference
//! resolves, contracts of each signal family and projection, numeric ranges. Each problem points
//! at the YAML path of the offending value.
//!
//! Where upstream is silent or lenient (it accepts unknown keyword methods until runtime, does
//! not check decision references to most signal types, accepts overlapping bands), this
//! validator reports an error instead; `docs/compatibility.md` lists the differences.

mod head;

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::decode::{Ctx, suggest};
use crate::diag::{join_index, join_key};
use crate::model::*;

/// One routing profile being checked: the top-level `routing` or a `recipes[i].routing`. The
/// model catalog (`routing.modelCards`) and providers are shared by every profile.
pub(crate) struct Scope<'a> {
    cfg: &'a Config,
    r: &'a Routing,
    /// `routing` or `recipes[i].routing`.
    base: String,
}

impl Scope<'_> {
    fn path(&self, key: &str) -> String {
        join_key(&self.base, key)
    }
}

impl Ctx<'_> {
    /// Reports an error, unless decoding already reported one for this exact path (a value of
    /// the wrong type should not also be called missing or empty).
    fn err(&mut self, path: &str, message: impl Into<String>) {
        if self.has_error(path) {
            return;
        }
        let pos = self.spans.locate(path);
        self.error_at(pos, path, message);
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let pos = self.spans.locate(path);
        self.warn_at(pos, path, message);
    }

    /// Reports `value` outside `[0, 1]`.
    fn unit_range(&mut self, path: &str, value: Option<f64>) {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            self.err(path, format!("must be between 0 and 1, got {v}"));
        }
    }
}

pub(crate) fn validate(cfg: &Config, cx: &mut Ctx) {
    if let Some(v) = &cfg.version
        && v != "v0.3"
    {
        cx.warn(
            "version",
            format!("version {v:?} is read as canonical v0.3"),
        );
    }
    listeners(cfg, cx);
    providers(cfg, cx);
    model_cards(cfg, cx);
    let top = Scope {
        cfg,
        r: &cfg.routing,
        base: "routing".into(),
    };
    signals(&top, cx);
    projections(&top, cx);
    decisions(&top, cx);
    for (i, r) in cfg.recipes.iter().enumerate() {
        let sc = Scope {
            cfg,
            r: &r.routing,
            base: join_key(&join_index("recipes", i), "routing"),
        };
        signals(&sc, cx);
        projections(&sc, cx);
        decisions(&sc, cx);
    }
    head::recipes(cfg, cx);
    global(cfg, cx);
    head::not_applied(cfg, cx);
}

/// Type and range checks of the `global` knobs that change routing, and `model_ref`
/// resolution through `model_catalog.system`.
fn global(cfg: &Config, cx: &mut Ctx) {
    use crate::global::{Kind, MODEL_REFS, TYPED_KNOBS, effective};
    let Some(g) = &cfg.global else {
        return;
    };
    let Ok(user) = serde_json::to_value(g) else {
        return;
    };
    let path_of = |ptr: &str| format!("global{}", ptr.replace('/', "."));
    for (ptr, kind) in TYPED_KNOBS {
        let Some(v) = user.pointer(ptr).filter(|v| !v.is_null()) else {
            continue;
        };
        let problem = match kind {
            Kind::Str => (!v.is_string()).then(|| format!("expected a string, found {v}")),
            Kind::StrList => match v.as_array() {
                Some(items) if items.iter().all(Value::is_string) => None,
                _ => Some(format!("expected a list of strings, found {v}")),
            },
            Kind::Bool => (!v.is_boolean()).then(|| format!("expected a boolean, found {v}")),
            Kind::UInt => {
                (!v.is_u64()).then(|| format!("expected a non-negative integer, found {v}"))
            }
            Kind::Unit => match v.as_f64() {
                Some(n) if (0.0..=1.0).contains(&n) => None,
                Some(n) => Some(format!("must be between 0 and 1, got {n}")),
                None => Some(format!("expected a number, found {v}")),
            },
            Kind::Vocab(check) => match v.as_str() {
                Some(s) => check(s).err(),
                None => Some(format!("expected a string, found {v}")),
            },
        };
        if let Some(msg) = problem {
            cx.err(&path_of(ptr), msg);
        }
    }
    let merged = effective(Some(g));
    for module in MODEL_REFS {
        let ptr = format!("{module}/model_ref");
        // Only refs the file itself wrote can be wrong; the defaults resolve.
        let Some(r) = user.pointer(&ptr).and_then(Value::as_str) else {
            continue;
        };
        let explicit_id = user.pointer(&format!("{module}/model_id")).is_some();
        let resolved = merged
            .pointer(&format!("/model_catalog/system/{r}"))
            .and_then(Value::as_str)
            .is_some_and(|p| !p.is_empty());
        if !resolved && !explicit_id {
            cx.err(
                &path_of(&ptr),
                format!("unknown model_ref {r:?}: not a key of global.model_catalog.system"),
            );
        }
    }
}

/// Reports every name that repeats an earlier one in `names` (paths to each item given).
fn unique<'a>(cx: &mut Ctx, what: &str, items: impl Iterator<Item = (&'a str, String)>) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (name, path) in items {
        let name_path = join_key(&path, "name");
        if name.trim().is_empty() {
            if cx.spans.has(&name_path) {
                cx.err(&name_path, format!("{what} name must not be empty"));
            }
            continue;
        }
        if let Some(first) = seen.get(name) {
            let first_pos = cx.spans.locate(first);
            cx.err(
                &name_path,
                format!(
                    "duplicate {what} name {name:?} (first declared at line {})",
                    first_pos.line
                ),
            );
        } else {
            seen.insert(name, name_path);
        }
    }
}

fn indexed<'a, T: Named>(
    list: &'a [T],
    base: &str,
) -> impl Iterator<Item = (&'a str, String)> + use<'a, T> {
    let base = base.to_string();
    list.iter()
        .enumerate()
        .map(move |(i, x)| (x.name(), join_index(&base, i)))
}

fn listeners(cfg: &Config, cx: &mut Ctx) {
    unique(cx, "listener", indexed(&cfg.listeners, "listeners"));
}

const EFFORTS: [&str; 3] = ["low", "medium", "high"];

/// Efforts a modelRef may ask for: the defaults' three plus the levels upstream HEAD's recipes
/// pass through to effort-style backends.
const REF_EFFORTS: [&str; 6] = ["minimal", "low", "medium", "high", "xhigh", "max"];

fn providers(cfg: &Config, cx: &mut Ctx) {
    let d = &cfg.providers.defaults;
    let model_names: HashSet<&str> = cfg
        .providers
        .models
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    if let Some(dm) = &d.default_model {
        let lora_names = cfg
            .routing
            .model_cards
            .iter()
            .flat_map(|c| c.loras.iter().map(|l| l.name.as_str()));
        let known = model_names.contains(dm.as_str()) || lora_names.clone().any(|l| l == dm);
        if !known {
            let names: Vec<&str> = model_names.iter().copied().collect();
            cx.err(
                "providers.defaults.default_model",
                format!(
                    "default model {dm:?} is not declared in providers.models{}",
                    hint(dm, &names)
                ),
            );
        }
    }
    if let Some(e) = &d.default_reasoning_effort
        && !EFFORTS.contains(&e.as_str())
    {
        cx.err(
            "providers.defaults.default_reasoning_effort",
            format!("unknown reasoning effort {e:?}: expected low, medium or high"),
        );
    }
    unique(
        cx,
        "provider model",
        indexed(&cfg.providers.models, "providers.models"),
    );
    let cards: HashSet<&str> = cfg
        .routing
        .model_cards
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for (i, m) in cfg.providers.models.iter().enumerate() {
        let p = join_index("providers.models", i);
        if !cards.is_empty() && !m.name.is_empty() && !cards.contains(m.name.as_str()) {
            cx.err(
                &join_key(&p, "name"),
                format!(
                    "provider model {:?} does not match any routing.modelCards entry",
                    m.name
                ),
            );
        }
        if let Some(f) = &m.reasoning_family
            && !d.reasoning_families.contains_key(f)
        {
            cx.err(
                    &join_key(&p, "reasoning_family"),
                    format!("reasoning family {f:?} is not declared in providers.defaults.reasoning_families"),
                );
        }
        let has_metadata = m.reasoning_family.is_some()
            || m.provider_model_id.is_some()
            || m.api_format.is_some()
            || !m.external_model_ids.is_empty()
            || m.pricing.is_some();
        if m.backend_refs.is_empty() && !has_metadata {
            cx.err(
                &p,
                "provider model must define backend_refs or provider metadata such as provider_model_id, reasoning_family or pricing",
            );
        }
        if let Some(pr) = &m.pricing {
            for (k, v) in [
                ("prompt_per_1m", pr.prompt_per_1m),
                ("completion_per_1m", pr.completion_per_1m),
            ] {
                if v.is_some_and(|v| v < 0.0) {
                    cx.err(
                        &join_key(&join_key(&p, "pricing"), k),
                        "price must not be negative",
                    );
                }
            }
        }
        if let Some(r) = &m.reliability {
            let rp = join_key(&p, "reliability");
            for (k, v) in r.retry_on.iter().enumerate() {
                let v = v.trim();
                if !crate::model::RETRY_ON.contains(&v) {
                    cx.err(
                        &join_index(&join_key(&rp, "retry_on"), k),
                        format!(
                            "unknown retry_on condition {v:?}{}",
                            hint(v, &crate::model::RETRY_ON)
                        ),
                    );
                }
            }
            if let Some(path) = &r.health_check_path
                && !path.is_empty()
                && !path.starts_with('/')
            {
                cx.err(
                    &join_key(&rp, "health_check_path"),
                    format!("health_check_path {path:?} must start with \"/\""),
                );
            }
            if r.per_try_timeout.is_some_and(|t| t.is_zero()) {
                cx.err(&join_key(&rp, "per_try_timeout"), "must be above zero");
            }
        }
        for (j, b) in m.backend_refs.iter().enumerate() {
            let bp = join_index(&join_key(&p, "backend_refs"), j);
            match (&b.endpoint, &b.base_url) {
                (None, None) => cx.err(&bp, "backend_ref requires endpoint or base_url"),
                (Some(e), _) => {
                    if let Err(msg) = check_endpoint(e) {
                        cx.err(&join_key(&bp, "endpoint"), msg);
                    }
                }
                _ => {}
            }
        }
    }
}

/// `host[:port]`, optionally with a scheme and a path.
fn check_endpoint(e: &str) -> Result<(), String> {
    let rest = e.split_once("://").map_or(e, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => return Err(format!("invalid endpoint {e:?}: unclosed IPv6 bracket")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("endpoint host cannot be empty in {e:?}"));
    }
    if let Some(p) = port {
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => {}
            _ => {
                return Err(format!(
                    "invalid port {p:?} in endpoint {e:?}: expected 1-65535"
                ));
            }
        }
    }
    Ok(())
}

fn hint(got: &str, names: &[&str]) -> String {
    suggest(got, names)
        .map(|s| format!("; did you mean {s:?}?"))
        .unwrap_or_default()
}

fn model_cards(cfg: &Config, cx: &mut Ctx) {
    let cards = &cfg.routing.model_cards;
    unique(cx, "model card", indexed(cards, "routing.modelCards"));
    for (i, c) in cards.iter().enumerate() {
        let p = join_index("routing.modelCards", i);
        cx.unit_range(&join_key(&p, "quality_score"), c.quality_score);
        if let Some(m) = &c.modality
            && !matches!(m.as_str(), "ar" | "diffusion" | "omni" | "text")
        {
            cx.err(
                &join_key(&p, "modality"),
                format!("unknown modality {m:?}: expected ar, diffusion, omni or text"),
            );
        }
        let mut seen = HashSet::new();
        for (j, l) in c.loras.iter().enumerate() {
            let lp = join_key(&join_index(&join_key(&p, "loras"), j), "name");
            if !seen.insert(l.name.as_str()) {
                cx.err(&lp, format!("duplicate LoRA name {:?}", l.name));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// signals

fn signals(sc: &Scope, cx: &mut Ctx) {
    let s = &sc.r.signals;
    let signals_path = sc.path("signals");
    let fam = |k: &str| join_key(&signals_path, k);
    unique(cx, "keyword signal", indexed(&s.keywords, &fam("keywords")));
    unique(
        cx,
        "embedding signal",
        indexed(&s.embeddings, &fam("embeddings")),
    );
    unique(cx, "domain signal", indexed(&s.domains, &fam("domains")));
    unique(
        cx,
        "fact_check signal",
        indexed(&s.fact_check, &fam("fact_check")),
    );
    unique(
        cx,
        "user_feedback signal",
        indexed(&s.user_feedbacks, &fam("user_feedbacks")),
    );
    unique(
        cx,
        "preference signal",
        indexed(&s.preferences, &fam("preferences")),
    );
    unique(
        cx,
        "language signal",
        indexed(&s.language, &fam("language")),
    );
    unique(cx, "context signal", indexed(&s.context, &fam("context")));
    unique(
        cx,
        "structure signal",
        indexed(&s.structure, &fam("structure")),
    );
    unique(
        cx,
        "complexity signal",
        indexed(&s.complexity, &fam("complexity")),
    );
    unique(
        cx,
        "modality signal",
        indexed(&s.modality, &fam("modality")),
    );
    unique(
        cx,
        "role binding",
        indexed(&s.role_bindings, &fam("role_bindings")),
    );
    unique(
        cx,
        "jailbreak signal",
        indexed(&s.jailbreak, &fam("jailbreak")),
    );
    unique(cx, "pii signal", indexed(&s.pii, &fam("pii")));
    head::signals(sc, cx);

    for (i, k) in s.keywords.iter().enumerate() {
        let p = join_index(&fam("keywords"), i);
        // An unknown operator was reported by decode (and left unset).
        let op_path = join_key(&p, "operator");
        if k.operator.is_none() && !cx.has_error(&op_path) {
            cx.err(
                &op_path,
                "missing required field `operator` (AND, OR or NOR)",
            );
        }
        if k.keywords.is_empty() {
            cx.err(
                &join_key(&p, "keywords"),
                "a keyword signal needs at least one keyword",
            );
        }
        let patterns = k.keywords_are_patterns(sc.cfg.uses_head_schema());
        for (j, kw) in k.keywords.iter().enumerate() {
            let kp = join_index(&join_key(&p, "keywords"), j);
            if kw.trim().is_empty() {
                cx.err(&kp, "keyword must not be empty");
            } else if patterns && let Some(why) = regex_error(kw.trim()) {
                cx.err(
                    &kp,
                    format!("invalid regex {kw:?} (`method: regex`): {why}"),
                );
            }
        }
        cx.unit_range(&join_key(&p, "bm25_threshold"), k.bm25_threshold);
        cx.unit_range(&join_key(&p, "ngram_threshold"), k.ngram_threshold);
        if k.fuzzy_threshold.is_some_and(|v| v < 0) {
            cx.err(&join_key(&p, "fuzzy_threshold"), "must be >= 0");
        }
        if k.ngram_arity.is_some_and(|v| v < 1) {
            cx.err(&join_key(&p, "ngram_arity"), "must be >= 1");
        }
    }
    for (i, e) in s.embeddings.iter().enumerate() {
        let p = join_index(&fam("embeddings"), i);
        cx.unit_range(&join_key(&p, "threshold"), e.threshold);
        if e.candidates.is_empty() {
            cx.err(
                &join_key(&p, "candidates"),
                "an embedding signal needs at least one candidate",
            );
        }
    }
    for (i, d) in s.domains.iter().enumerate() {
        let p = join_index(&fam("domains"), i);
        for (j, c) in d.mmlu_categories.iter().enumerate() {
            if !SUPPORTED_DOMAINS.contains(&c.as_str()) {
                let alt = c.replace('_', " ");
                let hint = if SUPPORTED_DOMAINS.contains(&alt.as_str()) {
                    format!("; did you mean {alt:?}?")
                } else {
                    hint(c, &SUPPORTED_DOMAINS)
                };
                cx.err(
                    &join_index(&join_key(&p, "mmlu_categories"), j),
                    format!("unsupported MMLU category {c:?}{hint}"),
                );
            }
        }
    }
    for (i, x) in s.preferences.iter().enumerate() {
        cx.unit_range(
            &join_key(&join_index(&fam("preferences"), i), "threshold"),
            x.threshold,
        );
    }
    for (i, c) in s.context.iter().enumerate() {
        let p = join_index(&fam("context"), i);
        if c.min_tokens.is_none()
            && c.max_tokens.is_none()
            && !cx.spans.has(&join_key(&p, "min_tokens"))
            && !cx.spans.has(&join_key(&p, "max_tokens"))
        {
            cx.err(&p, "a context signal needs min_tokens or max_tokens");
        }
        if let (Some(lo), Some(hi)) = (c.min_tokens, c.max_tokens)
            && lo > hi
        {
            cx.err(
                &join_key(&p, "max_tokens"),
                format!("max_tokens ({hi}) is below min_tokens ({lo})"),
            );
        }
    }
    for (i, st) in s.structure.iter().enumerate() {
        structure(cx, st, &join_index(&fam("structure"), i));
    }
    for (i, c) in s.complexity.iter().enumerate() {
        let p = join_index(&fam("complexity"), i);
        cx.unit_range(&join_key(&p, "threshold"), c.threshold);
        for side in ["hard", "easy"] {
            let cand = if side == "hard" { &c.hard } else { &c.easy };
            let present = cx.spans.has(&join_key(&p, side));
            if present && cand.candidates.is_empty() && cand.image_candidates.is_empty() {
                cx.err(
                    &join_key(&join_key(&p, side), "candidates"),
                    format!("complexity `{side}` needs at least one candidate"),
                );
            }
        }
        if let Some(comp) = &c.composer {
            rule_refs(
                sc,
                cx,
                comp,
                &join_key(&p, "composer"),
                RuleContext::Composer,
            );
        }
    }
    for (i, m) in s.modality.iter().enumerate() {
        if !matches!(m.name.as_str(), "AR" | "DIFFUSION" | "BOTH") {
            cx.err(
                &join_key(&join_index(&fam("modality"), i), "name"),
                format!(
                    "modality signal name must be AR, DIFFUSION or BOTH, got {:?}",
                    m.name
                ),
            );
        }
    }
    for (i, r) in s.role_bindings.iter().enumerate() {
        let p = join_index(&fam("role_bindings"), i);
        if r.subjects.is_empty() {
            cx.err(
                &join_key(&p, "subjects"),
                "a role binding needs at least one subject",
            );
        }
        for (j, sub) in r.subjects.iter().enumerate() {
            if !matches!(sub.kind.as_str(), "User" | "Group") {
                cx.err(
                    &join_key(&join_index(&join_key(&p, "subjects"), j), "kind"),
                    format!("subject kind must be User or Group, got {:?}", sub.kind),
                );
            }
        }
    }
    for (i, j) in s.jailbreak.iter().enumerate() {
        let p = join_index(&fam("jailbreak"), i);
        cx.unit_range(&join_key(&p, "threshold"), j.threshold);
    }
    for (i, x) in s.pii.iter().enumerate() {
        cx.unit_range(
            &join_key(&join_index(&fam("pii"), i), "threshold"),
            x.threshold,
        );
    }
}

/// Why `pattern` does not compile, in one line (the regex crate's own message spans several).
fn regex_error(pattern: &str) -> Option<String> {
    let text = regex::Regex::new(pattern).err()?.to_string();
    let last = text.lines().last().unwrap_or("").trim();
    Some(last.strip_prefix("error: ").unwrap_or(last).to_string())
}

fn structure(cx: &mut Ctx, s: &StructureSignal, p: &str) {
    let fp = join_key(p, "feature");
    let sp = join_key(&fp, "source");
    let f = &s.feature;
    // A missing or unknown type was reported by decode; checks that depend on it would only
    // repeat that error in other words.
    let feature_known = !cx.has_error(&join_key(&fp, "type")) && cx.spans.has(&fp);
    let source_known = !cx.has_error(&join_key(&sp, "type")) && cx.spans.has(&sp);
    let src = &f.source;
    match src.kind {
        _ if !source_known => {}
        SourceType::Regex => match &src.pattern {
            None => cx.err(&join_key(&sp, "pattern"), "a regex source needs `pattern`"),
            Some(pat) => {
                if let Some(why) = regex_error(pat) {
                    cx.err(
                        &join_key(&sp, "pattern"),
                        format!("invalid regex {pat:?}: {why}"),
                    );
                }
            }
        },
        SourceType::KeywordSet => {
            if src.keywords.is_empty() {
                cx.err(
                    &join_key(&sp, "keywords"),
                    "a keyword_set source needs `keywords`",
                );
            }
        }
        SourceType::Sequence => {
            if src.sequences.is_empty() {
                cx.err(
                    &join_key(&sp, "sequences"),
                    "a sequence source needs non-empty `sequences`",
                );
            }
            for (i, seq) in src.sequences.iter().enumerate() {
                if seq.len() < 2 {
                    cx.err(
                        &join_index(&join_key(&sp, "sequences"), i),
                        format!("a sequence needs at least 2 markers, found {}", seq.len()),
                    );
                }
            }
        }
    }
    if !feature_known {
        return;
    }
    if f.kind == FeatureType::Sequence && source_known && src.kind != SourceType::Sequence {
        cx.err(
            &join_key(&sp, "type"),
            "feature.type sequence requires a source of type sequence",
        );
    }
    let pp = join_key(p, "predicate");
    match &s.predicate {
        Some(_) if f.kind == FeatureType::Exists => {
            cx.err(&pp, "feature.type exists does not take a predicate")
        }
        Some(b) => bounds_shape(cx, b, &pp),
        None if matches!(f.kind, FeatureType::Count | FeatureType::Density) => cx.err(
            &pp,
            format!(
                "feature.type {} needs a predicate (gt, gte, lt or lte)",
                f.kind
            ),
        ),
        None => {}
    }
}

/// At least one bound, never gt with gte or lt with lte, and a non-empty interval.
fn bounds_shape(cx: &mut Ctx, b: &Bounds, p: &str) {
    if b.is_empty() {
        cx.err(p, "needs at least one bound (gt, gte, lt or lte)");
        return;
    }
    if b.gt.is_some() && b.gte.is_some() {
        cx.err(&join_key(p, "gte"), "set gt or gte, not both");
    }
    if b.lt.is_some() && b.lte.is_some() {
        cx.err(&join_key(p, "lte"), "set lt or lte, not both");
    }
    if let (Some((lo, li)), Some((hi, hi_incl))) = (b.lower(), b.upper())
        && (lo > hi || (lo == hi && !(li && hi_incl)))
    {
        cx.err(
            p,
            format!("the bounds describe an empty range ({lo} .. {hi})"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// projections

fn projections(sc: &Scope, cx: &mut Ctx) {
    let pr = &sc.r.projections;
    let s = &sc.r.signals;
    let projections_path = sc.path("projections");
    let base = |k: &str| join_key(&projections_path, k);
    unique(
        cx,
        "partition",
        indexed(&pr.partitions, &base("partitions")),
    );
    unique(cx, "score", indexed(&pr.scores, &base("scores")));
    unique(cx, "mapping", indexed(&pr.mappings, &base("mappings")));

    for (i, part) in pr.partitions.iter().enumerate() {
        let p = join_index(&base("partitions"), i);
        let softmax = part.semantics == PartitionSemantics::SoftmaxExclusive;
        if softmax && part.temperature.is_none_or(|t| t <= 0.0) {
            cx.err(
                &join_key(&p, "temperature"),
                "softmax_exclusive needs a temperature > 0",
            );
        }
        if part.members.is_empty() {
            cx.err(
                &join_key(&p, "members"),
                "a partition needs at least one member",
            );
        }
        let mut member_type: Option<(SignalType, usize)> = None;
        let mut seen = HashSet::new();
        for (j, m) in part.members.iter().enumerate() {
            let mp = join_index(&join_key(&p, "members"), j);
            if !seen.insert(m.as_str()) {
                cx.err(&mp, format!("duplicate partition member {m:?}"));
            }
            let is_domain = s.contains(SignalType::Domain, m);
            let is_embedding = s.contains(SignalType::Embedding, m);
            let t = match (is_domain, is_embedding) {
                (true, false) => SignalType::Domain,
                (false, true) => SignalType::Embedding,
                (true, true) => {
                    cx.err(&mp, format!("member {m:?} is both a domain and an embedding signal; partition members must be unambiguous"));
                    continue;
                }
                (false, false) => {
                    cx.err(
                        &mp,
                        format!(
                            "partition member {m:?} is not a declared domain or embedding signal"
                        ),
                    );
                    continue;
                }
            };
            match member_type {
                None => member_type = Some((t, j)),
                Some((first, fj)) if first != t => cx.err(
                    &mp,
                    format!(
                        "partition members must all be of one type: {m:?} is of type {t}, member {fj} of type {first}"
                    ),
                ),
                _ => {}
            }
            if softmax && t == SignalType::Domain && !SUPPORTED_DOMAINS.contains(&m.as_str()) {
                let d = s.domains.iter().find(|d| d.name == *m);
                let cats_ok = d.is_some_and(|d| {
                    !d.mmlu_categories.is_empty()
                        && d.mmlu_categories
                            .iter()
                            .all(|c| SUPPORTED_DOMAINS.contains(&c.as_str()))
                });
                if !cats_ok {
                    cx.err(&mp, format!("softmax partition member {m:?} must use a supported routing domain name or declare mmlu_categories explicitly"));
                }
            }
        }
        match &part.default {
            None => cx.err(
                &join_key(&p, "default"),
                "a partition needs a `default` member",
            ),
            Some(d) if !part.members.contains(d) => cx.err(
                &join_key(&p, "default"),
                format!("default {d:?} is not one of the partition's members"),
            ),
            _ => {}
        }
    }

    for (i, score) in pr.scores.iter().enumerate() {
        let p = join_index(&base("scores"), i);
        if score.inputs.is_empty() {
            cx.err(&join_key(&p, "inputs"), "a score needs at least one input");
        }
        for (j, input) in score.inputs.iter().enumerate() {
            let ip = join_index(&join_key(&p, "inputs"), j);
            if input.kind == SignalType::Projection {
                cx.err(
                    &join_key(&ip, "type"),
                    "score inputs cannot read projection outputs",
                );
                continue;
            }
            if input.kind == SignalType::KbMetric {
                head::kb_metric_input(sc.cfg, cx, input, &ip);
                continue;
            }
            if matches!(input.kind, SignalType::Metadata | SignalType::Classifier) {
                cx.err(
                    &join_key(&ip, "type"),
                    format!("score inputs cannot read {} signals", input.kind),
                );
                continue;
            }
            if input.value_source == Some(ValueSource::Score) {
                cx.err(
                    &join_key(&ip, "value_source"),
                    "value_source `score` is only for kb_metric and projection inputs",
                );
            }
            check_ref(sc, cx, input.kind, &input.name, &join_key(&ip, "name"));
        }
    }

    let mut outputs_seen: HashMap<&str, String> = HashMap::new();
    for (i, m) in pr.mappings.iter().enumerate() {
        let p = join_index(&base("mappings"), i);
        if !m.source.is_empty() && pr.score(&m.source).is_none() {
            let names: Vec<&str> = pr.scores.iter().map(|s| s.name.as_str()).collect();
            cx.err(
                &join_key(&p, "source"),
                format!(
                    "mapping source {:?} is not a declared score{}",
                    m.source,
                    hint(&m.source, &names)
                ),
            );
        }
        if let Some(c) = &m.calibration {
            let cp = join_key(&p, "calibration");
            if c.slope.is_some_and(|s| s < 0.0) {
                cx.err(&join_key(&cp, "slope"), "slope must not be negative");
            }
        }
        if m.outputs.is_empty() {
            cx.err(
                &join_key(&p, "outputs"),
                "a mapping needs at least one output",
            );
        }
        for (j, o) in m.outputs.iter().enumerate() {
            let op = join_index(&join_key(&p, "outputs"), j);
            let np = join_key(&op, "name");
            if o.name.trim().is_empty() {
                cx.err(&np, "mapping output name must not be empty");
            } else if let Some(first) = outputs_seen.get(o.name.as_str()) {
                let line = cx.spans.locate(first).line;
                cx.err(
                    &np,
                    format!("duplicate projection output {:?} (first declared at line {line}); output names are unique across all mappings", o.name),
                );
            } else {
                outputs_seen.insert(&o.name, np.clone());
            }
            bounds_shape(cx, &o.bounds, &op);
        }
        bands_order(cx, m, &p);
    }
}

/// Bands are tested in order and the first match wins, so a band that overlaps an earlier one
/// is partly unreachable; bands must also ascend.
fn bands_order(cx: &mut Ctx, m: &Mapping, p: &str) {
    type End = (f64, bool);
    let interval = |b: &Bounds| -> (End, End) {
        (
            b.lower().unwrap_or((f64::NEG_INFINITY, false)),
            b.upper().unwrap_or((f64::INFINITY, false)),
        )
    };
    let invalid = |b: &Bounds| {
        b.is_empty() || (b.gt.is_some() && b.gte.is_some()) || (b.lt.is_some() && b.lte.is_some())
    };
    let valid = |b: &Bounds| !invalid(b);
    for j in 1..m.outputs.len() {
        let cur = &m.outputs[j];
        if !valid(&cur.bounds) {
            continue;
        }
        let ((clo, cli), (chi, chi_incl)) = interval(&cur.bounds);
        for prev in &m.outputs[..j] {
            if !valid(&prev.bounds) {
                continue;
            }
            let ((plo, pli), (phi, phi_incl)) = interval(&prev.bounds);
            // Intersection of the two intervals.
            let (lo, lo_incl) = if clo > plo {
                (clo, cli)
            } else if plo > clo {
                (plo, pli)
            } else {
                (clo, cli && pli)
            };
            let (hi, hi_incl) = if chi < phi {
                (chi, chi_incl)
            } else if phi < chi {
                (phi, phi_incl)
            } else {
                (chi, chi_incl && phi_incl)
            };
            let op = join_index(&join_key(p, "outputs"), j);
            if lo < hi || (lo == hi && lo_incl && hi_incl) {
                cx.err(
                    &op,
                    format!(
                        "band {:?} overlaps the earlier band {:?}; the first matching band wins, so the overlap is unreachable",
                        cur.name, prev.name
                    ),
                );
                break;
            }
            if chi <= plo {
                cx.err(
                    &op,
                    format!(
                        "bands must be in ascending order: {:?} lies below the earlier band {:?}",
                        cur.name, prev.name
                    ),
                );
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// decisions and rule references

#[derive(Clone, Copy, PartialEq)]
enum RuleContext {
    Decision,
    Composer,
}

/// Whether `(kind, name)` names a declared signal or projection output; reports it otherwise.
fn check_ref(sc: &Scope, cx: &mut Ctx, kind: SignalType, name: &str, path: &str) {
    let s = &sc.r.signals;
    if kind == SignalType::Projection {
        if !sc
            .r
            .projections
            .output_names()
            .any(|o| o.eq_ignore_ascii_case(name))
        {
            let names: Vec<&str> = sc.r.projections.output_names().collect();
            cx.err(
                path,
                format!(
                    "projection {name:?} is not declared by any {}.projections.mappings output{}",
                    sc.base,
                    hint(name, &names)
                ),
            );
        }
        return;
    }
    if kind == SignalType::Complexity
        && let Some((base, level)) = name.split_once(':')
    {
        if !s.contains(kind, base) {
            let names = s.names(kind);
            cx.err(
                path,
                format!(
                    "complexity signal {base:?} is not declared in {}.signals.complexity{}",
                    sc.base,
                    hint(base, &names)
                ),
            );
        }
        if !matches!(level, "easy" | "medium" | "hard") {
            cx.err(
                path,
                format!("complexity level {level:?} in {name:?} is not one of easy, medium, hard"),
            );
        }
        return;
    }
    if kind == SignalType::Authz && s.role_bindings.iter().any(|r| r.role == name) {
        return;
    }
    if !s.contains(kind, name) {
        let family = kind.family_key().unwrap_or("");
        if kind == SignalType::Domain && s.domains.is_empty() {
            cx.warn(
                path,
                format!("domain {name:?} is not declared; with no routing.signals.domains it is generated with mmlu_categories [other]"),
            );
            return;
        }
        let names = s.names(kind);
        cx.err(
            path,
            format!(
                "{kind} signal {name:?} is not declared in {}.signals.{family}{}",
                sc.base,
                hint(name, &names)
            ),
        );
    }
}

fn rule_refs(sc: &Scope, cx: &mut Ctx, node: &RuleNode, path: &str, ctx: RuleContext) {
    match node {
        RuleNode::Signal(r) => {
            if ctx == RuleContext::Composer
                && matches!(
                    r.kind,
                    SignalType::Complexity
                        | SignalType::Projection
                        | SignalType::Authz
                        | SignalType::Jailbreak
                        | SignalType::Pii
                )
            {
                cx.err(
                    &join_key(path, "type"),
                    format!(
                        "a composer cannot read {} signals (they are evaluated later)",
                        r.kind
                    ),
                );
                return;
            }
            check_ref(sc, cx, r.kind, &r.name, &join_key(path, "name"));
            leaf_fields(sc, cx, r, path);
        }
        RuleNode::And(children) | RuleNode::Or(children) => {
            for (i, c) in children.iter().enumerate() {
                rule_refs(
                    sc,
                    cx,
                    c,
                    &join_index(&join_key(path, "conditions"), i),
                    ctx,
                );
            }
        }
        RuleNode::Not(child) => rule_refs(
            sc,
            cx,
            child,
            &join_index(&join_key(path, "conditions"), 0),
            ctx,
        ),
    }
}

/// A leaf's `label`, `predicate` and `on_error` (head-delta §2): label and on_error only on
/// classifier leaves; a classifier leaf needs a declared label and a predicate, and a local
/// classifier's only predicate is `{gte: >= 0.5}`.
fn leaf_fields(sc: &Scope, cx: &mut Ctx, r: &SignalRef, path: &str) {
    let classifier = r.kind == SignalType::Classifier;
    if !classifier {
        for (key, set) in [
            ("label", r.label.is_some()),
            ("on_error", r.on_error.is_some()),
        ] {
            if set {
                cx.err(
                    &join_key(path, key),
                    format!("`{key}` is only for classifier leaves"),
                );
            }
        }
    }
    if let Some(pr) = &r.predicate {
        let pp = join_key(path, "predicate");
        let b = &pr.0;
        if [b.gt, b.gte, b.lt, b.lte]
            .iter()
            .flatten()
            .any(|v| !v.is_finite())
        {
            cx.err(&pp, "bounds must be finite numbers");
        } else {
            bounds_shape(cx, b, &pp);
        }
    }
    if !classifier {
        return;
    }
    if r.predicate.is_none() {
        cx.err(
            path,
            "a classifier leaf needs `predicate` (gt, gte, lt or lte over the label's score)",
        );
    }
    let Some(c) = sc.r.signals.classifiers.iter().find(|c| c.name == r.name) else {
        return;
    };
    match &r.label {
        None => cx.err(path, "a classifier leaf needs `label`"),
        Some(l) if !c.labels.contains(l) => cx.err(
            &join_key(path, "label"),
            format!(
                "label {l:?} is not declared by classifier {:?}{}",
                c.name,
                hint(l, &c.labels.iter().map(String::as_str).collect::<Vec<_>>())
            ),
        ),
        Some(_) => {}
    }
    if c.kind == Some(crate::vocab::ClassifierKind::Local)
        && let Some(pr) = &r.predicate
    {
        let b = &pr.0;
        let only_gte = b.gt.is_none() && b.lt.is_none() && b.lte.is_none();
        if !only_gte || b.gte.is_none_or(|g| g < 0.5) {
            cx.err(
                &join_key(path, "predicate"),
                "a local classifier leaf takes only `gte` of at least 0.5",
            );
        }
    }
}

fn decisions(sc: &Scope, cx: &mut Ctx) {
    let cfg = sc.cfg;
    let decisions_path = sc.path("decisions");
    unique(cx, "decision", indexed(&sc.r.decisions, &decisions_path));
    let models: Vec<&str> = cfg
        .providers
        .models
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    for (i, d) in sc.r.decisions.iter().enumerate() {
        let p = join_index(&decisions_path, i);
        if d.priority < 0 {
            cx.err(
                &join_key(&p, "priority"),
                format!("must be >= 0, got {}", d.priority),
            );
        }
        rule_refs(
            sc,
            cx,
            &d.rules,
            &join_key(&p, "rules"),
            RuleContext::Decision,
        );
        let wants_both = d
            .rules
            .leaves()
            .iter()
            .any(|l| l.kind == SignalType::Modality && l.name == "BOTH");
        if wants_both {
            let has = |m: &str| {
                cfg.routing
                    .model_cards
                    .iter()
                    .any(|c| c.modality.as_deref() == Some(m))
            };
            if !(has("omni") || (has("ar") && has("diffusion"))) {
                cx.err(
                    &join_key(&p, "rules"),
                    "a decision on modality \"BOTH\" needs an omni model card, or both an ar and a diffusion card",
                );
            }
        }
        if d.model_refs.is_empty() {
            cx.warn(&p, format!("decision {:?} has no modelRefs", d.name));
        }
        for (j, m) in d.model_refs.iter().enumerate() {
            let mp = join_index(&join_key(&p, "modelRefs"), j);
            if m.model.trim().is_empty() {
                cx.err(&join_key(&mp, "model"), "model must not be empty");
                continue;
            }
            if !models.contains(&m.model.as_str()) {
                cx.err(
                    &join_key(&mp, "model"),
                    format!(
                        "model {:?} is not declared in providers.models{}",
                        m.model,
                        hint(&m.model, &models)
                    ),
                );
            }
            if let Some(e) = &m.reasoning_effort
                && !REF_EFFORTS.contains(&e.as_str())
            {
                cx.err(
                    &join_key(&mp, "reasoning_effort"),
                    format!(
                        "unknown reasoning effort {e:?}: expected minimal, low, medium, high, xhigh or max{}",
                        hint(e, &REF_EFFORTS)
                    ),
                );
            }
            if let Some(w) = m.weight
                && w < 0.0
            {
                cx.err(&join_key(&mp, "weight"), format!("must be >= 0, got {w}"));
            }
            if let Some(l) = &m.lora_name {
                let card = cfg.model_card(&m.model);
                if !card.is_some_and(|c| c.loras.iter().any(|x| x.name == *l)) {
                    cx.err(
                        &join_key(&mp, "lora_name"),
                        format!(
                            "LoRA {l:?} is not listed in routing.modelCards[{:?}].loras",
                            m.model
                        ),
                    );
                }
            }
        }
        if let Some(a) = &d.algorithm {
            algorithm(cx, a, &join_key(&p, "algorithm"));
        }
        head::decision(cx, d, &p);
        head::looper(cx, d, &p, &models);
        for (j, pl) in d.plugins.iter().enumerate() {
            let pp = join_index(&join_key(&p, "plugins"), j);
            ranges_in(cx, &pl.configuration, &join_key(&pp, "configuration"));
            if pl.kind == "image_gen" && pl.enabled() && pl.get("backend").is_none() {
                cx.err(
                    &join_key(&pp, "configuration"),
                    "image_gen needs a `backend`",
                );
            }
            if pl.kind == "fast_response"
                && pl
                    .get("message")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                cx.err(
                    &join_key(&pp, "configuration"),
                    "fast_response needs a non-empty `message`",
                );
            }
        }
    }
}

fn algorithm(cx: &mut Ctx, a: &Algorithm, p: &str) {
    if let Some(params) = &a.params {
        ranges_in(cx, params, &join_key(p, &a.kind));
    }
    if a.kind == "latency_aware" {
        let bp = join_key(p, "latency_aware");
        let get = |k: &str| a.params.as_ref().and_then(|v| v.get(k));
        let mut any = false;
        for k in ["tpot_percentile", "ttft_percentile"] {
            if let Some(v) = get(k) {
                any = true;
                match v.as_f64() {
                    Some(n) if (1.0..=100.0).contains(&n) => {}
                    _ => cx.err(
                        &join_key(&bp, k),
                        format!("must be a number between 1 and 100, got {v}"),
                    ),
                }
            }
        }
        if !any {
            cx.err(
                &bp,
                "latency_aware needs tpot_percentile or ttft_percentile (1-100)",
            );
        }
    }
}

/// Range checks by field name inside free-form payloads, as upstream's validator does.
fn ranges_in(cx: &mut Ctx, v: &Value, path: &str) {
    const UNIT: [&str; 8] = [
        "threshold",
        "similarity_threshold",
        "bm25_threshold",
        "ngram_threshold",
        "verification_threshold",
        "exploration_rate",
        "min_similarity",
        "min_confidence_threshold",
    ];
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let kp = join_key(path, k);
                if UNIT.contains(&k.as_str()) {
                    match x.as_f64() {
                        Some(n) if (0.0..=1.0).contains(&n) => {}
                        Some(n) => cx.err(&kp, format!("must be between 0 and 1, got {n}")),
                        None => cx.err(&kp, format!("expected a number, found {x}")),
                    }
                } else if k == "port" {
                    if !x.as_u64().is_some_and(|n| (1..=65535).contains(&n)) {
                        cx.err(&kp, format!("must be a port between 1 and 65535, got {x}"));
                    }
                } else {
                    ranges_in(cx, x, &kp);
                }
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                ranges_in(cx, x, &join_index(path, i));
            }
        }
        _ => {}
    }
}
