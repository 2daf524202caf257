//! Fetching a list of feeds politely, shared by the `rss` and `opml` kinds:
//! per-host and global concurrency limits, retries with backoff, Retry-After,
//! permanent redirects, feed health and adaptive polling (see
//! `agg_fetch::schedule` for the rules).

use std::collections::HashMap;
use std::sync::Arc;

use agg_core::{FeedState, OptionsError, Outbox, RunCtx};
use agg_fetch::schedule::{self, Policy, Skip};
use agg_fetch::{FeedSource, FetchLimits, FetchOutcome, Fetcher, HostLimiter, RetryPolicy};
use futures::StreamExt;
use serde::Deserialize;

use crate::util::parse_duration;

/// The etiquette options every feed-fetching kind takes. Each has a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollOptions {
    /// Requests in flight at once, all hosts together.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Requests in flight at once to one host.
    #[serde(default = "default_per_host")]
    pub per_host: usize,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub connect_timeout_secs: Option<u64>,
    #[serde(default)]
    pub max_bytes: Option<u64>,
    #[serde(default)]
    pub max_redirects: Option<usize>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Non-public hosts, addresses or networks (CIDR) that redirects to
    /// other hosts may reach (the SSRF guard); empty by default.
    #[serde(default)]
    pub allow_private: Vec<String>,
    /// Retries of a transient error (timeout, 5xx, connection) within a run.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First retry waits about this long; each retry doubles it (jittered).
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// Consecutive failures before a feed is paused (0: never).
    #[serde(default = "default_pause_after")]
    pub pause_after: u32,
    /// Shortest polling interval, whatever the feed's rate (e.g. `15m`).
    #[serde(default)]
    pub min_interval: Option<String>,
    /// Longest polling interval (e.g. `12h`).
    #[serde(default)]
    pub max_interval: Option<String>,
    /// Skip feeds not due on their adaptive schedule. Holds after errors
    /// (backoff, Retry-After) and pauses are honoured either way.
    #[serde(default = "yes")]
    pub respect_schedule: bool,
    /// Items taken from one fetch of one feed, the newest first. A feed that
    /// carries its whole archive (thousands of items) would otherwise cost
    /// minutes of scoring on every change; the rest are skipped with a warning.
    #[serde(default = "default_max_items")]
    pub max_items: usize,
}

fn default_concurrency() -> usize {
    8
}
fn default_per_host() -> usize {
    2
}
fn default_retries() -> u32 {
    2
}
fn default_retry_base_ms() -> u64 {
    500
}
fn default_pause_after() -> u32 {
    5
}
fn yes() -> bool {
    true
}
fn default_max_items() -> usize {
    1000
}

/// A feed to fetch, with its own User-Agent when it needs one.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum FeedSpec {
    Url(String),
    Full {
        url: String,
        #[serde(default)]
        user_agent: Option<String>,
    },
}

impl FeedSpec {
    pub fn url(&self) -> &str {
        match self {
            FeedSpec::Url(u) | FeedSpec::Full { url: u, .. } => u,
        }
    }
    pub fn user_agent(&self) -> Option<&str> {
        match self {
            FeedSpec::Url(_) => None,
            FeedSpec::Full { user_agent, .. } => user_agent.as_deref(),
        }
    }
}

/// Validated options, ready to fetch with.
#[derive(Clone, Debug)]
pub struct PollConfig {
    pub limits: FetchLimits,
    pub retry: RetryPolicy,
    pub policy: Policy,
    pub concurrency: usize,
    pub per_host: usize,
    pub respect_schedule: bool,
    pub max_items: usize,
}

/// Reads the etiquette options from an agent's options object, leaving out
/// the kind's own keys (`own`), which it checks itself.
pub fn options(v: &serde_json::Value, own: &[&str]) -> Result<PollConfig, OptionsError> {
    let mut rest = v.clone();
    if let Some(m) = rest.as_object_mut() {
        for k in own {
            m.remove(*k);
        }
    }
    let o: PollOptions = agg_core::typed_options(&rest).map_err(|mut e| {
        // The kind's own keys are valid too: list them for "did you mean".
        if e.message.contains("expected one of") {
            for k in own {
                e.message.push_str(&format!(", `{k}`"));
            }
        }
        e
    })?;
    if o.concurrency == 0 {
        return Err(OptionsError::at(
            &["concurrency"],
            "`concurrency` must be at least 1",
        ));
    }
    if o.max_items == 0 {
        return Err(OptionsError::at(
            &["max_items"],
            "`max_items` must be at least 1",
        ));
    }
    if o.per_host == 0 {
        return Err(OptionsError::at(
            &["per_host"],
            "`per_host` must be at least 1",
        ));
    }
    let dur = |name: &str, v: &Option<String>, d: chrono::Duration| match v {
        None => Ok(d),
        Some(s) => parse_duration(s)
            .filter(|d| *d > chrono::Duration::zero())
            .ok_or_else(|| {
                OptionsError::at(&[name], format!("`{s}` is not a duration"))
                    .with_hint("use a number and a unit: 90s, 15m, 6h, 1d, 1w")
            }),
    };
    let dp = Policy::default();
    let policy = Policy {
        min_interval: dur("min_interval", &o.min_interval, dp.min_interval)?,
        max_interval: dur("max_interval", &o.max_interval, dp.max_interval)?,
        pause_after: o.pause_after,
    };
    if policy.max_interval < policy.min_interval {
        return Err(OptionsError::at(
            &["max_interval"],
            "`max_interval` is shorter than `min_interval`",
        ));
    }
    let d = FetchLimits::default();
    Ok(PollConfig {
        limits: FetchLimits {
            timeout_secs: o.timeout_secs.unwrap_or(d.timeout_secs),
            connect_timeout_secs: o.connect_timeout_secs.unwrap_or(d.connect_timeout_secs),
            max_bytes: o.max_bytes.unwrap_or(d.max_bytes),
            max_redirects: o.max_redirects.unwrap_or(d.max_redirects),
            user_agent: o.user_agent.unwrap_or(d.user_agent),
            allow_private: crate::util::allowance(&o.allow_private)?,
        },
        retry: RetryPolicy {
            retries: o.retries,
            base: std::time::Duration::from_millis(o.retry_base_ms),
            ..RetryPolicy::default()
        },
        policy,
        concurrency: o.concurrency,
        per_host: o.per_host,
        respect_schedule: o.respect_schedule,
        max_items: o.max_items,
    })
}

/// The `max` newest of `items` (by publication, else fetch time), in their
/// feed order.
fn newest(items: Vec<agg_core::Item>, max: usize) -> Vec<agg_core::Item> {
    if items.len() <= max {
        return items;
    }
    let mut by_age: Vec<usize> = (0..items.len()).collect();
    by_age.sort_by_key(|&i| std::cmp::Reverse(items[i].when()));
    let mut keep = vec![false; items.len()];
    for &i in &by_age[..max] {
        keep[i] = true;
    }
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(it, k)| k.then_some(it))
        .collect()
}

/// Checks that a feed URL is http(s).
pub fn check_url(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|u| u.scheme() == "http" || u.scheme() == "https")
}

enum Got {
    Skipped(Skip),
    NotModified(Option<String>),
    Parsed {
        feed: agg_fetch::ParsedFeed,
        etag: Option<String>,
        last_modified: Option<String>,
        moved_to: Option<String>,
    },
    Failed {
        msg: String,
        retry_after: Option<chrono::DateTime<chrono::Utc>>,
    },
}

/// How long a worker's claim on a feed lasts: longer than any fetch with its
/// retries, short enough that a dead worker's feeds are taken over soon.
const CLAIM_SECS: u64 = 600;

/// Fetches `feeds`, sends their items, and keeps each feed's state. Fails
/// only when every feed fetched failed.
pub async fn poll(
    ctx: &RunCtx,
    output: &mut Outbox,
    feeds: &[FeedSpec],
    cfg: &PollConfig,
) -> anyhow::Result<()> {
    let fetching = Fetching::new(ctx, cfg)?;
    // Every feed's state up front, in one query: the fetch futures below
    // must not touch the store, or a future holding a pooled connection
    // while it is not polled starves the loop that stores items.
    let mut known: HashMap<String, FeedState> = ctx
        .store
        .list_feeds()
        .await?
        .into_iter()
        .map(|f| (f.url.clone(), f))
        .collect();
    let order = interleave_hosts(feeds);
    // At most this many feeds fetched or parsed but not yet stored: memory
    // stays bounded however long the list, and a slow store slows fetching.
    let window = cfg.concurrency * 2;
    let specs: futures::stream::BoxStream<'_, (FeedSpec, Option<FeedState>)> = match &ctx.worker {
        None => futures::stream::iter(order.into_iter().map(|s| (s, None))).boxed(),
        Some(worker) => claimed_specs(ctx, worker, order, &known, cfg, window),
    };
    let fetching = &fetching;
    let fetches = specs
        .map(|(spec, fresh)| {
            let state = known.remove(spec.url());
            fetching.fetch(spec, fresh.or(state))
        })
        .buffer_unordered(window.max(1));
    // Fetching goes on while results are stored: the fetch stream is driven
    // by its own future, joined with the one that stores, and hands results
    // over through a short channel (see `HANDOVER`).
    //
    // When storing fails (a full disk, a write lock held elsewhere past the
    // busy timeout), the storing side returns its error and the fetching
    // side must stop too: otherwise it waits for ever on the full channel
    // and the run never ends. Two things make sure of that: the storing side
    // owns the receiver, so it is dropped (and every send fails) when that
    // side ends, and the two are joined with `try_join`, which drops the
    // fetching side, fetches in flight included, as soon as the other fails.
    let (tx, rx) = tokio::sync::mpsc::channel(HANDOVER);
    let producer = async move {
        futures::pin_mut!(fetches);
        while let Some(r) = fetches.next().await {
            if tx.send(r).await.is_err() {
                break;
            }
        }
        Ok::<(), anyhow::Error>(())
    };
    let consumer = Storing::new(ctx, output, cfg).run(rx);
    futures::future::try_join(producer, consumer).await?;
    Ok(())
}

/// Orders `feeds` with their hosts interleaved (a, b, c, a, b, c…), so that
/// a bounded window of fetches in flight is not filled by one host waiting
/// on `per_host`.
fn interleave_hosts(feeds: &[FeedSpec]) -> Vec<FeedSpec> {
    let mut by_host: Vec<(String, std::collections::VecDeque<FeedSpec>)> = Vec::new();
    for spec in feeds {
        let host = url::Url::parse(spec.url())
            .ok()
            .and_then(|u| u.host_str().map(|h| format!("{h}:{:?}", u.port())))
            .unwrap_or_default();
        match by_host.iter_mut().find(|(h, _)| *h == host) {
            Some((_, q)) => q.push_back(spec.clone()),
            None => by_host.push((host, [spec.clone()].into())),
        }
    }
    let mut order = Vec::with_capacity(feeds.len());
    while order.len() < feeds.len() {
        for (_, q) in by_host.iter_mut() {
            order.extend(q.pop_front());
        }
    }
    order
}

/// The feeds this worker fetches when it is one of several sharing the
/// store, as a stream of claimed chunks.
///
/// Fetch only the due feeds this worker claims, so each due feed is fetched
/// once per cycle, whatever the number of workers. Claims are taken a chunk
/// at a time, as fetching goes (all at once, the first worker to start
/// would take every feed and the others would idle); each worker starts at
/// its own place in the list so that they seldom contend for a chunk. The
/// claim outlives the fetch; the feed's next fetch time then keeps it from
/// being due again this cycle.
fn claimed_specs<'a>(
    ctx: &'a RunCtx,
    worker: &'a str,
    mut order: Vec<FeedSpec>,
    known: &HashMap<String, FeedState>,
    cfg: &PollConfig,
    window: usize,
) -> futures::stream::BoxStream<'a, (FeedSpec, Option<FeedState>)> {
    let refetch = ctx.refetch;
    let now = agg_core::clock::current();
    order.retain(|spec| {
        known.get(spec.url()).is_none_or(|st| {
            schedule::should_skip(st, now, cfg.respect_schedule)
                .is_none_or(|skip| refetch && !matches!(skip, Skip::Paused(_)))
        })
    });
    let chunk = window.max(8);
    if !order.is_empty() {
        let chunks = order.len().div_ceil(chunk);
        let start = worker
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
            % chunks;
        order.rotate_left(start * chunk);
    }
    let due = order.len();
    // When each feed was last fetched, as this worker saw it.
    let seen: Arc<HashMap<String, Option<chrono::DateTime<chrono::Utc>>>> = Arc::new(
        order
            .iter()
            .map(|s| {
                (
                    s.url().to_string(),
                    known.get(s.url()).and_then(|st| st.last_fetch),
                )
            })
            .collect(),
    );
    let chunks: Vec<Vec<FeedSpec>> = order.chunks(chunk).map(<[_]>::to_vec).collect();
    futures::stream::iter(chunks)
        .then(move |chunk| {
            let seen = seen.clone();
            async move {
                match claim_chunk(ctx, worker, chunk, &seen).await {
                    Ok(got) => {
                        tracing::info!(worker = %worker, due, claimed = got.len(), "feeds claimed");
                        got
                    }
                    // Left unclaimed, they are due again next cycle.
                    Err(e) => {
                        ctx.error(format!("cannot claim feeds: {e:#}"));
                        Vec::new()
                    }
                }
            }
        })
        .flat_map(futures::stream::iter)
        .boxed()
}

/// What every feed's fetch shares, built once per poll: each fetch borrows
/// it, so the fetch step needs no state of its own beyond the feed's.
struct Fetching<'a> {
    fetcher: Fetcher,
    limiter: HostLimiter,
    agent: Arc<String>,
    /// Parsing is CPU work: as many at once as there are cores (more only
    /// adds threads, and memory arenas with them).
    parsing: Arc<tokio::sync::Semaphore>,
    cfg: &'a PollConfig,
    refetch: bool,
}

impl<'a> Fetching<'a> {
    fn new(ctx: &RunCtx, cfg: &'a PollConfig) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Fetching {
            fetcher: Fetcher::new(cfg.limits.clone())?,
            limiter: HostLimiter::new(cfg.concurrency, cfg.per_host),
            agent: Arc::new(ctx.agent.clone()),
            parsing: Arc::new(tokio::sync::Semaphore::new(cores)),
            cfg,
            refetch: ctx.refetch,
        })
    }

    /// Fetches and parses one feed, unless its schedule skips it: the unit
    /// of work of the fetch window, which never touches the store.
    async fn fetch(&self, spec: FeedSpec, state: Option<FeedState>) -> (FeedState, Got) {
        let url = spec.url().to_string();
        let mut state = state.unwrap_or_default();
        state.url = url.clone();
        state.agent = Some((*self.agent).clone());
        let now = agg_core::clock::current();
        // `--refetch`: every feed now, except those paused for good
        // reason (`agg feeds resume` lifts that).
        if let Some(skip) = schedule::should_skip(&state, now, self.cfg.respect_schedule)
            && (!self.refetch || matches!(skip, Skip::Paused(_)))
        {
            return (state, Got::Skipped(skip));
        }
        let own;
        let fetcher = match spec.user_agent() {
            Some(ua) => match Fetcher::new(FetchLimits {
                user_agent: ua.to_string(),
                ..self.cfg.limits.clone()
            }) {
                Ok(f) => {
                    own = f;
                    &own
                }
                Err(e) => {
                    let msg = e.to_string();
                    return (
                        state,
                        Got::Failed {
                            msg,
                            retry_after: None,
                        },
                    );
                }
            },
            None => &self.fetcher,
        };
        // A feed that moved for good is fetched at its new address;
        // its items stay keyed by the configured URL.
        let target = state.moved_to.clone().unwrap_or_else(|| url.clone());
        let r = fetcher
            .get_polite(
                &target,
                &url,
                state.etag.as_deref(),
                state.last_modified.as_deref(),
                &self.limiter,
                &self.cfg.retry,
            )
            .await;
        let got = match r {
            Ok(FetchOutcome::NotModified { moved_to }) => Got::NotModified(moved_to),
            Ok(FetchOutcome::Body {
                bytes,
                final_url,
                moved_to,
                etag,
                last_modified,
                content_type,
            }) => match self.parse(url, bytes, final_url, content_type).await {
                Ok(feed) => Got::Parsed {
                    feed,
                    etag,
                    last_modified,
                    moved_to,
                },
                Err(msg) => Got::Failed {
                    msg,
                    retry_after: None,
                },
            },
            Err(e) => Got::Failed {
                retry_after: e.retry_after(),
                msg: e.to_string(),
            },
        };
        (state, got)
    }

    /// Parses a fetched body off the async threads (it is CPU work), in
    /// parallel with other feeds up to the `parsing` permits. `key` is the
    /// configured URL the items stay keyed by.
    async fn parse(
        &self,
        key: String,
        bytes: Vec<u8>,
        final_url: String,
        content_type: Option<String>,
    ) -> Result<agg_fetch::ParsedFeed, String> {
        let agent = self.agent.clone();
        let permit = self.parsing.clone().acquire_owned().await;
        let parsed = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            agg_fetch::parse_feed_from(
                &bytes,
                &FeedSource {
                    feed: &key,
                    base: Some(&final_url),
                    content_type: content_type.as_deref(),
                    source: &agent,
                },
                agg_core::clock::current(),
            )
        })
        .await;
        match parsed {
            Ok(Ok(feed)) => Ok(feed),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("parser crashed: {e}")),
        }
    }
}

/// The storing side of a poll: takes fetch results as they come, keeps the
/// counts for the run summary, and stores items and states in batches.
///
/// Items of several feeds are stored in one batch (one transaction), and
/// those feeds' states (validators) saved right after it: never before
/// their items. A batch is flushed when large, and whenever no fetch has
/// finished for a moment, so a slow feed never holds others' items back.
struct Storing<'a> {
    ctx: &'a RunCtx,
    output: &'a mut Outbox,
    cfg: &'a PollConfig,
    failed: usize,
    fetched: usize,
    skipped: usize,
    skips: SkipTally,
    pending_items: Vec<agg_core::Item>,
    pending_states: Vec<FeedState>,
}

impl<'a> Storing<'a> {
    fn new(ctx: &'a RunCtx, output: &'a mut Outbox, cfg: &'a PollConfig) -> Self {
        Storing {
            ctx,
            output,
            cfg,
            failed: 0,
            fetched: 0,
            skipped: 0,
            skips: SkipTally::default(),
            pending_items: Vec::new(),
            pending_states: Vec::new(),
        }
    }

    /// Takes results until the fetching side is done, then stores what is
    /// left and reports.
    async fn run(
        mut self,
        mut rx: tokio::sync::mpsc::Receiver<(FeedState, Got)>,
    ) -> anyhow::Result<()> {
        loop {
            let (state, got) = match tokio::time::timeout(FLUSH_IDLE, rx.recv()).await {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(_) => {
                    self.flush().await?;
                    continue;
                }
            };
            let Some(state) = self.record(state, got) else {
                continue;
            };
            self.pending_states.push(state);
            if self.pending_items.len() >= FLUSH_ITEMS || self.pending_states.len() >= FLUSH_FEEDS {
                self.flush().await?;
            }
        }
        self.flush().await?;
        self.finish()
    }

    /// Applies one feed's result to its state (and its items to the batch);
    /// `None` for a skipped feed, whose state is left as it was.
    fn record(&mut self, mut state: FeedState, got: Got) -> Option<FeedState> {
        let (ctx, cfg) = (self.ctx, self.cfg);
        let now = agg_core::clock::current();
        match got {
            Got::Skipped(why) => {
                self.skipped += 1;
                tracing::info!(agent = %ctx.agent, feed = %state.url, "skipped: {why}");
                self.skips.add(&why);
                return None;
            }
            Got::NotModified(moved) => {
                self.fetched += 1;
                note_move(&mut state, moved);
                schedule::record_success(&mut state, now, None, Vec::new(), None, &cfg.policy);
            }
            Got::Parsed {
                feed,
                etag,
                last_modified,
                moved_to,
            } => {
                self.fetched += 1;
                note_move(&mut state, moved_to);
                state.etag = etag;
                state.last_modified = last_modified;
                self.take_items(&mut state, feed, now);
            }
            Got::Failed { msg, retry_after } => {
                self.fetched += 1;
                self.failed += 1;
                ctx.error(format!("{}: {msg}", state.url));
                schedule::record_failure(&mut state, now, msg, retry_after, &cfg.policy);
                if state.paused && state.consecutive_failures == cfg.policy.pause_after {
                    ctx.error(format!(
                        "{}: paused after {} consecutive failures",
                        state.url, state.consecutive_failures
                    ));
                }
            }
        }
        Some(state)
    }

    /// Adds a parsed feed's newest `max_items` to the batch and records the
    /// success (its dates drive the adaptive schedule).
    fn take_items(
        &mut self,
        state: &mut FeedState,
        feed: agg_fetch::ParsedFeed,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let dates: Vec<_> = feed
            .items
            .iter()
            .filter_map(|i| i.published.or(i.updated))
            .collect();
        let (title, ttl) = (feed.title.clone(), feed.ttl);
        let total = feed.items.len();
        let items = newest(feed.items, self.cfg.max_items);
        if items.len() < total {
            tracing::warn!(
                feed = %state.url,
                total,
                kept = items.len(),
                "the feed carries more items than max_items; the newest are kept"
            );
        }
        self.pending_items.extend(items);
        schedule::record_success(state, now, title, dates, ttl, &self.cfg.policy);
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        flush(
            self.ctx,
            self.output,
            &mut self.pending_items,
            &mut self.pending_states,
        )
        .await
    }

    /// The run summary: skips by reason, and the error when every feed
    /// fetched failed.
    fn finish(self) -> anyhow::Result<()> {
        let (failed, fetched, skipped) = (self.failed, self.fetched, self.skipped);
        if skipped > 0 {
            tracing::info!(agent = %self.ctx.agent, skipped, fetched, "feeds skipped (paused or not due)");
            for line in self.skips.lines(skipped + fetched) {
                self.ctx.skip(line);
            }
        }
        if failed > 0 && failed == fetched {
            anyhow::bail!("all {failed} feed(s) fetched failed");
        }
        Ok(())
    }
}

/// Follows a permanent redirect from now on: the feed is fetched at its new
/// address, its items still keyed by the configured URL.
fn note_move(state: &mut FeedState, moved: Option<String>) {
    if let Some(m) = moved
        && state.moved_to.as_deref() != Some(&m)
        && m != state.url
    {
        tracing::info!(feed = %state.url, to = %m, "feed moved permanently; fetching the new address from now on");
        state.moved_to = Some(m);
    }
}

/// Claims the feeds of `chunk` no other worker holds, then reads their
/// states again: a feed another worker fetched (and gave back) since this
/// worker listed the feeds is given back untouched, so each due feed is
/// fetched once per cycle. The claimed ones come with their current state.
async fn claim_chunk(
    ctx: &RunCtx,
    worker: &str,
    chunk: Vec<FeedSpec>,
    seen: &HashMap<String, Option<chrono::DateTime<chrono::Utc>>>,
) -> anyhow::Result<Vec<(FeedSpec, Option<FeedState>)>> {
    let urls: Vec<String> = chunk.iter().map(|s| s.url().to_string()).collect();
    let ttl = std::time::Duration::from_secs(CLAIM_SECS);
    let claimed: std::collections::HashSet<String> = ctx
        .store
        .claim_feeds(&urls, worker, ttl)
        .await?
        .into_iter()
        .collect();
    let mut got = Vec::with_capacity(claimed.len());
    let mut fetched_meanwhile = Vec::new();
    for spec in chunk {
        if !claimed.contains(spec.url()) {
            continue;
        }
        let fresh = ctx.store.feed_state(spec.url()).await?;
        let before = seen.get(spec.url()).copied().flatten();
        if fresh.as_ref().and_then(|f| f.last_fetch) > before {
            fetched_meanwhile.push(spec.url().to_string());
        } else {
            got.push((spec, fresh));
        }
    }
    if !fetched_meanwhile.is_empty() {
        ctx.store
            .claim_feeds(&fetched_meanwhile, worker, std::time::Duration::ZERO)
            .await?;
    }
    Ok(got)
}

/// Feeds skipped in one poll, by reason, for the run summary: "58 of 60
/// feeds not due until 10:12 (`respect_schedule`)".
#[derive(Default)]
struct SkipTally {
    not_due: usize,
    first_due: Option<chrono::DateTime<chrono::Utc>>,
    backoff: usize,
    first_retry: Option<chrono::DateTime<chrono::Utc>>,
    paused: usize,
}

impl SkipTally {
    fn add(&mut self, why: &Skip) {
        let earliest = |t: &mut Option<chrono::DateTime<chrono::Utc>>, at| {
            *t = Some(t.map_or(at, |x: chrono::DateTime<chrono::Utc>| x.min(at)));
        };
        match why {
            Skip::NotDue(at) => {
                self.not_due += 1;
                earliest(&mut self.first_due, *at);
            }
            Skip::Backoff(at) => {
                self.backoff += 1;
                earliest(&mut self.first_retry, *at);
            }
            Skip::Paused(_) => self.paused += 1,
        }
    }

    fn lines(&self, total: usize) -> Vec<String> {
        let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or(String::new(), |t| {
                format!(" until {}", t.format("%Y-%m-%d %H:%M UTC"))
            })
        };
        let mut out = Vec::new();
        if self.not_due > 0 {
            out.push(format!(
                "{} of {total} feeds not due{} (`respect_schedule`; `agg run --refetch` fetches them now)",
                self.not_due,
                at(self.first_due)
            ));
        }
        if self.backoff > 0 {
            out.push(format!(
                "{} of {total} feeds backing off after errors{}",
                self.backoff,
                at(self.first_retry)
            ));
        }
        if self.paused > 0 {
            out.push(format!(
                "{} of {total} feeds paused after repeated failures (`agg feeds` says why; `agg feeds resume URL`)",
                self.paused
            ));
        }
        out
    }
}

/// A batch is stored once it has this many items or feeds… (500 items: a
/// batch is held three times over while stored — the items, sqlx's bound
/// copies, SQLite's — and 1,000 raised the ingest benchmark's peak RSS by
/// ~4.6 MiB for no measurable speed.)
const FLUSH_ITEMS: usize = 500;
const FLUSH_FEEDS: usize = 64;
/// …or when no fetch finished for this long.
const FLUSH_IDLE: std::time::Duration = std::time::Duration::from_millis(250);
/// Parsed feeds handed from the fetching side to the storing side and not
/// yet taken. Each holds all its items; the window of fetches in flight
/// already keeps work queued while a batch is stored, so a deeper channel
/// only holds more parsed feeds (ingest benchmark, 8 interleaved runs: a
/// channel as deep as the window, 16, peaked 3.5 MiB higher than 4 for
/// the same wall time).
const HANDOVER: usize = 4;

/// Stores the pending items, then saves the states of the feeds they came
/// from: a crash in between re-fetches rather than losing items.
async fn flush(
    ctx: &RunCtx,
    output: &mut Outbox,
    items: &mut Vec<agg_core::Item>,
    states: &mut Vec<FeedState>,
) -> anyhow::Result<()> {
    if !items.is_empty() {
        // The store says which items it had not seen: each feed's count
        // grows by those (items, not dates: many share one, some have none).
        let new = output.send_counting_new(std::mem::take(items)).await?;
        for s in states.iter_mut() {
            s.items_total += new.get(&s.url).copied().unwrap_or(0);
        }
    }
    let done: Vec<String> = states.iter().map(|s| s.url.clone()).collect();
    if !ctx.dry_run {
        ctx.store.save_feed_states(states).await?;
    }
    states.clear();
    // A worker gives its claims back once the feeds' states are saved
    // (renewing them for no time): their next fetch time now keeps them
    // from being fetched again too soon, and whichever worker is free when
    // they are due takes them, so the work is shared anew every cycle.
    if let Some(worker) = &ctx.worker
        && !done.is_empty()
        && !ctx.dry_run
    {
        ctx.store
            .claim_feeds(&done, worker, std::time::Duration::ZERO)
            .await?;
    }
    Ok(())
}
