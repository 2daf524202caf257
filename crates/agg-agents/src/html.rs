//! `html`: a static, self-contained page of the run's items (newest first,
//! grouped by day), safe to open from disk or put on any static host.

use std::fmt::Write;
use std::path::PathBuf;

use agg_core::{
    Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx, typed_options,
};
use async_trait::async_trait;
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
}

fn default_excerpt() -> usize {
    280
}

pub const KIND: KindDef = KindDef {
    name: "html",
    role: Role::Sink,
    summary: "write a static HTML page of the run's items",
    build,
};

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = typed_options(v)?;
    Ok(Box::new(HtmlPage {
        path: ctx.resolve(&o.path),
        title: o.title.unwrap_or_else(|| ctx.pipeline.clone()),
        excerpt: o.excerpt,
    }))
}

struct HtmlPage {
    path: PathBuf,
    title: String,
    excerpt: usize,
}

/// Only http(s) links are rendered as links: a feed can put `javascript:`
/// in a link, and this page is opened in a browser.
fn safe_href(url: Option<&str>) -> Option<&str> {
    url.filter(|u| {
        let l = u.trim_start().to_ascii_lowercase();
        l.starts_with("http://") || l.starts_with("https://")
    })
}

pub(crate) fn render(title: &str, items: &[Item], excerpt: usize) -> String {
    let mut items: Vec<&Item> = items.iter().collect();
    items.sort_by_key(|i| std::cmp::Reverse(i.when()));
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><style>\
body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}}\
h2{{font-size:.9rem;color:#666;border-bottom:1px solid #ddd;margin-top:2rem}}\
article{{margin:1rem 0}} .meta{{color:#666;font-size:.85rem}} p{{margin:.25rem 0}}\
</style></head><body><h1>{t}</h1><p class=\"meta\">{n} items</p>\n",
        t = text(title),
        n = items.len()
    );
    let mut day = String::new();
    for i in items {
        let d = i.when().format("%A %e %B %Y").to_string();
        if d != day {
            let _ = writeln!(s, "<h2>{}</h2>", text(&d));
            day = d;
        }
        s.push_str("<article>");
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
        let _ = write!(
            s,
            "<div class=\"meta\">{} · {}",
            text(from),
            i.when().format("%H:%M UTC")
        );
        if !i.also_in.is_empty() {
            let _ = write!(s, " · also in {}", text(&i.also_in.join(", ")));
        }
        s.push_str("</div>");
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
    async fn run(
        &self,
        ctx: &RunCtx,
        input: &mut Inbox,
        _output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let items = input.collect().await;
        let page = render(&self.title, &items, self.excerpt);
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
        let page = render("T", &[item], 100);
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("javascript:"));
    }
}
