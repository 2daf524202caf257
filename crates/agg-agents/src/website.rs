//! `website`: items scraped from a listing page that has no feed, with CSS
//! selectors.
//!
//! ```yaml
//! council:
//!   kind: website
//!   url: https://www.example.gov/news
//!   item: "ul.news-list > li"        # one element per story
//!   title: h3                        # inside the item; default: the link's text
//!   link: "a.more"                   # inside the item; default: the first a[href]
//!   date: time                       # optional
//!   date_format: "%d %B %Y"          # optional; default `auto`
//!   summary: p.teaser                # optional
//! ```
//!
//! Selectors are checked by `agg validate` (a typo is reported at the
//! option's line and column). Links are resolved against the page URL (or
//! its `<base href>`); an item's key is its canonical link, so the same
//! story scraped again is the same item, and reordering the page changes
//! nothing. A selector that matches nothing on the fetched page fails the
//! agent with a hint: sites change their markup, and a silent empty result
//! would look like a quiet site.
//!
//! The listing URL is the user's own choice, like a feed's, so it is
//! fetched as a configured URL (no robots.txt check, private hosts allowed);
//! fetch limits are the usual `timeout_secs`, `max_bytes`, `user_agent`.
//! `max_items` (default 100) bounds how many items one page yields.

use agg_core::{Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx};
use agg_fetch::normalize::{collapse_ws, html_to_text, item_key};
use agg_fetch::url::Url;
use agg_fetch::{FetchLimits, Fetcher};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use scraper::{ElementRef, Html, Selector};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    url: String,
    item: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    link: Option<String>,
    /// Attribute holding the link (default `href`).
    #[serde(default)]
    link_attr: Option<String>,
    #[serde(default)]
    date: Option<String>,
    /// Attribute holding the date; default: `datetime` when the element
    /// has one, else its text.
    #[serde(default)]
    date_attr: Option<String>,
    #[serde(default)]
    date_format: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default = "default_max_items")]
    max_items: usize,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    max_bytes: Option<u64>,
    #[serde(default)]
    user_agent: Option<String>,
}

/// Bounds on a listing page's markup (real listings are far below both).
const MAX_ELEMENTS: usize = 200_000;
const MAX_DEPTH: usize = 1_000;

fn default_max_items() -> usize {
    100
}

pub const KIND: KindDef = KindDef {
    name: "website",
    role: Role::Source,
    summary: "items scraped from a web page with CSS selectors (item, title, link, date, summary)",
    build,
};

/// Parses a selector option, turning the parser's terse error into one a
/// user can act on, located at the option.
fn selector(opt: &str, s: &str) -> Result<Selector, OptionsError> {
    if s.trim().is_empty() {
        return Err(OptionsError::at(&[opt], format!("`{opt}` is empty")));
    }
    Selector::parse(s).map_err(|e| {
        let reason = match e {
            scraper::error::SelectorErrorKind::UnexpectedSelectorParseError(k) => {
                format!("{k:?}")
            }
            other => other.to_string(),
        };
        OptionsError::at(&[opt], format!("invalid CSS selector `{s}`: {reason}"))
            .with_hint("write a CSS selector such as `article h2 > a` or `li.news-item`")
    })
}

fn build(v: &serde_json::Value, ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = agg_core::typed_options(v)?;
    let page = Url::parse(o.url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| OptionsError::at(&["url"], format!("`{}` is not an http(s) URL", o.url)))?;
    let item = selector("item", &o.item)?;
    let title = o
        .title
        .as_deref()
        .map(|s| selector("title", s))
        .transpose()?;
    let link = selector("link", o.link.as_deref().unwrap_or("a[href]"))?;
    let date = o.date.as_deref().map(|s| selector("date", s)).transpose()?;
    let summary = o
        .summary
        .as_deref()
        .map(|s| selector("summary", s))
        .transpose()?;
    let date_format = match o.date_format.as_deref().map(str::trim) {
        None | Some("auto") => None,
        Some(f) => {
            if o.date.is_none() {
                return Err(OptionsError::at(
                    &["date_format"],
                    "`date_format` given without `date` (the selector of the date element)",
                ));
            }
            let bad = chrono::format::StrftimeItems::new(f)
                .any(|i| matches!(i, chrono::format::Item::Error));
            if bad || f.is_empty() {
                return Err(OptionsError::at(
                    &["date_format"],
                    format!("`{f}` is not a date format"),
                )
                .with_hint(
                    "use strftime fields, e.g. `%d %B %Y` for 20 November 2026, or `auto`",
                ));
            }
            Some(f.to_string())
        }
    };
    if o.max_items == 0 || o.max_items > 1000 {
        return Err(OptionsError::at(
            &["max_items"],
            "`max_items` must be 1 to 1000",
        ));
    }
    Ok(Box::new(Website {
        page,
        sel: Selectors {
            item,
            item_src: o.item,
            title,
            link,
            link_attr: o.link_attr.unwrap_or_else(|| "href".into()),
            date,
            date_attr: o.date_attr,
            date_format,
            summary,
        },
        max_items: o.max_items,
        tz: ctx.timezone,
        limits: crate::util::api_limits(o.timeout_secs, o.max_bytes, o.user_agent),
    }))
}

struct Selectors {
    item: Selector,
    item_src: String,
    title: Option<Selector>,
    link: Selector,
    link_attr: String,
    date: Option<Selector>,
    date_attr: Option<String>,
    date_format: Option<String>,
    summary: Option<Selector>,
}

struct Website {
    page: Url,
    sel: Selectors,
    max_items: usize,
    /// Dates without a zone on the page are read in the pipeline's zone.
    tz: chrono_tz::Tz,
    limits: FetchLimits,
}

/// What one scrape found: items, and items skipped with the reason.
#[derive(Debug, Default)]
struct Scraped {
    items: Vec<Item>,
    matched: usize,
    skipped: Vec<String>,
}

fn text_of(e: ElementRef) -> String {
    collapse_ws(&e.text().collect::<String>())
}

impl Website {
    /// The scrape itself, synchronous (the parsed document is not `Send`).
    fn scrape(&self, html: &str, final_url: &Url, source: &str) -> Scraped {
        let doc = Html::parse_document(html);
        let base_sel = Selector::parse("base[href]").expect("static selector");
        let base = doc
            .select(&base_sel)
            .next()
            .and_then(|b| b.value().attr("href"))
            .and_then(|h| final_url.join(h.trim()).ok())
            .unwrap_or_else(|| final_url.clone());
        let feed = self.page.to_string();
        let feed_title = Selector::parse("title")
            .ok()
            .and_then(|t| doc.select(&t).next().map(text_of))
            .filter(|t| !t.is_empty());
        let fetched = Utc::now();
        let mut out = Scraped::default();
        let mut seen = std::collections::HashSet::new();
        for (n, el) in doc.select(&self.sel.item).enumerate() {
            out.matched += 1;
            if out.items.len() >= self.max_items {
                continue;
            }
            let s = &self.sel;
            // The link: the item itself when it is the link element.
            let link_el = if s.link.matches(&el) {
                Some(el)
            } else {
                el.select(&s.link).next()
            };
            let Some(href) = link_el.and_then(|l| l.value().attr(&s.link_attr)) else {
                out.skipped.push(format!("item {}: no link", n + 1));
                continue;
            };
            let Some(link) = base
                .join(href.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
            else {
                out.skipped.push(format!(
                    "item {}: link `{href}` is not an http(s) URL",
                    n + 1
                ));
                continue;
            };
            let title = match &s.title {
                Some(t) => el.select(t).next().map(text_of),
                None => link_el.map(text_of),
            }
            .filter(|t| !t.is_empty());
            let Some(title) = title else {
                out.skipped
                    .push(format!("item {}: no title ({link})", n + 1));
                continue;
            };
            let published = s.date.as_ref().and_then(|d| {
                let e = el.select(d).next()?;
                let raw = match &s.date_attr {
                    Some(a) => e.value().attr(a).map(str::to_string),
                    None => e
                        .value()
                        .attr("datetime")
                        .map(str::to_string)
                        .or_else(|| Some(text_of(e))),
                }?;
                let t = parse_date(&raw, s.date_format.as_deref(), self.tz);
                if t.is_none() {
                    tracing::debug!(date = %raw, "website: date not understood");
                }
                t
            });
            let (text, html) = match s.summary.as_ref().and_then(|q| el.select(q).next()) {
                Some(e) => {
                    let clean = agg_fetch::parse::sanitize_html(&e.inner_html(), Some(&base));
                    (html_to_text(&clean), Some(clean))
                }
                None => (String::new(), None),
            };
            let link = link.to_string();
            let key = item_key(&feed, None, Some(&link), &title, "");
            if !seen.insert(key.clone()) {
                continue; // The same story linked twice on the page.
            }
            out.items.push(Item {
                key,
                source: source.to_string(),
                feed: Some(feed.clone()),
                feed_title: feed_title.clone(),
                url: Some(link),
                title,
                text,
                html,
                published,
                fetched,
                ..Item::default()
            });
        }
        out
    }
}

/// Reads a date as written on a page: with `format` (strftime) when given,
/// else the usual machine and human forms. Dates without a zone are in
/// `tz`, the pipeline's zone; a bare date is midnight there.
fn parse_date(raw: &str, format: Option<&str>, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let s = collapse_ws(raw);
    let local = |n: NaiveDateTime| {
        tz.from_local_datetime(&n)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).and_then(local);
    if let Some(f) = format {
        if let Ok(t) = DateTime::parse_from_str(&s, f) {
            return Some(t.with_timezone(&Utc));
        }
        if let Ok(n) = NaiveDateTime::parse_from_str(&s, f) {
            return local(n);
        }
        return NaiveDate::parse_from_str(&s, f).ok().and_then(midnight);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(&s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(&s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(&s, f) {
            return local(n);
        }
    }
    // Human dates: "20 November 2026", "Nov 20, 2026", "20 Nov 2026",
    // "2026/11/20". Day-first numeric forms (20/11/2026) are ambiguous and
    // need a `date_format`.
    let s = s.replace(',', "");
    for f in [
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%d %B %Y",
        "%d %b %Y",
        "%B %d %Y",
        "%b %d %Y",
        "%A %d %B %Y",
        "%a %d %b %Y",
    ] {
        if let Ok(d) = NaiveDate::parse_from_str(&s, f) {
            return midnight(d);
        }
    }
    None
}

#[async_trait]
impl Agent for Website {
    async fn run(
        &self,
        ctx: &RunCtx,
        _input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let fetcher = Fetcher::new(self.limits.clone())?;
        let (bytes, final_url, content_type) = fetcher.get_page(self.page.as_str()).await?;
        let decoded = agg_fetch::charset::to_utf8(&bytes, content_type.as_deref());
        let html = String::from_utf8_lossy(&decoded.utf8);
        let final_url = Url::parse(&final_url).unwrap_or_else(|_| self.page.clone());
        // Parsing cost grows with the square of nesting depth: a hostile
        // page is refused before a tree is built.
        let (tags, depth) = agg_fetch::extract::prescan(&html);
        if tags > MAX_ELEMENTS || depth > MAX_DEPTH {
            anyhow::bail!(
                "{final_url} is not a page agg will parse: {tags} elements nested up to {depth} \
                 deep (limits {MAX_ELEMENTS} and {MAX_DEPTH})"
            );
        }
        let got = self.scrape(&html, &final_url, &ctx.agent);
        if got.matched == 0 {
            anyhow::bail!(
                "the `item` selector `{}` matched nothing on {final_url}; hint: the site may have \
                 changed its markup: open the page, inspect a story and update `item`",
                self.sel.item_src
            );
        }
        for s in got.skipped.iter().take(5) {
            tracing::debug!(agent = %ctx.agent, "website: skipped {s}");
        }
        if got.items.is_empty() {
            anyhow::bail!(
                "`item` matched {} element(s) on {final_url} but none gave an item ({}); hint: \
                 check the `link` and `title` selectors, which are looked up inside each item",
                got.matched,
                got.skipped.first().map_or("", String::as_str)
            );
        }
        if !got.skipped.is_empty() {
            tracing::info!(
                agent = %ctx.agent,
                skipped = got.skipped.len(),
                first = %got.skipped[0],
                "website: some matched elements gave no item"
            );
        }
        output.send(got.items).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(yaml: serde_json::Value) -> Result<Box<dyn Agent>, OptionsError> {
        let ctx = BuildCtx {
            pipeline: "p".into(),
            agent: "w".into(),
            base_dir: ".".into(),
            timezone: chrono_tz::Europe::London,
        };
        build(&yaml, &ctx)
    }

    #[test]
    fn bad_options_are_located() {
        let e = site(serde_json::json!({"url": "https://x.org/", "item": "li[", "title": "h2"}))
            .err()
            .unwrap();
        assert_eq!(e.path.len(), 1);
        assert!(
            e.message.contains("invalid CSS selector `li[`"),
            "{}",
            e.message
        );
        let e = site(serde_json::json!({"url": "https://x.org/", "item": "li", "date": "::nope("}))
            .err()
            .unwrap();
        assert!(e.message.contains("`::nope(`"), "{}", e.message);
        let e = site(serde_json::json!({"url": "ftp://x.org/", "item": "li"}))
            .err()
            .unwrap();
        assert!(e.message.contains("not an http(s) URL"));
        let e = site(serde_json::json!({"url": "https://x.org/", "item": "li", "date": "time", "date_format": "%Q"}))
            .err()
            .unwrap();
        assert!(e.message.contains("not a date format"), "{}", e.message);
        assert!(site(serde_json::json!({"url": "https://x.org/", "item": "li"})).is_ok());
    }

    #[test]
    fn dates_auto_and_formatted() {
        let tz = chrono_tz::Europe::London;
        let d = |s, f| parse_date(s, f, tz).map(|t| t.to_rfc3339());
        assert_eq!(
            d("2026-11-20T08:30:00Z", None).unwrap(),
            "2026-11-20T08:30:00+00:00"
        );
        // London is on BST in July: local midnight is 23:00 UTC the day before.
        assert_eq!(
            d("20 July 2026", None).unwrap(),
            "2026-07-19T23:00:00+00:00"
        );
        assert_eq!(
            d("Nov 20, 2026", None).unwrap(),
            "2026-11-20T00:00:00+00:00"
        );
        assert_eq!(d("20/11/2026", None), None, "ambiguous without a format");
        assert_eq!(
            d("20/11/2026", Some("%d/%m/%Y")).unwrap(),
            "2026-11-20T00:00:00+00:00"
        );
        assert_eq!(
            d("20.11.2026 14:05", Some("%d.%m.%Y %H:%M")).unwrap(),
            "2026-11-20T14:05:00+00:00"
        );
        assert_eq!(d("yesterday", None), None);
    }
}
