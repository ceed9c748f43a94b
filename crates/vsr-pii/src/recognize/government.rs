//! Government identifiers: US Social Security numbers and PRC resident identity card numbers.

use std::sync::LazyLock;

use regex::Regex;

use super::Candidate;
use crate::PiiType;
use crate::checksum::{cn_resident_id_valid, ssn_valid};
use crate::confidence::{CHECKSUM, CUED, SPECIFIC_FORMAT, STRUCTURED, WEAK};
use crate::scan::{cue_before, isolated};

// AAA-GG-SSSS with one separator kind, or nine bare digits (only taken after a cue).
static SSN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([0-9]{3})([\- ]?)([0-9]{2})([\- ]?)([0-9]{4})").expect("ssn regex")
});

/// Words that announce an SSN nearby.
const SSN_CUES: &[&str] = &["ssn", "social security", "社会安全", "社安号"];
const SSN_CUE_WINDOW: usize = 48;

pub fn ssns(text: &str, out: &mut Vec<Candidate>) {
    for c in SSN.captures_iter(text) {
        let Some(m) = c.get(0) else { continue };
        let part = |i: usize| c.get(i).map_or("", |g| g.as_str());
        let (sep1, sep2) = (part(2), part(4));
        if sep1 != sep2 || !isolated(text, m.start(), m.end()) {
            continue;
        }
        let num = |i: usize| part(i).parse::<u32>().unwrap_or(0);
        if !ssn_valid(num(1), num(3), num(5)) {
            continue;
        }
        let cued = cue_before(text, m.start(), SSN_CUE_WINDOW, SSN_CUES);
        let confidence = match (sep1, cued) {
            ("-", true) => SPECIFIC_FORMAT,
            ("-", false) => STRUCTURED,
            (" ", true) | ("", true) => CUED,
            (" ", false) => WEAK,
            _ => continue, // bare nine digits without a cue: an order number as often as an SSN
        };
        out.push(Candidate::new(
            PiiType::UsSsn,
            m.start(),
            m.end(),
            confidence,
        ));
    }
}

// 18 characters, contiguous or grouped as region / birth date / sequence+check (6-8-4).
static CN_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9]{6}([ \-]?)[0-9]{8}([ \-]?)[0-9]{3}[0-9Xx]").expect("cn id regex")
});

pub fn cn_resident_ids(text: &str, out: &mut Vec<Candidate>) {
    for c in CN_ID.captures_iter(text) {
        let Some(m) = c.get(0) else { continue };
        let (a, b) = (
            c.get(1).map_or("", |g| g.as_str()),
            c.get(2).map_or("", |g| g.as_str()),
        );
        let compact: String = m
            .as_str()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        if a == b && cn_resident_id_valid(&compact) && isolated(text, m.start(), m.end()) {
            out.push(Candidate::new(
                PiiType::CnResidentId,
                m.start(),
                m.end(),
                CHECKSUM,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(f: fn(&str, &mut Vec<Candidate>), text: &str) -> Vec<(String, f32)> {
        let mut out = Vec::new();
        f(text, &mut out);
        out.iter()
            .map(|c| (text[c.start..c.end].to_string(), c.confidence))
            .collect()
    }

    #[test]
    fn ssn_forms_and_confidence() {
        assert_eq!(
            found(ssns, "file 219-09-9999 now"),
            [("219-09-9999".into(), STRUCTURED)]
        );
        assert_eq!(
            found(ssns, "SSN: 219-09-9999"),
            [("219-09-9999".into(), SPECIFIC_FORMAT)]
        );
        assert_eq!(
            found(ssns, "my ssn is 219099999"),
            [("219099999".into(), CUED)]
        );
        assert!(found(ssns, "order 219099999").is_empty());
        assert!(found(ssns, "219-09 9999").is_empty());
    }

    #[test]
    fn ssn_invalid_parts() {
        for t in [
            "000-12-3456",
            "666-45-1234",
            "923-45-6789",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(found(ssns, &format!("SSN {t}")).is_empty(), "{t}");
        }
        assert!(found(ssns, "1219-09-9999").is_empty());
    }

    #[test]
    fn cn_id() {
        assert_eq!(
            found(cn_resident_ids, "身份证号11010519491231002X，").len(),
            1
        );
        assert!(found(cn_resident_ids, "身份证号440308199001011234").is_empty());
        assert!(found(cn_resident_ids, "330106200002303336").is_empty());
        assert!(found(cn_resident_ids, "1440308199001011239").is_empty());
        assert_eq!(found(cn_resident_ids, "号 110105 19491231 002X。").len(), 1);
        assert!(found(cn_resident_ids, "110105 19491231002X").is_empty());
    }
}
