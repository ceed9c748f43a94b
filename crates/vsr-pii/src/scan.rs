//! Small text helpers shared by the recognisers.
//!
//! The regex crate's `\b` is Unicode-aware, so it sees no boundary between `机` and `1` in
//! `手机13800138000`. Recognisers therefore match without `\b` and check their edges here,
//! looking only at ASCII letters and digits.

/// The character before byte offset `i`.
pub fn char_before(text: &str, i: usize) -> Option<char> {
    text.get(..i)?.chars().next_back()
}

/// The character at byte offset `i`.
pub fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..)?.chars().next()
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// True when `text[start..end]` is not glued to a neighbouring ASCII word, and is not one piece of
/// a longer token joined by `-`, `.`, `/` or `:` (a version, a date, a path, a longer number).
pub fn isolated(text: &str, start: usize, end: usize) -> bool {
    let before = char_before(text, start);
    if is_word(before) {
        return false;
    }
    if matches!(before, Some('-' | '.' | '/' | ':' | '+')) {
        let prev = before.and_then(|c| char_before(text, start - c.len_utf8()));
        if is_word(prev) {
            return false;
        }
    }
    let after = char_at(text, end);
    if is_word(after) {
        return false;
    }
    if matches!(after, Some('-' | '.' | '/' | ':')) {
        let next = after.and_then(|c| char_at(text, end + c.len_utf8()));
        if is_word(next) {
            return false;
        }
    }
    true
}

/// Whether one of `cues` (lower-case) occurs in the `window` bytes before `start`, compared
/// case-insensitively.
pub fn cue_before(text: &str, start: usize, window: usize, cues: &[&str]) -> bool {
    let mut from = start.saturating_sub(window);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let Some(context) = text.get(from..start) else {
        return false;
    };
    let lower = context.to_lowercase();
    cues.iter().any(|cue| lower.contains(cue))
}

/// The word (ASCII letters, or a run of CJK characters) immediately before `start`, skipping
/// spaces, lower-cased.
pub fn word_before(text: &str, start: usize) -> String {
    let head = text.get(..start).unwrap_or("").trim_end();
    let mut word: Vec<char> = head
        .chars()
        .rev()
        .take_while(|c| c.is_alphabetic())
        .take(16)
        .collect();
    word.reverse();
    word.into_iter().flat_map(char::to_lowercase).collect()
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Looks like machine-generated key material rather than an identifier or a word: it mixes
/// letters and digits and its characters are spread out.
pub fn looks_random(s: &str) -> bool {
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    let has_alpha = s.bytes().any(|b| b.is_ascii_alphabetic());
    has_digit && has_alpha && entropy(s) >= 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation() {
        let t = "手机13800138000谢谢";
        let s = t.find('1').unwrap();
        assert!(isolated(t, s, s + 11));
        let t = "v1.2.3.4";
        assert!(!isolated(t, 1, 8));
        let t = "1.2.3.4.5";
        assert!(!isolated(t, 0, 7));
        let t = "ip 1.2.3.4.";
        assert!(isolated(t, 3, 10));
        let t = "x 10.0.0.5:8080";
        assert!(!isolated(t, 2, 10));
    }

    #[test]
    fn cues_and_words() {
        let t = "My SSN: 123";
        assert!(cue_before(t, 8, 20, &["ssn"]));
        assert!(!cue_before(t, 2, 20, &["ssn"]));
        assert_eq!(word_before("upgrade to version 2.4", 19), "version");
        assert_eq!(word_before("版本 2.4", "版本 ".len()), "版本");
        assert_eq!(word_before("", 0), "");
    }

    #[test]
    fn randomness() {
        assert!(looks_random("9f8Qz2LkX7vB4nT1mW6cR3yH5pJ0sD8a"));
        assert!(!looks_random("prod-db-credentials"));
        assert!(!looks_random("aaaaaaaa11111111"));
        assert_eq!(entropy(""), 0.0);
    }
}
