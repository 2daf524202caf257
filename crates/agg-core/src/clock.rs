//! The clock agg reads: which sagas are still active, which items fall in
//! today's digest, which feeds are due, how far back the backlog reaches.
//!
//! `agg --now RFC3339` pins it for one process ([`pin`]), so a past day can
//! be replayed into a scratch store with the same result every time, and a
//! test or demo over a snapshot of feeds keeps its fixtures inside every
//! window. The environment variable `AGG_NOW` (and `AGG_DIGEST_NOW`, the older
//! name digest tests set, which wins when both are set) pins it too, for
//! child processes started by tests.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

static PINNED: OnceLock<DateTime<Utc>> = OnceLock::new();

/// Pins the clock for the rest of the process (`--now`). The first pin wins:
/// a clock that moved half-way through a run would split its windows.
pub fn pin(t: DateTime<Utc>) {
    let _ = PINNED.set(t);
}

/// Whether the clock is pinned (by [`pin`] or the environment).
pub fn is_pinned() -> bool {
    PINNED.get().is_some() || env_pin().is_some()
}

fn env_pin() -> Option<(&'static str, String)> {
    ["AGG_DIGEST_NOW", "AGG_NOW"].into_iter().find_map(|var| {
        std::env::var(var)
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| (var, s))
    })
}

/// Parses a time given as `--now` or `AGG_NOW`: RFC 3339, or a bare date
/// (`2026-11-27`, read as 07:00 UTC that day: a morning run).
pub fn parse(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(d.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        return Ok(d.and_hms_opt(7, 0, 0).expect("07:00 exists").and_utc());
    }
    anyhow::bail!("`{s}` is not an RFC 3339 time (2026-11-27T07:00:00Z) or a date (2026-11-27)")
}

/// Now, or the pinned time; an unreadable pin is an error, not ignored.
pub fn now() -> anyhow::Result<DateTime<Utc>> {
    if let Some(t) = PINNED.get() {
        return Ok(*t);
    }
    if let Some((var, s)) = env_pin() {
        return parse(&s).map_err(|e| anyhow::anyhow!("{var}: {e}"));
    }
    Ok(Utc::now())
}

/// Now, or the pinned time, for code that cannot fail (fetch timestamps,
/// polling). A pin that does not parse was already reported by [`now`]
/// when the run started; here it falls back to the real time.
pub fn current() -> DateTime<Utc> {
    now().unwrap_or_else(|_| Utc::now())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_times_and_dates() {
        assert_eq!(
            super::parse("2026-11-27").unwrap().to_rfc3339(),
            "2026-11-27T07:00:00+00:00"
        );
        assert_eq!(
            super::parse("2026-11-27T08:30:00+01:00")
                .unwrap()
                .to_rfc3339(),
            "2026-11-27T07:30:00+00:00"
        );
        assert!(super::parse("yesterday").is_err());
    }
}
