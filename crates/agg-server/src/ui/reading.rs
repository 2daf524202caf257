//! The reading pages: `/` (items ranked by score, explained, paginated)
//! and `/ui/item/ID` (one item: its sanitised content, enclosures, saga
//! timeline and feedback), and read/saved state (issue 18): opening an
//! item marks it read, `/?unread=1` hides read rows, a star saves, and
//! `/ui/saved` lists what was saved. Read and saved are never feedback:
//! they train nothing, and a 👍 saves nothing.
//!
//! Ranking, folding and paging are pure functions ([`arrange`]) so that the
//! order a reader sees is tested without a server.

use std::collections::{HashMap, HashSet};

use agg_core::{Item, ItemMark, ItemQuery, ItemState};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Datelike, Utc};
use minijinja::context;
use serde::Deserialize;

use super::{UiState, add};

/// Items per page of `/`.
pub const PAGE_SIZE: usize = 50;

/// How many stored items `/` ranks (the newest this many; older ones are
/// in `agg items` and search).
const WINDOW: u64 = 2000;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    /// `newest` for newest first; anything else ranks by score.
    order: Option<String>,
    /// 1-based page number.
    page: Option<usize>,
    /// `1`: only rows not read yet.
    unread: Option<String>,
}

/// Items `/ui/saved` lists.
const SAVED_LIMIT: u64 = 500;

/// The sort orders of `/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Highest score first (unscored last), then newest.
    Score,
    /// Newest first (by the feed's date; undated items by first sight).
    Newest,
}

/// A case- and space-insensitive title: two outlets' copies of one story
/// have the same one.
fn title_key(i: &Item) -> String {
    i.title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn outlet(i: &Item) -> String {
    i.feed_title
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(&i.source)
        .to_string()
}

/// Ranks `items`, folds duplicates (same link or same title: the copy a
/// second outlet brought) into the best-ranked one's "also in", drops the
/// rows whose id is in `hide` (read ones, for `?unread=1`), and returns
/// one page of the result and the total after folding and hiding.
///
/// Folding comes after ranking so the row a reader sees is the copy that
/// was scored (a duplicate is usually stored unscored). Hiding comes after
/// folding: a story read through its scored copy must not come back as its
/// unread duplicate's row.
pub fn arrange(
    mut items: Vec<Item>,
    order: Order,
    hide: &HashSet<i64>,
    page: usize,
    size: usize,
) -> (Vec<Item>, usize) {
    match order {
        Order::Score => items.sort_by(|a, b| {
            let (sa, sb) = (a.score.unwrap_or(-1.0), b.score.unwrap_or(-1.0));
            sb.total_cmp(&sa)
                .then_with(|| b.when().cmp(&a.when()))
                .then_with(|| b.id.cmp(&a.id))
        }),
        Order::Newest => items.sort_by(|a, b| {
            b.recency_key()
                .cmp(&a.recency_key())
                .then_with(|| b.id.cmp(&a.id))
        }),
    }
    let mut kept: Vec<Item> = Vec::new();
    let mut by_url: HashMap<String, usize> = HashMap::new();
    let mut by_title: HashMap<String, usize> = HashMap::new();
    for i in items {
        let t = title_key(&i);
        let hit = i
            .url
            .as_ref()
            .and_then(|u| by_url.get(u))
            .or_else(|| (!t.is_empty()).then(|| by_title.get(&t)).flatten())
            .copied();
        match hit {
            Some(k) => {
                let name = outlet(&i);
                let first = &mut kept[k];
                if name != outlet(first) && !first.also_in.contains(&name) {
                    first.also_in.push(name);
                }
                for o in i.also_in {
                    if !first.also_in.contains(&o) {
                        first.also_in.push(o);
                    }
                }
            }
            None => {
                let k = kept.len();
                if let Some(u) = &i.url {
                    by_url.insert(u.clone(), k);
                }
                if !t.is_empty() {
                    by_title.insert(t, k);
                }
                kept.push(i);
            }
        }
    }
    kept.retain(|i| i.id.is_none_or(|id| !hide.contains(&id)));
    let total = kept.len();
    let start = page.saturating_sub(1).saturating_mul(size);
    let rows = kept.into_iter().skip(start).take(size).collect();
    (rows, total)
}

/// An item's date as a reader wants it: the year only when it is not this
/// year's ("Tue 24 Nov 08:00", "Wed 3 Dec 2025 08:00").
pub fn when_label(d: Option<DateTime<Utc>>, fetched: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match d {
        Some(d) if d.year() == now.year() => d.format("%a %-d %b %H:%M").to_string(),
        Some(d) => d.format("%a %-d %b %Y %H:%M").to_string(),
        None if fetched.year() == now.year() => {
            format!("undated (first seen {})", fetched.format("%-d %b"))
        }
        None => format!("undated (first seen {})", fetched.format("%-d %b %Y")),
    }
}

/// The template context of one row of `/` (and of search results);
/// `states` holds the read/saved state of the items that have one.
pub fn row(
    i: &Item,
    feedback: &[agg_core::FeedbackRow],
    states: &HashMap<i64, ItemState>,
    matched: Option<String>,
) -> minijinja::Value {
    let state = i.id.and_then(|id| states.get(&id));
    let now = agg_core::clock::current();
    let fb = feedback
        .iter()
        .rev()
        .find(|f| Some(f.item_id) == i.id)
        .map(|f| format!("you said: {}", f.kind));
    context! {
        id => i.id, title => i.title.clone(), url => crate::feeds::http_link(i),
        source => match (&i.feed_title, i.source == add::SOURCE) {
            (Some(t), true) => format!("{} · {t}", add::SOURCE),
            (Some(t), false) => t.clone(),
            (None, _) => i.source.clone(),
        },
        // The feed's date; an undated item never shows its fetch time as one.
        when => when_label(i.dated(), i.fetched, now),
        score => i.score,
        reason => i.reasons.first().cloned(),
        reasons => i.reasons.clone(),
        also_in => i.also_in.clone(),
        saga => i.saga.as_ref().map(|g| context! { id => g.id, title => g.title.clone() }),
        feedback => fb, match => matched,
        read => state.is_some_and(|s| s.read_at.is_some()),
        saved => state.is_some_and(|s| s.saved_at.is_some()),
    }
}

/// [`row`], naming the item's saga only when the saga holds more than
/// this item (`lone`): a one-item "story" link is noise on every row.
fn story_row(
    i: &Item,
    lone: bool,
    feedback: &[agg_core::FeedbackRow],
    states: &HashMap<i64, ItemState>,
) -> minijinja::Value {
    if lone && i.saga.is_some() {
        let mut i = i.clone();
        i.saga = None;
        row(&i, feedback, states, None)
    } else {
        row(i, feedback, states, None)
    }
}

/// The read/saved state of `items` for their rows; a store error shows
/// every row unread and unsaved rather than failing the page.
pub async fn states_of(store: &dyn agg_core::Store, items: &[Item]) -> HashMap<i64, ItemState> {
    let ids: Vec<i64> = items.iter().filter_map(|i| i.id).collect();
    store.item_states(&ids).await.unwrap_or_else(|e| {
        tracing::warn!("read/saved state: {e:#}");
        HashMap::new()
    })
}

/// `/`: the stored items ranked by score (`?order=newest` for newest
/// first), each with its reasons, saga and outlets; one row per story;
/// `?page=N`; `?q=` filters by words.
pub async fn items_page(State(st): State<UiState>, Query(q): Query<ListQuery>) -> Response {
    let query = q.q.clone().unwrap_or_default();
    let order = match q.order.as_deref() {
        Some("newest") => Order::Newest,
        _ => Order::Score,
    };
    let page = q.page.unwrap_or(1).max(1);
    let items = match st
        .app
        .store
        .list_items(&ItemQuery {
            limit: Some(WINDOW),
            ..ItemQuery::default()
        })
        .await
    {
        Ok(i) => i,
        Err(e) => return crate::http::server_error(e),
    };
    let feedback = st.app.store.list_feedback().await.unwrap_or_default();
    // A saga is named on a row only when it holds more than this item: a
    // one-item "story" link is noise on every row. Counted before a word
    // filter, which shows one row of a story but not its size.
    let mut saga_size: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for g in items.iter().filter_map(|i| i.saga.as_ref()) {
        *saga_size.entry(g.id).or_default() += 1;
    }
    let items: Vec<Item> = items
        .into_iter()
        .filter(|i| query.is_empty() || agg_app::search::has_words(&query, i))
        .collect();
    let unread = q.unread.as_deref() == Some("1");
    let states = states_of(st.app.store.as_ref(), &items).await;
    let hide: HashSet<i64> = if unread {
        states
            .values()
            .filter(|s| s.read_at.is_some())
            .map(|s| s.item_id)
            .collect()
    } else {
        HashSet::new()
    };
    let (rows, total) = arrange(items, order, &hide, page, PAGE_SIZE);
    // "Mark all above as read" names exactly the rows shown.
    let shown: Vec<String> = rows
        .iter()
        .filter_map(|i| i.id)
        .map(|id| id.to_string())
        .collect();
    let rows: Vec<minijinja::Value> = rows
        .iter()
        .map(|i| {
            let lone = i
                .saga
                .as_ref()
                .is_some_and(|g| saga_size.get(&g.id).copied().unwrap_or(0) < 2);
            story_row(i, lone, &feedback, &states)
        })
        .collect();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let mut title = if query.is_empty() {
        match order {
            Order::Score => "Items, best first".to_string(),
            Order::Newest => "Items, newest first".to_string(),
        }
    } else {
        format!("Items matching “{query}”")
    };
    if unread {
        title.push_str(", unread");
    }
    // The same list with one setting changed: page 1 of it.
    let link_with = |p: usize, newest: bool, unread: bool| {
        let mut s = format!("/?page={p}");
        if newest {
            s.push_str("&order=newest");
        }
        if unread {
            s.push_str("&unread=1");
        }
        if !query.is_empty() {
            s.push_str("&q=");
            s.push_str(&url_encode(&query));
        }
        s
    };
    let newest = order == Order::Newest;
    let link = |p: usize| link_with(p, newest, unread);
    let prev = (page > 1).then(|| link(page - 1));
    let next = (page < pages).then(|| link(page + 1));
    st.render(
        "items",
        context! {
            title, q => query.clone(), items => rows, total, page, pages,
            newest, prev, next, unread, shown => shown.join(","),
            best_link => link_with(1, false, unread),
            newest_link => link_with(1, true, unread),
            unread_link => link_with(1, newest, !unread),
        },
    )
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `/ui/item/ID`: the item's content, sanitised again at display (whatever
/// the store holds, the page never runs a feed's markup), its enclosures as
/// players, its saga's timeline, and 👍/👎.
///
/// Opening it marks it read: the one change a GET makes (see
/// [`opened_by_reader`] for which GETs count).
pub async fn item_page(
    State(st): State<UiState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    let item = match st.app.store.get_items(&[id]).await {
        Ok(mut v) if !v.is_empty() => v.remove(0),
        Ok(_) => return (StatusCode::NOT_FOUND, "no such item\n").into_response(),
        Err(e) => return crate::http::server_error(e),
    };
    if opened_by_reader(&headers)
        && let Err(e) = st
            .app
            .store
            .mark_items(&[id], ItemMark::Read, agg_core::clock::current())
            .await
    {
        // The page is still worth showing; the next open marks it.
        tracing::warn!("marking item {id} read: {e:#}");
    }
    let feedback = st.app.store.list_feedback().await.unwrap_or_default();
    let states = states_of(st.app.store.as_ref(), std::slice::from_ref(&item)).await;
    let base = item
        .url
        .as_deref()
        .and_then(|u| agg_fetch::url::Url::parse(u).ok());
    let content = match &item.html {
        Some(h) if !h.trim().is_empty() => agg_fetch::parse::sanitize_html(h, base.as_ref()),
        _ => String::new(),
    };
    let enclosures: Vec<minijinja::Value> = item
        .enclosures
        .iter()
        .filter(|e| e.url.starts_with("https://") || e.url.starts_with("http://"))
        .map(|e| {
            let mime = e.mime.clone().unwrap_or_default();
            let kind = if mime.starts_with("audio/") {
                "audio"
            } else if mime.starts_with("video/") {
                "video"
            } else {
                "link"
            };
            context! { url => e.url.clone(), mime, kind }
        })
        .collect();
    let now = agg_core::clock::current();
    let timeline: Vec<minijinja::Value> = match &item.saga {
        Some(s) => st
            .app
            .store
            .list_items(&ItemQuery {
                saga: Some(s.id),
                limit: Some(200),
                ..ItemQuery::default()
            })
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                context! {
                    id => i.id, title => i.title.clone(), source => outlet(&i),
                    when => when_label(i.dated(), i.fetched, now),
                    current => i.id == item.id,
                }
            })
            .collect(),
        None => Vec::new(),
    };
    // As on the list: a saga of this item alone is not a story so far, and
    // not named on its row (most items are such; the page listed itself).
    let lone = timeline.len() < 2;
    let timeline = if lone { Vec::new() } else { timeline };
    st.render(
        "item",
        context! {
            title => item.title.clone(), q => "",
            i => story_row(&item, lone, &feedback, &states),
            content, text => item.text.clone(), enclosures, timeline,
        },
    )
}

/// Whether a GET of an item page is the reader opening it, so it may mark
/// the item read. The UI changes nothing else on GET; this one change is
/// idempotent and harmless, and it is made only when the browser says the
/// request is its own navigation: not a prefetch or prerender, and not
/// asked for by another site (a page elsewhere embedding `/ui/item/ID`
/// must not mark what the reader never saw). Clients that send no
/// `Sec-Fetch-Site` (curl, tests) are not browsers being tricked.
pub fn opened_by_reader(h: &HeaderMap) -> bool {
    let said = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    let prefetch = ["sec-purpose", "purpose", "x-purpose", "x-moz"]
        .iter()
        .filter_map(|n| said(n))
        .any(|v| v.contains("prefetch") || v.contains("prerender") || v.contains("preview"));
    let foreign =
        said("sec-fetch-site").is_some_and(|s| !matches!(s.as_str(), "same-origin" | "none"));
    !prefetch && !foreign
}

/// Where a form's POST goes back to: the page it was on (its `Referer`,
/// when that is this server), else `fallback`; `#item-ID` keeps the row in
/// view. Only a path on this server is ever used, so the redirect cannot
/// be pointed elsewhere.
pub fn back_to(headers: &HeaderMap, fallback: &str, anchor: Option<i64>) -> Response {
    let here = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let path = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (!here.is_empty() && host.eq_ignore_ascii_case(here)).then_some(path)
        })
        .filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.contains('\\'))
        .map(|p| p.split('#').next().unwrap_or(p))
        .unwrap_or(fallback);
    let to = match anchor {
        Some(id) => format!("{path}#item-{id}"),
        None => path.to_string(),
    };
    Redirect::to(&to).into_response()
}

/// POST `/ui/items/ID/{save,unsave,read,unread}`: the star and its
/// siblings. Not feedback: nothing here reaches the interest model.
pub async fn mark_item(st: &UiState, id: i64, mark: ItemMark, headers: &HeaderMap) -> Response {
    match st
        .app
        .store
        .mark_items(&[id], mark, agg_core::clock::current())
        .await
    {
        Ok(0) => (StatusCode::NOT_FOUND, "no such item\n").into_response(),
        Ok(_) => back_to(headers, "/", Some(id)),
        Err(e) => crate::http::server_error(e),
    }
}

#[derive(Deserialize)]
pub struct ReadForm {
    /// Comma-separated item ids: the rows the page showed.
    ids: String,
}

/// POST `/ui/read`: "mark all above as read", the ids of the rows the page
/// showed (sent by the page, so rows that arrived since are not marked).
pub async fn mark_read(
    State(st): State<UiState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<ReadForm>,
) -> Response {
    let ids: Result<Vec<i64>, _> = f
        .ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect();
    let Ok(ids) = ids else {
        return (StatusCode::BAD_REQUEST, "ids: a list of item numbers\n").into_response();
    };
    match st
        .app
        .store
        .mark_items(&ids, ItemMark::Read, agg_core::clock::current())
        .await
    {
        Ok(_) => back_to(&headers, "/", None),
        Err(e) => crate::http::server_error(e),
    }
}

/// `/ui/saved`: saved items, most recently saved first.
pub async fn saved_page(State(st): State<UiState>) -> Response {
    let items: Vec<Item> = match saved(st.app.store.as_ref(), SAVED_LIMIT).await {
        Ok(i) => i.into_iter().map(|(i, _)| i).collect(),
        Err(e) => return crate::http::server_error(e),
    };
    let feedback = st.app.store.list_feedback().await.unwrap_or_default();
    let states = states_of(st.app.store.as_ref(), &items).await;
    let rows: Vec<minijinja::Value> = items
        .iter()
        .map(|i| row(i, &feedback, &states, None))
        .collect();
    st.render(
        "saved",
        context! { title => "Saved", q => "", items => rows },
    )
}

/// Saved items, most recently saved first, each with when it was saved
/// (the store lists states; the items come from `get_items`, in that
/// order). `/ui/saved` and `/saved.xml` both list this.
pub async fn saved(
    store: &dyn agg_core::Store,
    limit: u64,
) -> anyhow::Result<Vec<(Item, DateTime<Utc>)>> {
    let states = store.saved_items(limit).await?;
    let ids: Vec<i64> = states.iter().map(|s| s.item_id).collect();
    let mut by_id: HashMap<i64, Item> = store
        .get_items(&ids)
        .await?
        .into_iter()
        .filter_map(|i| i.id.map(|id| (id, i)))
        .collect();
    Ok(states
        .iter()
        .filter_map(|s| Some((by_id.remove(&s.item_id)?, s.saved_at?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn item(id: i64, score: Option<f32>, title: &str, url: &str, feed: &str) -> Item {
        Item {
            id: Some(id),
            key: format!("k{id}"),
            source: feed.into(),
            feed_title: Some(feed.into()),
            title: title.into(),
            url: Some(url.into()),
            score,
            fetched: Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap(),
            published: Some(
                Utc.with_ymd_and_hms(2026, 11, 20, id as u32 % 24, 0, 0)
                    .unwrap(),
            ),
            ..Item::default()
        }
    }

    #[test]
    fn ranks_by_score_folds_duplicates_and_pages() {
        let items = vec![
            item(1, Some(0.2), "Low", "https://a/1", "A"),
            item(2, Some(0.9), "High", "https://a/2", "A"),
            // The same story from another outlet, unscored: folded.
            item(3, None, "high ", "https://b/2", "B"),
            item(4, Some(0.5), "Mid", "https://a/4", "A"),
            item(5, None, "Other", "https://a/2", "C"),
        ];
        let none = HashSet::new();
        let (rows, total) = arrange(items.clone(), Order::Score, &none, 1, 2);
        assert_eq!(total, 3);
        let ids: Vec<_> = rows.iter().map(|i| i.id.unwrap()).collect();
        assert_eq!(ids, vec![2, 4]);
        // The unscored copies fold in rank order: newest (C) first.
        assert_eq!(rows[0].also_in, vec!["C".to_string(), "B".to_string()]);
        let (rows, _) = arrange(items.clone(), Order::Score, &none, 2, 2);
        assert_eq!(
            rows.iter().map(|i| i.id.unwrap()).collect::<Vec<_>>(),
            vec![1]
        );
        let (rows, _) = arrange(items.clone(), Order::Newest, &none, 1, 10);
        // Newest first (published hour = id): 5 is newest and kept; 2,
        // older and with 5's link, folds into it.
        assert_eq!(rows[0].id, Some(5));
        // Read rows hidden after folding: reading 2 hides its story, and
        // its unread copies (3, 5) do not come back as rows of their own.
        let (rows, total) = arrange(items, Order::Score, &HashSet::from([2]), 1, 10);
        assert_eq!(total, 2);
        assert_eq!(
            rows.iter().map(|i| i.id.unwrap()).collect::<Vec<_>>(),
            vec![4, 1]
        );
    }

    #[test]
    fn a_get_marks_read_only_when_the_reader_opened_it() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, v.parse().unwrap());
            }
            m
        };
        assert!(opened_by_reader(&h(&[])));
        assert!(opened_by_reader(&h(&[("sec-fetch-site", "same-origin")])));
        assert!(opened_by_reader(&h(&[("sec-fetch-site", "none")])));
        assert!(!opened_by_reader(&h(&[("sec-fetch-site", "cross-site")])));
        assert!(!opened_by_reader(&h(&[("sec-purpose", "prefetch")])));
        assert!(!opened_by_reader(&h(&[("purpose", "prefetch")])));
    }

    #[test]
    fn posts_go_back_only_to_this_server() {
        let h = |referer: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
            m.insert(header::REFERER, referer.parse().unwrap());
            m
        };
        let loc = |r: Response| r.headers()[header::LOCATION].to_str().unwrap().to_string();
        assert_eq!(
            loc(back_to(
                &h("http://127.0.0.1:8080/?unread=1&page=2#x"),
                "/",
                Some(4)
            )),
            "/?unread=1&page=2#item-4"
        );
        assert_eq!(loc(back_to(&h("https://evil.example/x"), "/", None)), "/");
        assert_eq!(
            loc(back_to(
                &h("http://127.0.0.1:8080//evil.example/"),
                "/ui/saved",
                None
            )),
            "/ui/saved"
        );
    }

    #[test]
    fn dates_say_the_year_only_when_it_is_not_this_one() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap();
        let d = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
        assert_eq!(when_label(Some(d), now, now), "Tue 24 Nov 08:00");
        let old = Utc.with_ymd_and_hms(2025, 12, 3, 8, 0, 0).unwrap();
        assert_eq!(when_label(Some(old), now, now), "Wed 3 Dec 2025 08:00");
        assert_eq!(when_label(None, now, now), "undated (first seen 26 Nov)");
    }
}
