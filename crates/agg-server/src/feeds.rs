//! Saga feeds and the reader's own feed, as RSS 2.0 and Atom 1.0.
//!
//! Written by hand with strict escaping rather than through a feed library:
//! the output is small, and every field that comes from the web (titles,
//! text, links) passes through [`esc`], and only http(s) links are emitted.

use agg_core::Item;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// What a feed is about.
pub struct FeedMeta {
    pub title: String,
    pub description: String,
    /// Absolute URL of this feed document (rel="self").
    pub self_url: String,
    /// Absolute URL of the server's home page.
    pub home_url: String,
    /// Stable identity of the feed (Atom `id`).
    pub id: String,
    /// Prefix entry titles with the item's saga title.
    pub saga_prefix: bool,
}

/// XML text escaping (also removes characters XML 1.0 forbids).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn http_link(item: &Item) -> Option<&str> {
    item.url.as_deref().filter(|u| {
        let l = u.to_ascii_lowercase();
        l.starts_with("http://") || l.starts_with("https://")
    })
}

/// A stable, opaque id per item: the same item keeps it forever, so feed
/// readers never show it twice.
pub fn entry_id(item: &Item) -> String {
    let h = Sha256::digest(item.key.as_bytes());
    format!("tag:agg,2026:item/{}", hex::encode(&h[..16]))
}

fn entry_title(meta: &FeedMeta, item: &Item) -> String {
    match (&item.saga, meta.saga_prefix) {
        (Some(s), true) if !s.title.is_empty() => format!("[{}] {}", s.title, item.title),
        _ => item.title.clone(),
    }
}

fn summary(item: &Item) -> String {
    let mut s: String = item.text.chars().take(600).collect();
    if s.len() < item.text.len() {
        s.push('…');
    }
    if let (Some(score), Some(reason)) = (item.score, item.reasons.first()) {
        s.push_str(&format!("\n\nScore {score:.2}: {reason}"));
    }
    if !item.also_in.is_empty() {
        s.push_str(&format!("\nAlso in {}", item.also_in.join(", ")));
    }
    s
}

/// RSS `<description>` holds HTML: readers decode the XML and then render
/// the result as markup. The summary is plain text (it may legitimately say
/// `<script>`, e.g. an article about HTML), so it is escaped as HTML first
/// and then as XML; escaping once would hand readers live markup.
fn text_as_html(s: &str) -> String {
    esc(s).replace('\n', "<br>\n")
}

/// The newest item time: the feed's Last-Modified.
pub fn last_modified(items: &[Item]) -> Option<DateTime<Utc>> {
    items
        .iter()
        .map(|i| i.updated.unwrap_or(i.fetched).max(i.when()))
        .max()
}

pub fn rss(meta: &FeedMeta, items: &[Item]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    s.push_str("<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\"><channel>\n");
    s.push_str(&format!(
        "<title>{}</title>\n<link>{}</link>\n<description>{}</description>\n\
         <atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>\n<generator>agg</generator>\n",
        esc(&meta.title),
        esc(&meta.home_url),
        esc(&meta.description),
        esc(&meta.self_url)
    ));
    if let Some(t) = last_modified(items) {
        s.push_str(&format!(
            "<lastBuildDate>{}</lastBuildDate>\n",
            t.to_rfc2822()
        ));
    }
    for i in items {
        s.push_str("<item>");
        s.push_str(&format!("<title>{}</title>", esc(&entry_title(meta, i))));
        if let Some(u) = http_link(i) {
            s.push_str(&format!("<link>{}</link>", esc(u)));
        }
        s.push_str(&format!(
            "<guid isPermaLink=\"false\">{}</guid>",
            esc(&entry_id(i))
        ));
        // RSS dates are optional: an undated item gets none rather than the
        // time agg fetched it, which a reader would take for its date.
        if let Some(d) = i.dated() {
            s.push_str(&format!("<pubDate>{}</pubDate>", d.to_rfc2822()));
        }
        s.push_str(&format!(
            "<description>{}</description>",
            esc(&text_as_html(&summary(i)))
        ));
        if let Some(src) = &i.feed_title {
            s.push_str(&format!("<category>{}</category>", esc(src)));
        }
        s.push_str("</item>\n");
    }
    s.push_str("</channel></rss>\n");
    s
}

pub fn atom(meta: &FeedMeta, items: &[Item]) -> String {
    let updated = last_modified(items).unwrap_or(DateTime::UNIX_EPOCH);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    s.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    s.push_str(&format!(
        "<title>{}</title>\n<subtitle>{}</subtitle>\n<id>{}</id>\n<updated>{}</updated>\n\
         <link href=\"{}\" rel=\"self\" type=\"application/atom+xml\"/>\n<link href=\"{}\"/>\n\
         <author><name>agg</name></author>\n<generator>agg</generator>\n",
        esc(&meta.title),
        esc(&meta.description),
        esc(&meta.id),
        updated.to_rfc3339(),
        esc(&meta.self_url),
        esc(&meta.home_url)
    ));
    for i in items {
        s.push_str("<entry>");
        s.push_str(&format!("<title>{}</title>", esc(&entry_title(meta, i))));
        if let Some(u) = http_link(i) {
            s.push_str(&format!("<link href=\"{}\"/>", esc(u)));
        }
        s.push_str(&format!("<id>{}</id>", esc(&entry_id(i))));
        let upd = i.updated.unwrap_or(i.when()).max(i.when());
        s.push_str(&format!("<updated>{}</updated>", upd.to_rfc3339()));
        // Atom requires <updated> (the last change agg knows of) but not
        // <published>, which only a dated item has.
        if let Some(d) = i.dated() {
            s.push_str(&format!("<published>{}</published>", d.to_rfc3339()));
        }
        if let Some(src) = &i.feed_title {
            s.push_str(&format!("<author><name>{}</name></author>", esc(src)));
        }
        s.push_str(&format!(
            "<summary type=\"text\">{}</summary>",
            esc(&summary(i))
        ));
        s.push_str("</entry>\n");
    }
    s.push_str("</feed>\n");
    s
}

/// Writes every saga's feed (RSS and Atom), the all-sagas feeds and an
/// index page into `dir`, for any static web host. `base_url` is where the
/// folder will be served from (for self links). Returns the files written.
pub async fn export(
    store: &dyn agg_core::Store,
    dir: &std::path::Path,
    base_url: &str,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use agg_core::ItemQuery;
    let base = base_url.trim_end_matches('/');
    let engine = agg_app::sagas::read(store).await?;
    std::fs::create_dir_all(dir.join("sagas"))?;
    let mut written = Vec::new();
    let mut write = |rel: String, body: String| -> anyhow::Result<()> {
        let path = dir.join(&rel);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, &path)?;
        written.push(path);
        Ok(())
    };
    let meta =
        |path: &str, title: String, description: String, id: String, saga_prefix: bool| FeedMeta {
            title,
            description,
            self_url: format!("{base}/{path}"),
            home_url: format!("{base}/"),
            id: format!("tag:agg,2026:{id}"),
            saga_prefix,
        };
    let all = store
        .list_items(&ItemQuery {
            in_saga: true,
            limit: Some(100),
            ..ItemQuery::default()
        })
        .await?;
    let m = |p: &str| {
        meta(
            p,
            "agg: saga updates".into(),
            "New items in the stories agg follows".into(),
            "sagas".into(),
            true,
        )
    };
    write("sagas.xml".into(), rss(&m("sagas.xml"), &all))?;
    write("sagas.atom".into(), atom(&m("sagas.atom"), &all))?;
    let mut sagas: Vec<_> = engine.sagas().filter(|s| s.merged_into.is_none()).collect();
    sagas.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
    let mut index = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>agg sagas</title>\
         <style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}\
         li{margin:.4rem 0} .meta{color:#666;font-size:.85rem}</style></head><body><h1>Sagas</h1>\
         <p><a href=\"sagas.xml\">All saga updates (RSS)</a> · <a href=\"sagas.atom\">Atom</a></p><ul>\n",
    );
    for s in sagas {
        let items = store
            .list_items(&ItemQuery {
                saga: Some(s.id.0),
                limit: Some(100),
                ..ItemQuery::default()
            })
            .await?;
        let desc = format!("{} items from {} outlets", s.item_count(), s.outlet_count());
        let id = s.id.0;
        let title = format!("agg saga: {}", s.title);
        write(
            format!("sagas/{id}.xml"),
            rss(
                &meta(
                    &format!("sagas/{id}.xml"),
                    title.clone(),
                    desc.clone(),
                    format!("saga/{id}"),
                    false,
                ),
                &items,
            ),
        )?;
        write(
            format!("sagas/{id}.atom"),
            atom(
                &meta(
                    &format!("sagas/{id}.atom"),
                    title,
                    desc.clone(),
                    format!("saga/{id}"),
                    false,
                ),
                &items,
            ),
        )?;
        index.push_str(&format!(
            "<li><a href=\"sagas/{id}.xml\">{}</a> <span class=\"meta\">{} · {} – {}</span></li>\n",
            esc(&s.title),
            esc(&desc),
            s.first_seen.format("%Y-%m-%d"),
            s.last_seen.format("%Y-%m-%d")
        ));
    }
    index.push_str("</ul></body></html>\n");
    write("index.html".into(), index)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_fields_are_escaped_and_script_links_dropped() {
        let item = Item {
            key: "k".into(),
            title: "<script>alert(1)</script> & \u{1} co".into(),
            url: Some("javascript:alert(1)".into()),
            text: "a]]>b".into(),
            ..Item::default()
        };
        let meta = FeedMeta {
            title: "T".into(),
            description: "D".into(),
            self_url: "http://127.0.0.1/feed.xml".into(),
            home_url: "http://127.0.0.1/".into(),
            id: "tag:agg,2026:feed".into(),
            saga_prefix: false,
        };
        let text = Item {
            text: "about <script>alert(2)</script> & more".into(),
            ..item.clone()
        };
        for doc in [
            rss(&meta, std::slice::from_ref(&item)),
            atom(&meta, &[item]),
        ] {
            assert!(!doc.contains("<script>"));
            assert!(!doc.contains("javascript:"));
            assert!(doc.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp;  co"));
        }
        // RSS descriptions are HTML: text is escaped twice, so a reader's
        // one decoding gives escaped text, never a live element.
        let doc = rss(&meta, &[text]);
        assert!(doc.contains(
            "about &amp;lt;script&amp;gt;alert(2)&amp;lt;/script&amp;gt; &amp;amp; more"
        ));
    }
}
