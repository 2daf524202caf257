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

/// A saga as the digest shows it: "<title> — day N · K new · M outlets".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SagaHeader {
    pub id: u64,
    pub title: String,
    /// Days since the saga started, counting its first day as day 1.
    pub day: i64,
    /// Items of the saga not yet sent (before the caps).
    pub new: usize,
    /// Outlets that covered it.
    pub outlets: usize,
    pub followed: bool,
    pub muted: bool,
}

impl SagaHeader {
    /// The header line, e.g. `Port strike — day 4 · 3 new · 2 outlets`.
    pub fn line(&self) -> String {
        format!(
            "{} — day {} · {} new · {} {}",
            self.title,
            self.day,
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
    /// Candidates left out by the caps.
    pub held_back: usize,
}

impl Selection {
    /// Every item included, in display order.
    pub fn items(&self) -> Vec<&Item> {
        let mut v: Vec<&Item> = self.top.iter().collect();
        v.extend(self.followed.iter().flat_map(|g| &g.items));
        v.extend(self.sagas.iter().flat_map(|g| &g.items));
        v.extend(self.sources.iter().flat_map(|g| &g.items));
        v.extend(self.muted.iter().flat_map(|g| &g.items));
        v
    }

    /// Ids of every included item (what the digest record keeps).
    pub fn item_ids(&self) -> Vec<i64> {
        self.items().iter().filter_map(|i| i.id).collect()
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
    // Candidates: not sent, not too old, one per id/key, and one per link
    // or title (a copy stored from another source is the same story).
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

    // Saga headers from every candidate (the "K new" counts what is unsent).
    let mut headers: BTreeMap<u64, SagaHeader> = BTreeMap::new();
    let mut outlets: HashMap<u64, HashSet<String>> = HashMap::new();
    let mut first: HashMap<u64, DateTime<Utc>> = HashMap::new();
    for i in &cands {
        let Some(s) = &i.saga else { continue };
        let info = sagas.get(&s.id);
        let h = headers.entry(s.id).or_insert_with(|| SagaHeader {
            id: s.id,
            title: info
                .map(|x| x.title.clone())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| s.title.clone()),
            day: 1,
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
        }
    }

    // Caps, in rank order.
    let mut per_saga: HashMap<u64, usize> = HashMap::new();
    let mut chosen = Vec::new();
    let mut held_back = 0;
    for i in cands {
        if chosen.len() >= opts.max_items {
            held_back += 1;
            continue;
        }
        if let Some(s) = &i.saga {
            let n = per_saga.entry(s.id).or_default();
            if *n >= opts.max_per_saga {
                held_back += 1;
                continue;
            }
            *n += 1;
        }
        chosen.push(i);
    }

    let want = |s: Section| opts.sections.contains(&s);
    let mut sel = Selection {
        held_back,
        ..Selection::default()
    };
    let mut rest = Vec::new();
    // Followed sagas first, then muted ones aside, then the top stories.
    for i in chosen {
        let muted = is_muted(&i, sagas);
        if muted {
            push_saga(&mut sel.muted, &headers, i);
        } else if want(Section::Followed) && is_followed(&i, sagas) {
            push_saga(&mut sel.followed, &headers, i);
        } else if want(Section::Top) && sel.top.len() < opts.top {
            sel.top.push(i);
        } else {
            rest.push(i);
        }
    }
    // Sagas with several items here get a header; the rest go by source.
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
        if want(Section::Sagas) && multi {
            push_saga(&mut sel.sagas, &headers, i);
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
    // Sources with the best item first.
    sel.sources.sort_by(|a, b| {
        let best = |g: &SourceGroup| g.items.first().and_then(|i| i.score).unwrap_or(-1.0);
        best(b)
            .total_cmp(&best(a))
            .then_with(|| a.source.cmp(&b.source))
    });
    if want(Section::Health) {
        sel.health = feed_health(feeds, opts.silent_days, now);
    }
    sel.headers = headers;
    sel
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
    for f in feeds {
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
            "saga 3 — day 12 · 2 new · 3 outlets"
        );
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
    }
}
