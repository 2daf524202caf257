//! `hacker_news`: stories from Hacker News through its official API (the
//! Firebase one: `{base}/topstories.json` → ids, then `{base}/item/{id}.json`
//! per story). Points and comment counts go into the item: as tags
//! (`points:123`, `comments:45`), in the text line and in the HTML with a
//! link to the discussion. Re-running updates a story's counts in place.
//!
//! Options: `list` (`top`, `best`, `new`, `ask`, `show`; default `top`),
//! `limit` (stories, default 30), `min_points` (default 0), `base_url`
//! (default the public API; tests point it at 127.0.0.1), `concurrency`
//! (item requests at once, default 8), `timeout_secs`, `max_bytes`,
//! `user_agent`.

use agg_core::{Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx};
use agg_fetch::normalize::{html_to_text, item_key};
use agg_fetch::{FetchLimits, Fetcher};
use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;

pub const DEFAULT_BASE: &str = "https://hacker-news.firebaseio.com/v0";
const SITE: &str = "https://news.ycombinator.com";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default = "default_list")]
    list: String,
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    min_points: i64,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    max_bytes: Option<u64>,
    #[serde(default)]
    user_agent: Option<String>,
}

fn default_list() -> String {
    "top".into()
}
fn default_limit() -> usize {
    30
}
fn default_concurrency() -> usize {
    8
}

pub const KIND: KindDef = KindDef {
    name: "hacker_news",
    role: Role::Source,
    summary: "Hacker News stories (top/best/new/ask/show) with points and comment counts",
    build,
};

fn build(v: &serde_json::Value, _ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = agg_core::typed_options(v)?;
    if !["top", "best", "new", "ask", "show"].contains(&o.list.as_str()) {
        return Err(
            OptionsError::at(&["list"], format!("unknown list `{}`", o.list))
                .with_hint("use top, best, new, ask or show"),
        );
    }
    if o.limit == 0 || o.limit > 500 {
        return Err(OptionsError::at(&["limit"], "`limit` must be 1 to 500"));
    }
    if o.concurrency == 0 {
        return Err(OptionsError::at(
            &["concurrency"],
            "`concurrency` must be at least 1",
        ));
    }
    let base = crate::util::api_base(o.base_url, DEFAULT_BASE)?;
    Ok(Box::new(HackerNews {
        list: o.list,
        limit: o.limit,
        min_points: o.min_points,
        base,
        concurrency: o.concurrency,
        limits: crate::util::api_limits(o.timeout_secs, o.max_bytes, o.user_agent),
    }))
}

struct HackerNews {
    list: String,
    limit: usize,
    min_points: i64,
    base: String,
    concurrency: usize,
    limits: FetchLimits,
}

/// An item as the API returns it (fields we use; all optional there).
#[derive(Debug, Deserialize)]
struct HnItem {
    id: u64,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    dead: bool,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    time: Option<i64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    score: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    descendants: Option<i64>,
}

async fn get_json<T: serde::de::DeserializeOwned>(f: &Fetcher, url: &str) -> anyhow::Result<T> {
    let (bytes, _, _) = f.get_page(url).await?;
    serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{url}: unexpected JSON: {e}"))
}

fn to_item(h: HnItem, source: &str, fetched: chrono::DateTime<chrono::Utc>) -> Item {
    let discussion = format!("{SITE}/item?id={}", h.id);
    let points = h.score.unwrap_or(0);
    let comments = h.descendants.unwrap_or(0);
    let url = h.url.clone().unwrap_or_else(|| discussion.clone());
    let title = h
        .title
        .as_deref()
        .map(html_to_text)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("Hacker News item {}", h.id));
    let body = h.text.as_deref().unwrap_or("");
    let counts = format!("{points} points · {comments} comments");
    let text = if body.is_empty() {
        counts.clone()
    } else {
        format!("{} ({counts})", html_to_text(body))
    };
    let site = agg_fetch::url::Url::parse(SITE).ok();
    let mut html = String::new();
    if !body.is_empty() {
        html.push_str(&agg_fetch::parse::sanitize_html(body, site.as_ref()));
    }
    html.push_str(&format!(
        "<p>{points} points · <a href=\"{discussion}\">{comments} comments</a></p>"
    ));
    let guid = h.id.to_string();
    Item {
        key: item_key(SITE, Some(&guid), Some(&url), &title, ""),
        source: source.to_string(),
        feed: Some(SITE.to_string()),
        feed_title: Some("Hacker News".into()),
        guid: Some(guid),
        url: Some(url),
        title,
        text,
        html: Some(html),
        author: h.by,
        published: h.time.and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
        fetched,
        tags: vec![
            format!("points:{points}"),
            format!("comments:{comments}"),
            format!("hn:{}", h.kind.as_deref().unwrap_or("story")),
        ],
        ..Item::default()
    }
}

#[async_trait]
impl Agent for HackerNews {
    async fn run(
        &self,
        ctx: &RunCtx,
        _input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let fetcher = Fetcher::new(self.limits.clone())?;
        let list_url = format!("{}/{}stories.json", self.base, self.list);
        let ids: Vec<u64> = get_json(&fetcher, &list_url).await?;
        let fetched = agg_core::clock::current();
        let mut items = futures::stream::iter(ids.into_iter().take(self.limit))
            .map(|id| {
                let fetcher = fetcher.clone();
                let url = format!("{}/item/{id}.json", self.base);
                async move { (id, get_json::<Option<HnItem>>(&fetcher, &url).await) }
            })
            .buffered(self.concurrency);
        let mut batch = Vec::new();
        let mut failed = 0;
        while let Some((id, r)) = items.next().await {
            match r {
                Ok(Some(h)) if !h.deleted && !h.dead => {
                    if h.score.unwrap_or(0) >= self.min_points {
                        batch.push(to_item(h, &ctx.agent, fetched));
                    }
                }
                Ok(_) => tracing::debug!(id, "deleted, dead or missing item skipped"),
                Err(e) => {
                    failed += 1;
                    ctx.error(format!("item {id}: {e}"));
                }
            }
        }
        if failed > 0 && batch.is_empty() {
            anyhow::bail!("all {failed} item request(s) failed");
        }
        output.send(batch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_items_become_items_with_counts() {
        let h: HnItem = serde_json::from_str(
            r#"{"by":"dhouston","descendants":71,"id":8863,"kids":[8952,9224],"score":111,"time":1175714200,"title":"My YC app: Dropbox - Throw away your USB drive","type":"story","url":"http://www.getdropbox.com/u/2/screencast.html"}"#,
        )
        .unwrap();
        let it = to_item(h, "hn", agg_core::clock::current());
        assert_eq!(it.title, "My YC app: Dropbox - Throw away your USB drive");
        assert_eq!(
            it.url.as_deref(),
            Some("http://www.getdropbox.com/u/2/screencast.html")
        );
        assert_eq!(
            it.tags[..2],
            ["points:111".to_string(), "comments:71".to_string()]
        );
        assert_eq!(it.text, "111 points · 71 comments");
        assert_eq!(it.author.as_deref(), Some("dhouston"));
        assert_eq!(it.published.unwrap().timestamp(), 1175714200);
        assert!(
            it.html
                .unwrap()
                .contains("https://news.ycombinator.com/item?id=8863")
        );
        // Ask HN: no url, text is HTML.
        let ask: HnItem = serde_json::from_str(
            r#"{"by":"tel","descendants":16,"id":121003,"score":25,"text":"<i>or</i> HN: the Next Iteration<p>I get the impression<script>x()</script>","time":1203647620,"title":"Ask HN: The Arc Effect","type":"story"}"#,
        )
        .unwrap();
        let it = to_item(ask, "hn", agg_core::clock::current());
        assert_eq!(
            it.url.as_deref(),
            Some("https://news.ycombinator.com/item?id=121003")
        );
        assert!(
            it.text
                .starts_with("or HN: the Next Iteration I get the impression")
        );
        assert!(!it.html.unwrap().contains("script"));
    }
}
