//! Backend API keys are write-only in the UI: every config text the API sends to the browser
//! has each `api_key` value replaced by a numbered placeholder, and a draft coming back has its
//! placeholders replaced by the live file's values (a new key typed by the user is kept as is).

use std::sync::OnceLock;

use regex::Regex;

use crate::error::DashError;

/// `api_key: value` in block or flow style; the value quoted or bare.
fn key_value() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?m)(\bapi_key\s*:[ \t]*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,}\#]+)"#)
            .unwrap_or_else(|e| panic!("the api_key pattern: {e}"))
    })
}

fn placeholder(n: usize) -> String {
    format!("\"<redacted api key #{n}>\"")
}

fn placeholder_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#""<redacted api key #(\d+)>""#)
            .unwrap_or_else(|e| panic!("the placeholder pattern: {e}"))
    })
}

/// The text with every `api_key` value replaced by `"<redacted api key #N>"` (N from 1).
pub fn redact(text: &str) -> String {
    let mut n = 0;
    key_value()
        .replace_all(text, |c: &regex::Captures<'_>| {
            n += 1;
            format!("{}{}", &c[1], placeholder(n))
        })
        .into_owned()
}

/// The draft with each placeholder replaced by the `api_key` value at the same position in
/// `live` (the text [`redact`] was applied to).
pub fn restore(draft: &str, live: &str) -> Result<String, DashError> {
    let values: Vec<String> = key_value()
        .captures_iter(live)
        .map(|c| c[2].to_string())
        .collect();
    let mut missing = None;
    let out = placeholder_re().replace_all(draft, |c: &regex::Captures<'_>| {
        let n: usize = c[1].parse().unwrap_or(0);
        match n.checked_sub(1).and_then(|i| values.get(i)) {
            Some(v) => v.clone(),
            None => {
                missing = Some(n);
                String::new()
            }
        }
    });
    match missing {
        Some(n) => Err(DashError::BadRequest(format!(
            "redacted api key #{n} no longer exists in the running config; type the key again"
        ))),
        None => Ok(out.into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "providers:\n  models:\n    - name: a\n      backend_refs:\n        - {name: x, endpoint: 'h:1', api_key: sk-live-1}\n    - name: b\n      backend_refs:\n        - name: y\n          api_key: \"sk-live-2\" # comment\n          api_key_env: KEY\n";

    #[test]
    fn keys_never_leave_and_come_back_on_write() {
        let shown = redact(LIVE);
        assert!(!shown.contains("sk-live"), "{shown}");
        assert!(
            shown.contains("api_key: \"<redacted api key #1>\"}"),
            "{shown}"
        );
        assert!(
            shown.contains("api_key: \"<redacted api key #2>\" # comment"),
            "{shown}"
        );
        assert!(shown.contains("api_key_env: KEY"), "{shown}");
        assert_eq!(restore(&shown, LIVE).unwrap(), LIVE);
        // A key the user typed is kept; a placeholder that no longer exists is an error.
        let typed = shown.replace("\"<redacted api key #2>\"", "sk-new");
        assert!(
            restore(&typed, LIVE)
                .unwrap()
                .contains("api_key: sk-new # comment")
        );
        assert!(restore("api_key: \"<redacted api key #7>\"", LIVE).is_err());
    }
}
