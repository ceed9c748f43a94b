//! Diagnostics: every problem the loader finds, with its YAML path and source position.
//!
//! The path format is stable and other crates rely on it (the DSL maps errors back to DSL source
//! positions through it): mapping keys joined with `.`, list indices as `[i]`, for example
//! `routing.decisions[3].rules.conditions[0].name`. The root itself is the empty path. Keys are
//! written as they are, without escaping, so a user-chosen key that contains a dot (a reasoning
//! family name, a header name in a free-form payload) appears with its dot.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem. `line` and `column` are 1-based; both are 0 when the problem has no position
/// (for example an I/O error).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub path: String,
    pub message: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `origin:line:col: path: message`; the path part is left out at the root.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.origin, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Loading failed. `diagnostics` holds every error found, in source order, followed by the
/// warnings (which alone never fail a load).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: cannot read: {source}")]
    Io {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render(.diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },
}

impl ConfigError {
    /// Every diagnostic; an I/O error becomes one diagnostic at 0:0.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            ConfigError::Io { origin, source } => vec![Diagnostic {
                severity: Severity::Error,
                origin: origin.clone(),
                line: 0,
                column: 0,
                path: String::new(),
                message: format!("cannot read: {source}"),
            }],
            ConfigError::Invalid { diagnostics } => diagnostics.clone(),
        }
    }

    pub fn errors(&self) -> impl Iterator<Item = Diagnostic> {
        self.diagnostics()
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
    }
}

fn render(diags: &[Diagnostic]) -> String {
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect();
    format!("{} error(s):\n{}", errors.len(), errors.join("\n"))
}

/// Appends a key to a path.
pub fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Appends a list index to a path.
pub fn join_index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_the_documented_shape() {
        let d = Diagnostic {
            severity: Severity::Error,
            origin: "a.yaml".into(),
            line: 3,
            column: 7,
            path: "routing.decisions[0].name".into(),
            message: "must not be empty".into(),
        };
        assert_eq!(
            d.to_string(),
            "a.yaml:3:7: routing.decisions[0].name: must not be empty"
        );
        assert_eq!(
            join_index(&join_key("routing", "decisions"), 2),
            "routing.decisions[2]"
        );
    }
}
