//! Multilingual text helpers shared by the heuristic families.

/// Han, Hiragana, Katakana and Hangul characters: scripts written without spaces between words,
/// where every character is a text unit and no word boundary applies.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x31F0..=0x31FF    // Katakana phonetic extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x1100..=0x11FF    // Hangul jamo
        | 0x3130..=0x318F    // Hangul compatibility jamo
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xFF66..=0xFF9F    // half-width Katakana
        | 0x20000..=0x2FA1F  // CJK extensions B.. and compatibility supplement
    )
}

/// A character that belongs to a word of a space-separated script (letter, digit, `_`).
pub fn is_word_char(c: char) -> bool {
    (c.is_alphanumeric() || c == '_') && !is_cjk(c)
}

/// Multilingual text units: every CJK character is one unit, every maximal run of other letters
/// and digits is one unit; everything else separates units. "don't" is 2 units, "这个 bug" 3.
pub fn text_units(text: &str) -> usize {
    let mut units = 0;
    let mut in_run = false;
    for c in text.chars() {
        if is_cjk(c) {
            units += 1;
            in_run = false;
        } else if c.is_alphanumeric() {
            if !in_run {
                units += 1;
                in_run = true;
            }
        } else {
            in_run = false;
        }
    }
    units
}

/// Whether a hit of `needle` at `start..end` of `hay` stands on word boundaries. A boundary is
/// only required on a side where the needle starts (ends) with a word character of a
/// space-separated script; CJK edges never need one.
pub fn on_boundaries(hay: &str, start: usize, end: usize, needle: &str) -> bool {
    let left_ok = match needle.chars().next() {
        Some(c) if is_word_char(c) => !hay[..start].chars().next_back().is_some_and(is_word_char),
        _ => true,
    };
    let right_ok = match needle.chars().next_back() {
        Some(c) if is_word_char(c) => !hay[end..].chars().next().is_some_and(is_word_char),
        _ => true,
    };
    left_ok && right_ok
}

/// The first boundary-respecting occurrence of `needle` in `hay` at or after byte `from`.
/// Returns the byte range. An empty needle never matches.
pub fn find_word(hay: &str, needle: &str, from: usize) -> Option<(usize, usize)> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    let mut pos = from;
    while let Some(rel) = hay[pos..].find(needle) {
        let start = pos + rel;
        let end = start + needle.len();
        if on_boundaries(hay, start, end, needle) {
            return Some((start, end));
        }
        // Resume one character after the rejected start, so "cat" in "concat cat" is found.
        let step = hay[start..].chars().next().map_or(1, char::len_utf8);
        pos = start + step;
    }
    None
}

/// Number of non-overlapping, boundary-respecting occurrences of `needle` in `hay`.
pub fn count_words(hay: &str, needle: &str) -> usize {
    let mut n = 0;
    let mut pos = 0;
    while let Some((_, end)) = find_word(hay, needle, pos) {
        n += 1;
        pos = end;
    }
    n
}

/// Estimated token count of a text, stable across languages and independent of any model:
/// every CJK character counts 1; every run of other letters and digits counts
/// ⌈characters / 4⌉ (so a short word is 1, "internationalization" 5); every other
/// non-space character (punctuation, symbols, emoji) counts 1; whitespace counts 0.
pub fn estimate_tokens(text: &str) -> u64 {
    let mut tokens = 0u64;
    let mut run = 0u64;
    for c in text.chars() {
        if c.is_alphanumeric() && !is_cjk(c) {
            run += 1;
            continue;
        }
        tokens += run.div_ceil(4);
        run = 0;
        if is_cjk(c) || !c.is_whitespace() {
            tokens += 1;
        }
    }
    tokens + run.div_ceil(4)
}

/// Levenshtein distance over characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Words of a text for fuzzy and n-gram matching: maximal runs of letters and digits of
/// space-separated scripts, plus each CJK character on its own.
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if is_word_char(c) {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            out.push(&text[s..i]);
        }
        if is_cjk(c) {
            out.push(&text[i..i + c.len_utf8()]);
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_multilingual_rule() {
        assert_eq!(text_units("don't"), 2);
        assert_eq!(text_units("这个 bug"), 3);
        assert_eq!(text_units("  "), 0);
        assert_eq!(text_units("Ünïcode wörds 42"), 3);
    }

    #[test]
    fn boundaries_are_unicode_aware_and_skip_cjk() {
        assert!(find_word("strengthen", "then", 0).is_none());
        assert!(find_word("then we go", "then", 0).is_some());
        assert!(find_word("naïve approach", "ve", 0).is_none());
        assert!(find_word("ça marche", "ça", 0).is_some());
        assert!(find_word("我们签了合同条款吗", "合同条款", 0).is_some());
        assert!(find_word("tl;dr please", "tl;dr", 0).is_some());
        assert_eq!(find_word("concat cat", "cat", 0), Some((7, 10)));
        assert!(find_word("abc", "", 0).is_none());
    }

    #[test]
    fn counting_is_non_overlapping() {
        assert_eq!(count_words("json, JSON json", "json"), 2);
        assert_eq!(count_words("aaaa", "aa"), 0); // "aa" inside a word never stands alone
        assert_eq!(count_words("表格表格", "表格"), 2);
    }

    #[test]
    fn token_estimate_is_multilingual() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("Who are you?"), 4);
        assert_eq!(estimate_tokens("internationalization"), 5);
        assert_eq!(estimate_tokens("水的化学式是什么？"), 9);
        assert_eq!(estimate_tokens("  \n\t "), 0);
    }

    #[test]
    fn levenshtein_basics() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("合同", "合同"), 0);
    }

    #[test]
    fn words_split_cjk_per_character() {
        assert_eq!(words("Hi 你好, bob_1!"), vec!["Hi", "你", "好", "bob_1"]);
    }
}

/// Longest text (in Unicode scalar values) the semantic families read unchanged under the
/// upstream-HEAD rules (head-delta §11).
pub const BOUNDED_TEXT_MAX: usize = 2048;
/// The line that replaces each omitted stretch of a sampled text.
pub const OMISSION_LINE: &str = "\n... [content sampled for routing signal evaluation] ...\n";

/// The bounded semantic text: `text` itself when it has at most [`BOUNDED_TEXT_MAX`] scalar
/// values, else its first 682, a centred middle 682 and its last 684 ([`bounded_slices`]),
/// joined by [`OMISSION_LINE`], so a long prompt's beginning, middle and end all reach the
/// encoder.
pub fn bounded_text(text: &str) -> std::borrow::Cow<'_, str> {
    let slices = bounded_slices(text);
    if slices.len() == 1 {
        return std::borrow::Cow::Borrowed(text);
    }
    let parts: Vec<&str> = slices.iter().map(|(_, s)| *s).collect();
    std::borrow::Cow::Owned(parts.join(OMISSION_LINE))
}

/// The stretches of `text` that [`bounded_text`] keeps, each with its byte offset in `text`:
/// the whole text, or its head, centred middle and tail. For readers that must map findings
/// back to the text (the PII classifier).
pub fn bounded_slices(text: &str) -> Vec<(usize, &str)> {
    const HEAD: usize = 682;
    const MIDDLE: usize = 682;
    const TAIL: usize = 684;
    let n = text.chars().count();
    if n <= BOUNDED_TEXT_MAX {
        return vec![(0, text)];
    }
    // Byte offset of the i-th scalar value.
    let at = |i: usize| text.char_indices().nth(i).map_or(text.len(), |(b, _)| b);
    let mid_start = (n - MIDDLE) / 2;
    let (h, m0, m1, t) = (
        at(HEAD),
        at(mid_start),
        at(mid_start + MIDDLE),
        at(n - TAIL),
    );
    vec![(0, &text[..h]), (m0, &text[m0..m1]), (t, &text[t..])]
}

#[cfg(test)]
mod bounded_tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_sampled_head_middle_tail() {
        assert_eq!(bounded_text("héllo"), "héllo");
        let exact: String = "é".repeat(BOUNDED_TEXT_MAX);
        assert_eq!(bounded_text(&exact), exact);
        let long: String = (0..5000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let b = bounded_text(&long);
        let parts: Vec<&str> = b.split(OMISSION_LINE).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].chars().count(), 682);
        assert_eq!(parts[1].chars().count(), 682);
        assert_eq!(parts[2].chars().count(), 684);
        assert!(long.starts_with(parts[0]) && long.ends_with(parts[2]));
        assert_eq!(&long[(5000 - 682) / 2..][..682], parts[1]);
    }
}

/// The cost of one character in a scanning window, an estimate of quarter tokens: a CJK
/// character 6, the first letter or digit of a word 2, every other character 1.
fn window_cost(c: char, prev: Option<char>) -> usize {
    if is_cjk(c) {
        6
    } else if c.is_alphanumeric() && !prev.is_some_and(|p| p.is_alphanumeric() && !is_cjk(p)) {
        2
    } else {
        1
    }
}

/// Overlapping windows of `text`, each costing at most `budget` units ([`window_cost`]; upstream HEAD scans
/// jailbreak text in 1536-unit windows, PII in 512, both with 64 characters of overlap) and
/// sharing `overlap` characters with the previous one; a text within the budget is one window
/// (itself). Identical windows are kept once. Classifiers read each window on its own, so a
/// long prompt is judged by its worst part rather than by one averaged embedding.
pub fn scan_windows(text: &str, budget: usize, overlap: usize) -> Vec<&str> {
    let idx: Vec<(usize, char)> = text.char_indices().collect();
    let n = idx.len();
    let byte_at = |i: usize| idx.get(i).map_or(text.len(), |(b, _)| *b);
    let mut out: Vec<&str> = Vec::new();
    let mut start = 0;
    while start < n {
        let mut cost = 0;
        let mut end = start;
        while end < n {
            let prev = end.checked_sub(1).map(|p| idx[p].1);
            let c = window_cost(idx[end].1, prev.filter(|_| end > start));
            if cost + c > budget && end > start {
                break;
            }
            cost += c;
            end += 1;
        }
        let w = &text[byte_at(start)..byte_at(end)];
        if !out.contains(&w) {
            out.push(w);
        }
        if end >= n {
            break;
        }
        start = end.saturating_sub(overlap).max(start + 1);
    }
    if out.is_empty() {
        out.push(text);
    }
    out
}

#[cfg(test)]
mod window_tests {
    use super::*;

    #[test]
    fn short_text_is_one_window() {
        assert_eq!(scan_windows("hello world", 1536, 64), vec!["hello world"]);
        assert_eq!(scan_windows("", 1536, 64), vec![""]);
    }

    #[test]
    fn long_text_is_covered_by_overlapping_windows_within_budget() {
        let text: String = (0..400).map(|i| format!("word{i} ")).collect();
        let w = scan_windows(&text, 300, 20);
        assert!(w.len() > 5, "{}", w.len());
        for win in &w {
            let mut cost = 0;
            let mut prev = None;
            for c in win.chars() {
                cost += window_cost(c, prev);
                prev = Some(c);
            }
            assert!(cost <= 300, "{cost}");
        }
        assert!(text.starts_with(w[0]) && text.ends_with(w[w.len() - 1]));
        // Consecutive windows share exactly the overlap.
        let first_tail: String = w[0].chars().rev().take(20).collect();
        let second_head: String = w[1].chars().take(20).collect::<String>();
        assert_eq!(first_tail.chars().rev().collect::<String>(), second_head);
    }

    #[test]
    fn cjk_characters_cost_six_units() {
        let text: String = (0..100u32)
            .map(|i| char::from_u32(0x4E00 + i).expect("CJK"))
            .collect();
        let w = scan_windows(&text, 60, 2);
        assert_eq!(w[0].chars().count(), 10);
        assert_eq!(w[1].chars().count(), 10);
        assert!(text.ends_with(w[w.len() - 1]));
        // Identical windows are kept once.
        assert_eq!(scan_windows(&"你".repeat(100), 60, 2).len(), 2);
    }
}
