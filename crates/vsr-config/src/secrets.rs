//! Credentials in text and JSON: which keys name secrets, the shapes of bearer tokens and API
//! keys, and their removal. One rule for the replay records, the router's `/config/router`
//! and anything else that shows or keeps what a client or a config holds.

use std::sync::OnceLock;

use regex::Regex;

/// What a removed credential reads as.
pub const REDACTED: &str = "[REDACTED]";

/// JSON keys whose values are credentials, compared case-insensitively with `-` read as `_`.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    matches!(
        k.as_str(),
        "authorization"
            | "proxy_authorization"
            | "api_key"
            | "apikey"
            | "x_api_key"
            | "api_token"
            | "access_token"
            | "refresh_token"
            | "id_token"
            | "auth_token"
            | "token"
            | "bearer"
            | "secret"
            | "client_secret"
            | "secret_key"
            | "password"
            | "passwd"
            | "cookie"
            | "set_cookie"
    ) || k.ends_with("_api_key")
        || k.ends_with("_secret")
}

fn secret_text_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // Bearer/Basic credentials and common API-key shapes (sk-..., sk-ant-..., hf_..., AIza...).
        #[expect(clippy::unwrap_used, reason = "constant pattern, covered by tests")]
        Regex::new(
            r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}|\bsk-[A-Za-z0-9_-]{16,}|\bhf_[A-Za-z0-9]{16,}|\bAIza[0-9A-Za-z_-]{30,}",
        )
        .unwrap()
    })
}

pub fn redact_text(s: &str) -> String {
    secret_text_pattern().replace_all(s, REDACTED).into_owned()
}

pub fn redact_value(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if is_secret_key(k) && !val.is_null() {
                    *val = serde_json::Value::String(REDACTED.into());
                } else {
                    redact_value(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_value),
        serde_json::Value::String(s) if secret_text_pattern().is_match(s) => *s = redact_text(s),
        _ => {}
    }
}

/// A URL's password (`scheme://user:password@host`) replaced, the rest kept.
pub fn redact_url_password(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let (userinfo, host) = rest.split_once('@')?;
    if host.contains('/') && userinfo.contains('/') {
        return None;
    }
    let (user, _) = userinfo.split_once(':')?;
    Some(format!("{scheme}://{user}:{REDACTED}@{host}"))
}

/// [`redact_value`] plus passwords inside URLs: for showing a whole config.
pub fn redact_config(v: &mut serde_json::Value) {
    redact_value(v);
    match v {
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_config),
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_config),
        serde_json::Value::String(s) => {
            if let Some(r) = redact_url_password(s) {
                *s = r;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_tokens_and_url_passwords_are_removed() {
        let mut v = serde_json::json!({
            "providers": {"models": [{"backend_refs": [{"api_key": "sk-abcdefghijklmnopqrstuv",
                "extra_headers": {"X-Api-Key": "k1", "x-trace": "Bearer abcdefghijkl"}}]}]},
            "global": {"stores": {"url": "postgres://router:hunter2@db:5432/vsr",
                "postgres": {"password": "hunter2", "host": "db"}}}
        });
        redact_config(&mut v);
        let text = v.to_string();
        for secret in ["sk-abcdefghijklmnopqrstuv", "k1", "abcdefghijkl", "hunter2"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("postgres://router:[REDACTED]@db:5432/vsr"),
            "{text}"
        );
        assert!(text.contains("\"host\":\"db\""), "{text}");
        assert_eq!(redact_url_password("https://example.com/a@b"), None);
    }
}
