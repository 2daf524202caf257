//! Feed dates: RFC 3339 (Atom, JSON Feed) and RFC 822/2822 (RSS), and the
//! ways real feeds get them wrong.
//!
//! feed-rs's own date parser runs a dozen regular-expression rewrites on
//! every date before trying a format, which was a twentieth of agg's parse
//! time. This one tries the two standard forms first, as written, and only
//! rewrites what did not parse. `tests/dates.rs` checks it against feed-rs's
//! parser on every date of the real-feed corpus: same instant, and nothing
//! feed-rs reads is lost.

use chrono::{DateTime, NaiveDate, Utc};

/// The instant a feed's date string names, if it names one.
pub fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc2822(s))
        .map(|d| d.to_utc())
        .ok()
        .or_else(|| lenient_3339(s))
        .or_else(|| lenient_2822(s))
}

/// RFC 3339 with a colon-less offset (`+0100`) or a bare date (midnight UTC).
fn lenient_3339(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    let b = s.as_bytes();
    let n = b.len();
    if n > 5 && matches!(b[n - 5], b'+' | b'-') && b[n - 4..].iter().all(u8::is_ascii_digit) {
        let fixed = format!("{}:{}", &s[..n - 2], &s[n - 2..]);
        return DateTime::parse_from_rfc3339(&fixed)
            .ok()
            .map(|d| d.to_utc());
    }
    None
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 2822 as feeds really write it: weekday names wrong, long or
/// abbreviated ("Thurs"), month names in full, month before day, hour 24 or
/// of one digit, `UTC` for the zone, no zone at all.
fn lenient_2822(s: &str) -> Option<DateTime<Utc>> {
    let mut words: Vec<String> = s
        .split_whitespace()
        .map(|w| w.trim_end_matches(',').to_string())
        .filter(|w| !w.is_empty())
        .collect();
    // A leading weekday, whatever its spelling: the date says the day.
    if words.first().is_some_and(|w| {
        w.len() >= 3 && w.chars().all(|c| c.is_ascii_alphabetic()) && month(w).is_none()
    }) {
        words.remove(0);
    }
    // Month before day (`Jun 10 2003`).
    if words.len() >= 2
        && month(&words[0]).is_some()
        && words[1].chars().all(|c| c.is_ascii_digit())
    {
        words.swap(0, 1);
    }
    if words.len() < 4 {
        return None;
    }
    let mon = month(&words[1])?;
    words[1] = MONTHS[mon].to_string();
    // The time: hour 24 is midnight of the same day (as feed-rs reads it),
    // a one-digit hour is padded, a missing seconds field is zero.
    let mut hms: Vec<String> = words[3].split(':').map(str::to_string).collect();
    if hms.len() < 2 || hms.len() > 3 {
        return None;
    }
    if hms[0] == "24" {
        hms[0] = "00".into();
    }
    if hms[0].len() == 1 {
        hms[0].insert(0, '0');
    }
    if hms.len() == 2 {
        hms.push("00".into());
    }
    words[3] = hms.join(":");
    match words.get(4).map(String::as_str) {
        None => words.push("+0000".into()),
        Some("UTC" | "Z" | "-0000") => words[4] = "+0000".into(),
        _ => {}
    }
    words.truncate(5);
    DateTime::parse_from_rfc2822(&words.join(" "))
        .ok()
        .map(|d| d.to_utc())
}

/// The month a name means (`Jun`, `June`, `JUNE`, `Sept`), as 0..12: at
/// least three letters that begin the month's full name (`Junk` is not
/// June; three letters already tell the months apart).
fn month(w: &str) -> Option<usize> {
    const FULL: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if w.len() < 3 {
        return None;
    }
    let w = w.to_ascii_lowercase();
    FULL.iter().position(|m| m.starts_with(&w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        parse_date(s).map(|d| d.to_rfc3339()).unwrap_or_default()
    }

    #[test]
    fn standard_and_sloppy_dates() {
        assert_eq!(iso("2003-06-10T04:00:00Z"), "2003-06-10T04:00:00+00:00");
        assert_eq!(iso("2003-06-10T04:00:00+0100"), "2003-06-10T03:00:00+00:00");
        assert_eq!(iso("2003-06-10"), "2003-06-10T00:00:00+00:00");
        assert_eq!(
            iso("Tue, 10 Jun 2003 04:00:00 GMT"),
            "2003-06-10T04:00:00+00:00"
        );
        // Wrong weekday, long names, UTC, one-digit hour, month first.
        assert_eq!(
            iso("Sat, 10 Jun 2003 04:00:00 GMT"),
            "2003-06-10T04:00:00+00:00"
        );
        assert_eq!(
            iso("Thurs, 10 June 2003 4:00:00 UTC"),
            "2003-06-10T04:00:00+00:00"
        );
        assert_eq!(
            iso("Tuesday, Jun 10 2003 04:00:00 +0200"),
            "2003-06-10T02:00:00+00:00"
        );
        assert_eq!(
            iso("10 Sept 2003 24:00:00 -0000"),
            "2003-09-10T00:00:00+00:00"
        );
        assert_eq!(iso("10 Jun 2003 04:00 +0000"), "2003-06-10T04:00:00+00:00");
        assert_eq!(iso(""), "");
        assert_eq!(iso("yesterday"), "");
        assert_eq!(iso("10 Junk 2003 04:00:00 GMT"), "");
    }
}
