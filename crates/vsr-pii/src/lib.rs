//! Rule- and checksum-based PII recognisers for the `pii` signal and plugin.
//!
//! [`detect`] is pure, synchronous and needs no model: regular expressions find candidates, the
//! formats' own rules (Luhn, ISO 13616 mod 97, GB 11643 check character, SSA area/group/serial
//! rules, NANP numbering plan, vendor token prefixes) confirm them, and overlapping candidates are
//! resolved deterministically. [`redact`] rewrites text so that nothing detected is kept.
//!
//! ```
//! use vsr_pii::{detect, redact, DetectOptions, PiiType, RedactStyle};
//!
//! let text = "Mail jane@example.com or call +1 415 555 2671.";
//! let found = detect(text, &DetectOptions::default());
//! assert_eq!(found[0].kind, PiiType::EmailAddress);
//! assert_eq!(
//!     redact(text, &found, RedactStyle::TypePlaceholder),
//!     "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>."
//! );
//! ```

mod checksum;
mod chunk;
mod recognize;
mod redaction;
mod scan;
mod types;

pub use chunk::{PII_CHUNK_BUDGET, PII_CHUNK_OVERLAP, chunks};
pub use redaction::{RedactStyle, redact};
pub use types::{PiiType, UnknownPiiType};

use recognize::{Candidate, Prefilter};

/// Confidence levels reported by the recognisers.
///
/// A confidence says how sure the recogniser is that the span *is* the type, given what it
/// checked. It is comparable with the original model's softmax scores only in rank: rules with
/// threshold 0.85 (the reference profile's) fire on checksum-validated, format-specific,
/// structured and cued findings, and not on weak ones.
pub mod confidence {
    /// Passed a check digit or checksum of the format (Luhn plus a known issuer prefix, IBAN
    /// mod 97, GB 11643). A random digit string passes with probability ≤ 1/10 before the
    /// structural checks.
    pub const CHECKSUM: f32 = 0.99;
    /// A format no ordinary text takes: an e-mail address, a vendor token prefix followed by key
    /// material, a PEM private-key header, a JWT, a dashed SSN after an SSN cue.
    pub const SPECIFIC_FORMAT: f32 = 0.95;
    /// A structured format checked against its allocation rules but without a checksum: phone
    /// numbers (E.164, NANP, CN mobile), IP addresses, dashed SSNs, Chinese road + number
    /// addresses, names after a form label.
    pub const STRUCTURED: f32 = 0.90;
    /// A weaker format made likely by a cue in the text: a name after "my name is" / "我叫", a
    /// random-looking value assigned to `password`/`api_key`/…, an English street address, a bare
    /// nine-digit SSN after "SSN", a CN landline.
    pub const CUED: f32 = 0.85;
    /// Plausible but often wrong: a name after an honorific, a place after "I live in", a
    /// space-separated SSN shape without a cue.
    pub const WEAK: f32 = 0.75;
}

/// What to look for.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectOptions {
    /// Findings below this confidence are dropped (before overlap resolution, so a weak finding
    /// never hides a stronger one). Default 0.0: report everything.
    pub min_confidence: f32,
    /// Only these types are looked for; `None` (the default) means every detected type.
    pub types: Option<Vec<PiiType>>,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            min_confidence: 0.0,
            types: None,
        }
    }
}

impl DetectOptions {
    /// Options that report only findings with confidence ≥ `min_confidence`.
    pub fn with_min_confidence(min_confidence: f32) -> Self {
        DetectOptions {
            min_confidence,
            types: None,
        }
    }

    fn wants(&self, kind: PiiType) -> bool {
        self.types.as_ref().is_none_or(|t| t.contains(&kind))
    }
}

/// One detected span.
///
/// `start..end` are byte offsets into the scanned text, always on `char` boundaries. The match
/// deliberately holds no copy of the sensitive text: `preview` is already masked, so a match can be
/// logged or stored (replay) safely. Use [`PiiMatch::as_str`] to read the span from the text.
#[derive(Debug, Clone, PartialEq)]
pub struct PiiMatch {
    pub kind: PiiType,
    pub start: usize,
    pub end: usize,
    /// Masked rendering of the span, e.g. `j***@***.com`, `************1111`, `ghp_****`.
    pub preview: String,
    /// See [`confidence`].
    pub confidence: f32,
}

impl PiiMatch {
    /// A finding from another recogniser (a token classifier): `None` when the span is
    /// empty, out of range or not on `char` boundaries.
    pub fn new(
        text: &str,
        kind: PiiType,
        start: usize,
        end: usize,
        confidence: f32,
    ) -> Option<Self> {
        let span = text.get(start..end).filter(|s| !s.is_empty())?;
        Some(PiiMatch {
            kind,
            start,
            end,
            preview: redaction::preview(kind, span),
            confidence,
        })
    }

    /// The matched span of `text` (the text `detect` was called with); empty if out of range.
    pub fn as_str<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start..self.end).unwrap_or("")
    }
}

/// A text with a cue for every recogniser, for [`warm_up`].
const WARM_UP_TEXT: &str = "My name is John Smith, I live at 221 Baker Street, London; I grew up in Boston. Mail \
     john.smith@example.com or call +1 415 555 0132 / 13812345678; card 4111 1111 1111 1111, \
     IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789, host 192.168.10.20 and 2001:db8::1, \
     key sk-abcdefghijklmnopqrstuvwxyz123456, password = hunter2hunter2. 我叫张伟，住在北京市朝阳区，\
     身份证 11010519491231002X。";

/// Runs every recogniser once so that their patterns are compiled now (at start-up) rather
/// than on the first request that needs them. Returns how many findings the sample gave.
pub fn warm_up() -> usize {
    detect(WARM_UP_TEXT, &DetectOptions::default()).len()
}

/// Finds PII in `text`. Matches are sorted by start offset and never overlap.
///
/// Overlaps between candidates are resolved greedily: higher confidence first, then the longer
/// span, then [`PiiType`] declaration order, then the earlier start. The result therefore does
/// not depend on the order the recognisers run in.
pub fn detect(text: &str, opts: &DetectOptions) -> Vec<PiiMatch> {
    if text.is_empty() {
        return Vec::new();
    }
    let pre = Prefilter::of(text);
    let mut candidates: Vec<Candidate> = Vec::new();
    let run = |kind: PiiType, applicable: bool| opts.wants(kind) && applicable;

    if run(PiiType::EmailAddress, pre.has_at) {
        recognize::contact::emails(text, &mut candidates);
    }
    if run(PiiType::PhoneNumber, pre.digits >= 8) {
        recognize::contact::phones(text, &mut candidates);
    }
    if run(PiiType::CreditCard, pre.digits >= 13) {
        recognize::financial::cards(text, &mut candidates);
    }
    if run(PiiType::IbanCode, pre.digits >= 4) {
        recognize::financial::ibans(text, &mut candidates);
    }
    if run(PiiType::UsSsn, pre.digits >= 9) {
        recognize::government::ssns(text, &mut candidates);
    }
    if run(PiiType::CnResidentId, pre.digits >= 17) {
        recognize::government::cn_resident_ids(text, &mut candidates);
    }
    if run(PiiType::IpAddress, pre.digits >= 2) {
        recognize::network::ip_addresses(text, &mut candidates);
    }
    if run(PiiType::ApiKey, text.len() >= 12) {
        recognize::secret::secrets(text, &mut candidates);
    }
    if run(PiiType::ApiKey, text.len() >= 7) {
        recognize::cued::passwords(text, &mut candidates);
    }
    if run(PiiType::PhoneNumber, pre.digits >= 7) {
        recognize::cued::cued_phones(text, &mut candidates);
    }
    if run(PiiType::Person, true) {
        recognize::identity::persons(text, &mut candidates);
    }
    // Latin-script addresses carry a house number; a Chinese one may be a province, its
    // divisions and a road alone.
    if run(PiiType::StreetAddress, pre.digits >= 1 || !text.is_ascii()) {
        recognize::identity::street_addresses(text, &mut candidates);
        recognize::cued::european_streets(text, &mut candidates);
    }
    if run(PiiType::Location, true) {
        recognize::identity::locations(text, &mut candidates);
    }

    candidates.retain(|c| {
        c.confidence >= opts.min_confidence
            && c.start < c.end
            && text.is_char_boundary(c.start)
            && text.is_char_boundary(c.end)
            && c.end <= text.len()
    });
    resolve_overlaps(candidates)
        .into_iter()
        .map(|c| PiiMatch {
            kind: c.kind,
            start: c.start,
            end: c.end,
            preview: redaction::preview(c.kind, &text[c.start..c.end]),
            confidence: c.confidence,
        })
        .collect()
}

/// Merges findings of several recognisers over the same text (for example [`detect`]'s and
/// a token classifier's) with the same overlap resolution as [`detect`].
pub fn merge(matches: impl IntoIterator<Item = PiiMatch>) -> Vec<PiiMatch> {
    let matches: Vec<PiiMatch> = matches.into_iter().collect();
    let candidates = matches
        .iter()
        .map(|m| Candidate::new(m.kind, m.start, m.end, m.confidence))
        .collect();
    let mut kept = resolve_overlaps(candidates);
    let mut out = Vec::with_capacity(kept.len());
    for m in matches {
        if let Some(i) = kept
            .iter()
            .position(|c| (c.kind, c.start, c.end) == (m.kind, m.start, m.end))
        {
            kept.swap_remove(i);
            out.push(m);
        }
    }
    out.sort_by_key(|m| m.start);
    out
}

fn resolve_overlaps(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.kind.priority().cmp(&b.kind.priority()))
            .then(a.start.cmp(&b.start))
    });
    // Kept spans never overlap, so the neighbours by start are the only ones that can collide:
    // O(n log n) even for inputs with thousands of candidates.
    let mut kept: std::collections::BTreeMap<usize, Candidate> = std::collections::BTreeMap::new();
    for c in candidates {
        let before_ok = kept
            .range(..=c.start)
            .next_back()
            .is_none_or(|(_, k)| k.end <= c.start);
        let after_ok = kept
            .range(c.start..)
            .next()
            .is_none_or(|(_, k)| c.end <= k.start);
        if before_ok && after_ok {
            kept.insert(c.start, c);
        }
    }
    kept.into_values().collect()
}

/// The distinct types among `matches` with confidence ≥ `threshold` that `allowed` does not
/// list, in [`PiiType`] order. This is the `pii` signal's rule test: the rule fires when the result
/// is non-empty.
pub fn denied_types(matches: &[PiiMatch], threshold: f32, allowed: &[PiiType]) -> Vec<PiiType> {
    let mut denied: Vec<PiiType> = matches
        .iter()
        .filter(|m| m.confidence >= threshold && !allowed.contains(&m.kind))
        .map(|m| m.kind)
        .collect();
    denied.sort();
    denied.dedup();
    denied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warm_up_sample_reaches_every_detected_type() {
        let found: std::collections::BTreeSet<PiiType> =
            detect(WARM_UP_TEXT, &DetectOptions::default())
                .into_iter()
                .map(|m| m.kind)
                .collect();
        for kind in PiiType::DETECTED {
            assert!(found.contains(&kind), "{kind:?} not reached: {found:?}");
        }
        assert!(warm_up() >= PiiType::DETECTED.len());
    }

    #[test]
    fn overlap_resolution_prefers_confidence_then_length_then_type() {
        let c = |kind, start, end, confidence| Candidate::new(kind, start, end, confidence);
        let kept = resolve_overlaps(vec![
            c(PiiType::PhoneNumber, 0, 10, 0.9),
            c(PiiType::CreditCard, 0, 16, 0.99),
            c(PiiType::UsSsn, 20, 29, 0.9),
            c(PiiType::PhoneNumber, 18, 30, 0.9),
            c(PiiType::Person, 40, 45, 0.85),
            c(PiiType::Location, 40, 45, 0.85),
        ]);
        let kinds: Vec<_> = kept.iter().map(|c| (c.kind, c.start)).collect();
        assert_eq!(
            kinds,
            [
                (PiiType::CreditCard, 0),
                (PiiType::PhoneNumber, 18),
                (PiiType::Person, 40)
            ]
        );
    }

    #[test]
    fn resolution_is_order_independent() {
        let c = |kind, start, end, confidence| Candidate::new(kind, start, end, confidence);
        let mut v = vec![
            c(PiiType::Location, 0, 6, 0.75),
            c(PiiType::StreetAddress, 0, 12, 0.9),
            c(PiiType::Person, 3, 5, 0.85),
        ];
        let a = resolve_overlaps(v.clone());
        v.reverse();
        assert_eq!(a, resolve_overlaps(v));
    }

    #[test]
    fn type_filter_and_threshold() {
        let text = "jane@example.com, my name is Jane Roe, 646-555-0199";
        let only_phone = DetectOptions {
            types: Some(vec![PiiType::PhoneNumber]),
            ..DetectOptions::default()
        };
        let found = detect(text, &only_phone);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].as_str(text), "646-555-0199");
        let strict = detect(text, &DetectOptions::with_min_confidence(0.9));
        assert!(strict.iter().all(|m| m.kind != PiiType::Person));
        assert_eq!(detect(text, &DetectOptions::default()).len(), 3);
    }

    #[test]
    fn denied_types_follow_allow_list() {
        let text = "jane@example.com and 646-555-0199";
        let found = detect(text, &DetectOptions::default());
        assert_eq!(
            denied_types(&found, 0.85, &[PiiType::EmailAddress]),
            [PiiType::PhoneNumber]
        );
        assert!(
            denied_types(&found, 0.85, &[PiiType::EmailAddress, PiiType::PhoneNumber]).is_empty()
        );
        assert!(denied_types(&found, 0.999, &[]).is_empty());
    }

    #[test]
    fn many_candidates_stay_fast_and_disjoint() {
        let text = "a@b.co 4111 1111 1111 1111 +1 415 555 2671 ".repeat(3000);
        let found = detect(&text, &DetectOptions::default());
        assert_eq!(found.len(), 9000);
        assert!(found.windows(2).all(|w| w[0].end <= w[1].start));
    }

    #[test]
    fn unicode_around_matches() {
        let text = "请联系📞13812345678或者邮箱ü.ser@例子.com以及 lee@mail.cn。";
        let found = detect(text, &DetectOptions::default());
        let spans: Vec<_> = found.iter().map(|m| (m.kind, m.as_str(text))).collect();
        assert_eq!(
            spans,
            [
                (PiiType::PhoneNumber, "13812345678"),
                (PiiType::EmailAddress, "lee@mail.cn")
            ]
        );
    }
}
