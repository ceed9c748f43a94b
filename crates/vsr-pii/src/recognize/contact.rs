//! Email addresses and phone numbers.

use std::sync::LazyLock;

use regex::Regex;

use super::Candidate;
use crate::PiiType;
use crate::confidence::{CUED, SPECIFIC_FORMAT, STRUCTURED};
use crate::scan::isolated;

// RFC 5321 dot-atom local part (the common subset) and a DNS host name with an alphabetic TLD.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)[a-z0-9][a-z0-9._%+\-]{0,63}@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}",
    )
    .expect("email regex")
});

/// Top-level "domains" that are really file extensions (`icon@2x.png`, `pkg@1.2.js`).
const FILE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "js", "mjs", "ts", "tsx", "jsx",
    "css", "scss", "json", "yaml", "yml", "toml", "md", "txt", "py", "rs", "go", "java", "rb",
    "php", "html", "htm", "xml", "lock", "zip", "gz", "tar", "wasm", "map",
];

pub fn emails(text: &str, out: &mut Vec<Candidate>) {
    for m in EMAIL.find_iter(text) {
        let s = m.as_str();
        let Some((local, domain)) = s.split_once('@') else {
            continue;
        };
        if local.ends_with('.') || local.contains("..") {
            continue;
        }
        let tld = domain.rsplit('.').next().unwrap_or("");
        if FILE_EXTENSIONS
            .iter()
            .any(|ext| tld.eq_ignore_ascii_case(ext))
        {
            continue;
        }
        // `scheme://user:password@host` is a URL with credentials (see the secret recogniser).
        if crate::scan::char_before(text, m.start()) == Some(':') {
            // Look back a bounded distance so long unbroken inputs stay linear.
            let mut from = m.start().saturating_sub(256);
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            let head = &text[from..m.start()];
            let token = head.rsplit(char::is_whitespace).next().unwrap_or(head);
            if token.contains("://") {
                continue;
            }
        }
        // The regex starts at the leftmost allowed character, so only the right edge can glue on.
        if crate::scan::char_at(text, m.end()).is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        out.push(Candidate::new(
            PiiType::EmailAddress,
            m.start(),
            m.end(),
            SPECIFIC_FORMAT,
        ));
    }
}

// E.164: "+", country code, subscriber number; 8-15 digits in all, with the usual separators.
static INTERNATIONAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+[0-9]{1,3}(?:[ .\-]?\(?[0-9]{1,5}\)?){1,6}").expect("e164 regex")
});

// NANP: optional country code 1, area code (optionally in parentheses), exchange, line number.
static NANP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+?1[ .\-]?)?(?:\(([0-9]{3})\) ?|([0-9]{3})([ .\-]))([0-9]{3})([ .\-])[0-9]{4}")
        .expect("nanp regex")
});

// Mainland China mobile: 1[3-9]x xxxx xxxx, optionally with +86 / 0086.
static CN_MOBILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:(?:\+|00)86[ \-]?)?1[3-9][0-9]([ \-]?)[0-9]{4}([ \-]?)[0-9]{4}")
        .expect("cn mobile")
});

// Mainland China landline: trunk 0 + area code (010, 02x or 0xxx), dash, 7-8 digit number.
static CN_LANDLINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(0[1-9][0-9]{1,2})-([0-9]{7,8})").expect("cn landline"));

pub fn phones(text: &str, out: &mut Vec<Candidate>) {
    for m in INTERNATIONAL.find_iter(text) {
        let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
        let balanced = m.as_str().matches('(').count() == m.as_str().matches(')').count();
        if (8..=15).contains(&digits) && balanced && isolated(text, m.start(), m.end()) {
            out.push(Candidate::new(
                PiiType::PhoneNumber,
                m.start(),
                m.end(),
                STRUCTURED,
            ));
        }
    }
    for c in NANP.captures_iter(text) {
        let Some(m) = c.get(0) else { continue };
        let area = c.get(1).or(c.get(2)).map_or("", |g| g.as_str());
        let exchange = c.get(4).map_or("", |g| g.as_str());
        // Without parentheses both separators must agree ("415-555-2671", not "415-555.2671").
        let consistent = match (c.get(3), c.get(5)) {
            (Some(a), Some(b)) => a.as_str() == b.as_str(),
            _ => true,
        };
        // Area codes and exchanges never start with 0 or 1.
        let plan_ok = area.starts_with(|ch: char| ('2'..='9').contains(&ch))
            && exchange.starts_with(|ch: char| ('2'..='9').contains(&ch));
        if consistent && plan_ok && isolated(text, m.start(), m.end()) {
            out.push(Candidate::new(
                PiiType::PhoneNumber,
                m.start(),
                m.end(),
                STRUCTURED,
            ));
        }
    }
    for c in CN_MOBILE.captures_iter(text) {
        let Some(m) = c.get(0) else { continue };
        let (a, b) = (
            c.get(1).map_or("", |g| g.as_str()),
            c.get(2).map_or("", |g| g.as_str()),
        );
        if a == b && isolated(text, m.start(), m.end()) {
            out.push(Candidate::new(
                PiiType::PhoneNumber,
                m.start(),
                m.end(),
                STRUCTURED,
            ));
        }
    }
    for c in CN_LANDLINE.captures_iter(text) {
        let Some(m) = c.get(0) else { continue };
        let area = c.get(1).map_or("", |g| g.as_str());
        let local = c.get(2).map_or("", |g| g.as_str());
        // Three-digit area codes are 010 and 02x and carry 8-digit numbers; the rest are 4 digits.
        let shape_ok = match area.len() {
            3 => (area == "010" || area.starts_with("02")) && local.len() == 8,
            4 => !area.starts_with("01") && !area.starts_with("02"),
            _ => false,
        };
        if shape_ok && isolated(text, m.start(), m.end()) {
            out.push(Candidate::new(
                PiiType::PhoneNumber,
                m.start(),
                m.end(),
                CUED,
            ));
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
    fn email_positive_and_negative() {
        assert_eq!(
            found(emails, "mail a.b+c@ex-ample.co.uk now"),
            ["a.b+c@ex-ample.co.uk"]
        );
        assert_eq!(found(emails, "邮箱wang@163.com谢谢"), ["wang@163.com"]);
        assert!(found(emails, "see icon@2x.png").is_empty());
        assert!(found(emails, "@app.route('/')").is_empty());
        assert!(!found(emails, "a..b@x.com").contains(&"a..b@x.com".to_string()));
        assert!(found(emails, "user@localhost").is_empty());
        assert!(found(emails, "postgres://admin:pw123@db.internal:5432").is_empty());
        assert_eq!(found(emails, "mailto:ann@ex.com"), ["ann@ex.com"]);
        assert_eq!(found(emails, "见\u{3000}mailto:ann@ex.com"), ["ann@ex.com"]);
        assert!(found(emails, "见\u{3000}ftp://u:pw@host.com").is_empty());
    }

    #[test]
    fn phone_formats() {
        for p in [
            "+1 415 555 2671",
            "+44 20 7946 0958",
            "+1 (415) 555-2671",
            "(212) 555-0147",
            "646-555-0199",
            "303.555.0112",
            "+14155550132",
            "13812345678",
            "139-1234-5678",
            "+86 186 0000 1234",
            "010-62345678",
            "0755-86013388",
        ] {
            let text = format!("call {p} now");
            assert!(
                found(phones, &text).iter().any(|f| f == p),
                "{p}: {:?}",
                found(phones, &text)
            );
        }
    }

    #[test]
    fn phone_negatives() {
        for text in [
            "due 2024-01-15",
            "what is 123 - 456 - 7890",
            "(123) 456-7890",
            "415-155-2671",
            "415-555.2671",
            "ticket 12345678901",
            "ISBN 978-3-16-148410-0",
            "+12 3",
            "ts 1700000000123",
            "138123456789",
            "020-1234567",
        ] {
            assert!(
                found(phones, text).is_empty(),
                "{text}: {:?}",
                found(phones, text)
            );
        }
    }
}
