//! Diagnostics: a message at a line:column, with an optional suggestion, rendered like a compiler.

use std::fmt::Write as _;

use serde::Serialize;

use crate::span::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub span: Span,
    pub message: String,
    /// A suggested fix in words, e.g. "did you mean `math`?".
    pub suggestion: Option<String>,
    /// The config path this diagnostic came from, when it was mapped back from the validator.
    pub path: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span,
            message: message.into(),
            suggestion: None,
            path: None,
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    pub fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn line(&self) -> u32 {
        self.span.line
    }

    pub fn col(&self) -> u32 {
        self.span.col
    }

    /// `file:line:col: severity: message`, then the source line with a caret under the span and the
    /// suggestion as a `help:` line.
    pub fn render(&self, file: &str, src: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{file}:{}:{}: {}: {}",
            self.span.line,
            self.span.col,
            self.severity.as_str(),
            self.message
        );
        if self.span.line > 0
            && let Some(text) = src.lines().nth(self.span.line as usize - 1)
        {
            let text = text.trim_end_matches('\r');
            let gutter = self.span.line.to_string();
            let pad = " ".repeat(gutter.len());
            let col = self.span.col.max(1) as usize;
            // Underline the span, but never past the end of its first line.
            let line_chars = text.chars().count();
            let span_chars = src
                .get(self.span.start..self.span.end.min(src.len()))
                .map(|s| s.lines().next().unwrap_or("").chars().count())
                .unwrap_or(1);
            let width = span_chars.clamp(1, line_chars.saturating_sub(col - 1).max(1));
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{gutter} | {text}");
            let _ = writeln!(out, "{pad} | {}{}", " ".repeat(col - 1), "^".repeat(width));
        }
        if let Some(path) = &self.path {
            let _ = writeln!(out, "  = note: config path {path}");
        }
        if let Some(s) = &self.suggestion {
            let _ = writeln!(out, "  = help: {s}");
        }
        out
    }
}

/// Renders every diagnostic, in order, separated by blank lines.
pub fn render_all(diags: &[Diagnostic], file: &str, src: &str) -> String {
    diags
        .iter()
        .map(|d| d.render(file, src))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate nearest to `word` (case-insensitive), if it is close enough to be a plausible typo:
/// distance at most a third of the word's length, and at least 1.
pub fn nearest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_lowercase();
    let budget = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_nearest() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(nearest("PRIORTY", ["PRIORITY", "TIER"]), Some("PRIORITY"));
        assert_eq!(nearest("zzz", ["PRIORITY", "TIER"]), None);
    }
}
