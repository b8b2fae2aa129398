//! Durations as plans write them (`500ms`, `30s`, `5m`, `1h`, `1h30m`), held as milliseconds.
//!
//! Milliseconds (not `std::time::Duration`) because rollout state is compared against
//! [`UnixMillis`](crate::time::UnixMillis) and persisted as JSON numbers.

/// A text that is not a duration (or one too long to hold in milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration like `500ms`, `30s`, `5m` or `1h30m`")]
pub struct NotADuration(pub String);

/// Parses `500ms`, `30s`, `5m`, `2h`, `1d` or a concatenation such as `1h30m`.
///
/// A bare number is refused: `30` could be seconds or milliseconds, and guessing wrong changes
/// how long a canary is exposed by a factor of a thousand.
pub fn parse_duration(text: &str) -> Result<u64, NotADuration> {
    let bad = || NotADuration(text.to_owned());
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let per = unit_millis(&rest[..unit_len]).ok_or_else(bad)?;
        let part = value.checked_mul(per).ok_or_else(bad)?;
        total = total.checked_add(part).ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

fn unit_millis(unit: &str) -> Option<u64> {
    match unit {
        "ms" => Some(1),
        "s" => Some(1_000),
        "m" => Some(60_000),
        "h" => Some(3_600_000),
        "d" => Some(86_400_000),
        _ => None,
    }
}

/// Formats milliseconds the way a plan would write them (`90000` → `1m30s`), so `plan show`
/// round-trips through [`parse_duration`].
pub fn fmt_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if rest >= per {
            out.push_str(&format!("{}{unit}", rest / per));
            rest %= per;
        }
    }
    if rest > 0 {
        out.push_str(&format!("{rest}ms"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units_parse() {
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
    }

    #[test]
    fn bare_numbers_and_junk_are_refused() {
        for text in [
            "",
            "30",
            "s",
            "5 m",
            "5x",
            "m5",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn formatting_is_compact() {
        assert_eq!(fmt_duration(0), "0s");
        assert_eq!(fmt_duration(90_000), "1m30s");
        assert_eq!(fmt_duration(1_500), "1s500ms");
        assert_eq!(fmt_duration(3_600_000), "1h");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0u64..10_000_000_000) {
            prop_assert_eq!(parse_duration(&fmt_duration(ms)), Ok(ms));
        }
    }
}
