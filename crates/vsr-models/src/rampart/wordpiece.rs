//! BERT's uncased WordPiece tokenizer (the `BertNormalizer` + `BertPreTokenizer` +
//! `WordPiece` of the model's `tokenizer.json`), keeping each token's byte span in the
//! original text so that findings point at the caller's text.

use std::collections::HashMap;

use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// A token id with the byte span of the original text it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub id: u32,
    pub start: usize,
    pub end: usize,
    /// True for the first piece of a word (not a `##` continuation).
    pub word_start: bool,
}

pub struct WordPiece {
    vocab: HashMap<String, u32>,
    pub unk: u32,
    pub cls: u32,
    pub sep: u32,
}

/// Words longer than this (in characters) become one `[UNK]`, as in BERT.
const MAX_WORD_CHARS: usize = 100;

impl WordPiece {
    /// Reads `vocab.txt` (one piece a line; the line number is the id).
    pub fn from_vocab(text: &str) -> Result<Self, String> {
        let vocab: HashMap<String, u32> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (l.to_string(), i as u32))
            .collect();
        let get = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| format!("vocab lacks {t}"))
        };
        Ok(WordPiece {
            unk: get("[UNK]")?,
            cls: get("[CLS]")?,
            sep: get("[SEP]")?,
            vocab,
        })
    }

    /// The tokens of `text`, without `[CLS]`/`[SEP]`.
    pub fn tokenize(&self, text: &str) -> Vec<Token> {
        let mut out = Vec::new();
        // A word is a run of normalised chars, each with the byte span of its source char.
        let mut word: Vec<(char, usize, usize)> = Vec::new();
        for (at, c) in text.char_indices() {
            let end = at + c.len_utf8();
            // BERT's clean-up drops every "other" character (controls, format characters
            // such as U+200B, private use), so the words around them join.
            if c == '\0' || c == '\u{fffd}' || (c.is_other() && !matches!(c, '\t' | '\n' | '\r')) {
                continue;
            }
            if c.is_whitespace() {
                self.flush(&mut word, &mut out);
                continue;
            }
            if is_cjk(c) || is_punctuation(c) {
                self.flush(&mut word, &mut out);
                word.extend(normalise(c).map(|n| (n, at, end)));
                self.flush(&mut word, &mut out);
                continue;
            }
            word.extend(normalise(c).map(|n| (n, at, end)));
        }
        self.flush(&mut word, &mut out);
        out
    }

    fn flush(&self, word: &mut Vec<(char, usize, usize)>, out: &mut Vec<Token>) {
        if word.is_empty() {
            return;
        }
        let (start, end) = (word[0].1, word[word.len() - 1].2);
        if word.len() > MAX_WORD_CHARS {
            out.push(Token {
                id: self.unk,
                start,
                end,
                word_start: true,
            });
            word.clear();
            return;
        }
        let chars: Vec<char> = word.iter().map(|w| w.0).collect();
        let mut pieces = Vec::new();
        let mut from = 0;
        let mut piece = String::new();
        while from < chars.len() {
            let mut to = chars.len();
            let mut found = None;
            while to > from {
                piece.clear();
                if from > 0 {
                    piece.push_str("##");
                }
                piece.extend(&chars[from..to]);
                if let Some(&id) = self.vocab.get(&piece) {
                    found = Some(id);
                    break;
                }
                to -= 1;
            }
            let Some(id) = found else {
                pieces.clear();
                break;
            };
            pieces.push(Token {
                id,
                start: word[from].1,
                end: word[to - 1].2,
                word_start: from == 0,
            });
            from = to;
        }
        if pieces.is_empty() {
            out.push(Token {
                id: self.unk,
                start,
                end,
                word_start: true,
            });
        } else {
            out.extend(pieces);
        }
        word.clear();
    }
}

/// NFD with the nonspacing marks dropped, then lower case (BERT's `strip_accents` and
/// `lowercase`, in that order).
fn normalise(c: char) -> impl Iterator<Item = char> {
    std::iter::once(c)
        .nfd()
        .filter(|c| !c.is_mark_nonspacing())
        .flat_map(char::to_lowercase)
        .collect::<Vec<_>>()
        .into_iter()
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// BERT splits on ASCII symbols and on Unicode punctuation (categories P*) only: `€100`
/// stays one word. The category tables are the ones the reference tokenizer uses.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> WordPiece {
        WordPiece::from_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\njo\n##hn\nsmith\n@\n.\ncafe\n北")
            .unwrap()
    }

    #[test]
    fn greedy_longest_match_with_offsets() {
        let t = toy();
        let text = "John  SMITH. Café 北x";
        let toks = t.tokenize(text);
        let ids: Vec<u32> = toks.iter().map(|t| t.id).collect();
        assert_eq!(ids, [4, 5, 6, 8, 9, 10, 1]);
        assert_eq!(&text[toks[0].start..toks[1].end], "John");
        assert!(!toks[1].word_start);
        assert_eq!(&text[toks[2].start..toks[2].end], "SMITH");
        assert_eq!(&text[toks[4].start..toks[4].end], "Café");
        assert_eq!(&text[toks[6].start..toks[6].end], "x");
    }

    #[test]
    fn symbols_stay_in_words_and_format_characters_vanish() {
        let t = WordPiece::from_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\n€\n##100\nzero\n##width\n,")
            .unwrap();
        let ids = |s: &str| t.tokenize(s).iter().map(|t| t.id).collect::<Vec<_>>();
        // `€` is a currency symbol (Sc), not punctuation: one word with the digits.
        assert_eq!(ids("€100,"), [4, 5, 8]);
        // U+200B (Cf) is dropped before splitting, so the halves form one word.
        assert_eq!(ids("zero\u{200b}width"), [6, 7]);
    }

    #[test]
    fn unknown_words_and_controls() {
        let t = toy();
        let toks = t.tokenize("zzz\u{7}\0 ");
        assert_eq!(toks.len(), 1);
        assert_eq!(toks[0].id, t.unk);
        assert!(t.tokenize("").is_empty());
        assert!(WordPiece::from_vocab("a\nb").is_err());
    }
}
