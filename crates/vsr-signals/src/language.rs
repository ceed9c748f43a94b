//! The `language` family: one ISO 639-1 code per request, detected with `whatlang` (trigram
//! profiles embedded in the crate, no model download).
//!
//! Short prompts carry little evidence. Non-Latin scripts are decided by script alone
//! (Han → zh, kana → ja, Hangul → ko; Cyrillic and others by whatlang). For Latin script a
//! detection that whatlang does not call reliable falls back to `en` unless its confidence is
//! at least [`LATIN_MIN_CONFIDENCE`], so that "Hello there" stays English while a Spanish
//! sentence of a few words is still Spanish.

use whatlang::{Lang, Script};

use crate::family::{Family, SignalError, SignalFamily};
use crate::request::RequestContext;
use crate::set::SignalResult;
use crate::stopwords::is_stop_word;
use crate::text::is_cjk;

/// Minimum whatlang confidence for an unreliable Latin-script detection other than English.
pub const LATIN_MIN_CONFIDENCE: f64 = 0.5;

/// The compiled language family: the configured codes are the signal names.
pub struct LanguageFamily {
    codes: Vec<String>,
    /// Per rule, the confidence it needs (upstream HEAD's `threshold`; 0 means
    /// [`DEFAULT_THRESHOLD`]); all `None` (March configs): no threshold anywhere.
    thresholds: Vec<Option<f64>>,
    detector: whatlang::Detector,
}

/// A rule's threshold when it writes 0 (upstream HEAD).
pub const DEFAULT_THRESHOLD: f64 = 0.3;

/// Languages whatlang always considers besides the configured ones, so that a text in a common
/// unconfigured language is recognised as such instead of as the nearest configured one.
const DISTRACTORS: [Lang; 9] = [
    Lang::Eng,
    Lang::Spa,
    Lang::Fra,
    Lang::Deu,
    Lang::Por,
    Lang::Ita,
    Lang::Nld,
    Lang::Rus,
    Lang::Ukr,
];

impl LanguageFamily {
    /// The trigram comparison runs over the configured languages plus [`DISTRACTORS`] only,
    /// which keeps detection several times faster than over all of whatlang's languages.
    pub fn new<S: AsRef<str>>(codes: impl IntoIterator<Item = S>) -> Self {
        let codes: Vec<String> = codes.into_iter().map(|c| c.as_ref().to_string()).collect();
        let mut allow: Vec<Lang> = DISTRACTORS.to_vec();
        for l in Lang::all() {
            if codes.iter().any(|c| c.eq_ignore_ascii_case(iso639_1(*l))) && !allow.contains(l) {
                allow.push(*l);
            }
        }
        Self {
            thresholds: vec![None; codes.len()],
            codes,
            detector: whatlang::Detector::with_allowlist(allow),
        }
    }

    /// Applies upstream HEAD's per-rule `threshold` (one per code, in order). When any rule
    /// has one, a detection below the lowest rule threshold reads as `en` with confidence
    /// 0.5, and a rule matches its code only at or above its own threshold.
    pub fn with_thresholds(mut self, thresholds: Vec<Option<f64>>) -> Self {
        if thresholds.len() == self.codes.len() {
            self.thresholds = thresholds
                .into_iter()
                .map(|t| t.map(|t| if t > 0.0 { t } else { DEFAULT_THRESHOLD }))
                .collect();
        }
        self
    }

    /// The detection floor: the lowest rule threshold, when any rule has one.
    fn floor(&self) -> Option<f64> {
        if self.thresholds.iter().all(Option::is_none) {
            return None;
        }
        self.thresholds
            .iter()
            .map(|t| t.unwrap_or(DEFAULT_THRESHOLD))
            .reduce(f64::min)
    }
}

/// A detected language: ISO 639-1 code (or whatlang's 639-3 code when there is no 639-1 one)
/// and a confidence in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub code: String,
    pub confidence: f64,
}

/// Detects the language of a text among all of whatlang's languages. `None` for text
/// without letters.
pub fn detect(text: &str) -> Option<Detection> {
    detect_with(text, whatlang::detect)
}

/// Detection with a given whatlang call for Latin and other non-CJK scripts.
fn detect_with(
    text: &str,
    whatlang_detect: impl Fn(&str) -> Option<whatlang::Info>,
) -> Option<Detection> {
    if !text.chars().any(char::is_alphabetic) {
        return None;
    }
    let det = |code: &str, confidence: f64| {
        Some(Detection {
            code: code.into(),
            confidence,
        })
    };
    // Kana anywhere means Japanese; Hangul means Korean; otherwise Han-majority means Chinese.
    let (mut han, mut kana, mut hangul) = (0usize, 0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        match c as u32 {
            0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => kana += 1,
            0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => hangul += 1,
            _ if is_cjk(c) => han += 1,
            _ => {}
        }
    }
    let cjk = han + kana + hangul;
    // CJK characters carry about as much as a Latin word; weigh them accordingly.
    let latin_words = text
        .split(|c: char| !c.is_alphabetic() || is_cjk(c))
        .filter(|w| !w.is_empty())
        .count();
    if cjk > 0 && cjk >= latin_words {
        let share = (cjk as f64 / (cjk + latin_words) as f64).clamp(0.5, 1.0);
        return if kana > 0 {
            det("ja", share)
        } else if hangul > han {
            det("ko", share)
        } else {
            det("zh", share)
        };
    }
    if let Some(share) = english_share(text) {
        return det("en", (0.5 + share).min(1.0));
    }
    let info = match whatlang_detect(text) {
        Some(i) => i,
        None => return det("en", 0.5),
    };
    let code = iso639_1(info.lang());
    if info.script() == Script::Latin
        && !info.is_reliable()
        && info.lang() != Lang::Eng
        && info.confidence() < LATIN_MIN_CONFIDENCE
    {
        return det("en", 0.5);
    }
    det(code, info.confidence())
}

/// Function words that are English and not common words of other Latin-script languages
/// ("a", "in", "is", "was", "die", ... are left out because other languages use them too).
const ENGLISH_MARKERS: &[&str] = &[
    "about", "and", "are", "be", "can", "could", "do", "does", "explain", "for", "from", "give",
    "have", "how", "i", "it", "me", "my", "of", "please", "should", "that", "the", "their", "this",
    "to", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// The fast path for plain English: an ASCII-only text with at least one English marker word
/// and at least two English function words (markers or stop words such as "is", "a", "in")
/// making up at least 15% of its words. Returns that share. Anything else goes to whatlang,
/// which is several times slower on a sentence.
fn english_share(text: &str) -> Option<f64> {
    if !text.is_ascii() {
        return None;
    }
    let (mut words, mut hits, mut strong) = (0usize, 0usize, false);
    for w in text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
    {
        words += 1;
        let lower = w.to_ascii_lowercase();
        if ENGLISH_MARKERS.binary_search(&lower.as_str()).is_ok() {
            hits += 1;
            strong = true;
        } else if is_stop_word(&lower) {
            hits += 1;
        }
    }
    let share = hits as f64 / words.max(1) as f64;
    (strong && hits >= 2 && share >= 0.15).then_some(share)
}

/// ISO 639-1 codes for whatlang languages (639-3 code when none exists).
fn iso639_1(lang: Lang) -> &'static str {
    match lang {
        Lang::Eng => "en",
        Lang::Cmn => "zh",
        Lang::Spa => "es",
        Lang::Fra => "fr",
        Lang::Deu => "de",
        Lang::Jpn => "ja",
        Lang::Kor => "ko",
        Lang::Rus => "ru",
        Lang::Por => "pt",
        Lang::Ita => "it",
        Lang::Nld => "nl",
        Lang::Pol => "pl",
        Lang::Tur => "tr",
        Lang::Ukr => "uk",
        Lang::Ara => "ar",
        Lang::Hin => "hi",
        Lang::Vie => "vi",
        Lang::Tha => "th",
        Lang::Ind => "id",
        Lang::Swe => "sv",
        Lang::Dan => "da",
        Lang::Nob => "no",
        Lang::Fin => "fi",
        Lang::Ces => "cs",
        Lang::Ell => "el",
        Lang::Heb => "he",
        Lang::Hun => "hu",
        Lang::Ron => "ro",
        Lang::Bul => "bg",
        Lang::Pes => "fa",
        other => other.code(),
    }
}

impl SignalFamily for LanguageFamily {
    fn family(&self) -> Family {
        Family::Language
    }

    fn signal_names(&self) -> Vec<String> {
        self.codes.clone()
    }

    fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        out: &mut [SignalResult],
    ) -> Result<(), SignalError> {
        let Some(mut d) = detect_with(ctx.text(), |t| self.detector.detect(t)) else {
            return Ok(());
        };
        let floor = self.floor();
        if floor.is_some_and(|f| d.confidence < f) {
            d = Detection {
                code: "en".into(),
                confidence: 0.5,
            };
        }
        for ((code, threshold), result) in
            self.codes.iter().zip(&self.thresholds).zip(out.iter_mut())
        {
            let needed = match (floor, threshold) {
                (None, _) => 0.0,
                (Some(_), t) => t.unwrap_or(DEFAULT_THRESHOLD),
            };
            if code.eq_ignore_ascii_case(&d.code) && d.confidence >= needed {
                result.set_match(d.confidence);
                result.value = d.confidence;
                result.evidence = vec![d.code.clone()];
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> String {
        detect(text).map(|d| d.code).unwrap_or_default()
    }

    #[test]
    fn detects_the_eight_required_languages_on_sentences() {
        assert_eq!(
            code("Explain how a refrigerator keeps food cold for a home user."),
            "en"
        );
        assert_eq!(code("水的化学式是什么？请简短回答。"), "zh");
        assert_eq!(
            code("¿Puedes explicarme cómo funciona una bomba de calor en casa?"),
            "es"
        );
        assert_eq!(
            code("Pouvez-vous m'expliquer comment fonctionne une pompe à chaleur ?"),
            "fr"
        );
        assert_eq!(
            code("Kannst du mir erklären, wie eine Wärmepumpe im Haus funktioniert?"),
            "de"
        );
        assert_eq!(code("冷蔵庫はどのように食べ物を冷やしますか？"), "ja");
        assert_eq!(code("냉장고는 어떻게 음식을 차갑게 유지하나요?"), "ko");
        assert_eq!(
            code("Объясни, как холодильник сохраняет продукты холодными."),
            "ru"
        );
    }

    #[test]
    fn english_fast_path_leaves_other_languages_to_whatlang() {
        assert!(ENGLISH_MARKERS.windows(2).all(|w| w[0] < w[1]));
        assert!(english_share("Who are you? Answer briefly.").is_some());
        assert!(english_share("Was ist die Hauptstadt von Frankreich?").is_none());
        assert!(english_share("Wat is de hoofdstad van Frankrijk?").is_none());
        assert!(english_share("¿Qué es la fotosíntesis?").is_none());
        assert_eq!(
            code("Was ist die Hauptstadt von Frankreich und warum?"),
            "de"
        );
    }

    #[test]
    fn short_prompts() {
        // Too little Latin evidence falls back to English.
        assert_eq!(code("Who are you? Answer briefly."), "en");
        assert_eq!(code("ok"), "en");
        // Script decides for short non-Latin prompts.
        assert_eq!(code("你是谁？"), "zh");
        assert_eq!(code("こんにちは"), "ja");
        assert_eq!(code("안녕"), "ko");
        // Mixed Chinese and English: Han characters dominate.
        assert_eq!(code("太好了！！！我终于拿到 offer 了"), "zh");
        // Nothing to detect.
        assert!(detect("123 !!!").is_none());
    }

    fn matched(family: &LanguageFamily, text: &str) -> Vec<String> {
        let view = crate::RequestView::from_text(text);
        let ctx = RequestContext::new(&view);
        let mut out: Vec<SignalResult> = family
            .signal_names()
            .into_iter()
            .map(|n| SignalResult::unmatched(n.into()))
            .collect();
        family.evaluate(&ctx, &mut out).expect("evaluates");
        out.into_iter()
            .filter(|r| r.matched)
            .map(|r| r.name.to_string())
            .collect()
    }

    #[test]
    fn rule_thresholds_gate_matches_and_low_confidence_falls_back_to_english() {
        // "Hola amigo" is a short Spanish text whatlang is unsure about.
        let text = "Hola amigo, que tal";
        let conf = detect(text).expect("detects").confidence;
        let plain = LanguageFamily::new(["es", "en"]);
        let before = matched(&plain, text);
        // A threshold above the detection's confidence: the rule no longer matches, and
        // the text reads as English (confidence 0.5), which the en rule (threshold 0.3) takes.
        let strict = LanguageFamily::new(["es", "en"])
            .with_thresholds(vec![Some((conf + 0.05).min(1.0)), Some(0.0)]);
        let after = matched(&strict, text);
        assert!(
            !after.contains(&"es".to_string()),
            "{before:?} -> {after:?}"
        );
        // An en rule needing more than the fallback's 0.5 does not take the fallback.
        let strict_en =
            LanguageFamily::new(["es", "en"]).with_thresholds(vec![Some(0.99), Some(0.6)]);
        let fallback = matched(&strict_en, "Hola amigo, que tal");
        assert!(fallback.is_empty(), "{fallback:?}");
        // Without thresholds (March) nothing changes.
        assert_eq!(
            matched(
                &LanguageFamily::new(["es", "en"]).with_thresholds(vec![None, None]),
                text
            ),
            before
        );
        // Chinese at threshold 0.5 (the August recipes' value) still matches.
        let zh = LanguageFamily::new(["zh"]).with_thresholds(vec![Some(0.5)]);
        assert_eq!(matched(&zh, "请用中文解释一下这个概念"), ["zh"]);
    }
}
