//! Units used in the config: token counts (`"999"`, `"1K"`, `"1.5M"`) and durations (`"1200s"`).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error(
        "invalid token count {0:?}: expected a number with an optional K or M suffix, e.g. \"8K\""
    )]
    TokenCount(String),
    #[error(
        "invalid duration {0:?}: expected a number with a unit (ms, s, m, h), e.g. \"1200s\" or \"5m\""
    )]
    Duration(String),
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

/// Parses a duration: one or more `<number><unit>` parts (units `ns`, `us`, `ms`, `s`, `m`, `h`),
/// as in Go's `time.ParseDuration`, e.g. `"1200s"`, `"5m"`, `"1h30m"`, `"1.5s"`. A bare `0` is
/// accepted.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let err = || UnitError::Duration(text.to_string());
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = t;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += value * seconds;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e12 {
        return Err(err());
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
        assert!(parse_duration("1200").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        for d in ["1200s", "250ms", "1500ms"] {
            let v = parse_duration(d).unwrap();
            assert_eq!(parse_duration(&format_duration(v)), Ok(v));
        }
    }
}
