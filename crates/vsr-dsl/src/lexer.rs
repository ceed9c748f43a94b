//! Lexer: tokens tried in the order of the original grammar (comment, whitespace, float, int,
//! string, arrow, identifier, punctuation). Comments are kept aside for the formatter.

use crate::diag::Diagnostic;
use crate::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    /// The unescaped value of a double-quoted string.
    Str(String),
    Int(i64),
    Float(f64),
    Arrow,
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Colon,
    Comma,
    Gt,
    Eq,
    Eof,
}

impl Tok {
    /// How the token is named in "expected …, found …" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => {
                let short: String = s.chars().take(30).collect();
                if short.len() < s.len() {
                    format!("string \"{short}…\"")
                } else {
                    format!("string \"{short}\"")
                }
            }
            Tok::Int(i) => format!("integer `{i}`"),
            Tok::Float(f) => format!("number `{f}`"),
            Tok::Arrow => "`->`".into(),
            Tok::LBrace => "`{`".into(),
            Tok::RBrace => "`}`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Colon => "`:`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Gt => "`>`".into(),
            Tok::Eq => "`=`".into(),
            Tok::Eof => "end of file".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// A `#` line comment: the text after `#`, trimmed of trailing whitespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub text: String,
    pub span: Span,
}

pub struct Lexed {
    pub tokens: Vec<Token>,
    pub comments: Vec<Comment>,
    pub diagnostics: Vec<Diagnostic>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// True when `s` lexes as exactly one identifier token.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if is_ident_start(c)) && chars.all(is_ident_continue)
}

struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    col: u32,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn here(&self) -> Span {
        Span {
            start: self.pos,
            end: self.pos,
            line: self.line,
            col: self.col,
        }
    }

    fn close(&self, start: Span) -> Span {
        Span {
            end: self.pos,
            ..start
        }
    }
}

pub fn lex(src: &str) -> Lexed {
    let mut cur = Cursor {
        src,
        pos: 0,
        line: 1,
        col: 1,
    };
    let mut tokens = Vec::new();
    let mut comments = Vec::new();
    let mut diagnostics = Vec::new();
    while let Some(c) = cur.peek() {
        let start = cur.here();
        if c == '#' {
            while let Some(c) = cur.peek() {
                if c == '\n' {
                    break;
                }
                cur.bump();
            }
            let span = cur.close(start);
            comments.push(Comment {
                text: src[span.start + 1..span.end].trim_end().to_string(),
                span,
            });
            continue;
        }
        if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
            cur.bump();
            continue;
        }
        let signed_digit =
            matches!(c, '+' | '-') && cur.peek_at(1).is_some_and(|d| d.is_ascii_digit());
        if c.is_ascii_digit() || signed_digit {
            cur.bump();
            while cur.peek().is_some_and(|d| d.is_ascii_digit()) {
                cur.bump();
            }
            let mut is_float = false;
            if cur.peek() == Some('.') && cur.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
                is_float = true;
                cur.bump();
                while cur.peek().is_some_and(|d| d.is_ascii_digit()) {
                    cur.bump();
                }
            }
            let span = cur.close(start);
            let text = &src[span.start..span.end];
            // `1e-5` would lex as `1` then the identifier `e-5`: say so instead of failing later.
            if matches!(cur.peek(), Some('e' | 'E'))
                && cur
                    .peek_at(1)
                    .is_some_and(|d| d.is_ascii_digit() || d == '-' || d == '+')
            {
                while cur.peek().is_some_and(is_ident_continue) {
                    cur.bump();
                }
                let span = cur.close(start);
                diagnostics.push(
                    Diagnostic::error(
                        span,
                        format!(
                            "exponent notation `{}` is not supported",
                            &src[span.start..span.end]
                        ),
                    )
                    .with_suggestion("write the number in plain decimal form, e.g. 0.00001"),
                );
                tokens.push(Token {
                    tok: Tok::Float(0.0),
                    span,
                });
                continue;
            }
            let tok = if is_float {
                text.parse::<f64>().ok().map(Tok::Float)
            } else {
                text.parse::<i64>().ok().map(Tok::Int)
            };
            match tok {
                Some(tok) => tokens.push(Token { tok, span }),
                None => {
                    diagnostics.push(Diagnostic::error(
                        span,
                        format!("number `{text}` is out of range"),
                    ));
                    tokens.push(Token {
                        tok: Tok::Int(0),
                        span,
                    });
                }
            }
            continue;
        }
        if c == '"' {
            cur.bump();
            let mut terminated = false;
            let mut first_newline: Option<(usize, u32, u32)> = None;
            while let Some(c) = cur.peek() {
                match c {
                    '"' => {
                        cur.bump();
                        terminated = true;
                        break;
                    }
                    '\\' => {
                        cur.bump();
                        cur.bump();
                    }
                    '\n' => {
                        if first_newline.is_none() {
                            first_newline = Some((cur.pos, cur.line, cur.col));
                        }
                        cur.bump();
                    }
                    _ => {
                        cur.bump();
                    }
                }
            }
            if !terminated {
                // Recover at the end of the opening line, so the rest of the file still lexes.
                if let Some((pos, line, col)) = first_newline {
                    cur.pos = pos;
                    cur.line = line;
                    cur.col = col;
                }
                let span = cur.close(start);
                diagnostics.push(
                    Diagnostic::error(span, "unterminated string")
                        .with_suggestion("add the closing `\"`"),
                );
                tokens.push(Token {
                    tok: Tok::Str(src[span.start + 1..span.end].to_string()),
                    span,
                });
                continue;
            }
            let span = cur.close(start);
            let raw = &src[span.start + 1..span.end - 1];
            tokens.push(Token {
                tok: Tok::Str(unquote(raw)),
                span,
            });
            continue;
        }
        if c == '-' && cur.peek_at(1) == Some('>') {
            cur.bump();
            cur.bump();
            tokens.push(Token {
                tok: Tok::Arrow,
                span: cur.close(start),
            });
            continue;
        }
        if c == '→' {
            cur.bump();
            tokens.push(Token {
                tok: Tok::Arrow,
                span: cur.close(start),
            });
            continue;
        }
        if is_ident_start(c) {
            while cur.peek().is_some_and(is_ident_continue) {
                cur.bump();
            }
            let span = cur.close(start);
            tokens.push(Token {
                tok: Tok::Ident(src[span.start..span.end].to_string()),
                span,
            });
            continue;
        }
        let punct = match c {
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ':' => Some(Tok::Colon),
            ',' => Some(Tok::Comma),
            '>' => Some(Tok::Gt),
            '=' => Some(Tok::Eq),
            _ => None,
        };
        cur.bump();
        let span = cur.close(start);
        match punct {
            Some(tok) => tokens.push(Token { tok, span }),
            None => {
                let mut d = Diagnostic::error(span, format!("unexpected character `{c}`"));
                if c == '\'' {
                    d = d.with_suggestion("strings use double quotes: \"…\"");
                } else if matches!(c, '+' | '-') {
                    d = d.with_suggestion("a sign must be followed by digits, e.g. -0.5");
                }
                diagnostics.push(d);
            }
        }
    }
    tokens.push(Token {
        tok: Tok::Eof,
        span: cur.here(),
    });
    Lexed {
        tokens,
        comments,
        diagnostics,
    }
}

/// Unescapes the text between the quotes the way Go's `strconv.Unquote` does; when the text is not
/// a valid Go literal (an unknown escape, a raw newline, a bad code point) it is returned raw.
pub fn unquote(raw: &str) -> String {
    try_unquote(raw).unwrap_or_else(|| raw.to_string())
}

fn try_unquote(raw: &str) -> Option<String> {
    if raw.contains('\n') {
        return None;
    }
    if !raw.contains('\\') {
        return Some(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut pending_bytes: Vec<u8> = Vec::new();
    let flush = |bytes: &mut Vec<u8>, out: &mut String| -> Option<()> {
        if !bytes.is_empty() {
            out.push_str(std::str::from_utf8(bytes).ok()?);
            bytes.clear();
        }
        Some(())
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut pending_bytes, &mut out)?;
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        let hex = |chars: &mut std::str::Chars<'_>, n: usize| -> Option<u32> {
            let s: String = chars.by_ref().take(n).collect();
            if s.len() != n {
                return None;
            }
            u32::from_str_radix(&s, 16).ok()
        };
        match e {
            'x' => {
                pending_bytes.push(u8::try_from(hex(&mut chars, 2)?).ok()?);
                continue;
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&format!("{e}{rest}"), 8).ok()?;
                if rest.len() != 2 || v > 255 {
                    return None;
                }
                pending_bytes.push(v as u8);
                continue;
            }
            _ => {}
        }
        flush(&mut pending_bytes, &mut out)?;
        let ch = match e {
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            '\\' => '\\',
            '"' => '"',
            'u' => char::from_u32(hex(&mut chars, 4)?)?,
            'U' => char::from_u32(hex(&mut chars, 8)?)?,
            _ => return None,
        };
        out.push(ch);
    }
    flush(&mut pending_bytes, &mut out)?;
    Some(out)
}

/// Quotes a string so that [`unquote`] gives it back.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let v = c as u32;
                if v <= 0xFFFF {
                    out.push_str(&format!("\\u{v:04x}"));
                } else {
                    out.push_str(&format!("\\U{v:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).tokens.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn identifiers_keep_dots_dashes_slashes() {
        assert_eq!(
            toks("qwen2.5 semantic-cache a/b"),
            vec![
                Tok::Ident("qwen2.5".into()),
                Tok::Ident("semantic-cache".into()),
                Tok::Ident("a/b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn signs_and_numbers() {
        assert_eq!(
            toks("-0.5 -3"),
            vec![Tok::Float(-0.5), Tok::Int(-3), Tok::Eof]
        );
        let l = lex("+ hello");
        assert_eq!(l.diagnostics.len(), 1);
        assert!(
            l.diagnostics[0]
                .message
                .contains("unexpected character `+`")
        );
    }

    #[test]
    fn exponent_is_reported() {
        let l = lex("1e-5");
        assert_eq!(l.diagnostics.len(), 1);
        assert!(l.diagnostics[0].message.contains("exponent"));
    }

    #[test]
    fn strings_unescape_like_go() {
        assert_eq!(toks(r#""a\"b""#), vec![Tok::Str("a\"b".into()), Tok::Eof]);
        assert_eq!(unquote(r"\d+"), r"\d+");
        assert_eq!(unquote(r"\u00e9\x41\101\t"), "éAA\t");
        for s in ["a\"b", "back\\slash", "tab\tnl\n", "\u{1}", "中文"] {
            assert_eq!(unquote(&quote(s)[1..quote(s).len() - 1]), s);
        }
    }

    #[test]
    fn comments_are_kept_and_lines_counted() {
        let l = lex("# one\n\n  x # two\n");
        assert_eq!(l.comments.len(), 2);
        assert_eq!(l.comments[1].text, " two");
        assert_eq!(l.tokens[0].span.line, 3);
        assert_eq!(l.tokens[0].span.col, 3);
    }

    #[test]
    fn unterminated_string_recovers_at_line_end() {
        let l = lex("\"abc\nSIGNAL");
        assert_eq!(l.diagnostics.len(), 1);
        assert_eq!(l.tokens[1].tok, Tok::Ident("SIGNAL".into()));
    }
}
