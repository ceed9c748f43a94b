//! IPv4 and IPv6 addresses.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;

use super::Candidate;
use crate::PiiType;
use crate::confidence::STRUCTURED;
use crate::scan::{char_at, char_before, word_before};

static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}").expect("ipv4 regex")
});

// Hex groups joined by ':' or '::'; std's parser decides validity.
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:[0-9a-f]{1,4})?(?:::?[0-9a-f]{1,4}){0,6}::?(?:[0-9]{1,3}\.){3}[0-9]{1,3}|(?:[0-9a-f]{1,4})?(?:::?[0-9a-f]{1,4}){1,7}(?:::)?",
    )
    .expect("ipv6 regex")
});

/// Words after which a dotted quad is a version or section number, not an address.
const VERSION_WORDS: &[&str] = &[
    "version", "ver", "v", "release", "build", "firmware", "section", "chapter", "版本", "版",
];

/// An address may be followed by `:port`, `/prefix` or sentence punctuation, but must not be part
/// of a longer dotted or word token.
fn ip_edges_ok(text: &str, start: usize, end: usize) -> bool {
    let before = char_before(text, start);
    if before.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':')) {
        return false;
    }
    let after = char_at(text, end);
    match after {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => false,
        Some('.' | ':') => {
            // "1.2.3.4.5" or "::1:2" continue the token; "10.0.0.5." ends a sentence and
            // "10.0.0.5:8080" names a port.
            let next = char_at(text, end + 1);
            let port = after == Some(':') && next.is_some_and(|c| c.is_ascii_digit());
            port || !next.is_some_and(|c| c.is_ascii_hexdigit())
        }
        _ => true,
    }
}

pub fn ip_addresses(text: &str, out: &mut Vec<Candidate>) {
    for m in IPV4.find_iter(text) {
        let s = m.as_str();
        // std rejects octets above 255 and leading zeros.
        let Ok(addr) = s.parse::<Ipv4Addr>() else {
            continue;
        };
        // Loopback and "any" addresses identify no host or person.
        if addr.is_loopback() || addr.is_unspecified() || !ip_edges_ok(text, m.start(), m.end()) {
            continue;
        }
        if VERSION_WORDS.contains(&word_before(text, m.start()).as_str()) {
            continue;
        }
        out.push(Candidate::new(
            PiiType::IpAddress,
            m.start(),
            m.end(),
            STRUCTURED,
        ));
    }
    if !text.contains(':') {
        return;
    }
    for m in IPV6.find_iter(text) {
        let s = m.as_str();
        let groups = s.split(':').filter(|g| !g.is_empty()).count();
        let embeds_v4 = s.contains('.');
        // A bare "a::b" is too weak (and common in code); times like 12:30:45 fail parsing.
        if (groups < 3 && !(embeds_v4 && groups >= 2)) || !s.bytes().any(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(addr) = s.parse::<Ipv6Addr>() else {
            continue;
        };
        if addr.is_loopback() || addr.is_unspecified() || !ip_edges_ok(text, m.start(), m.end()) {
            continue;
        }
        out.push(Candidate::new(
            PiiType::IpAddress,
            m.start(),
            m.end(),
            STRUCTURED,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        ip_addresses(text, &mut out);
        out.iter()
            .map(|c| text[c.start..c.end].to_string())
            .collect()
    }

    #[test]
    fn addresses() {
        assert_eq!(found("host 192.168.10.24 down"), ["192.168.10.24"]);
        assert_eq!(found("公网IP是58.33.142.9，"), ["58.33.142.9"]);
        assert_eq!(found("connect 10.0.0.5:5432."), ["10.0.0.5"]);
        assert_eq!(found("end 10.0.0.5."), ["10.0.0.5"]);
        assert_eq!(
            found("v6 2001:db8:85a3::8a2e:370:7334, ok"),
            ["2001:db8:85a3::8a2e:370:7334"]
        );
        assert_eq!(
            found("ping fe80::1ff:fe23:4567:890a"),
            ["fe80::1ff:fe23:4567:890a"]
        );
        assert_eq!(
            found("2408:8207:2c31:1d50:0:0:0:1"),
            ["2408:8207:2c31:1d50:0:0:0:1"]
        );
    }

    #[test]
    fn non_addresses() {
        for t in [
            "version 2.4.1.0",
            "v1.2.3.4",
            "999.12.1.1",
            "1.2.3.4.5",
            "Chrome 120.0.6099.109",
            "at 12:30:45",
            "use std::net::Ipv6Addr;",
            "Foo::bar()",
            "loopback ::1",
            "01.02.03.04",
            "use 127.0.0.1 locally",
            "bind 0.0.0.0:80",
            "0:0:0:0:0:0:0:1",
            "550e8400-e29b-41d4-a716-446655440000",
        ] {
            assert!(found(t).is_empty(), "{t}: {:?}", found(t));
        }
    }
}
