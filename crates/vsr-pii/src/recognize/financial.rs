//! Payment cards (Luhn + issuer prefix) and IBANs (ISO 13616 mod 97).

use std::sync::LazyLock;

use regex::Regex;

use super::Candidate;
use crate::PiiType;
use crate::checksum::{card_issuer_known, iban_length, iban_valid, luhn_valid};
use crate::confidence::CHECKSUM;
use crate::scan::isolated;

// A run of 13-19 digits, optionally split by single spaces or dashes.
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9](?:[ \-]?[0-9]){12,18}").expect("card regex"));

/// Digit-group layouts printed on cards: 4-4-4-4(-3), 4-6-5 (Amex), 4-6-4 (Diners), 4-4-4-1..4.
fn layout_ok(groups: &[&str]) -> bool {
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    match lens.as_slice() {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [4, rest @ ..] => {
            let (last, middle) = rest.split_last().unwrap_or((&0, &[]));
            middle.iter().all(|&l| l == 4) && (1..=4).contains(last) && middle.len() >= 2
        }
        _ => false,
    }
}

pub fn cards(text: &str, out: &mut Vec<Candidate>) {
    for m in CARD.find_iter(text) {
        let s = m.as_str();
        let sep = s.bytes().find(|b| !b.is_ascii_digit());
        if let Some(sep) = sep
            && s.bytes().any(|b| !b.is_ascii_digit() && b != sep)
        {
            continue; // mixed separators: not one printed number
        }
        let sep = sep.map(char::from);
        let groups: Vec<&str> = match sep {
            Some(c) => s.split(c).collect(),
            None => vec![s],
        };
        // The regex is greedy, so a trailing unrelated number ("… 1111 2024") can be glued on:
        // drop trailing groups until the rest is a valid card.
        for keep in (1..=groups.len()).rev() {
            let kept = &groups[..keep];
            let digits: String = kept.concat();
            if !(13..=19).contains(&digits.len()) {
                continue;
            }
            let len: usize = kept.iter().map(|g| g.len()).sum::<usize>() + keep - 1;
            let end = m.start() + len;
            if layout_ok(kept)
                && luhn_valid(&digits)
                && card_issuer_known(&digits)
                && isolated(text, m.start(), end)
            {
                out.push(Candidate::new(
                    PiiType::CreditCard,
                    m.start(),
                    end,
                    CHECKSUM,
                ));
                break;
            }
        }
    }
}

// Country code, check digits, then the BBAN in groups of up to four, optionally space-separated.
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{1,4}){3,8}").expect("iban regex")
});

pub fn ibans(text: &str, out: &mut Vec<Candidate>) {
    for m in IBAN.find_iter(text) {
        let s = m.as_str();
        // ISO 13616 prints IBANs upper-case, but people type them in any case; the check digits
        // protect against lower-case words.
        let Some(expected) = iban_length(&s[..2].to_ascii_uppercase()) else {
            continue;
        };
        // Cut at the registry length; with spaces the cut must fall between groups, so a
        // following upper-case word is not swallowed.
        let mut compact_len = 0;
        let mut end = None;
        for (i, c) in s.char_indices() {
            if c != ' ' {
                compact_len += 1;
            }
            if compact_len == expected {
                let next = s[i + 1..].chars().next();
                if next.is_none() || next == Some(' ') || !s.contains(' ') {
                    end = Some(m.start() + i + 1);
                }
                break;
            }
        }
        let Some(end) = end else { continue };
        let compact: String = text[m.start()..end]
            .chars()
            .filter(|c| *c != ' ')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if iban_valid(&compact) && isolated(text, m.start(), end) {
            out.push(Candidate::new(PiiType::IbanCode, m.start(), end, CHECKSUM));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(f: fn(&str, &mut Vec<Candidate>), text: &str) -> Vec<String> {
        let mut out = Vec::new();
        f(text, &mut out);
        out.iter()
            .map(|c| text[c.start..c.end].to_string())
            .collect()
    }

    #[test]
    fn card_layouts() {
        for c in [
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "3782 822463 10005",
            "6011111111111117",
            "3056 930902 5904",
        ] {
            assert_eq!(found(cards, &format!("card {c}.")), [c]);
        }
        assert_eq!(
            found(cards, "卡号4012888888881881，谢谢"),
            ["4012888888881881"]
        );
        assert_eq!(
            found(cards, "4111 1111 1111 1111 2024"),
            ["4111 1111 1111 1111"]
        );
    }

    #[test]
    fn card_negatives() {
        for t in [
            "4111 1111 1111 1112",
            "1234 5678 1234 5678",
            "4111-1111 1111-1111",
            "41111 111 1111 1111",
            "id 44111111111111111",
            "9111111111111111",
            "x4111111111111111",
        ] {
            assert!(found(cards, t).is_empty(), "{t}");
        }
    }

    #[test]
    fn iban_forms() {
        assert_eq!(
            found(ibans, "to GB82 WEST 1234 5698 7654 32 AND more"),
            ["GB82 WEST 1234 5698 7654 32"]
        );
        assert_eq!(
            found(ibans, "账户CH9300762011623852957已"),
            ["CH9300762011623852957"]
        );
        assert_eq!(found(ibans, "NO93 8601 1117 947."), ["NO93 8601 1117 947"]);
        assert!(found(ibans, "GB82 WEST 1234 5698 7654 33").is_empty());
        assert!(found(ibans, "XGB82WEST12345698765432").is_empty());
        assert!(found(ibans, "AB12 CDEF GHIJ").is_empty());
        assert_eq!(
            found(ibans, "iban: gb82west12345698765432"),
            ["gb82west12345698765432"]
        );
        assert!(found(ibans, "de89 word more text here").is_empty());
    }
}
