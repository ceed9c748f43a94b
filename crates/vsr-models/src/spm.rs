//! A small SentencePiece Unigram tokenizer that reads the `.model` protobuf directly.
//!
//! It implements what the USE-multilingual-v3 model needs: the precompiled `nmt_nfkc`
//! charsmap (a darts-clone double-array trie with a NUL-separated replacement table),
//! whitespace handling (dummy prefix, `▁` escaping, collapsing runs of spaces) and the
//! Unigram Viterbi segmentation. A HashMap of pieces and their prefixes keeps the
//! resident size small (about 15 MB for 128k pieces) compared with a generic trie.
use std::collections::HashMap;
use std::path::Path;

use crate::error::ModelError;
use crate::proto::{ProtoReader, Value};

const SPACE: &str = "\u{2581}";

/// Piece types of the SentencePiece model proto.
const TYPE_UNKNOWN: u64 = 2;
const TYPE_CONTROL: u64 = 3;

/// A SentencePiece Unigram tokenizer.
pub struct SpmTokenizer {
    /// piece text (and every proper prefix of a piece) -> piece id + 1, or 0 for a prefix only.
    prefixes: HashMap<Box<str>, u32>,
    scores: Vec<f32>,
    max_piece_chars: usize,
    unk_id: u32,
    bos_id: u32,
    eos_id: u32,
    unk_score: f64,
    normalizer: Normalizer,
}

impl SpmTokenizer {
    /// Reads a SentencePiece `.model` file.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let data = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_bytes(&data).map_err(|msg| ModelError::format(path, msg))
    }

    /// Parses a SentencePiece model proto.
    pub fn from_bytes(data: &[u8]) -> Result<Self, String> {
        let mut pieces: Vec<(String, f32, u64)> = Vec::new();
        let mut charsmap: &[u8] = &[];
        let mut flags = [true, true, true]; // add_dummy_prefix, remove_extra_ws, escape_ws
        for field in ProtoReader::new(data) {
            let (num, value) = field?;
            match (num, value) {
                (1, Value::Bytes(msg)) => {
                    let (mut text, mut score, mut kind) = (None, 0.0f32, 1u64);
                    for f in ProtoReader::new(msg) {
                        match f? {
                            (1, Value::Bytes(s)) => {
                                text = Some(
                                    std::str::from_utf8(s)
                                        .map_err(|_| "piece is not UTF-8".to_string())?
                                        .to_string(),
                                )
                            }
                            (2, Value::Fixed32(bits)) => score = f32::from_bits(bits),
                            (3, Value::Varint(v)) => kind = v,
                            _ => {}
                        }
                    }
                    let text = text.ok_or("piece without text")?;
                    pieces.push((text, score, kind));
                }
                // normalizer_spec: precompiled charsmap and the whitespace flags.
                (3, Value::Bytes(msg)) => {
                    for f in ProtoReader::new(msg) {
                        match f? {
                            (2, Value::Bytes(b)) => charsmap = b,
                            (3, Value::Varint(v)) => flags[0] = v != 0,
                            (4, Value::Varint(v)) => flags[1] = v != 0,
                            (5, Value::Varint(v)) => flags[2] = v != 0,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if pieces.is_empty() {
            return Err("no pieces in the SentencePiece model".into());
        }
        let find = |kind: u64, text: &str, default: u32| {
            pieces
                .iter()
                .position(|(t, _, k)| *k == kind && t == text)
                .map_or(default, |i| i as u32)
        };
        let unk_id = pieces
            .iter()
            .position(|(_, _, k)| *k == TYPE_UNKNOWN)
            .unwrap_or(0) as u32;
        let bos_id = find(TYPE_CONTROL, "<s>", 1);
        let eos_id = find(TYPE_CONTROL, "</s>", 2);
        // Without `<s>` / `</s>` pieces the conventional ids must still name a piece: an id past
        // the vocabulary would index outside the encoder's embedding table.
        if bos_id as usize >= pieces.len() || eos_id as usize >= pieces.len() {
            return Err(format!(
                "no <s> / </s> control pieces, and {} pieces are too few for their default ids 1 and 2",
                pieces.len()
            ));
        }

        let mut prefixes: HashMap<Box<str>, u32> = HashMap::with_capacity(pieces.len() * 2);
        let mut max_piece_chars = 1;
        let mut min_score = f32::INFINITY;
        for (id, (text, score, kind)) in pieces.iter().enumerate() {
            min_score = min_score.min(*score);
            // Control and unknown pieces never match input text.
            if *kind == TYPE_CONTROL || *kind == TYPE_UNKNOWN {
                continue;
            }
            let mut n = 0;
            for (i, c) in text.char_indices() {
                n += 1;
                let end = i + c.len_utf8();
                if end < text.len() {
                    prefixes.entry(text[..end].into()).or_insert(0);
                }
            }
            max_piece_chars = max_piece_chars.max(n);
            prefixes.insert(text.as_str().into(), id as u32 + 1);
        }
        prefixes.shrink_to_fit();
        Ok(SpmTokenizer {
            prefixes,
            scores: pieces.iter().map(|p| p.1).collect(),
            max_piece_chars,
            unk_id,
            bos_id,
            eos_id,
            unk_score: f64::from(min_score) - 10.0,
            normalizer: Normalizer::new(charsmap, flags)?,
        })
    }

    /// Number of pieces in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.scores.len()
    }

    /// Token ids of `text` with the sentence markers `<s>` … `</s>` around them.
    pub fn encode_with_markers(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.bos_id];
        ids.extend(self.encode(text));
        ids.push(self.eos_id);
        ids
    }

    /// Token ids of `text` (no sentence markers). Empty text gives one `<unk>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let normalized = self.normalizer.normalize(text);
        if normalized.is_empty() {
            return vec![self.unk_id];
        }
        self.viterbi(&normalized)
    }

    /// Best segmentation under the Unigram model. Ties keep the earliest-found path,
    /// as SentencePiece does.
    fn viterbi(&self, s: &str) -> Vec<u32> {
        let bounds: Vec<usize> = s
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(s.len()))
            .collect();
        let n = bounds.len() - 1;
        let mut best = vec![f64::NEG_INFINITY; n + 1];
        best[0] = 0.0;
        let mut start_of = vec![0usize; n + 1];
        let mut piece_of = vec![self.unk_id; n + 1];
        for i in 0..n {
            let base = best[i];
            let stop = (i + self.max_piece_chars).min(n);
            let mut has_single = false;
            for j in i + 1..=stop {
                let Some(&v) = self.prefixes.get(&s[bounds[i]..bounds[j]]) else {
                    break;
                };
                if v == 0 {
                    continue;
                }
                let score = base + f64::from(self.scores[v as usize - 1]);
                if score > best[j] {
                    best[j] = score;
                    start_of[j] = i;
                    piece_of[j] = v - 1;
                }
                if j == i + 1 {
                    has_single = true;
                }
            }
            if !has_single {
                let score = base + self.unk_score;
                if score > best[i + 1] {
                    best[i + 1] = score;
                    start_of[i + 1] = i;
                    piece_of[i + 1] = self.unk_id;
                }
            }
        }
        let mut ids = Vec::new();
        let mut p = n;
        while p > 0 {
            ids.push(piece_of[p]);
            p = start_of[p];
        }
        ids.reverse();
        ids
    }
}

/// SentencePiece text normalizer over a precompiled charsmap.
struct Normalizer {
    units: Vec<u32>,
    replacements: Vec<u8>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
}

impl Normalizer {
    fn new(charsmap: &[u8], flags: [bool; 3]) -> Result<Self, String> {
        let (units, replacements) = if charsmap.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let size = charsmap
                .get(..4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or("charsmap too short")?;
            let trie = charsmap.get(4..4 + size).ok_or("charsmap trie truncated")?;
            let units = trie
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (units, charsmap[4 + size..].to_vec())
        };
        Ok(Normalizer {
            units,
            replacements,
            add_dummy_prefix: flags[0],
            remove_extra_whitespaces: flags[1],
            escape_whitespaces: flags[2],
        })
    }

    fn offset(unit: u32) -> usize {
        ((unit >> 10) << ((unit & 0x200) >> 6)) as usize
    }

    /// The normalized form of the longest charsmap key at `data[pos..]`, and how many
    /// input bytes it consumed. Without a match the next UTF-8 character is kept as is.
    fn normalize_prefix<'a>(&'a self, data: &'a [u8], pos: usize) -> (&'a [u8], usize) {
        let mut best_len = 0;
        let mut best_value = 0usize;
        if let Some(&root) = self.units.first() {
            let mut node = Self::offset(root);
            for (k, &c) in data[pos..].iter().enumerate() {
                node ^= c as usize;
                let Some(&unit) = self.units.get(node) else {
                    break;
                };
                if unit & 0x8000_00FF != u32::from(c) {
                    break;
                }
                node ^= Self::offset(unit);
                if unit & 0x100 != 0 {
                    let Some(&leaf) = self.units.get(node) else {
                        break;
                    };
                    best_len = k + 1;
                    best_value = (leaf & 0x7FFF_FFFF) as usize;
                }
            }
        }
        if best_len == 0 || best_value >= self.replacements.len() {
            let len = utf8_len(data[pos]).min(data.len() - pos);
            return (&data[pos..pos + len], len);
        }
        let rest = &self.replacements[best_value..];
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        (&rest[..end], best_len)
    }

    fn normalize(&self, text: &str) -> String {
        let data = text.as_bytes();
        let mut pos = 0;
        let strip = self.remove_extra_whitespaces;
        if strip {
            while pos < data.len() {
                let (p, adv) = self.normalize_prefix(data, pos);
                if p != b" " {
                    break;
                }
                pos += adv;
            }
        }
        if pos >= data.len() {
            return String::new();
        }
        let space: &[u8] = if self.escape_whitespaces {
            SPACE.as_bytes()
        } else {
            b" "
        };
        let mut out: Vec<u8> = Vec::with_capacity(data.len() + 8);
        if self.add_dummy_prefix {
            out.extend_from_slice(space);
        }
        let mut prev_space = strip;
        while pos < data.len() {
            let (mut p, adv) = self.normalize_prefix(data, pos);
            pos += adv;
            if strip && prev_space {
                while let [b' ', rest @ ..] = p {
                    p = rest;
                }
            }
            if let Some(&last) = p.last() {
                for &b in p {
                    if b == b' ' {
                        out.extend_from_slice(space);
                    } else {
                        out.push(b);
                    }
                }
                prev_space = last == b' ';
            }
        }
        if strip {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
        }
        // The charsmap maps whole characters to valid UTF-8, so this is lossless.
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a tiny model proto by hand: pieces plus an empty normalizer spec.
    fn tiny_model(pieces: &[(&str, f32, u64)]) -> Vec<u8> {
        fn varint(mut v: u64, out: &mut Vec<u8>) {
            loop {
                let b = (v & 0x7F) as u8;
                v >>= 7;
                if v == 0 {
                    out.push(b);
                    break;
                }
                out.push(b | 0x80);
            }
        }
        let mut out = Vec::new();
        for (text, score, kind) in pieces {
            let mut msg = vec![0x0A];
            varint(text.len() as u64, &mut msg);
            msg.extend_from_slice(text.as_bytes());
            msg.push(0x15);
            msg.extend_from_slice(&score.to_le_bytes());
            msg.push(0x18);
            varint(*kind, &mut msg);
            out.push(0x0A);
            varint(msg.len() as u64, &mut out);
            out.extend_from_slice(&msg);
        }
        out
    }

    fn tokenizer() -> SpmTokenizer {
        let model = tiny_model(&[
            ("<unk>", 0.0, 2),
            ("<s>", 0.0, 3),
            ("</s>", 0.0, 3),
            ("\u{2581}", -2.0, 1),
            ("\u{2581}ab", -1.0, 1),
            ("a", -3.0, 1),
            ("b", -3.0, 1),
            ("c", -3.0, 1),
            ("\u{2581}abc", -10.0, 1),
            ("bc", -1.5, 1),
        ]);
        SpmTokenizer::from_bytes(&model).unwrap()
    }

    #[test]
    fn viterbi_picks_the_best_path() {
        let t = tokenizer();
        // "▁ab"+"c" = -4 beats "▁abc" = -10 and "▁"+"a"+"bc" = -6.5.
        assert_eq!(t.encode("abc"), vec![4, 7]);
        assert_eq!(t.encode_with_markers("ab"), vec![1, 4, 2]);
    }

    #[test]
    fn whitespace_is_collapsed_and_unknowns_are_kept_one_per_char() {
        let t = tokenizer();
        assert_eq!(t.encode("  ab   ab "), t.encode("ab ab"));
        // "x" and "y" are unknown: one <unk> each, never fused.
        assert_eq!(t.encode("xy"), vec![3, 0, 0]);
        assert_eq!(t.encode(""), vec![0]);
        assert_eq!(t.encode("   "), vec![0]);
    }

    #[test]
    fn control_pieces_do_not_match_text() {
        let t = tokenizer();
        assert!(!t.encode("<s>").contains(&1));
    }

    proptest::proptest! {
        #[test]
        fn any_text_tokenizes_to_known_ids(text in "\\PC{0,40}") {
            let t = tokenizer();
            let ids = t.encode(&text);
            proptest::prop_assert!(!ids.is_empty());
            proptest::prop_assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
        }
    }

    #[test]
    fn markers_outside_a_tiny_vocabulary_are_an_error() {
        // One piece and no `<s>` / `</s>`: the default marker ids 1 and 2 would name no piece.
        let e = SpmTokenizer::from_bytes(&tiny_model(&[("a", -1.0, 1)]))
            .err()
            .expect("refused");
        assert!(e.contains("control pieces"), "{e}");
        let t = SpmTokenizer::from_bytes(&tiny_model(&[
            ("a", -1.0, 1),
            ("b", -1.0, 1),
            ("c", -1.0, 1),
        ]))
        .unwrap();
        assert!(
            t.encode_with_markers("ab")
                .iter()
                .all(|&id| (id as usize) < t.vocab_size())
        );
    }

    #[test]
    fn truncated_proto_is_an_error_not_a_panic() {
        let model = tiny_model(&[("<unk>", 0.0, 2), ("a", -1.0, 1)]);
        for cut in 1..model.len() {
            let _ = SpmTokenizer::from_bytes(&model[..cut]);
        }
        assert!(SpmTokenizer::from_bytes(&[0x0A, 0x05, 0x01]).is_err());
    }
}
