//! Conversation identity (spec §12.3). The session is the configured session header
//! (`x-session-id` by default), else `x-claude-code-session-id`, else the Anthropic
//! `metadata.user_id` (as `ant-md-<id>`). Conversation scope also takes the configured
//! conversation header (`x-conversation-id`). When the headers the scope needs are missing,
//! the conversation is fingerprinted from what every turn of it repeats: the `user` field, the
//! system prompt and the first user message (a difference from upstream, which leaves such a
//! request unprotected; see docs/sessions.md).

use sha2::{Digest, Sha256};
use vsr_config::ProtectionScope;

/// What identifies a conversation, read by the caller from the request.
#[derive(Debug, Clone, Default)]
pub struct IdentityInputs {
    /// Value of the configured session header (trimmed; empty = absent).
    pub session_header: Option<String>,
    /// Value of the configured conversation header.
    pub conversation_header: Option<String>,
    /// `x-claude-code-session-id`.
    pub claude_code_session: Option<String>,
    /// The body's `metadata.user_id`.
    pub metadata_user_id: Option<String>,
    /// The body's `user`.
    pub user: Option<String>,
    /// The system prompt text (all system/developer messages, in order).
    pub system: Option<String>,
    /// The first user message's text.
    pub first_user: Option<String>,
}

/// Where the identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// The headers (or the Anthropic metadata) the scope needs.
    Header,
    /// A fingerprint of the conversation's first turn.
    Fingerprint,
}

impl IdentitySource {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentitySource::Header => "header",
            IdentitySource::Fingerprint => "fingerprint",
        }
    }
}

/// A resolved conversation identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The state key: the SHA-256 (hex) of the recipe and the identity values; raw header
    /// values are never stored.
    pub key: String,
    /// The first 16 hex characters of `key`: what headers and replay records show.
    pub id: String,
    pub source: IdentitySource,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Identity {
    /// The conversation identity of a request routed by `recipe` (`None`: default profile);
    /// `None` when there is nothing to identify it by (no headers and no user message).
    pub fn resolve(
        scope: ProtectionScope,
        recipe: Option<&str>,
        inputs: &IdentityInputs,
    ) -> Option<Identity> {
        let session = present(&inputs.session_header)
            .map(str::to_string)
            .or_else(|| present(&inputs.claude_code_session).map(str::to_string))
            .or_else(|| present(&inputs.metadata_user_id).map(|u| format!("ant-md-{u}")));
        let conversation = present(&inputs.conversation_header);
        let from_headers = match (scope, &session, conversation) {
            (ProtectionScope::Session, Some(s), _) => Some(s.clone()),
            (ProtectionScope::Conversation, Some(s), Some(c)) => Some(format!("{s}/{c}")),
            _ => None,
        };
        let (value, source) = match from_headers {
            Some(v) => (v, IdentitySource::Header),
            None => {
                let first = present(&inputs.first_user)?;
                // Length-prefixed parts: no two different inputs concatenate alike.
                let mut fp = String::from("fp");
                for part in [
                    session.as_deref().unwrap_or(""),
                    present(&inputs.user).unwrap_or(""),
                    present(&inputs.system).unwrap_or(""),
                    first,
                ] {
                    fp.push_str(&format!(":{}:{part}", part.len()));
                }
                (fp, IdentitySource::Fingerprint)
            }
        };
        let recipe = recipe.unwrap_or("");
        let digest = Sha256::digest(format!("{}:{recipe}\n{value}", recipe.len()).as_bytes());
        let key: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some(Identity {
            id: key[..16].to_string(),
            key,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(session: Option<&str>, conv: Option<&str>, first: Option<&str>) -> IdentityInputs {
        IdentityInputs {
            session_header: session.map(str::to_string),
            conversation_header: conv.map(str::to_string),
            first_user: first.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn conversation_scope_needs_both_headers_else_fingerprints() {
        let c = ProtectionScope::Conversation;
        let a = Identity::resolve(c, None, &inputs(Some("s1"), Some("c1"), Some("hi"))).unwrap();
        assert_eq!(a.source, IdentitySource::Header);
        assert_eq!(a.id.len(), 16);
        // Another conversation of the same session is another key.
        let b = Identity::resolve(c, None, &inputs(Some("s1"), Some("c2"), Some("hi"))).unwrap();
        assert_ne!(a.key, b.key);
        // Without the conversation header: the fingerprint, stable across turns.
        let f1 = Identity::resolve(c, None, &inputs(Some("s1"), None, Some("hi"))).unwrap();
        let f2 = Identity::resolve(c, None, &inputs(Some(" s1 "), Some(" "), Some("hi"))).unwrap();
        assert_eq!(f1.source, IdentitySource::Fingerprint);
        assert_eq!(f1, f2);
        let other = Identity::resolve(c, None, &inputs(Some("s1"), None, Some("hello"))).unwrap();
        assert_ne!(f1.key, other.key);
        assert!(Identity::resolve(c, None, &inputs(None, None, None)).is_none());
    }

    #[test]
    fn session_scope_and_fallback_headers_and_recipe_namespacing() {
        let s = ProtectionScope::Session;
        let a = Identity::resolve(s, None, &inputs(Some("s1"), Some("c1"), None)).unwrap();
        let b = Identity::resolve(s, None, &inputs(Some("s1"), Some("c2"), None)).unwrap();
        assert_eq!(a, b, "session scope ignores the conversation");
        let in_recipe = Identity::resolve(s, Some("r"), &inputs(Some("s1"), None, None)).unwrap();
        assert_ne!(a.key, in_recipe.key);
        let claude = IdentityInputs {
            claude_code_session: Some("cc".into()),
            ..Default::default()
        };
        let meta = IdentityInputs {
            metadata_user_id: Some("cc".into()),
            ..Default::default()
        };
        let c1 = Identity::resolve(s, None, &claude).unwrap();
        let c2 = Identity::resolve(s, None, &meta).unwrap();
        assert_eq!(c1.source, IdentitySource::Header);
        assert_ne!(c1.key, c2.key, "ant-md- prefix keeps the sources apart");
    }
}
