//! The clock agg's time windows read: which sagas are still active, which
//! items fall in today's digest.
//!
//! `AGG_NOW` (RFC 3339) pins it, for tests and for demos over a snapshot of
//! feeds: fixtures dated one week fall out of every window the next, and a
//! test pinned to its fixtures' week keeps passing. `AGG_DIGEST_NOW`, the
//! older name (digest tests set it), wins when both are set. Fetching,
//! scheduling and feed health always use the real time.

use chrono::{DateTime, Utc};

/// Now, or the pinned time; an unreadable pin is an error, not ignored.
pub fn now() -> anyhow::Result<DateTime<Utc>> {
    for var in ["AGG_DIGEST_NOW", "AGG_NOW"] {
        if let Ok(s) = std::env::var(var)
            && !s.is_empty()
        {
            return DateTime::parse_from_rfc3339(&s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| anyhow::anyhow!("{var}=`{s}` is not an RFC 3339 time: {e}"));
        }
    }
    Ok(Utc::now())
}
