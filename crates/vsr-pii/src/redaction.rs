//! Rewriting text so detected PII is not kept, and masked previews for logs.

use crate::{PiiMatch, PiiType};

/// How [`redact`] replaces a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedactStyle {
    /// Every character of the span becomes `*` (length in characters is kept).
    Mask,
    /// The span becomes `<TYPE>`, e.g. `<EMAIL_ADDRESS>`.
    #[default]
    TypePlaceholder,
}

/// Replaces each match's span of `text`.
///
/// `matches` may come from any source: they are applied in start order, and a match that is out
/// of range, not on `char` boundaries, empty, or overlapping an earlier applied one is skipped
/// rather than causing a panic.
pub fn redact(text: &str, matches: &[PiiMatch], style: RedactStyle) -> String {
    let mut ordered: Vec<&PiiMatch> = matches.iter().collect();
    ordered.sort_by_key(|m| (m.start, std::cmp::Reverse(m.end)));
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for m in ordered {
        let valid = m.start >= cursor
            && m.start < m.end
            && m.end <= text.len()
            && text.is_char_boundary(m.start)
            && text.is_char_boundary(m.end);
        if !valid {
            continue;
        }
        out.push_str(&text[cursor..m.start]);
        match style {
            RedactStyle::Mask => out.extend(text[m.start..m.end].chars().map(|_| '*')),
            RedactStyle::TypePlaceholder => {
                out.push('<');
                out.push_str(m.kind.as_config_name());
                out.push('>');
            }
        }
        cursor = m.end;
    }
    out.push_str(&text[cursor..]);
    out
}

/// A masked rendering that shows the shape but not the value: the last four characters of long
/// numbers (as on receipts), the vendor prefix of tokens, the top-level domain of emails, and the
/// first character of names and places.
pub(crate) fn preview(kind: PiiType, span: &str) -> String {
    let chars: Vec<char> = span.chars().collect();
    let n = chars.len();
    let stars = |k: usize| "*".repeat(k);
    match kind {
        PiiType::EmailAddress => {
            let tld = span.rsplit('.').next().unwrap_or("");
            let first = chars.first().copied().unwrap_or('*');
            format!("{first}***@***.{tld}")
        }
        PiiType::CreditCard
        | PiiType::IbanCode
        | PiiType::CnResidentId
        | PiiType::UsSsn
        | PiiType::PhoneNumber
            if n > 8 =>
        {
            let tail: String = chars[n - 4..].iter().collect();
            format!("{}{tail}", stars(n - 4))
        }
        PiiType::ApiKey => {
            // Keep a recognisable, non-secret prefix such as "ghp_" or "sk-" or "-----BEGIN".
            let prefix_len = span
                .char_indices()
                .find(|(i, c)| *i >= 2 && matches!(c, '_' | '-'))
                .map_or(0, |(i, _)| i + 1)
                .min(10);
            // The 10-byte cap may fall inside a multi-byte character: back off to its start.
            let prefix_len = (0..=prefix_len)
                .rev()
                .find(|&i| span.is_char_boundary(i))
                .unwrap_or(0);
            let prefix = if prefix_len * 3 <= span.len() {
                &span[..prefix_len]
            } else {
                ""
            };
            format!("{prefix}****")
        }
        PiiType::Person | PiiType::Location | PiiType::StreetAddress if n > 1 => {
            format!("{}{}", chars[0], stars(n - 1))
        }
        _ => stars(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: PiiType, start: usize, end: usize) -> PiiMatch {
        PiiMatch {
            kind,
            start,
            end,
            preview: String::new(),
            confidence: 1.0,
        }
    }

    #[test]
    fn styles() {
        let text = "a 你好 b";
        let found = [m(PiiType::Person, 2, 8)];
        assert_eq!(redact(text, &found, RedactStyle::Mask), "a ** b");
        assert_eq!(
            redact(text, &found, RedactStyle::TypePlaceholder),
            "a <PERSON> b"
        );
    }

    #[test]
    fn bad_spans_are_skipped() {
        let text = "你好 world";
        let found = [
            m(PiiType::Person, 1, 3),    // inside a char
            m(PiiType::Person, 7, 99),   // out of range
            m(PiiType::Person, 5, 5),    // empty
            m(PiiType::Person, 7, 12),   // fine
            m(PiiType::Location, 8, 10), // overlaps the previous
        ];
        assert_eq!(redact(text, &found, RedactStyle::Mask), "你好 *****");
    }

    #[test]
    fn previews_hide_values() {
        assert_eq!(
            preview(PiiType::CreditCard, "4111 1111 1111 1111"),
            "***************1111"
        );
        assert_eq!(
            preview(PiiType::EmailAddress, "jane@example.com"),
            "j***@***.com"
        );
        assert_eq!(
            preview(PiiType::ApiKey, "ghp_8Kd02mZxQv7LpR4tYw9NcB3aHs6UeF1gJi5o"),
            "ghp_****"
        );
        assert_eq!(preview(PiiType::ApiKey, "Xk93!mQz7LpV2rTb8Nw"), "****");
        assert_eq!(preview(PiiType::Person, "张伟"), "张*");
        assert_eq!(preview(PiiType::UsSsn, "12"), "**");
    }
}
