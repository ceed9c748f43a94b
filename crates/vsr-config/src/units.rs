//! Units used in the config: token counts (`"999"`, `"1K"`, `"1.5M"`) and durations (`"1200s"`,
//! `"1h30m"`). These are the only unit parsers in the workspace.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error(
        "invalid token count {0:?}: expected a number with an optional K or M suffix, e.g. \"8K\""
    )]
    TokenCount(String),
    /// Not Go duration syntax (see [`parse_duration`]); `reason` says which part is wrong.
    #[error("invalid duration {text:?}: {reason}")]
    Duration { text: String, reason: String },
}

/// Parses a token count: a non-negative number with an optional case-insensitive `K` (×1000) or
/// `M` (×1 000 000) suffix. Fractions are truncated after scaling (`"1.5K"` → 1500).
pub fn parse_token_count(text: &str) -> Result<u64, UnitError> {
    let err = || UnitError::TokenCount(text.to_string());
    let t = text.trim();
    let (digits, scale) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000.0),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000.0),
        _ => (t, 1.0),
    };
    let digits = digits.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(err());
    }
    let v: f64 = digits.parse().map_err(|_| err())?;
    let scaled = v * scale;
    if !scaled.is_finite() || scaled > u64::MAX as f64 {
        return Err(err());
    }
    Ok(scaled as u64)
}

/// Formats a token count compactly so that it parses back to the same value.
pub fn format_token_count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}K", n / 1_000)
    } else {
        n.to_string()
    }
}

/// Parses a duration with Go's `time.ParseDuration` grammar (the original router's):
/// one or more `<number><unit>` parts with no spaces between them, e.g. `"1200s"`, `"5m"`,
/// `"1h30m"`, `"1.5s"`, `"250ms"`. Numbers are decimal with an optional fraction (`1.5`, `.5`,
/// `5.`); units are `ns`, `us` (also `µs`, `μs`), `ms`, `s`, `m`, `h`. A leading `+` is accepted.
/// The only unitless value is `0`: a bare `1200` is refused because its unit would be a guess.
/// Negative durations are refused (no config field means one).
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let err = |reason: &str| UnitError::Duration {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let mut rest = text.trim();
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if rest.starts_with('-') {
        return Err(err("negative durations are not allowed"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err("it is empty"));
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..num_len];
        if !number.bytes().any(|b| b.is_ascii_digit()) {
            return Err(err("expected a number before each unit"));
        }
        if number.bytes().filter(|&b| b == b'.').count() > 1 {
            return Err(err("a number has more than one decimal point"));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| err("a number is not a decimal"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "" if text.trim().len() == num_len => {
                return Err(err(
                    "a bare number has no unit; write e.g. \"1200s\" or \"5m\" (only 0 may omit it)",
                ));
            }
            "" => return Err(err("missing unit after the last number")),
            "ns" => 1e-9,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(err(&format!(
                    "unknown unit {other:?} (expected ns, us, ms, s, m or h)"
                )));
            }
        };
        total += value * seconds;
        rest = &rest[unit_len..];
    }
    // Go's limit is about 292 years; anything near it is a typo here.
    if !total.is_finite() || total > 1e12 {
        return Err(err("it is out of range"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration so that [`parse_duration`] reads it back exactly: whole seconds as `"Ns"`,
/// otherwise milliseconds or nanoseconds.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts() {
        assert_eq!(parse_token_count("256K"), Ok(256_000));
        assert_eq!(parse_token_count("1k"), Ok(1_000));
        assert_eq!(parse_token_count("1.5M"), Ok(1_500_000));
        assert_eq!(parse_token_count("999"), Ok(999));
        assert_eq!(parse_token_count(" 8K "), Ok(8_000));
        assert!(parse_token_count("K").is_err());
        assert!(parse_token_count("-1").is_err());
        assert!(parse_token_count("12G").is_err());
        assert!(parse_token_count("").is_err());
    }

    #[test]
    fn token_counts_format_back() {
        for n in [0, 999, 1_000, 8_000, 256_000, 1_500_000, 2_000_000, 1234] {
            assert_eq!(parse_token_count(&format_token_count(n)), Ok(n));
        }
        assert_eq!(format_token_count(256_000), "256K");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1200s"), Ok(Duration::from_secs(1200)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(
            parse_duration("2h45m30.5s"),
            Ok(Duration::from_millis(9_930_500))
        );
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("100\u{b5}s"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("+0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(".5m"), Ok(Duration::from_secs(30)));
        for bad in ["s", "10 parsecs", "", "1.2.3s", "-5s", "3d", "1h30", "1e3s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn bare_numbers_other_than_zero_are_refused_with_the_reason() {
        let e = parse_duration("1200").unwrap_err().to_string();
        assert!(
            e.contains("\"1200\"") && e.contains("bare number has no unit"),
            "{e}"
        );
        let e = parse_duration("1h30").unwrap_err().to_string();
        assert!(e.contains("missing unit after the last number"), "{e}");
        let e = parse_duration("3d").unwrap_err().to_string();
        assert!(e.contains("unknown unit \"d\""), "{e}");
        for d in ["1200s", "250ms", "1500ms"] {
            let v = parse_duration(d).unwrap();
            assert_eq!(parse_duration(&format_duration(v)), Ok(v));
        }
    }
}
