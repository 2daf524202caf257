//! The digest preview page: what the next digest of each served pipeline
//! would contain if it were sent now, and whether today's went out.
//!
//! The preview itself is `agg_app::digest::preview` (the digest agent
//! rebuilt in preview mode and run alone, nothing fetched, sent or
//! recorded); this module only puts it in the shape the page shows.

use std::sync::Arc;

use agg_core::{Pipeline, Store};

/// One digest agent's preview, as the page shows it.
#[derive(Debug, serde::Serialize)]
pub struct Preview {
    pub pipeline: String,
    pub agent: String,
    pub day: String,
    pub subject: Option<String>,
    pub to: String,
    pub count: usize,
    pub items: Vec<i64>,
    pub summary: Vec<String>,
    pub note: Option<String>,
    /// The rendered email (a whole HTML document), when it has items.
    pub html: Option<String>,
    /// Why this digest could not be previewed.
    pub error: Option<String>,
    /// Whether today's digest went out, when and to whom (or the last one
    /// that did): the first thing a reader asks on this page.
    pub sent: Option<String>,
}

/// Previews of every `email_digest` agent of `pipelines`, in order.
pub async fn previews(pipelines: &[Pipeline], store: &Arc<dyn Store>) -> Vec<Preview> {
    let mut out = Vec::new();
    for p in pipelines {
        for decl in &p.agents {
            if decl.kind != agg_agents::email_digest::KIND.name {
                continue;
            }
            let view = match agg_app::digest::preview(p, &decl.name, store).await {
                Ok(pr) => {
                    let o = pr.outcome;
                    let to = o.to.join(", ");
                    let sent = Some(sent_line(pr.last.as_ref(), &o.day, &to, p.timezone));
                    Preview {
                        pipeline: p.name.clone(),
                        agent: decl.name.clone(),
                        day: o.day,
                        subject: o.subject,
                        to,
                        count: o.items.len(),
                        items: o.items,
                        summary: o.summary,
                        note: o.note,
                        html: pr.html,
                        error: None,
                        sent,
                    }
                }
                Err(e) => Preview {
                    pipeline: p.name.clone(),
                    agent: decl.name.clone(),
                    day: String::new(),
                    subject: None,
                    to: String::new(),
                    count: 0,
                    items: Vec::new(),
                    summary: Vec::new(),
                    note: None,
                    html: None,
                    error: Some(e.to_string()),
                    sent: None,
                },
            };
            out.push(view);
        }
    }
    out
}

/// "Today's digest was sent at 07:00 to me@example.org (12 items)", or
/// that it was not, with the last one that was.
fn sent_line(
    last: Option<&agg_core::DigestRecord>,
    today: &str,
    to: &str,
    tz: chrono_tz::Tz,
) -> String {
    let at = |r: &agg_core::DigestRecord| {
        r.sent_at
            .unwrap_or(r.created)
            .with_timezone(&tz)
            .format("%H:%M %Z")
            .to_string()
    };
    match last {
        Some(r) if r.day == today && r.status == agg_core::DigestStatus::Sent => format!(
            "Today's digest ({today}) was sent at {} to {to} ({} item{}).",
            at(r),
            r.items.len(),
            if r.items.len() == 1 { "" } else { "s" }
        ),
        Some(r) if r.day == today => format!(
            "Today's digest ({today}) is {}{}.",
            r.status,
            r.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
        Some(r) => format!(
            "Today's digest ({today}) has not been sent yet; the last one, of {}, was {} at {}.",
            r.day,
            r.status,
            at(r)
        ),
        None => {
            format!("Today's digest ({today}) has not been sent yet; none has been sent before.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn says_whether_today_went_out_when_and_to_whom() {
        let rec = agg_core::DigestRecord {
            pipeline: "p".into(),
            day: "2026-11-26".into(),
            message_id: "m".into(),
            items: vec![1, 2],
            status: agg_core::DigestStatus::Sent,
            created: chrono::Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap(),
            sent_at: Some(chrono::Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 5).unwrap()),
            error: None,
        };
        let tz = chrono_tz::Europe::London;
        assert_eq!(
            sent_line(Some(&rec), "2026-11-26", "me@example.org", tz),
            "Today's digest (2026-11-26) was sent at 07:00 GMT to me@example.org (2 items)."
        );
        assert!(
            sent_line(Some(&rec), "2026-11-27", "me@example.org", tz)
                .starts_with("Today's digest (2026-11-27) has not been sent yet; the last one, of 2026-11-26, was sent")
        );
        assert!(sent_line(None, "2026-11-27", "x", tz).contains("none has been sent"));
    }
}
