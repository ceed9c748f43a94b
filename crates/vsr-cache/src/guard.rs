//! The lexical guard of a semantic hit: two prompts whose embeddings are close must also agree
//! on the words that flip an answer. Embeddings put "how to enable X" next to "how to disable
//! X" and "5 km in miles" next to "50 km in miles"; this cheap check (no model, one pass over
//! each prompt, done once per prompt) refuses such pairs. A refusal is a miss, never a wrong
//! answer, so every rule errs on the side of refusing.
//!
//! A prompt's [`Features`]:
//! - **negations**: the multiset of negation markers (English `not`, `no`, `never`, `n't`,
//!   `without`, …; Chinese `不`, `没`, `无`, `非`, `未`, `别`, `勿`, `莫`, `否`);
//! - **numbers**: every numeral in order, normalised (`1,000` = `1000`, `2.50` = `2.5`,
//!   English number words `zero`…`twenty`, tens, `hundred`…`billion`, ordinals `first`…`tenth`
//!   as digits; Chinese numeral characters kept as written);
//! - **entities**: in order of first appearance, lower-cased: words with a capital letter
//!   that are not function words (`Python`, `SQL`, `McDonald`), quoted strings (`"…"`, `'…'`,
//!   `` `…` ``), code identifiers (a word with `_`, `.`, `/`, `::`, `()`, a digit inside or an
//!   inner capital), and URLs;
//! - **content words**: the set of the other words, lower-cased and stemmed (`-s`, `-es`,
//!   `-ed`, `-ing`, `-ly` stripped), leaving out function words and request framing ("how",
//!   "please", "tell me", "explain"); each Han character that is not a function character
//!   counts as a word.
//!
//! Entities count as content words too (so `SSH` meets `ssh`). Two prompts agree iff their
//! negations, numbers (in order) and content-word sets are equal and the entities they share
//! come in the same order. Equal content-word sets make antonyms ("enable" / "disable",
//! "upload" / "download"), replaced names and replaced common nouns ("rice" / "pasta")
//! refuse; the orders make swaps ("English to French" / "French to English", "10 / 2" /
//! "2 / 10") refuse.

use std::collections::BTreeSet;

/// What the guard compares, computed once per prompt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Features {
    pub negations: Vec<String>,
    pub numbers: Vec<String>,
    pub entities: Vec<String>,
    pub content: BTreeSet<String>,
}

/// Why two prompts do not agree (the first check that failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disagreement {
    Negation,
    Numbers,
    Entities,
    ContentWords,
}

impl Disagreement {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Negation => "negation",
            Self::Numbers => "numbers",
            Self::Entities => "entities",
            Self::ContentWords => "content_words",
        }
    }
}

impl Features {
    /// The features of one prompt.
    pub fn of(text: &str) -> Self {
        let mut f = Features::default();
        let mut rest = String::with_capacity(text.len());
        // Quoted strings and URLs are entities whole; the rest of the text is tokenised.
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if matches!(c, '"' | '`' | '“' | '「') || (c == '\'' && starts_quote(text, i)) {
                let close = match c {
                    '“' => '”',
                    '「' => '」',
                    other => other,
                };
                let start = i + c.len_utf8();
                if let Some(len) = text[start..].find(close).filter(|&l| l > 0) {
                    push_entity(&mut f, text[start..start + len].trim().to_lowercase());
                    // Skip past the closing quote.
                    while let Some(&(j, _)) = chars.peek() {
                        if j > start + len {
                            break;
                        }
                        chars.next();
                    }
                    rest.push(' ');
                    continue;
                }
            }
            rest.push(c);
        }
        // A capital at the start of a sentence says nothing: that word is read as a
        // content word (a change to it still refuses, only its position is not checked).
        let mut sentence_start = true;
        for raw in rest.split_whitespace() {
            if is_url(raw) {
                let url = raw.trim_end_matches(['.', ',', ')', '?', '!']);
                push_entity(&mut f, url.to_lowercase());
                sentence_start = false;
                continue;
            }
            let token = raw.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
            word_features(token, raw, sentence_start, &mut f);
            sentence_start = raw.ends_with(['.', '?', '!', ':', '。', '？', '！', '：']);
        }
        f
    }

    /// The first check on which `self` and `other` differ, or `None` when they agree.
    pub fn disagreement(&self, other: &Features) -> Option<Disagreement> {
        if self.negations != other.negations {
            Some(Disagreement::Negation)
        } else if self.numbers != other.numbers {
            Some(Disagreement::Numbers)
        } else if self.content != other.content {
            Some(Disagreement::ContentWords)
        } else if common_order(&self.entities, &other.entities)
            != common_order(&other.entities, &self.entities)
        {
            Some(Disagreement::Entities)
        } else {
            None
        }
    }
}

/// An apostrophe opens a quote when it does not sit inside a word (`don't`, `John's`).
fn starts_quote(text: &str, i: usize) -> bool {
    let before = text[..i].chars().next_back();
    !before.is_some_and(char::is_alphanumeric)
}

fn is_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://") || l.starts_with("www.")
}

/// Records an entity: in order among the entities, and as a word among the content words
/// (so a case variant elsewhere, `SSH` / `ssh`, still meets it).
fn push_entity(f: &mut Features, s: String) {
    if s.is_empty() {
        return;
    }
    if s.chars().all(char::is_alphabetic) {
        f.content.insert(stem(&s));
    } else {
        f.content.insert(s.clone());
    }
    if !f.entities.contains(&s) {
        f.entities.push(s);
    }
}

/// Entities both prompts have, in the order of `a`.
fn common_order<'a>(a: &'a [String], b: &[String]) -> Vec<&'a String> {
    a.iter().filter(|e| b.contains(e)).collect()
}

fn word_features(token: &str, raw: &str, sentence_start: bool, f: &mut Features) {
    if token.is_empty() {
        return;
    }
    if token.chars().any(is_han) {
        han_features(token, f);
        return;
    }
    let lower = token.to_lowercase();
    // `don't`, `isn't`, `can't`: the apostrophe form is a negation.
    if lower.ends_with("n't") || lower.ends_with("n’t") || NEGATIONS.contains(&lower.as_str()) {
        f.negations.push(normalise_negation(&lower));
        return;
    }
    if let Some(n) = numeral(token) {
        f.numbers.push(n);
        return;
    }
    if let Some(n) = number_word(&lower) {
        f.numbers.push(n.to_string());
        return;
    }
    if is_identifier(token, raw) {
        push_entity(f, lower);
        return;
    }
    // Possessive and contraction tails carry no content (`France's`, `what's`).
    let base = lower
        .strip_suffix("'s")
        .or_else(|| lower.strip_suffix("’s"))
        .unwrap_or(&lower);
    if FUNCTION_WORDS.contains(&base) {
        return;
    }
    if !sentence_start && token.chars().any(char::is_uppercase) {
        push_entity(f, base.to_string());
        return;
    }
    if base.chars().all(char::is_alphabetic) {
        f.content.insert(stem(base));
    } else if !base.is_empty() {
        // Mixed tokens (`x86`, `3d`) are identifiers.
        push_entity(f, base.to_string());
    }
}

fn normalise_negation(w: &str) -> String {
    if w.ends_with("n't") || w.ends_with("n’t") || w == "cannot" {
        "not".into()
    } else {
        w.to_string()
    }
}

/// A code identifier: snake_case, dotted or path-like, call syntax, camelCase, or letters
/// and digits mixed.
fn is_identifier(token: &str, raw: &str) -> bool {
    let inner_upper =
        token.chars().skip(1).any(char::is_uppercase) && token.chars().any(char::is_lowercase);
    token.contains('_')
        || raw.contains("::")
        || raw.contains("()")
        || (raw
            .trim_end_matches(['.', ',', '?', '!', ':', ';'])
            .contains(['.', '/'])
            && raw.chars().any(char::is_alphabetic))
        || inner_upper
        || (token.chars().any(|c| c.is_ascii_digit()) && token.chars().any(char::is_alphabetic))
}

/// A numeral in digits, normalised: grouping commas dropped, trailing decimal zeros dropped,
/// a leading `+` dropped, the sign kept.
fn numeral(token: &str) -> Option<String> {
    let t = token.trim_start_matches('+');
    let (sign, digits) = match t.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", t),
    };
    if digits.is_empty()
        || !digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
    {
        return None;
    }
    if !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut n: String = digits.chars().filter(|&c| c != ',').collect();
    if n.contains('.') {
        while n.ends_with('0') {
            n.pop();
        }
        if n.ends_with('.') {
            n.pop();
        }
    }
    let n = n.trim_start_matches('0');
    let n = if n.is_empty() || n.starts_with('.') {
        format!("0{n}")
    } else {
        n.to_string()
    };
    Some(format!("{sign}{n}"))
}

/// English number words as digits.
fn number_word(w: &str) -> Option<&'static str> {
    Some(match w {
        "zero" => "0",
        "one" | "first" | "once" | "single" => "1",
        "two" | "second" | "twice" | "pair" | "double" => "2",
        "three" | "third" | "thrice" | "triple" => "3",
        "four" | "fourth" => "4",
        "five" | "fifth" => "5",
        "six" | "sixth" => "6",
        "seven" | "seventh" => "7",
        "eight" | "eighth" => "8",
        "nine" | "ninth" => "9",
        "ten" | "tenth" => "10",
        "eleven" => "11",
        "twelve" | "dozen" => "12",
        "thirteen" => "13",
        "fourteen" => "14",
        "fifteen" => "15",
        "sixteen" => "16",
        "seventeen" => "17",
        "eighteen" => "18",
        "nineteen" => "19",
        "twenty" => "20",
        "thirty" => "30",
        "forty" => "40",
        "fifty" | "half" => "50",
        "sixty" => "60",
        "seventy" => "70",
        "eighty" => "80",
        "ninety" => "90",
        "hundred" => "100",
        "thousand" => "1000",
        "million" => "1000000",
        "billion" => "1000000000",
        _ => return None,
    })
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// Han text has no spaces: each character is read on its own. Negation and numeral
/// characters go to their lists; function characters are dropped; every other character is
/// a content word. Latin runs inside the token are read as words.
fn han_features(token: &str, f: &mut Features) {
    let mut latin = String::new();
    let flush = |latin: &mut String, f: &mut Features| {
        if !latin.is_empty() {
            let w = std::mem::take(latin);
            word_features(&w, &w, false, f);
        }
    };
    for c in token.chars() {
        if !is_han(c) {
            if c.is_alphanumeric() || c == '_' {
                latin.push(c);
            } else {
                flush(&mut latin, f);
            }
            continue;
        }
        flush(&mut latin, f);
        if HAN_NEGATIONS.contains(&c) {
            f.negations.push(c.to_string());
        } else if HAN_NUMERALS.contains(&c) {
            f.numbers.push(c.to_string());
        } else if !HAN_FUNCTION.contains(&c) {
            f.content.insert(c.to_string());
        }
    }
    flush(&mut latin, f);
}

/// A light suffix stemmer: enough that "reverse", "reversing" and "reverses" meet.
fn stem(w: &str) -> String {
    let n = w.chars().count();
    for (suffix, min) in [
        ("ies", 5),
        ("ing", 6),
        ("ed", 5),
        ("es", 5),
        ("ly", 6),
        ("s", 4),
    ] {
        if n >= min
            && let Some(base) = w.strip_suffix(suffix)
            && !(suffix == "s" && base.ends_with('s'))
        {
            let base = if suffix == "ies" {
                format!("{base}y")
            } else {
                base.to_string()
            };
            return base.trim_end_matches('e').to_string();
        }
    }
    w.trim_end_matches('e').to_string()
}

const NEGATIONS: &[&str] = &[
    "not",
    "no",
    "never",
    "none",
    "nothing",
    "nobody",
    "nowhere",
    "neither",
    "nor",
    "without",
    "cannot",
    "dont",
    "doesnt",
    "didnt",
    "isnt",
    "arent",
    "wasnt",
    "werent",
    "wont",
    "cant",
    "shouldnt",
    "wouldnt",
    "couldnt",
    "havent",
    "hasnt",
    "hadnt",
    "mustnt",
    "neednt",
    "except",
    "excluding",
    "avoid",
    "instead",
];

/// Function words and request framing: words that do not change what is asked. Particles
/// that flip a phrasal verb (`in`/`out`, `on`/`off`, `up`/`down`, `over`, `into`) are not
/// here: they count as content words ("zoom in" / "zoom out").
const FUNCTION_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "this",
    "that",
    "these",
    "those",
    "some",
    "any",
    "i",
    "me",
    "my",
    "mine",
    "we",
    "us",
    "our",
    "you",
    "your",
    "it",
    "its",
    "he",
    "she",
    "they",
    "them",
    "their",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "am",
    "do",
    "does",
    "did",
    "doing",
    "done",
    "have",
    "has",
    "had",
    "can",
    "could",
    "should",
    "would",
    "will",
    "shall",
    "may",
    "might",
    "must",
    "to",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "as",
    "from",
    "than",
    "then",
    "so",
    "and",
    "or",
    "but",
    "if",
    "what",
    "what's",
    "whats",
    "which",
    "who",
    "whom",
    "whose",
    "how",
    "how's",
    "why",
    "when",
    "where",
    "there",
    "here",
    "please",
    "pls",
    "kindly",
    "tell",
    "explain",
    "describe",
    "show",
    "give",
    "help",
    "know",
    "want",
    "like",
    "need",
    "way",
    "ways",
    "best",
    "good",
    "proper",
    "properly",
    "correct",
    "correctly",
    "right",
    "i'm",
    "im",
    "i'd",
    "id",
    "let",
    "let's",
    "lets",
    "hey",
    "hi",
    "hello",
    "thanks",
    "thank",
    "just",
    "really",
    "quick",
    "quickly",
    "simple",
    "simply",
    "exactly",
    "actually",
    "possible",
    "go",
    "get",
    "make",
    "use",
    "using",
    "via",
    "one's",
    "someone",
    "something",
    "anyone",
    "anything",
    "also",
    "too",
    "very",
    "much",
    "many",
    "mean",
    "means",
    "meaning",
    "definition",
    "define",
    "step",
    "steps",
    "guide",
    "way's",
    "question",
    "answer",
    "wondering",
    "curious",
    "idea",
    "ok",
    "okay",
    "is't",
    "whether",
];

const HAN_NEGATIONS: &[char] = &[
    '不', '没', '無', '无', '非', '未', '别', '勿', '莫', '否', '沒', '別',
];

const HAN_NUMERALS: &[char] = &[
    '零', '一', '二', '两', '三', '四', '五', '六', '七', '八', '九', '十', '百', '千', '万', '亿',
    '〇', '兩', '萬', '億',
];

/// Particles, pronouns and question framing.
const HAN_FUNCTION: &[char] = &[
    '的', '了', '吗', '呢', '吧', '啊', '是', '在', '我', '你', '您', '他', '她', '它', '们', '怎',
    '么', '麽', '如', '何', '什', '请', '问', '能', '可', '以', '要', '想', '该', '应', '这', '那',
    '个', '和', '与', '及', '或', '把', '被', '给', '让', '得', '地', '着', '过', '也', '都', '就',
    '还', '很', '下', '吗', '嗎', '們', '這', '個', '麼', '請', '問', '該', '應', '讓', '給', '與',
    '样', '樣', '为', '為', '有', '会', '會', '去', '来', '來', '到', '对', '對', '从', '從',
];

#[cfg(test)]
mod tests {
    use super::*;

    fn agree(a: &str, b: &str) -> bool {
        Features::of(a).disagreement(&Features::of(b)).is_none()
    }

    #[test]
    fn antonyms_changed_numbers_negation_and_entities_disagree() {
        assert!(!agree("How do I enable SSH?", "How do I disable SSH?"));
        assert!(!agree("Convert 5 km to miles", "Convert 50 km to miles"));
        assert!(!agree(
            "Is coffee bad for you?",
            "Is coffee not bad for you?"
        ));
        assert!(!agree("Why doesn't it compile?", "Why does it compile?"));
        assert!(!agree("Capital of France?", "Capital of Spain?"));
        assert!(!agree(
            "Translate English to French",
            "Translate French to English"
        ));
        assert!(!agree("Call `foo_bar()`", "Call `foo_baz()`"));
        assert!(!agree("如何启用防火墙", "如何禁用防火墙"));
        assert!(!agree("我要吃饭", "我不要吃饭"));
        assert!(!agree("three apples", "four apples"));
        assert_eq!(
            Features::of("Fetch https://a.example/x now").entities,
            vec!["https://a.example/x"]
        );
    }

    #[test]
    fn rephrasings_with_the_same_words_agree() {
        assert!(agree(
            "How do I reverse a list in Python?",
            "What's the best way to reverse a list in Python"
        ));
        assert!(agree(
            "What is the capital of France?",
            "Tell me France's capital."
        ));
        assert!(agree(
            "Convert 1,000 km to miles",
            "convert 1000 km to miles please"
        ));
        assert!(!agree("How do I zoom in?", "How do I zoom out?"));
        assert!(agree("price is 2.50", "price is 2.5"));
        assert!(agree("Can you explain recursion?", "explain recursion"));
    }

    #[test]
    fn numerals_normalise() {
        assert_eq!(numeral("1,000").as_deref(), Some("1000"));
        assert_eq!(numeral("007").as_deref(), Some("7"));
        assert_eq!(numeral("0.50").as_deref(), Some("0.5"));
        assert_eq!(numeral("-3").as_deref(), Some("-3"));
        assert_eq!(numeral("abc"), None);
        assert_eq!(stem("reversing"), stem("reverse"));
        assert_eq!(stem("lists"), stem("list"));
    }
}
