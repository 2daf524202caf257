//! `agg serve`: each pipeline on its schedule, one run at a time across
//! processes (a lease in the store), plus the HTTP server; SIGTERM lets the
//! current runs finish, then exits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agg_app::run::Retention;
use agg_core::exec::{Observer, RunOptions};
use agg_core::{Pipeline, Store};
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::schedule::{CatchUp, missed, next_runs};

pub struct ServeConfig {
    pub bind: SocketAddr,
    pub public_url: String,
    pub catch_up: CatchUp,
    /// Run every pipeline once at start, whatever its schedule.
    pub run_now: bool,
    /// Identifies this process in leases (host and pid).
    pub holder: String,
    pub feed_min_score: f32,
    /// Access token for the web UI (feeds and signed links stay public).
    pub access_token: Option<String>,
    /// Non-public hosts, addresses or networks the UI's "add this URL" may
    /// fetch from (URLs from the browser are untrusted; none by default).
    pub allow_private: Vec<String>,
    /// The reader API's account (`/api/greader`); `None`: the API is off.
    pub api_account: Option<crate::greader::ApiAccount>,
}

/// How long a run may hold its pipeline's lease before others may assume
/// the holder died.
const LEASE: Duration = Duration::from_secs(2 * 3600);

fn state_key(p: &Pipeline) -> String {
    format!("schedule:{}", p.name)
}

async fn last_run(store: &dyn Store, p: &Pipeline) -> anyhow::Result<Option<DateTime<Utc>>> {
    Ok(store
        .load_state(&state_key(p))
        .await?
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|d| d.with_timezone(&Utc)))
}

/// Runs `p` for the schedule slot `slot` if this process gets the lease.
/// Returns whether it ran.
pub async fn run_slot(
    p: &Pipeline,
    store: &Arc<dyn Store>,
    holder: &str,
    slot: DateTime<Utc>,
    observer: Arc<dyn Observer>,
) -> anyhow::Result<bool> {
    let lease = format!("run:{}", p.name);
    if !store.try_lease(&lease, holder, LEASE).await? {
        tracing::info!(pipeline = %p.name, "another process is running it; skipping this slot");
        return Ok(false);
    }
    // Another process may have run this slot while we waited.
    if last_run(store.as_ref(), p)
        .await?
        .is_some_and(|l| l >= slot)
    {
        store.release_lease(&lease, holder).await?;
        return Ok(false);
    }
    tracing::info!(pipeline = %p.name, slot = %slot, "running");
    // Retention, when due, runs inside the lease too, so another server
    // sharing the store does not start this pipeline's next slot meanwhile.
    // (Passes of different pipelines may overlap; a pass is idempotent.)
    let result = agg_app::run(p, store.clone(), &RunOptions::default(), observer).await;
    store.save_state(&state_key(p), &slot.to_rfc3339()).await?;
    store.release_lease(&lease, holder).await?;
    let outcome = result?;
    tracing::info!(pipeline = %p.name, status = outcome.summary.status.as_str(), "run finished");
    log_retention(p, &outcome.retention);
    Ok(true)
}

/// Logs what retention did after a run of `p` (nothing when it was skipped
/// or found nothing to do, as `agg run` prints nothing then).
fn log_retention(p: &Pipeline, r: &Retention) {
    match r {
        Retention::Applied { days, report } if report.thinned + report.deleted > 0 => {
            tracing::info!(
                pipeline = %p.name, days, thinned = report.thinned,
                deleted = report.deleted, kept = report.kept, "retention applied"
            )
        }
        Retention::Failed { days, error } => {
            tracing::warn!(pipeline = %p.name, days, "retention failed (the run is done): {error:#}")
        }
        Retention::Applied { .. } | Retention::Skipped(_) => {}
    }
}

async fn pipeline_loop(
    pipelines: Arc<Vec<Pipeline>>,
    index: usize,
    store: Arc<dyn Store>,
    cfg: Arc<ServeConfig>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let p = &pipelines[index];
    let quiet: Arc<dyn Observer> = Arc::new(agg_core::exec::Quiet);
    if cfg.run_now {
        run_slot(p, &store, &cfg.holder, Utc::now(), quiet.clone()).await?;
    }
    let Some(schedule) = &p.schedule else {
        tracing::warn!(pipeline = %p.name, "no schedule: it runs only with --now");
        return Ok(());
    };
    // First start: nothing was missed; remember now as the starting point.
    if last_run(store.as_ref(), p).await?.is_none() {
        store
            .save_state(&state_key(p), &Utc::now().to_rfc3339())
            .await?;
    }
    loop {
        let now = Utc::now();
        let last = last_run(store.as_ref(), p).await?;
        for slot in missed(&schedule.cron, p.timezone, last, now, cfg.catch_up) {
            if *stop.borrow() {
                return Ok(());
            }
            run_slot(p, &store, &cfg.holder, slot, quiet.clone()).await?;
        }
        if cfg.catch_up == CatchUp::None
            && last.is_some_and(|l| {
                next_runs(&schedule.cron, p.timezone, l, 1)
                    .first()
                    .is_some_and(|n| *n <= now)
            })
        {
            // Skipped slots still move the clock forward.
            store.save_state(&state_key(p), &now.to_rfc3339()).await?;
        }
        let Some(next) = next_runs(&schedule.cron, p.timezone, Utc::now(), 1).pop() else {
            return Ok(());
        };
        tracing::info!(pipeline = %p.name, next = %next, "waiting");
        let wait = (next - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Runs until SIGTERM or SIGINT.
pub async fn serve(
    pipelines: Vec<Pipeline>,
    store: Arc<dyn Store>,
    cfg: ServeConfig,
) -> anyhow::Result<()> {
    let cfg = Arc::new(cfg);
    let (stop_tx, stop_rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(cfg.bind).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving");
    eprintln!("agg serve: listening on http://{}", listener.local_addr()?);
    let key = agg_digest::token::load_key(&agg_digest::token::default_key_dir())?;
    let app_state = crate::http::AppState {
        store: store.clone(),
        signer: agg_digest::token::Signer::new(key),
        public_url: cfg.public_url.clone(),
        feed_min_score: cfg.feed_min_score,
    };
    let pipelines = Arc::new(pipelines);
    let ui = crate::ui::router(
        crate::ui::UiState::new(
            app_state.clone(),
            pipelines.clone(),
            cfg.access_token.clone(),
        )
        .with_allow_private(&cfg.allow_private)
        .map_err(anyhow::Error::msg)?,
    );
    // Every request is checked for its `Host` first (DNS rebinding), and
    // connections are capped and timed (slow clients): see `crate::http`.
    let hosts = Arc::new(crate::http::AllowedHosts::new(
        listener.local_addr()?,
        &cfg.public_url,
    ));
    let api = crate::greader::router(app_state.clone(), cfg.api_account.clone());
    let app = crate::http::router(app_state).merge(ui).merge(api).layer(
        axum::middleware::from_fn_with_state(hosts, crate::http::check_host),
    );
    let limits = crate::http::HttpLimits::from_env()?;
    let http = tokio::spawn(crate::http::serve_bounded(
        listener,
        app,
        limits,
        stop_rx.clone(),
    ));
    let mut loops = Vec::new();
    for index in 0..pipelines.len() {
        loops.push(tokio::spawn(pipeline_loop(
            pipelines.clone(),
            index,
            store.clone(),
            cfg.clone(),
            stop_rx.clone(),
        )));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("agg serve: stopping (finishing current runs)");
    let _ = stop_tx.send(true);
    for l in loops {
        match l.await {
            Ok(Err(e)) => tracing::error!("{e:#}"),
            Err(e) => tracing::error!("{e}"),
            Ok(Ok(())) => {}
        }
    }
    http.await?;
    Ok(())
}

/// The store key where a worker notes the cycle it is in: set when a run
/// starts, emptied when it completes.
fn cycle_key(p: &Pipeline, holder: &str) -> String {
    format!("worker-cycle:{}:{holder}", p.name)
}

/// Whether every agent of a run got to the end. A source's failed feeds
/// (404, timeouts) do not count: they are fetched again when due anyway.
fn completed(r: &Result<agg_app::run::Outcome, agg_app::run::Error>) -> bool {
    r.as_ref().is_ok_and(|o| {
        o.summary
            .outcomes
            .iter()
            .all(|o| o.status != agg_core::AgentStatus::Failed || o.role == agg_core::Role::Source)
    })
}

/// Makes the feeds fetched successfully since `since` by `p`'s agents due
/// again, without validators, so that the next fetch returns every item.
///
/// Why: a source stores its items (and saves its feed's validators) before
/// the agents downstream have seen them. A worker killed (or cut off from
/// the database) between the two leaves items stored but never scored,
/// grouped or mailed, and a conditional GET would never bring them back.
/// Fetching those feeds in full once more sends the stored items down the
/// pipeline again: they are keyed, so nothing is stored twice, embeddings
/// are cached, the saga engine knows them, and a day's digest is claimed
/// once. Returns how many feeds were reset.
async fn replay_since(
    p: &Pipeline,
    store: &dyn Store,
    since: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let agents: std::collections::HashSet<&str> =
        p.agents.iter().map(|a| a.name.as_str()).collect();
    let mut n = 0;
    for mut f in store.list_feeds().await? {
        let ours = f.agent.as_deref().is_some_and(|a| agents.contains(a));
        if ours && f.last_success.is_some_and(|t| t >= since) {
            f.etag = None;
            f.last_modified = None;
            f.next_fetch = None;
            store.save_feed_state(&f).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// One worker cycle of one pipeline: first finish what this worker's last
/// cycle left unfinished (it was killed, or the database went away), then
/// run. The cycle's start is noted in the store under the worker's name and
/// cleared only when every agent got to the end.
async fn worker_cycle(
    p: &Pipeline,
    store: &Arc<dyn Store>,
    holder: &str,
    opts: &RunOptions,
) -> anyhow::Result<()> {
    let key = cycle_key(p, holder);
    if let Some(prev) = store.load_state(&key).await?
        && let Ok(since) = DateTime::parse_from_rfc3339(&prev)
    {
        // A little earlier than noted: the note is written just before the
        // run, and clocks of several machines differ slightly.
        let since = since.with_timezone(&Utc) - chrono::Duration::seconds(5);
        let n = replay_since(p, store.as_ref(), since).await?;
        tracing::warn!(
            pipeline = %p.name, worker = %holder, feeds = n, since = %since,
            "the last cycle did not finish: fetching its feeds again in full"
        );
    }
    store.save_state(&key, &Utc::now().to_rfc3339()).await?;
    let quiet: Arc<dyn Observer> = Arc::new(agg_core::exec::Quiet);
    let result = agg_app::run(p, store.clone(), opts, quiet).await;
    let done = completed(&result);
    match &result {
        Ok(o) => {
            tracing::info!(pipeline = %p.name, worker = %holder, status = o.summary.status.as_str(), complete = done, "cycle run");
            log_retention(p, &o.retention);
        }
        Err(e) => tracing::error!(pipeline = %p.name, "run failed: {e:#}"),
    }
    if done {
        store.save_state(&key, "").await?;
    }
    Ok(())
}

/// `agg worker`: runs the pipelines in cycles as one of several workers
/// sharing a store. Work that must happen once is claimed in the store
/// under `holder` (due feeds; the saga engine; the digest of a day), so N
/// workers split the fetching and never duplicate items or digests.
/// A worker restarted under the same `holder` (`agg worker --name`) takes
/// its claims back at once and first completes its unfinished cycle.
/// Database errors (a restart, a lost connection) fail one cycle, which the
/// next one completes; the pool reconnects on its own.
/// Stops after `cycles` cycles (0 = until SIGTERM).
pub async fn work(
    pipelines: Vec<Pipeline>,
    store: Arc<dyn Store>,
    holder: String,
    interval: Duration,
    cycles: u64,
) -> anyhow::Result<()> {
    let (stop_tx, mut stop) = watch::channel(false);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let _ = stop_tx.send(true);
    });
    let opts = RunOptions {
        worker: Some(holder.clone()),
        ..RunOptions::default()
    };
    let mut done = 0;
    let mut failures = 0;
    loop {
        let mut failed = false;
        for p in &pipelines {
            if *stop.borrow() {
                return Ok(());
            }
            // Only the store can fail here (noting the cycle, or finding
            // the last one's feeds): the cycle is retried, sooner than the
            // interval when the database went away.
            if let Err(e) = worker_cycle(p, &store, &holder, &opts).await {
                tracing::error!(pipeline = %p.name, worker = %holder, "cycle failed: {e:#}");
                failed = true;
            }
        }
        if failed {
            failures += 1;
            // A bounded run (`--cycles`) does not wait forever for a
            // database that never comes back.
            anyhow::ensure!(
                cycles == 0 || failures < 30,
                "giving up after {failures} failed cycles in a row (see the errors above)"
            );
        } else {
            failures = 0;
            done += 1;
        }
        if cycles > 0 && done >= cycles {
            return Ok(());
        }
        let wait = if failed {
            interval.min(Duration::from_secs(2))
        } else {
            interval
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}
