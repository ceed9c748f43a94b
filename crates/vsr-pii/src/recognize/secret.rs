//! API keys, tokens, private keys and secret assignments.

use std::sync::LazyLock;

use regex::Regex;

use super::Candidate;
use crate::PiiType;
use crate::confidence::{CUED, SPECIFIC_FORMAT};
use crate::scan::{char_at, char_before, looks_random};

/// A vendor token format: a fixed prefix the vendor documents, then key material.
struct TokenFormat {
    regex: Regex,
    /// Whether the material after the prefix must pass [`looks_random`] (for prefixes short or
    /// common enough to start ordinary words).
    check_material: bool,
}

static TOKEN_FORMATS: LazyLock<Vec<TokenFormat>> = LazyLock::new(|| {
    let formats: [(&str, bool); 9] = [
        // PEM armour of any private key (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP …).
        (
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
            false,
        ),
        // OpenAI / Anthropic style secret keys: sk-, sk-proj-, sk-ant-api03- …
        (r"sk-[A-Za-z0-9_\-]{20,}", true),
        // GitHub tokens: ghp_, gho_, ghu_, ghs_, ghr_, and fine-grained github_pat_.
        (
            r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}",
            false,
        ),
        // AWS access key ids.
        (
            r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}",
            true,
        ),
        // Slack tokens.
        (r"xox[abposer]-[A-Za-z0-9\-]{10,}", true),
        // Google API keys.
        (r"AIza[0-9A-Za-z_\-]{35}", false),
        // Stripe secret and restricted keys.
        (r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}", true),
        // JSON Web Tokens: base64url header and payload that both start with '{"'.
        (
            r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
            false,
        ),
        // Hugging Face tokens.
        (r"hf_[A-Za-z0-9]{30,}", true),
    ];
    formats
        .into_iter()
        .map(|(pattern, check_material)| TokenFormat {
            regex: Regex::new(pattern).expect("token regex"),
            check_material,
        })
        .collect()
});

// `<name containing key/token/secret/password…> [:=] <value>`, the value quoted or bare.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)[a-z0-9_.\-]*(?:api[_\-]?key|apikey|access[_\-]?key|secret|token|passw(?:or)?d|pwd|credential|auth)[a-z0-9_.\-]*["']?[ \t]*(?::=|=>|[:=])[ \t]*["']?([^\s"'`,;()\[\]{}<>，。；）]{12,200})"#,
    )
    .expect("assignment regex")
});

// RFC 3986 userinfo with a password: `scheme://user:password@host`.
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z][a-z0-9+.\-]*://[^\s:/@]+:([^\s/@]+)@[a-z0-9\[]").expect("url regex")
});

// RFC 7235 credentials in an Authorization header: `Authorization: <scheme> <credentials>`.
static AUTH_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)authorization["']?[ \t]*[:=][ \t]*["']?(?:basic|bearer|token|digest|apikey)[ \t]+([A-Za-z0-9+/_\-.~=]{12,})"#,
    )
    .expect("auth header regex")
});

/// Token edges: not glued to a longer identifier.
fn edges_ok(text: &str, start: usize, end: usize) -> bool {
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    !glued(char_before(text, start)) && !glued(char_at(text, end))
}

pub fn secrets(text: &str, out: &mut Vec<Candidate>) {
    for format in TOKEN_FORMATS.iter() {
        for m in format.regex.find_iter(text) {
            if !edges_ok(text, m.start(), m.end()) {
                continue;
            }
            if format.check_material && !looks_random(m.as_str()) {
                continue;
            }
            out.push(Candidate::new(
                PiiType::ApiKey,
                m.start(),
                m.end(),
                SPECIFIC_FORMAT,
            ));
        }
    }
    for c in URL_PASSWORD.captures_iter(text) {
        if let Some(password) = c.get(1) {
            out.push(Candidate::new(
                PiiType::ApiKey,
                password.start(),
                password.end(),
                SPECIFIC_FORMAT,
            ));
        }
    }
    for c in AUTH_HEADER.captures_iter(text) {
        if let Some(value) = c.get(1)
            && looks_random(value.as_str())
        {
            out.push(Candidate::new(
                PiiType::ApiKey,
                value.start(),
                value.end(),
                SPECIFIC_FORMAT,
            ));
        }
    }
    for c in ASSIGNMENT.captures_iter(text) {
        let Some(value) = c.get(1) else { continue };
        let v = value.as_str();
        // References to a secret (`$API_KEY`, `%TOKEN%`, `{{ token }}`) are not the secret.
        if v.starts_with(['$', '%', '{', '@']) {
            continue;
        }
        if looks_random(v) {
            out.push(Candidate::new(
                PiiType::ApiKey,
                value.start(),
                value.end(),
                CUED,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        secrets(text, &mut out);
        out.iter()
            .map(|c| text[c.start..c.end].to_string())
            .collect()
    }

    #[test]
    fn vendor_tokens() {
        for t in [
            "sk-proj-4fT9xQ2mLr8ZbN1cVw6pHs3KdYe7Ju0Aq5GtXo",
            "ghp_8Kd02mZxQv7LpR4tYw9NcB3aHs6UeF1gJi5o",
            "AKIAZ7Q4M2XR9TBC3LWE",
            "xoxb-2048611736-5539102874-Qp8sLkT3vZr9mWcX1nYbA6dE",
            "AIzaSyB7r4Tq9Xk2LmN8pV3cZ6wH1jF5dG0sQeU",
            "-----BEGIN EC PRIVATE KEY-----",
        ] {
            let text = format!("key: {t} end");
            assert!(
                found(&text).iter().any(|f| f == t),
                "{t}: {:?}",
                found(&text)
            );
        }
    }

    #[test]
    fn assignments() {
        assert_eq!(
            found("password: Xk93!mQz7LpV2rTb8Nw 泄露"),
            ["Xk93!mQz7LpV2rTb8Nw"]
        );
        assert_eq!(
            found(r#"client_secret: "c7F2kL9xQ4mZ8vR1tB6nW3yP5hJ0sD2g""#),
            ["c7F2kL9xQ4mZ8vR1tB6nW3yP5hJ0sD2g"]
        );
    }

    #[test]
    fn url_passwords_and_auth_headers() {
        assert_eq!(
            found("DB=postgres://admin:S3cr3t@db.internal:5432/app"),
            ["S3cr3t"]
        );
        assert_eq!(
            found("Authorization: Basic dXNlcjpwYXNzd29yZDEyMw=="),
            ["dXNlcjpwYXNzd29yZDEyMw=="]
        );
        assert!(found("Authorization: Bearer YOUR_TOKEN_HERE").is_empty());
        assert!(found("see https://example.com/a@b").is_empty());
    }

    #[test]
    fn benign_code() {
        for t in [
            "let token = get_token();",
            r#"password = os.environ["DB_PASSWORD"]"#,
            "api_key: ${OPENAI_API_KEY}",
            "max_tokens: 4096",
            r#"secret_name = "prod-db-credentials""#,
            "token_count = len(tokens) if tokens else 0",
            "the task-force-leaders-are-meeting-today",
            "sk-this-is-not-a-real-key-at-all",
            "-----BEGIN PUBLIC KEY-----",
        ] {
            assert!(found(t).is_empty(), "{t}: {:?}", found(t));
        }
    }
}
