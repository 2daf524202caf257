//! Which items go in a digest, and how they are grouped. Pure functions: no
//! store, no clock (the caller passes `now` and what the store said).

use std::collections::{BTreeMap, HashMap, HashSet};

use agg_core::{FeedState, Item};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The sections a digest can have, in the order they are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// The highest-ranked items outside followed sagas.
    Top,
    /// Sagas the reader follows, each under its header.
    Followed,
    /// Other sagas with several new items, each under its header.
    Sagas,
    /// Everything else, grouped by source.
    Sources,
    /// Feeds failing or silent, with the reason.
    Health,
}

impl Section {
    pub fn all() -> Vec<Section> {
        vec![
            Section::Top,
            Section::Followed,
            Section::Sagas,
            Section::Sources,
            Section::Health,
        ]
    }
}

/// What to do with items of muted sagas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MutedPolicy {
    /// Leave them out.
    #[default]
    Drop,
    /// List them last, after everything else, within the caps.
    Last,
}

/// Selection knobs (the sink's options).
#[derive(Clone, Debug)]
pub struct SelectOptions {
    /// Most items in one digest.
    pub max_items: usize,
    /// Most items of one saga in one digest.
    pub max_per_saga: usize,
    /// Items in the top stories section.
    pub top: usize,
    pub sections: Vec<Section>,
    pub muted: MutedPolicy,
    /// Items older than this (by their date) are left out; `None`: no limit.
    pub max_age: Option<Duration>,
    /// A feed with no new item for this many days is reported as silent.
    pub silent_days: u32,
    /// An item its feed dated this long before agg first saw it is archive
    /// (a back catalogue on a first fetch): it goes in its own section at
    /// the end and is never counted or shown as today's news.
    pub archive_age: Duration,
}

impl Default for SelectOptions {
    fn default() -> Self {
        SelectOptions {
            max_items: 25,
            max_per_saga: 5,
            top: 5,
            sections: Section::all(),
            muted: MutedPolicy::Drop,
            max_age: None,
            silent_days: 3,
            archive_age: agg_core::item::ARCHIVE_AGE,
        }
    }
}

/// What the saga engine knows about a saga beyond an item's [`agg_core::SagaRef`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SagaInfo {
    pub title: String,
    pub first_seen: Option<DateTime<Utc>>,
    pub outlets: usize,
    pub followed: bool,
    pub muted: bool,
}

/// A saga as the digest shows it: "<title> — since Fri 20 Nov · K new · M outlets".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SagaHeader {
    pub id: u64,
    pub title: String,
    /// Days since the saga started, counting its first day as day 1.
    pub day: i64,
    /// When it started, as a reader says it: "since Fri 20 Nov", "since
    /// Tue 3 Dec 2024" in another year, "new today". A day count ("day
    /// 4040") means nothing to a reader; a date does.
    pub since: String,
    /// Items of the saga not yet sent (before the caps).
    pub new: usize,
    /// Outlets that covered it.
    pub outlets: usize,
    pub followed: bool,
    pub muted: bool,
}

impl SagaHeader {
    /// The header line, e.g. `Port strike — since Fri 20 Nov · 3 new · 2 outlets`.
    pub fn line(&self) -> String {
        format!(
            "{} — {} · {} new · {} {}",
            self.title,
            self.since,
            self.new,
            self.outlets,
            if self.outlets == 1 {
                "outlet"
            } else {
                "outlets"
            }
        )
    }
}

/// A group of items under a saga header.
#[derive(Clone, Debug, PartialEq)]
pub struct SagaGroup {
    pub saga: SagaHeader,
    pub items: Vec<Item>,
}

/// A group of items under a source name.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceGroup {
    pub source: String,
    pub items: Vec<Item>,
}

/// A feed worth telling the reader about.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeedProblem {
    pub feed: String,
    pub title: Option<String>,
    /// `failing`, `paused` or `silent`.
    pub kind: String,
    pub reason: String,
}

/// A digest's content, before rendering.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    pub top: Vec<Item>,
    pub followed: Vec<SagaGroup>,
    pub sagas: Vec<SagaGroup>,
    pub sources: Vec<SourceGroup>,
    /// Muted sagas' items, when the policy is `last`.
    pub muted: Vec<SagaGroup>,
    pub health: Vec<FeedProblem>,
    /// Every saga header, by id (for the top section's labels).
    pub headers: BTreeMap<u64, SagaHeader>,
    /// Items their feeds dated long before agg first saw them
    /// ([`SelectOptions::archive_age`]), best first: sent once, apart.
    pub archive: Vec<Item>,
    /// Archive items the caps left out: not held back for later (a feed's
    /// back catalogue would otherwise fill every following digest), but
    /// counted as covered by this one; they stay on the items page.
    pub archive_passed: Vec<i64>,
    /// News candidates left out by the caps (offered again next time).
    pub held_back: usize,
}

impl Selection {
    /// Every item included, in display order.
    pub fn items(&self) -> Vec<&Item> {
        // Followed stories lead: the reader asked for them by name.
        let mut v: Vec<&Item> = self.followed.iter().flat_map(|g| &g.items).collect();
        v.extend(&self.top);
        v.extend(self.sagas.iter().flat_map(|g| &g.items));
        v.extend(self.sources.iter().flat_map(|g| &g.items));
        v.extend(self.muted.iter().flat_map(|g| &g.items));
        v.extend(&self.archive);
        v
    }

    /// How many included items are news (not from a feed's archive): what
    /// the subject and summary call "new".
    pub fn news_len(&self) -> usize {
        self.len() - self.archive.len()
    }

    /// Ids of every included item.
    pub fn item_ids(&self) -> Vec<i64> {
        self.items().iter().filter_map(|i| i.id).collect()
    }

    /// What this digest covers (what its record keeps): its items, and the
    /// archive items it mentions only as a count (never offered again).
    pub fn covered_ids(&self) -> Vec<i64> {
        let mut ids = self.item_ids();
        ids.extend(&self.archive_passed);
        ids
    }

    pub fn len(&self) -> usize {
        self.items().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn is_muted(i: &Item, sagas: &HashMap<u64, SagaInfo>) -> bool {
    i.saga
        .as_ref()
        .is_some_and(|s| s.muted || sagas.get(&s.id).is_some_and(|x| x.muted))
}

fn is_followed(i: &Item, sagas: &HashMap<u64, SagaInfo>) -> bool {
    i.saga
        .as_ref()
        .is_some_and(|s| s.followed || sagas.get(&s.id).is_some_and(|x| x.followed))
}

/// The name a reader knows a source by.
pub fn source_name(i: &Item) -> &str {
    i.feed_title
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(&i.source)
}

/// Ranks by score (unscored last), then newest first, then id.
fn rank(items: &mut [Item]) {
    items.sort_by(|a, b| {
        let sa = a.score.unwrap_or(-1.0);
        let sb = b.score.unwrap_or(-1.0);
        sb.total_cmp(&sa)
            .then_with(|| b.when().cmp(&a.when()))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.key.cmp(&b.key))
    });
}

/// Chooses and groups a digest's items.
///
/// `items` are the candidates (the run's items); `sent` the ids already
/// delivered by this pipeline: those never come back. `today` is the local
/// date the digest is for (saga "day N" is counted to it).
#[allow(clippy::too_many_arguments)]
pub fn select(
    items: Vec<Item>,
    sent: &HashSet<i64>,
    sagas: &HashMap<u64, SagaInfo>,
    feeds: &[FeedState],
    opts: &SelectOptions,
    now: DateTime<Utc>,
    today: chrono::NaiveDate,
    tz: chrono_tz::Tz,
) -> Selection {
    let cands = candidates(items, sent, sagas, opts, now);
    let headers = saga_headers(&cands, sagas, today, tz);
    let mut sel = Selection::default();
    let chosen = apply_caps(cands, opts, &mut sel);
    let rest = place_in_sections(chosen, sagas, &headers, opts, &mut sel);
    group_the_rest(rest, &headers, opts, &mut sel);
    if opts.sections.contains(&Section::Health) {
        sel.health = feed_health(feeds, opts.silent_days, now);
    }
    sel.headers = headers;
    sel
}

/// Candidates: not sent, not too old, one per id/key, and one per link or
/// title (a copy stored from another source is the same story); ranked,
/// with muted sagas and archive items last so that the caps never keep
/// news out for them.
fn candidates(
    items: Vec<Item>,
    sent: &HashSet<i64>,
    sagas: &HashMap<u64, SagaInfo>,
    opts: &SelectOptions,
    now: DateTime<Utc>,
) -> Vec<Item> {
    let mut seen = HashSet::new();
    let mut cands: Vec<Item> = Vec::new();
    for i in items {
        if i.id.is_some_and(|id| sent.contains(&id))
            || opts.max_age.is_some_and(|age| i.when() < now - age)
        {
            continue;
        }
        let title = i
            .title
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        let id = i.id.map_or_else(|| i.key.clone(), |id| id.to_string());
        let new_id = seen.insert(format!("id:{id}"));
        let new_title = title.is_empty() || seen.insert(format!("title:{title}"));
        let new_url = i
            .url
            .as_ref()
            .is_none_or(|u| seen.insert(format!("url:{u}")));
        if new_id && new_title && new_url {
            cands.push(i);
        }
    }
    if opts.muted == MutedPolicy::Drop {
        cands.retain(|i| !is_muted(i, sagas));
    }
    rank(&mut cands);
    // Muted last: stable partition keeps the ranking within each part.
    let (mut cands, muted): (Vec<Item>, Vec<Item>) =
        cands.into_iter().partition(|i| !is_muted(i, sagas));
    cands.extend(muted);
    // Archive after all news, so the caps never keep news out for it.
    let (mut cands, archive): (Vec<Item>, Vec<Item>) = cands
        .into_iter()
        .partition(|i| !i.is_archive(opts.archive_age));
    cands.extend(archive);
    cands
}

/// Saga headers from every candidate, before the caps: the "K new" counts
/// what is unsent, and "day N" runs from the saga's first item.
fn saga_headers(
    cands: &[Item],
    sagas: &HashMap<u64, SagaInfo>,
    today: chrono::NaiveDate,
    tz: chrono_tz::Tz,
) -> BTreeMap<u64, SagaHeader> {
    let mut headers: BTreeMap<u64, SagaHeader> = BTreeMap::new();
    let mut outlets: HashMap<u64, HashSet<String>> = HashMap::new();
    let mut first: HashMap<u64, DateTime<Utc>> = HashMap::new();
    for i in cands {
        let Some(s) = &i.saga else { continue };
        let info = sagas.get(&s.id);
        let h = headers.entry(s.id).or_insert_with(|| SagaHeader {
            id: s.id,
            title: info
                .map(|x| x.title.clone())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| s.title.clone()),
            day: 1,
            since: "new today".into(),
            new: 0,
            outlets: 0,
            followed: is_followed(i, sagas),
            muted: is_muted(i, sagas),
        });
        h.new += 1;
        let o = outlets.entry(s.id).or_default();
        o.insert(source_name(i).to_string());
        o.extend(i.also_in.iter().cloned());
        let f = first.entry(s.id).or_insert(i.when());
        *f = (*f).min(i.when());
    }
    for (id, h) in headers.iter_mut() {
        let info = sagas.get(id);
        h.outlets = info
            .map(|x| x.outlets)
            .unwrap_or(0)
            .max(outlets.get(id).map_or(0, HashSet::len));
        let start = info.and_then(|x| x.first_seen).or(first.get(id).copied());
        if let Some(start) = start {
            let d = start.with_timezone(&tz).date_naive();
            h.day = (today - d).num_days().max(0) + 1;
            h.since = since(d, today);
        }
    }
    headers
}

/// The caps (`max_items`, `max_per_saga`), in rank order: the items that
/// fit, with those held back counted in `sel` (archive items passed over
/// by id, as they are not offered again).
fn apply_caps(cands: Vec<Item>, opts: &SelectOptions, sel: &mut Selection) -> Vec<Item> {
    let mut per_saga: HashMap<u64, usize> = HashMap::new();
    let mut chosen = Vec::new();
    for i in cands {
        let full = chosen.len() >= opts.max_items
            || i.saga
                .as_ref()
                .is_some_and(|s| per_saga.get(&s.id).copied().unwrap_or(0) >= opts.max_per_saga);
        if full {
            match i.id {
                Some(id) if i.is_archive(opts.archive_age) => sel.archive_passed.push(id),
                _ => sel.held_back += 1,
            }
            continue;
        }
        if let Some(s) = &i.saga {
            *per_saga.entry(s.id).or_default() += 1;
        }
        chosen.push(i);
    }
    chosen
}

/// Followed sagas first, then muted ones aside, then the top stories (and
/// archive items apart); returns the items left for sagas and sources.
fn place_in_sections(
    chosen: Vec<Item>,
    sagas: &HashMap<u64, SagaInfo>,
    headers: &BTreeMap<u64, SagaHeader>,
    opts: &SelectOptions,
    sel: &mut Selection,
) -> Vec<Item> {
    let want = |s: Section| opts.sections.contains(&s);
    let mut rest = Vec::new();
    for i in chosen {
        let muted = is_muted(&i, sagas);
        if i.is_archive(opts.archive_age) && !muted {
            sel.archive.push(i);
        } else if muted {
            push_saga(&mut sel.muted, headers, i);
        } else if want(Section::Followed) && is_followed(&i, sagas) {
            push_saga(&mut sel.followed, headers, i);
        } else if want(Section::Top) && sel.top.len() < opts.top {
            sel.top.push(i);
        } else {
            rest.push(i);
        }
    }
    rest
}

/// Sagas with several items here get a header; the rest go by source,
/// sources with the best item first.
fn group_the_rest(
    rest: Vec<Item>,
    headers: &BTreeMap<u64, SagaHeader>,
    opts: &SelectOptions,
    sel: &mut Selection,
) {
    let mut count: HashMap<u64, usize> = HashMap::new();
    for i in &rest {
        if let Some(s) = &i.saga {
            *count.entry(s.id).or_default() += 1;
        }
    }
    let mut by_source: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for i in rest {
        let multi = i
            .saga
            .as_ref()
            .is_some_and(|s| count.get(&s.id).copied().unwrap_or(0) >= 2);
        if opts.sections.contains(&Section::Sagas) && multi {
            push_saga(&mut sel.sagas, headers, i);
        } else {
            by_source
                .entry(source_name(&i).to_string())
                .or_default()
                .push(i);
        }
    }
    sel.sources = by_source
        .into_iter()
        .map(|(source, items)| SourceGroup { source, items })
        .collect();
    sel.sources.sort_by(|a, b| {
        let best = |g: &SourceGroup| g.items.first().and_then(|i| i.score).unwrap_or(-1.0);
        best(b)
            .total_cmp(&best(a))
            .then_with(|| a.source.cmp(&b.source))
    });
}

/// A saga's start as the header says it, counted in the reader's days.
pub fn since(start: chrono::NaiveDate, today: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    if start >= today {
        "new today".into()
    } else if start.year() == today.year() {
        format!("since {}", start.format("%a %-d %b"))
    } else {
        format!("since {}", start.format("%a %-d %b %Y"))
    }
}

/// Feed health in one line: "56 feeds quiet, 1 failing". The digest is
/// news; the list of feeds behind these counts is a link away.
pub fn health_line(problems: &[FeedProblem]) -> Option<String> {
    let count = |k: &str| problems.iter().filter(|p| p.kind == k).count();
    let parts: Vec<String> = [
        ("silent", "quiet"),
        ("failing", "failing"),
        ("paused", "paused"),
    ]
    .into_iter()
    .filter_map(|(kind, word)| {
        let n = count(kind);
        (n > 0).then(|| format!("{n} {word}"))
    })
    .collect();
    if parts.is_empty() {
        return None;
    }
    // "feeds" goes after the first number: "56 feeds quiet, 1 failing".
    let mut line = parts.join(", ");
    if let Some(sp) = line.find(' ') {
        let noun = if parts[0].starts_with("1 ") {
            "feed"
        } else {
            "feeds"
        };
        line.insert_str(sp + 1, &format!("{noun} "));
    }
    Some(line)
}

/// Appends an item to its saga's group (groups keep first-seen order, which
/// is rank order since items arrive ranked).
fn push_saga(groups: &mut Vec<SagaGroup>, headers: &BTreeMap<u64, SagaHeader>, i: Item) {
    let id = i.saga.as_ref().map_or(0, |s| s.id);
    if let Some(g) = groups.iter_mut().find(|g| g.saga.id == id) {
        g.items.push(i);
        return;
    }
    let saga = headers.get(&id).cloned().unwrap_or_else(|| SagaHeader {
        id,
        title: i.saga.as_ref().map(|s| s.title.clone()).unwrap_or_default(),
        day: 1,
        since: "new today".into(),
        new: 1,
        outlets: 1,
        followed: false,
        muted: false,
    });
    groups.push(SagaGroup {
        saga,
        items: vec![i],
    });
}

/// Feeds that are paused, failing, or silent for `silent_days`, worst first.
pub fn feed_health(feeds: &[FeedState], silent_days: u32, now: DateTime<Utc>) -> Vec<FeedProblem> {
    let silent = Duration::days(i64::from(silent_days));
    let mut out = Vec::new();
    // A feed several sources or pipelines read is one feed to the reader.
    let mut seen = HashSet::new();
    for f in feeds {
        if !seen.insert(f.url.as_str()) {
            continue;
        }
        let (kind, reason) = if f.paused {
            (
                "paused",
                f.pause_reason
                    .clone()
                    .or_else(|| f.last_error.clone())
                    .unwrap_or_else(|| "paused after repeated failures".into()),
            )
        } else if f.consecutive_failures > 0 {
            let err = f
                .last_error
                .clone()
                .unwrap_or_else(|| "unknown error".into());
            let since = match f.last_success {
                Some(t) => format!("last success {}", t.format("%Y-%m-%d")),
                None => "never fetched successfully".into(),
            };
            (
                "failing",
                format!(
                    "{err} ({} failure{} in a row; {since})",
                    f.consecutive_failures,
                    if f.consecutive_failures == 1 { "" } else { "s" }
                ),
            )
        } else if silent_days > 0
            && let Some(newest) = f.recent_items.iter().max()
            && now - *newest > silent
        {
            (
                "silent",
                format!(
                    "no new item for {} days (last {})",
                    (now - *newest).num_days(),
                    newest.format("%Y-%m-%d")
                ),
            )
        } else {
            continue;
        };
        out.push(FeedProblem {
            feed: f.url.clone(),
            title: f.title.clone(),
            kind: kind.into(),
            reason,
        });
    }
    let order = |k: &str| match k {
        "paused" => 0,
        "failing" => 1,
        _ => 2,
    };
    out.sort_by(|a, b| {
        order(&a.kind)
            .cmp(&order(&b.kind))
            .then(a.feed.cmp(&b.feed))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use agg_core::SagaRef;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap()
    }

    fn item(id: i64, score: f32, source: &str, saga: Option<(u64, bool, bool)>) -> Item {
        Item {
            id: Some(id),
            key: format!("k{id}"),
            source: source.into(),
            title: format!("item {id}"),
            score: Some(score),
            fetched: now(),
            published: Some(now() - Duration::hours(id)),
            saga: saga.map(|(sid, followed, muted)| SagaRef {
                id: sid,
                title: format!("saga {sid}"),
                followed,
                muted,
            }),
            ..Item::default()
        }
    }

    fn run(items: Vec<Item>, sent: &[i64], opts: &SelectOptions) -> Selection {
        select(
            items,
            &sent.iter().copied().collect(),
            &HashMap::new(),
            &[],
            opts,
            now(),
            now().date_naive(),
            chrono_tz::UTC,
        )
    }

    fn ids(v: &[&Item]) -> Vec<i64> {
        v.iter().map(|i| i.id.unwrap()).collect()
    }

    #[test]
    fn never_repeats_sent_items_and_ranks_by_score() {
        let items = vec![
            item(1, 0.2, "a", None),
            item(2, 0.9, "a", None),
            item(3, 0.5, "b", None),
        ];
        let s = run(items, &[2], &SelectOptions::default());
        assert_eq!(ids(&s.items()), vec![3, 1]);
        assert_eq!(s.item_ids(), vec![3, 1]);
    }

    #[test]
    fn followed_first_muted_dropped_or_last() {
        let items = vec![
            item(1, 0.9, "a", None),
            item(2, 0.3, "a", Some((7, true, false))),
            item(3, 0.95, "b", Some((8, false, true))),
            item(4, 0.1, "b", Some((7, true, false))),
        ];
        let s = run(items.clone(), &[], &SelectOptions::default());
        assert_eq!(s.followed.len(), 1);
        assert_eq!(
            ids(&s.followed[0].items.iter().collect::<Vec<_>>()),
            vec![2, 4]
        );
        assert_eq!(s.followed[0].saga.new, 2);
        assert!(!s.item_ids().contains(&3), "muted dropped");
        let opts = SelectOptions {
            muted: MutedPolicy::Last,
            ..SelectOptions::default()
        };
        let s = run(items, &[], &opts);
        assert_eq!(*s.item_ids().last().unwrap(), 3, "muted last");
    }

    /// A feed's back catalogue is not today's news: after every news item,
    /// in its own section, never a top story, and not counted as new.
    #[test]
    fn archive_items_come_last_in_their_own_section() {
        let mut items: Vec<Item> = (1..=4)
            .map(|i| item(i, 1.0 - i as f32 / 10.0, "a", None))
            .collect();
        // The best-scored items are years older than their first sight.
        for i in &mut items[..2] {
            i.published = Some(i.fetched - Duration::days(3000));
        }
        let opts = SelectOptions {
            top: 5,
            ..SelectOptions::default()
        };
        let s = run(items.clone(), &[], &opts);
        let top: Vec<i64> = s.top.iter().filter_map(|i| i.id).collect();
        assert_eq!(top, vec![3, 4], "archive is never a top story");
        let archive: Vec<i64> = s.archive.iter().filter_map(|i| i.id).collect();
        assert_eq!(archive, vec![1, 2], "best first within the archive");
        assert_eq!((s.len(), s.news_len()), (4, 2));
        assert_eq!(s.item_ids()[2..], [1, 2], "archive last");
        // The caps keep news first: with room for two, no archive.
        let tight = SelectOptions {
            max_items: 2,
            ..opts
        };
        let s = run(items, &[], &tight);
        assert!(s.archive.is_empty(), "{:?}", s.item_ids());
        // The archive left out is covered, not held back for every later
        // digest.
        assert_eq!((s.held_back, s.archive_passed.clone()), (0, vec![1, 2]));
        assert_eq!(s.covered_ids(), vec![3, 4, 1, 2]);
    }

    #[test]
    fn caps_per_saga_and_total() {
        let mut items: Vec<Item> = (1..=6)
            .map(|i| item(i, 1.0 - i as f32 / 10.0, "a", Some((1, false, false))))
            .collect();
        items.extend((7..=12).map(|i| item(i, 0.2, "b", None)));
        let opts = SelectOptions {
            max_items: 8,
            max_per_saga: 3,
            top: 2,
            ..SelectOptions::default()
        };
        let s = run(items, &[], &opts);
        assert_eq!(s.len(), 8);
        assert_eq!(s.held_back, 4);
        let saga_items = s.items().iter().filter(|i| i.saga.is_some()).count();
        assert_eq!(saga_items, 3);
        assert_eq!(ids(&s.top.iter().collect::<Vec<_>>()), vec![1, 2]);
        // The saga's third item is alone after the top: it goes by source.
        assert!(s.sagas.is_empty());
        assert_eq!(s.sources.len(), 2);
        assert_eq!(s.headers[&1].new, 6);
    }

    #[test]
    fn saga_header_line_counts_days_and_outlets() {
        let mut a = item(1, 0.5, "a", Some((3, false, false)));
        a.published = Some(now() - Duration::days(11));
        let mut b = item(2, 0.4, "b", Some((3, false, false)));
        b.also_in = vec!["c".into()];
        let opts = SelectOptions {
            top: 0,
            ..SelectOptions::default()
        };
        let s = run(vec![a, b], &[], &opts);
        assert_eq!(s.sagas.len(), 1);
        assert_eq!(
            s.sagas[0].saga.line(),
            "saga 3 — since Sun 15 Nov · 2 new · 3 outlets"
        );
        assert_eq!(s.sagas[0].saga.day, 12);
    }

    #[test]
    fn health_reports_paused_failing_and_silent() {
        let feeds = vec![
            FeedState {
                url: "ok".into(),
                recent_items: vec![now() - Duration::hours(3)],
                ..FeedState::default()
            },
            FeedState {
                url: "quiet".into(),
                recent_items: vec![now() - Duration::days(9)],
                ..FeedState::default()
            },
            FeedState {
                url: "broken".into(),
                consecutive_failures: 2,
                last_error: Some("HTTP 500".into()),
                ..FeedState::default()
            },
            FeedState {
                url: "gone".into(),
                paused: true,
                pause_reason: Some("HTTP 410 Gone".into()),
                ..FeedState::default()
            },
        ];
        let h = feed_health(&feeds, 3, now());
        let kinds: Vec<_> = h
            .iter()
            .map(|p| (p.feed.as_str(), p.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("gone", "paused"),
                ("broken", "failing"),
                ("quiet", "silent")
            ]
        );
        assert!(h[1].reason.contains("HTTP 500") && h[1].reason.contains("2 failures"));
        assert!(h[2].reason.contains("9 days"));
        assert_eq!(
            health_line(&h).as_deref(),
            Some("1 feed quiet, 1 failing, 1 paused")
        );
    }

    #[test]
    fn health_counts_each_feed_once_in_one_line() {
        let quiet = |url: &str| FeedState {
            url: url.into(),
            recent_items: vec![now() - Duration::days(9)],
            ..FeedState::default()
        };
        // The same feed three times (read by three sources) counts once.
        let mut feeds: Vec<FeedState> = (0..56).map(|n| quiet(&format!("q{n}"))).collect();
        feeds.push(quiet("q0"));
        feeds.push(quiet("q0"));
        feeds.push(FeedState {
            url: "broken".into(),
            consecutive_failures: 1,
            ..FeedState::default()
        });
        let h = feed_health(&feeds, 3, now());
        assert_eq!(h.len(), 57);
        assert_eq!(
            health_line(&h).as_deref(),
            Some("56 feeds quiet, 1 failing")
        );
        assert_eq!(health_line(&[]), None);
    }

    #[test]
    fn since_names_the_start_day_with_a_year_only_when_needed() {
        let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(since(d(2026, 11, 20), d(2026, 11, 26)), "since Fri 20 Nov");
        assert_eq!(
            since(d(2025, 12, 30), d(2026, 1, 2)),
            "since Tue 30 Dec 2025"
        );
        assert_eq!(since(d(2026, 11, 26), d(2026, 11, 26)), "new today");
    }
}
