//! `reddit`: posts from subreddit listings through Reddit's JSON
//! (`{base}/r/{sub}/{sort}.json?limit=N`, shaped
//! `{"kind":"Listing","data":{"children":[{"kind":"t3","data":{…}}]}}`).
//! Score and comment counts go into the item as tags (`points:…`,
//! `comments:…`), the text line and the HTML, with a link to the thread;
//! self posts keep their (sanitised) body.
//!
//! Options: `subreddits` (names, with or without `r/`), `sort` (`hot`, `new`,
//! `top`, `rising`; default `hot`), `limit` (per subreddit, default 25),
//! `min_score` (default 0), `include_stickied` (default false), `nsfw`
//! (default false), `base_url` (default the public site; tests point it at
//! 127.0.0.1), `timeout_secs`, `max_bytes`, `user_agent`.

use agg_core::{Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Role, RunCtx};
use agg_fetch::normalize::{html_to_text, item_key};
use agg_fetch::{FetchLimits, Fetcher};
use async_trait::async_trait;
use serde::Deserialize;

pub const DEFAULT_BASE: &str = "https://www.reddit.com";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    subreddits: Vec<String>,
    #[serde(default = "default_sort")]
    sort: String,
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    min_score: i64,
    #[serde(default)]
    include_stickied: bool,
    #[serde(default)]
    nsfw: bool,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    max_bytes: Option<u64>,
    #[serde(default)]
    user_agent: Option<String>,
}

fn default_sort() -> String {
    "hot".into()
}
fn default_limit() -> usize {
    25
}

pub const KIND: KindDef = KindDef {
    name: "reddit",
    role: Role::Source,
    summary: "posts from subreddit listings (hot/new/top/rising) with score and comment counts",
    build,
};

fn build(v: &serde_json::Value, _ctx: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
    let o: Options = agg_core::typed_options(v)?;
    if o.subreddits.is_empty() {
        return Err(OptionsError::at(&["subreddits"], "`subreddits` lists none"));
    }
    let mut subs = Vec::new();
    for (i, s) in o.subreddits.iter().enumerate() {
        let name = s.trim().trim_start_matches("/").trim_start_matches("r/");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '+')
        {
            return Err(OptionsError {
                path: vec![
                    agg_core::yaml::PathSeg::Key("subreddits".into()),
                    agg_core::yaml::PathSeg::Index(i),
                ],
                message: format!("`{s}` is not a subreddit name"),
                hint: Some("write the name as in r/NAME, e.g. `rust`".into()),
            });
        }
        subs.push(name.to_string());
    }
    if !["hot", "new", "top", "rising"].contains(&o.sort.as_str()) {
        return Err(
            OptionsError::at(&["sort"], format!("unknown sort `{}`", o.sort))
                .with_hint("use hot, new, top or rising"),
        );
    }
    if o.limit == 0 || o.limit > 100 {
        return Err(OptionsError::at(
            &["limit"],
            "`limit` must be 1 to 100 (Reddit's page size)",
        ));
    }
    let base = crate::util::api_base(o.base_url, DEFAULT_BASE)?;
    Ok(Box::new(Reddit {
        subs,
        sort: o.sort,
        limit: o.limit,
        min_score: o.min_score,
        include_stickied: o.include_stickied,
        nsfw: o.nsfw,
        base,
        limits: crate::util::api_limits(o.timeout_secs, o.max_bytes, o.user_agent),
    }))
}

struct Reddit {
    subs: Vec<String>,
    sort: String,
    limit: usize,
    min_score: i64,
    include_stickied: bool,
    nsfw: bool,
    base: String,
    limits: FetchLimits,
}

#[derive(Debug, Deserialize)]
struct Listing {
    data: ListingData,
}

#[derive(Debug, Deserialize)]
struct ListingData {
    children: Vec<Child>,
}

#[derive(Debug, Deserialize)]
struct Child {
    #[serde(default)]
    kind: String,
    data: Post,
}

#[derive(Debug, Deserialize)]
struct Post {
    #[serde(default)]
    name: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    permalink: String,
    #[serde(default)]
    selftext: String,
    #[serde(default)]
    selftext_html: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    created_utc: Option<f64>,
    #[serde(default)]
    score: i64,
    #[serde(default)]
    num_comments: i64,
    #[serde(default)]
    subreddit: String,
    #[serde(default)]
    is_self: bool,
    #[serde(default)]
    over_18: bool,
    #[serde(default)]
    stickied: bool,
    #[serde(default)]
    link_flair_text: Option<String>,
}

/// Without `raw_json=1` Reddit HTML-escapes `selftext_html` and URLs; with
/// it they come raw. Undo the escaping only when it is there.
fn unescape_once(s: &str) -> String {
    if s.starts_with("&lt;") || s.contains("&amp;") {
        html_escape::decode_html_entities(s).into_owned()
    } else {
        s.to_string()
    }
}

impl Reddit {
    fn to_item(&self, p: Post, source: &str, fetched: chrono::DateTime<chrono::Utc>) -> Item {
        let site = agg_fetch::url::Url::parse(&self.base).ok();
        let thread = site
            .as_ref()
            .and_then(|b| b.join(&p.permalink).ok())
            .map_or_else(|| p.permalink.clone(), |u| u.to_string());
        // Reddit escapes `&` in URLs it returns (`&amp;`).
        let link = p
            .url
            .as_deref()
            .map(unescape_once)
            .filter(|u| !p.is_self && crate::feedpoll::check_url(u))
            .unwrap_or_else(|| thread.clone());
        let counts = format!("{} points · {} comments", p.score, p.num_comments);
        let body_html = p
            .selftext_html
            .as_deref()
            .map(unescape_once)
            .unwrap_or_default();
        let body_text = if body_html.is_empty() {
            p.selftext.clone()
        } else {
            html_to_text(&body_html)
        };
        let text = if body_text.trim().is_empty() {
            counts.clone()
        } else {
            format!("{} ({counts})", body_text.trim())
        };
        let mut html = String::new();
        if !body_html.is_empty() {
            html.push_str(&agg_fetch::parse::sanitize_html(&body_html, site.as_ref()));
        }
        html.push_str(&format!(
            "<p>{} points · <a href=\"{}\">{} comments</a> · r/{}</p>",
            p.score,
            html_escape::encode_double_quoted_attribute(&thread),
            p.num_comments,
            html_escape::encode_text(&p.subreddit)
        ));
        let title = html_to_text(&p.title);
        let feed = format!("{}/r/{}", self.base, p.subreddit);
        let mut tags = vec![
            format!("points:{}", p.score),
            format!("comments:{}", p.num_comments),
            format!("r/{}", p.subreddit),
        ];
        tags.extend(p.link_flair_text.filter(|f| !f.trim().is_empty()));
        Item {
            key: item_key("reddit", Some(&p.name), Some(&link), &title, ""),
            source: source.to_string(),
            feed: Some(feed),
            feed_title: Some(format!("r/{}", p.subreddit)),
            guid: Some(p.name),
            url: Some(link),
            title,
            text,
            html: Some(html),
            author: p.author.map(|a| format!("u/{a}")),
            published: p
                .created_utc
                .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0)),
            fetched,
            tags,
            ..Item::default()
        }
    }
}

#[async_trait]
impl Agent for Reddit {
    async fn run(
        &self,
        ctx: &RunCtx,
        _input: &mut Inbox,
        output: &mut Outbox,
    ) -> anyhow::Result<()> {
        let fetcher = Fetcher::new(self.limits.clone())?;
        let mut failed = 0;
        for sub in &self.subs {
            let url = format!(
                "{}/r/{sub}/{}.json?limit={}&raw_json=1",
                self.base, self.sort, self.limit
            );
            let listing: Listing = match fetcher.get_page(&url).await {
                Ok((bytes, _, _)) => match serde_json::from_slice(&bytes) {
                    Ok(l) => l,
                    Err(e) => {
                        failed += 1;
                        ctx.error(format!("r/{sub}: not a subreddit listing: {e}"));
                        continue;
                    }
                },
                Err(e) => {
                    failed += 1;
                    ctx.error(format!("r/{sub}: {e}"));
                    continue;
                }
            };
            let fetched = agg_core::clock::current();
            let items: Vec<Item> = listing
                .data
                .children
                .into_iter()
                .filter(|c| c.kind.is_empty() || c.kind == "t3")
                .map(|c| c.data)
                .filter(|p| self.include_stickied || !p.stickied)
                .filter(|p| self.nsfw || !p.over_18)
                .filter(|p| p.score >= self.min_score && !p.name.is_empty())
                .map(|p| self.to_item(p, &ctx.agent, fetched))
                .collect();
            tracing::debug!(subreddit = %sub, items = items.len(), "listing read");
            output.send(items).await?;
        }
        if failed > 0 && failed == self.subs.len() {
            anyhow::bail!("all {failed} subreddit(s) failed");
        }
        Ok(())
    }
}
