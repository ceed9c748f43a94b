//! Cue-led formats with no fixed shape: a password after "password is" / "pwd:" / "密码",
//! a phone number in a national format after "call" / "phone" / "电话", and European street
//! addresses (a Germanic street word glued to its type and a house number, or a Romance
//! street type, a capitalised name and a house number).

use std::sync::LazyLock;

use regex::Regex;

use super::Candidate;
use crate::PiiType;
use crate::confidence::CUED;
use crate::scan::isolated;

// A password cue, an optional verb or separator, then the value.
static PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(?:\b(?:password|passwd|passcode|passphrase|pwd|pass|pin)\b|密码|口令)(?:[ \t]*(?:is(?: set to)?|was|=|:|：|是|为)[ \t]*|[ \t]+)["'“]?([^\s"'”，。；,;]{4,64})"#,
    )
    .expect("password regex")
});

/// Character classes (lower, upper, digit, other) present in `s`.
fn classes(s: &str) -> usize {
    let mut seen = [false; 4];
    for c in s.chars() {
        let i = if c.is_lowercase() {
            0
        } else if c.is_uppercase() {
            1
        } else if c.is_ascii_digit() {
            2
        } else {
            3
        };
        seen[i] = true;
    }
    seen.iter().filter(|b| **b).count()
}

/// A password value looks like one when it mixes character classes: words ("incorrect",
/// "manager", "reset") and paths or URLs are not passwords.
fn password_like(v: &str) -> bool {
    let n = v.chars().count();
    let k = classes(v);
    let not_reference = !v.starts_with(['/', '$', '%', '{', '<', '~', '.'])
        && !v.contains("://")
        && !v.ends_with("()");
    not_reference && ((k >= 2 && n >= 6) || (k >= 3 && n >= 4))
}

pub fn passwords(text: &str, out: &mut Vec<Candidate>) {
    for c in PASSWORD.captures_iter(text) {
        let Some(v) = c.get(1) else { continue };
        let value = v.as_str().trim_end_matches(['.', '!', '?', ')', ':', '-']);
        if password_like(value) {
            out.push(Candidate::new(
                PiiType::ApiKey,
                v.start(),
                v.start() + value.len(),
                CUED,
            ));
        }
    }
}

// A phone cue, a few non-digit characters, then a digit run with phone separators.
static CUED_PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:\b(?:call|phone|tel|telephone|mobile|cell|cellphone|text|sms|whatsapp|fax|ring|dial|reach)\b|电话|手机|致电|拨打|联系方式|热线)[^0-9+\n]{0,24}?(\+?\(?[0-9][0-9 ().\-/]{5,22}[0-9])",
    )
    .expect("cued phone regex")
});

static DATE_OR_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[0-9]{4}[\-/.][0-9]{1,2}[\-/.][0-9]{1,2}|[0-9]{1,2}[\-/.][0-9]{1,2}[\-/.][0-9]{2,4})$")
        .expect("date regex")
});

pub fn cued_phones(text: &str, out: &mut Vec<Candidate>) {
    for c in CUED_PHONE.captures_iter(text) {
        let Some(m) = c.get(1) else { continue };
        let s = m.as_str().trim_end_matches([' ', '.', '-', '/']);
        let digits = s.bytes().filter(u8::is_ascii_digit).count();
        let balanced = s.matches('(').count() == s.matches(')').count();
        let end = m.start() + s.len();
        if (7..=15).contains(&digits)
            && balanced
            && !DATE_OR_TIME.is_match(s)
            && isolated(text, m.start(), end)
        {
            out.push(Candidate::new(PiiType::PhoneNumber, m.start(), end, CUED));
        }
    }
}

// German/Dutch/Scandinavian: the street type is glued to the name, the number follows.
static GERMANIC_STREET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b\p{Lu}[\p{L}\-]*(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer|chaussee|straat|laan|gracht|plein|kade|singel|dijk|gatan|vägen|gade|vej|veien)[ \t]?[0-9]{1,4}[a-zA-Z]?\b",
    )
    .expect("germanic street regex")
});

// French/Italian/Spanish/Portuguese: street type, optional particle, capitalised name, and a
// house number before or after.
static ROMANCE_STREET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:\b[0-9]{1,4}[a-zA-Z]?,?[ \t]+)?\b(?i:rue|avenue|boulevard|chemin|allée|impasse|quai|via|viale|piazza|piazzale|corso|contrada|strada|borgo|vicolo|calle|avenida|paseo|camino|ronda|carrer|rua|travessa|largo|praça|cours)[ \t]+(?:(?:de|del|della|delle|dei|des|du|la|le|les|da|do|dos|das|di|degli|d'|l')[ \t]?)*\p{Lu}[\p{L}'\-]*(?:[ \t]+(?:(?:de|del|della|di|da|do|la|le|du|des)[ \t]+)?\p{Lu}[\p{L}'\-]*){0,3}(?:,?[ \t]+(?:n[º°o.]?[ \t]?)?[0-9]{1,4}[a-zA-Z]?\b)?",
    )
    .expect("romance street regex")
});

pub fn european_streets(text: &str, out: &mut Vec<Candidate>) {
    for m in GERMANIC_STREET.find_iter(text) {
        out.push(Candidate::new(
            PiiType::StreetAddress,
            m.start(),
            m.end(),
            CUED,
        ));
    }
    for m in ROMANCE_STREET.find_iter(text) {
        // A house number on either side: "12 rue de la Paix", "Via Roma 5", "Calle Mayor, 3".
        let s = m.as_str();
        let numbered = s.starts_with(|c: char| c.is_ascii_digit())
            || s.ends_with(|c: char| c.is_ascii_alphanumeric())
                && s.rsplit([' ', '\t', ',']).next().is_some_and(|w| {
                    w.trim_start_matches(|c: char| !c.is_ascii_digit())
                        .starts_with(|c: char| c.is_ascii_digit())
                });
        if numbered {
            out.push(Candidate::new(
                PiiType::StreetAddress,
                m.start(),
                m.end(),
                CUED,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str, f: fn(&str, &mut Vec<Candidate>)) -> Vec<&str> {
        let mut out = Vec::new();
        f(text, &mut out);
        out.iter().map(|c| &text[c.start..c.end]).collect()
    }

    #[test]
    fn passwords_need_a_password_like_value() {
        assert_eq!(
            kinds("my password is Tr0ub4dor&3 ok", passwords),
            ["Tr0ub4dor&3"]
        );
        assert_eq!(kinds("pwd: x9Kq2mLp.", passwords), ["x9Kq2mLp"]);
        assert_eq!(kinds("密码是Abc12345，", passwords), ["Abc12345"]);
        for benign in [
            "the password is incorrect",
            "reset your password manager",
            "pwd: command not found",
            "pass the salt please",
            "password = $DB_PASSWORD",
            "password: /etc/secret",
        ] {
            assert!(kinds(benign, passwords).is_empty(), "{benign}");
        }
    }

    #[test]
    fn phones_after_a_cue_in_national_formats() {
        assert_eq!(
            kinds("Call me on 07700 900123 tonight", cued_phones),
            ["07700 900123"]
        );
        assert_eq!(kinds("电话：010 6552 9988", cued_phones), ["010 6552 9988"]);
        assert_eq!(kinds("tel. 030/1234567", cued_phones), ["030/1234567"]);
        assert!(kinds("call it on 2024-03-15", cued_phones).is_empty());
        assert!(kinds("text me 42 times", cued_phones).is_empty());
        assert!(kinds("07700 900123 without a cue", cued_phones).is_empty());
    }

    #[test]
    fn european_street_shapes() {
        assert_eq!(
            kinds("an die Hauptstraße 12 bitte", european_streets),
            ["Hauptstraße 12"]
        );
        assert_eq!(
            kinds("au 12 rue de la Paix.", european_streets),
            ["12 rue de la Paix"]
        );
        assert_eq!(
            kinds("in Via Garibaldi 7, Roma", european_streets),
            ["Via Garibaldi 7"]
        );
        assert_eq!(
            kinds("Calle Mayor, 3", european_streets),
            ["Calle Mayor, 3"]
        );
        assert!(kinds("send it via Slack today", european_streets).is_empty());
        assert!(kinds("the Strassenbahn is late", european_streets).is_empty());
    }
}
