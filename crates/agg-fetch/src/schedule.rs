//! Feed health and adaptive polling: how a [`FeedState`] changes after a
//! fetch, and when the feed is next worth fetching.
//!
//! - After a success (200 or 304) the next fetch is due after the feed's
//!   typical gap between items (the median gap of its recent item dates),
//!   clamped to `[min_interval, max_interval]`, and never before the feed's
//!   RSS `ttl` (itself capped at `max_interval`).
//! - After a failure, the next fetch waits `min_interval · 2^(failures−1)`
//!   (capped at `max_interval`, with jitter), or until the server's
//!   `Retry-After` when it sent one. After `pause_after` consecutive failures
//!   the feed is paused, with the reason kept, until resumed
//!   (`agg feeds resume URL`).
//! - A hold after a failure (`last_error` set) is always honoured; the
//!   adaptive schedule after a success is honoured unless the agent's
//!   `respect_schedule` is false.

use agg_core::FeedState;
use chrono::{DateTime, Duration, Utc};

/// How many recent item dates a feed keeps.
pub const RECENT_ITEMS: usize = 50;

#[derive(Clone, Debug)]
pub struct Policy {
    pub min_interval: Duration,
    pub max_interval: Duration,
    /// Consecutive failures before the feed is paused (0: never).
    pub pause_after: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_interval: Duration::minutes(15),
            max_interval: Duration::hours(12),
            pause_after: 5,
        }
    }
}

/// Why a feed is not fetched now.
#[derive(Debug, PartialEq, Eq)]
pub enum Skip {
    Paused(String),
    /// After a failure: backoff or the server's Retry-After.
    Backoff(DateTime<Utc>),
    /// Not due on its adaptive schedule.
    NotDue(DateTime<Utc>),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::Paused(r) => write!(f, "paused ({r}); `agg feeds resume URL` to fetch it again"),
            Skip::Backoff(t) => write!(
                f,
                "waiting after an error until {}",
                t.format("%Y-%m-%d %H:%M UTC")
            ),
            Skip::NotDue(t) => write!(f, "not due until {}", t.format("%Y-%m-%d %H:%M UTC")),
        }
    }
}

/// Whether to fetch the feed now.
pub fn should_skip(state: &FeedState, now: DateTime<Utc>, respect_schedule: bool) -> Option<Skip> {
    if state.paused {
        return Some(Skip::Paused(
            state
                .pause_reason
                .clone()
                .unwrap_or_else(|| "paused".into()),
        ));
    }
    let next = state.next_fetch.filter(|t| *t > now)?;
    if state.last_error.is_some() {
        Some(Skip::Backoff(next))
    } else if respect_schedule {
        Some(Skip::NotDue(next))
    } else {
        None
    }
}

/// Median gap between distinct item dates (newest first or in any order).
pub fn median_gap(dates: &[DateTime<Utc>]) -> Option<Duration> {
    let mut d: Vec<_> = dates.to_vec();
    d.sort_unstable();
    d.dedup();
    if d.len() < 2 {
        return None;
    }
    let mut gaps: Vec<Duration> = d.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

/// The polling interval for a feed with these recent item dates and `ttl`
/// (minutes). A feed with fewer than two dated items polls at `max_interval`.
pub fn interval(recent: &[DateTime<Utc>], ttl_minutes: Option<u32>, p: &Policy) -> Duration {
    let base = median_gap(recent)
        .unwrap_or(p.max_interval)
        .clamp(p.min_interval, p.max_interval.max(p.min_interval));
    match ttl_minutes {
        Some(ttl) => base.max(Duration::minutes(i64::from(ttl)).min(p.max_interval)),
        None => base,
    }
}

/// Adds item dates to the feed's recent history (newest first, bounded).
/// Returns how many dates were not there before (a lower bound of the
/// feed's new items).
pub fn merge_recent(state: &mut FeedState, dates: impl IntoIterator<Item = DateTime<Utc>>) -> u64 {
    let oldest = state.recent_items.iter().min().copied();
    let full = state.recent_items.len() >= RECENT_ITEMS;
    let mut added = 0;
    for d in dates {
        if state.recent_items.contains(&d) {
            continue;
        }
        // Once the history is full, dates older than all of it are old items
        // scrolled out of memory, not new ones.
        if full && oldest.is_some_and(|o| d < o) {
            continue;
        }
        state.recent_items.push(d);
        added += 1;
    }
    state.recent_items.sort_unstable_by(|a, b| b.cmp(a));
    state.recent_items.truncate(RECENT_ITEMS);
    added
}

/// Records a successful fetch (`new_dates`: dates of the items it carried;
/// empty for a 304). The dates feed the schedule only: how many items were
/// new is for the store to say (the caller adds what storing them counted to
/// `items_total`), since many items share a date and some have none.
pub fn record_success(
    state: &mut FeedState,
    now: DateTime<Utc>,
    title: Option<String>,
    new_dates: Vec<DateTime<Utc>>,
    ttl_minutes: Option<u32>,
    p: &Policy,
) {
    merge_recent(state, new_dates);
    if title.is_some() {
        state.title = title;
    }
    state.last_fetch = Some(now);
    state.last_success = Some(now);
    state.last_error = None;
    state.consecutive_failures = 0;
    state.next_fetch = Some(now + interval(&state.recent_items, ttl_minutes, p));
}

/// Records a failed fetch: backoff (or the server's Retry-After), and a
/// pause after `pause_after` failures in a row.
pub fn record_failure(
    state: &mut FeedState,
    now: DateTime<Utc>,
    error: String,
    retry_after: Option<DateTime<Utc>>,
    p: &Policy,
) {
    state.consecutive_failures += 1;
    state.last_fetch = Some(now);
    let n = state.consecutive_failures;
    let backoff = p
        .min_interval
        .checked_mul(1 << (n - 1).min(16))
        .unwrap_or(p.max_interval)
        .min(p.max_interval);
    // ±10% so feeds that failed together do not retry together.
    let jitter = backoff.num_seconds() as f64 * (fastrand::f64() * 0.2 - 0.1);
    let backoff = backoff + Duration::seconds(jitter as i64);
    state.next_fetch = Some(match retry_after {
        Some(t) => t.min(now + Duration::days(7)),
        None => now + backoff,
    });
    if p.pause_after > 0 && n >= p.pause_after && !state.paused {
        state.paused = true;
        state.pause_reason = Some(format!("{n} consecutive failures, the last: {error}"));
    }
    state.last_error = Some(error);
}

/// Un-pauses a feed and clears its holds (what `agg feeds resume` does).
pub fn resume(state: &mut FeedState) {
    state.paused = false;
    state.pause_reason = None;
    state.consecutive_failures = 0;
    state.next_fetch = None;
    state.last_error = None;
}

/// Items per day over the feed's recent history (None with < 2 dates).
pub fn items_per_day(state: &FeedState) -> Option<f64> {
    let newest = state.recent_items.iter().max()?;
    let oldest = state.recent_items.iter().min()?;
    let span = (*newest - *oldest).num_seconds() as f64 / 86400.0;
    (state.recent_items.len() >= 2 && span > 0.0)
        .then(|| (state.recent_items.len() - 1) as f64 / span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(h)
    }

    #[test]
    fn interval_follows_the_median_gap_clamped_and_ttl() {
        let p = Policy::default();
        let hourly: Vec<_> = (0..10).map(t).collect();
        assert_eq!(interval(&hourly, None, &p), Duration::hours(1));
        // A burst plus one outlier: the median ignores the outlier.
        let mut burst = hourly.clone();
        burst.push(t(-500));
        assert_eq!(interval(&burst, None, &p), Duration::hours(1));
        let fast: Vec<_> = (0..10).map(|i| t(0) + Duration::minutes(i)).collect();
        assert_eq!(interval(&fast, None, &p), Duration::minutes(15));
        let slow: Vec<_> = (0..5).map(|i| t(i * 24 * 7)).collect();
        assert_eq!(interval(&slow, None, &p), Duration::hours(12));
        assert_eq!(interval(&hourly, Some(180), &p), Duration::hours(3));
        assert_eq!(interval(&hourly, Some(100_000), &p), Duration::hours(12));
        assert_eq!(interval(&[], None, &p), Duration::hours(12));
    }

    #[test]
    fn health_transitions_pause_and_resume() {
        let p = Policy {
            pause_after: 3,
            ..Policy::default()
        };
        let mut s = FeedState::default();
        let now = t(0);
        record_success(
            &mut s,
            now,
            Some("T".into()),
            (0..4).map(t).collect(),
            None,
            &p,
        );
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.items_total, 0, "dates do not count items");
        assert_eq!(s.next_fetch, Some(now + Duration::hours(1)));
        assert!(matches!(should_skip(&s, now, true), Some(Skip::NotDue(_))));
        assert_eq!(should_skip(&s, now, false), None);
        record_success(&mut s, now, None, (0..4).map(t).collect(), None, &p);
        assert_eq!(s.title.as_deref(), Some("T"));

        record_failure(&mut s, now, "HTTP 500".into(), None, &p);
        let first = s.next_fetch.unwrap() - now;
        assert!(
            first >= Duration::minutes(13) && first <= Duration::minutes(17),
            "{first}"
        );
        // A failure's hold is honoured even when the schedule is not.
        assert!(matches!(
            should_skip(&s, now, false),
            Some(Skip::Backoff(_))
        ));
        record_failure(&mut s, now, "HTTP 500".into(), None, &p);
        let second = s.next_fetch.unwrap() - now;
        assert!(second >= Duration::minutes(27), "{second}");
        assert!(!s.paused);
        let ra = now + Duration::hours(5);
        record_failure(&mut s, now, "HTTP 503".into(), Some(ra), &p);
        assert_eq!(s.next_fetch, Some(ra));
        assert!(s.paused);
        assert!(
            s.pause_reason
                .as_deref()
                .unwrap()
                .contains("3 consecutive failures")
        );
        assert!(matches!(
            should_skip(&s, t(100), false),
            Some(Skip::Paused(_))
        ));
        resume(&mut s);
        assert_eq!(should_skip(&s, now, true), None);
    }

    #[test]
    fn recent_history_is_bounded_and_rate_is_measured() {
        let mut s = FeedState::default();
        let added = merge_recent(&mut s, (0..80).map(t));
        assert_eq!(added, 80);
        assert_eq!(s.recent_items.len(), RECENT_ITEMS);
        assert_eq!(s.recent_items[0], t(79));
        // Old items that scrolled out are not counted as new.
        assert_eq!(merge_recent(&mut s, (0..10).map(t)), 0);
        assert_eq!(merge_recent(&mut s, [t(80)]), 1);
        let per_day = items_per_day(&s).unwrap();
        assert!((per_day - 24.0).abs() < 0.01, "{per_day}");
    }
}
