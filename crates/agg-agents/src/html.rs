//! `html`: a static, self-contained page of what the pipeline holds for its
//! inputs within the backlog window (a view of the store, not of one run:
//! a run with nothing new rewrites the same page, never an empty one),
//! ranked by score when the items are scored, else newest first grouped by
//! day; safe to open from disk or put on any static host.

use std::fmt::Write;
use std::path::PathBuf;

use agg_core::{
    Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx, typed_options,
};
use async_trait::async_trait;
use chrono::Datelike;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use serde::Deserialize;

use crate::util::write_atomic;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    path: String,
    #[serde(default)]
    title: Option<String>,
    /// Characters of each item's text shown under its title.
    #[serde(default = "default_excerpt")]
    excerpt: usize,
    /// Most items on the page.
    #[serde(default = "default_max_items")]
    max_items: u64,
    /// `score` (highest first when scored; the default) or `newest`.
    #[serde(default)]
    order: Order,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Order {
    #[default]
    Score,
    Newest,
}

fn default_excerpt() -> usize {
    280
}

fn default_max_items() -> u64 {
    300
}

pub const KIND: KindDef = KindDef {
    name: "html",
    role: Role::Sink,
    summary: "write a static HTML page of what the pipeline holds (ranked, within the backlog window)",
    build,
};

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = typed_options(v)?;
    if o.max_items == 0 {
        return Err(OptionsError::at(
            &["max_items"],
            "`max_items` must be at least 1",
        ));
    }
    Ok(Box::new(HtmlPage {
        path: ctx.resolve(&o.path),
        title: o.title.unwrap_or_else(|| ctx.pipeline.clone()),
        excerpt: o.excerpt,
        max_items: o.max_items,
        order: o.order,
    }))
}

struct HtmlPage {
    path: PathBuf,
    title: String,
    excerpt: usize,
    max_items: u64,
    order: Order,
}

/// Only http(s) links are rendered as links: a feed can put `javascript:`
/// in a link, and this page is opened in a browser.
fn safe_href(url: Option<&str>) -> Option<&str> {
    url.filter(|u| {
        let l = u.trim_start().to_ascii_lowercase();
        l.starts_with("http://") || l.starts_with("https://")
    })
}

/// The page for items already in their display order. `ranked`: one list
/// with each item's score and reasons, instead of day headings.
fn render_sorted(title: &str, items: &[&Item], excerpt: usize, ranked: bool) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><style>\
body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}}\
h2{{font-size:.9rem;color:#666;border-bottom:1px solid #ddd;margin-top:2rem}}\
article{{margin:1rem 0}} .meta{{color:#666;font-size:.85rem}} p{{margin:.25rem 0}}\
.score{{display:inline-block;min-width:2.2em;text-align:center;background:#eef;border-radius:.3em;font-size:.8rem;margin-right:.3em}}\
</style></head><body><h1>{t}</h1><p class=\"meta\">{n} items</p>\n",
        t = text(title),
        n = items.len()
    );
    // A story is named only where it holds more than the item itself: a
    // one-item saga's "story" is the item's own title again.
    let mut saga_size: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for g in items.iter().filter_map(|i| i.saga.as_ref()) {
        *saga_size.entry(g.id).or_default() += 1;
    }
    let mut day = String::new();
    let this_year = agg_core::clock::current().year();
    for &i in items {
        if !ranked {
            let d = i.when().format("%A %e %B %Y").to_string();
            if d != day {
                let _ = writeln!(s, "<h2>{}</h2>", text(&d));
                day = d;
            }
        }
        s.push_str("<article>");
        if ranked && let Some(score) = i.score {
            let _ = write!(
                s,
                "<span class=\"score\">{:.0}</span> ",
                (score * 100.0).clamp(0.0, 100.0)
            );
        }
        match safe_href(i.url.as_deref()) {
            Some(u) => {
                let _ = write!(
                    s,
                    "<a href=\"{}\"><strong>{}</strong></a>",
                    attr(u),
                    text(&i.title)
                );
            }
            None => {
                let _ = write!(s, "<strong>{}</strong>", text(&i.title));
            }
        }
        let from = i.feed_title.as_deref().unwrap_or(&i.source);
        let when = match i.dated() {
            // The year only when it is not this one (the pinned clock's):
            // "20 Nov 07:00", "3 Dec 2025 07:00".
            Some(d) if ranked && d.year() == this_year => d.format("%-d %b %H:%M UTC").to_string(),
            Some(d) if ranked => d.format("%-d %b %Y %H:%M UTC").to_string(),
            Some(d) => d.format("%H:%M UTC").to_string(),
            None => format!(
                "undated, first seen {}",
                i.fetched.format("%Y-%m-%d %H:%M UTC")
            ),
        };
        let _ = write!(s, "<div class=\"meta\">{} · {}", text(from), text(&when));
        if let Some(saga) = &i.saga {
            let n = saga_size.get(&saga.id).copied().unwrap_or(0);
            if n > 1 {
                let _ = write!(s, " · story ({n} items here): {}", text(&saga.title));
            }
        }
        if !i.also_in.is_empty() {
            let _ = write!(s, " · also in {}", text(&i.also_in.join(", ")));
        }
        s.push_str("</div>");
        if ranked && !i.reasons.is_empty() {
            let _ = write!(
                s,
                "<div class=\"meta why\">{}</div>",
                text(&i.reasons.join("; "))
            );
        }
        if excerpt > 0 && !i.text.is_empty() {
            let mut e: String = i.text.chars().take(excerpt).collect();
            if e.len() < i.text.len() {
                e.push('…');
            }
            let _ = write!(s, "<p>{}</p>", text(&e));
        }
        s.push_str("</article>\n");
    }
    s.push_str("</body></html>\n");
    s
}

#[async_trait]
impl Agent for HtmlPage {
    /// The page reads its view from the store; it takes no backlog.
    fn takes_backlog(&self) -> bool {
        false
    }

    async fn run(
        &self,
        ctx: &RunCtx,
        input: &mut Inbox,
        _output: &mut Outbox,
    ) -> anyhow::Result<()> {
        // The run's own items are in the store (and passed by the inputs)
        // once the inbox has ended; the page shows the store's view.
        let live = input.collect().await;
        let mut items = if ctx.dry_run {
            live
        } else {
            ctx.view(self.max_items).await?
        };
        let ranked = self.order == Order::Score && items.iter().any(|i| i.score.is_some());
        if ranked {
            items.sort_by(|a, b| {
                let (sa, sb) = (a.score.unwrap_or(-1.0), b.score.unwrap_or(-1.0));
                sb.total_cmp(&sa).then(b.when().cmp(&a.when()))
            });
        } else {
            items.sort_by_key(|i| std::cmp::Reverse(i.recency_key()));
        }
        let sorted: Vec<&Item> = items.iter().collect();
        let page = render_sorted(&self.title, &sorted, self.excerpt, ranked);
        if ctx.dry_run {
            tracing::info!(path = %self.path.display(), items = items.len(), "dry run: would write");
            return Ok(());
        }
        write_atomic(&self.path, page.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_items_is_escaped_and_script_links_dropped() {
        let item = Item {
            title: "<script>alert(1)</script>".into(),
            url: Some("javascript:alert(2)".into()),
            text: "a <b>".into(),
            source: "s".into(),
            ..Item::default()
        };
        let page = render_sorted("T", &[&item], 100, true);
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("javascript:"));
    }

    #[test]
    fn ranked_dates_show_the_year_only_when_it_is_not_this_one() {
        use chrono::TimeZone;
        let year = agg_core::clock::current().year();
        let at = |y| chrono::Utc.with_ymd_and_hms(y, 11, 20, 7, 0, 0).unwrap();
        let this = Item {
            title: "this year".into(),
            published: Some(at(year)),
            score: Some(0.9),
            ..Item::default()
        };
        let last = Item {
            title: "last year".into(),
            published: Some(at(year - 1)),
            score: Some(0.8),
            ..Item::default()
        };
        let page = render_sorted("T", &[&this, &last], 0, true);
        assert!(page.contains(" · 20 Nov 07:00 UTC"), "{page}");
        assert!(
            page.contains(&format!(" · 20 Nov {} 07:00 UTC", year - 1)),
            "{page}"
        );
    }

    #[test]
    fn a_story_is_named_only_when_it_holds_more_than_the_item() {
        let saga = |id: u64, title: &str| agg_core::SagaRef {
            id,
            title: title.into(),
            followed: false,
            muted: false,
        };
        let item = |title: &str, s: agg_core::SagaRef| Item {
            title: title.into(),
            saga: Some(s),
            ..Item::default()
        };
        let a = item("strike day one", saga(1, "Port strike"));
        let b = item("strike day two", saga(1, "Port strike"));
        let lone = item("a lone post", saga(2, "a lone post"));
        let page = render_sorted("T", &[&a, &b, &lone], 0, true);
        assert_eq!(page.matches("story (2 items here): Port strike").count(), 2);
        assert!(!page.contains("story (1"), "{page}");
        assert!(!page.contains(": a lone post"), "{page}");
    }
}
