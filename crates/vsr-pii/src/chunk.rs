//! Overlapping chunks of long inputs (HEAD's PII text window): a chunk holds at most
//! [`PII_CHUNK_BUDGET`] "quarter-token units" — a CJK character costs 6, a letter or digit
//! that starts a word 2, any other character 1 — and each chunk after the first starts
//! [`PII_CHUNK_OVERLAP`] characters before the previous one ended, so a finding that straddles
//! a boundary is whole in one of them. Chunks with the same text as an earlier one are dropped.

/// Units per chunk for PII scanning.
pub const PII_CHUNK_BUDGET: usize = 512;
/// Characters shared by neighbouring chunks.
pub const PII_CHUNK_OVERLAP: usize = 64;

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2EBEF | 0xF900..=0xFAFF
        | 0x3040..=0x30FF | 0xAC00..=0xD7AF)
}

/// The unit cost of `c` given the character before it.
fn units(c: char, prev: Option<char>) -> usize {
    if is_cjk(c) {
        6
    } else if c.is_alphanumeric() && !prev.is_some_and(char::is_alphanumeric) {
        2
    } else {
        1
    }
}

/// Byte ranges of the chunks of `text` (one range covering it all when it fits `budget`).
/// `overlap` is counted in characters and is kept below each chunk's length, so the scan
/// always advances.
pub fn chunks(text: &str, budget: usize, overlap: usize) -> Vec<std::ops::Range<usize>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let budget = budget.max(6);
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut start = 0; // index into chars
    while start < chars.len() {
        let mut used = 0;
        let mut end = start;
        while end < chars.len() {
            let prev = end.checked_sub(1).map(|i| chars[i].1);
            let cost = units(chars[end].1, prev);
            if used + cost > budget && end > start {
                break;
            }
            used += cost;
            end += 1;
        }
        let from = chars[start].0;
        let to = chars.get(end).map_or(text.len(), |c| c.0);
        if seen.insert(&text[from..to]) {
            out.push(from..to);
        }
        if end >= chars.len() {
            break;
        }
        start = end.saturating_sub(overlap).max(start + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(chunks("hello world", 512, 64), vec![(0..11)]);
        assert!(chunks("", 512, 64).is_empty());
    }

    #[test]
    fn long_text_overlaps_and_covers_everything() {
        let text: String = (0..400).map(|i| format!("w{:03} ", i)).collect();
        let c = chunks(&text, 512, 64);
        assert!(c.len() >= 5, "{c:?}");
        assert_eq!(c[0].start, 0);
        assert_eq!(c.last().unwrap().end, text.len());
        for w in c.windows(2) {
            assert_eq!(w[0].end - w[1].start, 64, "64 characters shared");
        }
    }

    #[test]
    fn cjk_costs_six_and_duplicates_go() {
        let text = "你".repeat(200);
        let c = chunks(&text, 512, 64);
        // 85 characters fit (510 units); identical windows of the repeated text are dropped.
        assert_eq!(c[0].end, 85 * 3);
        assert!(c.len() < 4, "{c:?}");
        let mixed = format!("{}电话13812345678", "数".repeat(120));
        assert!(
            chunks(&mixed, 512, 64)
                .iter()
                .any(|r| mixed[r.clone()].contains("13812345678"))
        );
    }
}
