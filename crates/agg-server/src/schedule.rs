//! When does a pipeline run? Its 5-field crontab, read in the pipeline's
//! time zone, so "0 7 * * *" stays 07:00 local across DST changes.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// What to do about runs missed while agg was not running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatchUp {
    /// One run for the whole missed window (the default: never a burst).
    #[default]
    Last,
    /// Every missed occurrence, oldest first (bounded by [`MAX_CATCH_UP`]).
    All,
    /// Skip what was missed; wait for the next occurrence.
    None,
}

impl std::str::FromStr for CatchUp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "last" => Ok(CatchUp::Last),
            "all" => Ok(CatchUp::All),
            "none" => Ok(CatchUp::None),
            _ => Err(format!("unknown catch-up policy `{s}`: last, all or none")),
        }
    }
}

/// Most missed runs replayed by `catch_up: all`.
pub const MAX_CATCH_UP: usize = 50;

/// The next `n` occurrences strictly after `after`, in UTC.
pub fn next_runs(
    cron: &croner::Cron,
    tz: Tz,
    after: DateTime<Utc>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(n);
    let mut t = after.with_timezone(&tz);
    while out.len() < n {
        match cron.find_next_occurrence(&t, false) {
            Ok(next) => {
                out.push(next.with_timezone(&Utc));
                t = next;
            }
            Err(_) => break,
        }
    }
    out
}

/// Occurrences in `(last, now]` that should run now, per the policy. `last`
/// is the occurrence the previous run was for (`None`: never ran, so only
/// the future counts).
pub fn missed(
    cron: &croner::Cron,
    tz: Tz,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: CatchUp,
) -> Vec<DateTime<Utc>> {
    let Some(last) = last else {
        return Vec::new();
    };
    let mut due = Vec::new();
    let mut t = last;
    loop {
        let next = next_runs(cron, tz, t, 1);
        match next.first() {
            Some(&n) if n <= now => {
                due.push(n);
                t = n;
                if due.len() > MAX_CATCH_UP * 4 {
                    due.remove(0);
                }
            }
            _ => break,
        }
    }
    match policy {
        CatchUp::None => Vec::new(),
        CatchUp::Last => due.pop().into_iter().collect(),
        CatchUp::All => {
            let skip = due.len().saturating_sub(MAX_CATCH_UP);
            due.split_off(skip)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cron(s: &str) -> croner::Cron {
        s.parse().unwrap()
    }

    #[test]
    fn local_time_holds_across_dst() {
        let tz: Tz = "Europe/London".parse().unwrap();
        // Clocks go forward on 29 March 2026 and back on 25 October 2026.
        let after = Utc.with_ymd_and_hms(2026, 3, 27, 12, 0, 0).unwrap();
        let runs = next_runs(&cron("0 7 * * *"), tz, after, 4);
        let local: Vec<String> = runs
            .iter()
            .map(|r| r.with_timezone(&tz).format("%d %H:%M %Z").to_string())
            .collect();
        assert_eq!(
            local,
            [
                "28 07:00 GMT",
                "29 07:00 BST",
                "30 07:00 BST",
                "31 07:00 BST"
            ]
        );
        assert_eq!(runs[0].format("%H").to_string(), "07");
        assert_eq!(
            runs[1].format("%H").to_string(),
            "06",
            "07:00 BST is 06:00 UTC"
        );
        let autumn = next_runs(
            &cron("0 7 * * *"),
            tz,
            Utc.with_ymd_and_hms(2026, 10, 23, 12, 0, 0).unwrap(),
            2,
        );
        // 24 October is still BST; on the 25th clocks go back at 02:00.
        assert_eq!(autumn[0].format("%H").to_string(), "06");
        assert_eq!(autumn[1].format("%H").to_string(), "07");
    }

    #[test]
    fn a_time_skipped_by_dst_runs_once_and_a_repeated_one_once() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 02:30 does not exist on 8 March 2026 and happens twice on 1 November.
        let spring = next_runs(
            &cron("30 2 * * *"),
            tz,
            Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap(),
            3,
        );
        assert_eq!(spring.len(), 3);
        assert!(spring.windows(2).all(|w| w[0] < w[1]));
        let days: Vec<u32> = spring
            .iter()
            .map(|r| chrono::Datelike::day(&r.with_timezone(&tz)))
            .collect();
        assert_eq!(
            days.iter().filter(|d| **d == 8).count(),
            1,
            "the skipped day still runs once: {spring:?}"
        );
        let autumn = next_runs(
            &cron("30 1 * * *"),
            tz,
            Utc.with_ymd_and_hms(2026, 10, 31, 12, 0, 0).unwrap(),
            3,
        );
        let days: Vec<u32> = autumn
            .iter()
            .map(|r| chrono::Datelike::day(&r.with_timezone(&tz)))
            .collect();
        assert_eq!(
            days.iter().filter(|d| **d == 1).count(),
            1,
            "the repeated hour runs once: {autumn:?}"
        );
    }

    #[test]
    fn catch_up_policies() {
        let c = cron("0 * * * *");
        let last = Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap();
        let last_only = missed(&c, Tz::UTC, last, now, CatchUp::Last);
        assert_eq!(
            last_only,
            vec![Utc.with_ymd_and_hms(2026, 11, 1, 5, 0, 0).unwrap()]
        );
        assert_eq!(missed(&c, Tz::UTC, last, now, CatchUp::All).len(), 5);
        assert!(missed(&c, Tz::UTC, last, now, CatchUp::None).is_empty());
        assert!(
            missed(&c, Tz::UTC, None, now, CatchUp::All).is_empty(),
            "never ran: nothing missed"
        );
        let long = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(
            missed(&c, Tz::UTC, long, now, CatchUp::All).len(),
            MAX_CATCH_UP
        );
        let current = Some(Utc.with_ymd_and_hms(2026, 11, 1, 5, 0, 0).unwrap());
        assert!(
            missed(&c, Tz::UTC, current, now, CatchUp::Last).is_empty(),
            "up to date"
        );
    }
}
