//! Running a pipeline: every agent is a task, edges are bounded channels.
//!
//! Agents run concurrently; a full channel makes its producer wait
//! (backpressure), so a fast source cannot flood memory ahead of a slow
//! scorer. An agent that fails closes its outputs: its consumers finish with
//! what they received, and agents that do not depend on it are unaffected.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::agent::{Inbox, Outbox, PENDING_PAGE, PendingPages, Role, RunCtx};
use crate::dag::Dag;
use crate::pipeline::Pipeline;
use crate::store::{
    AgentOutcome, AgentStatus, RunId, RunStatus, StageMark, StageQuery, StageStatus, Store,
};

/// Which stored items a run offers each stage besides its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backlog {
    /// The pipeline's `backlog:` window (default 7 days).
    #[default]
    Pipeline,
    /// Every stored item (`--backlog all`: a new agent over the whole store).
    All,
    /// Items first fetched within this long before now.
    Window(chrono::Duration),
}

/// Knobs of one run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Fetch and process, write nothing (no store writes, no files, no mail).
    pub dry_run: bool,
    /// Run only this agent and the agents it depends on.
    pub only: Option<String>,
    /// With `only`: run that agent alone, on what the store holds pending
    /// for it (its inputs are not run). A digest preview uses this: it must
    /// fetch nothing.
    pub alone: bool,
    /// Batches buffered per edge before the producer waits.
    pub channel_capacity: usize,
    /// This process's worker id when several workers share the store.
    pub worker: Option<String>,
    /// Which stored items pending for a stage it is offered.
    pub backlog: Backlog,
    /// Fetch every feed now, whatever its polling schedule says.
    pub refetch: bool,
    /// Agents not run at all; their consumers take what the store holds
    /// pending for them. A replay excludes the sources (no network: the
    /// day's items are already in its scratch store) and the sinks that
    /// reach outside agg.
    pub exclude: Vec<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dry_run: false,
            only: None,
            alone: false,
            channel_capacity: 4,
            worker: None,
            backlog: Backlog::Pipeline,
            refetch: false,
            exclude: Vec::new(),
        }
    }
}

/// Watches a run (the CLI draws progress bars with it).
pub trait Observer: Send + Sync {
    fn agent_started(&self, _agent: &str) {}
    fn agent_finished(&self, _outcome: &AgentOutcome) {}
}

/// A no-op observer.
pub struct Quiet;
impl Observer for Quiet {}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub run: Option<RunId>,
    pub status: RunStatus,
    pub outcomes: Vec<AgentOutcome>,
}

/// Runs a validated pipeline once.
pub async fn run(
    p: &Pipeline,
    store: Arc<dyn Store>,
    opts: &RunOptions,
    observer: Arc<dyn Observer>,
) -> anyhow::Result<RunSummary> {
    let dag = Dag::build(p);
    let selected = selected_agents(p, &dag, opts)?;
    let now = crate::clock::now()?;
    let backlog_since = match opts.backlog {
        Backlog::All => None,
        Backlog::Window(d) => Some(now - d),
        Backlog::Pipeline => Some(now - p.backlog),
    };
    let run_id = if opts.dry_run {
        None
    } else {
        Some(store.begin_run(&p.name).await?)
    };

    // One inbox per agent with inputs; upstream agents get clones of its sender.
    let mut senders: Vec<Option<mpsc::Sender<_>>> = vec![None; p.agents.len()];
    let mut receivers: Vec<Option<mpsc::Receiver<_>>> = (0..p.agents.len()).map(|_| None).collect();
    for &i in &selected {
        if !p.agents[i].inputs.is_empty() {
            let (tx, rx) = mpsc::channel(opts.channel_capacity.max(1));
            senders[i] = Some(tx);
            receivers[i] = Some(rx);
        }
    }

    let mut tasks = Vec::new();
    for i in dag.order() {
        if !selected.contains(&i) {
            continue;
        }
        let decl = &p.agents[i];
        let txs: Vec<_> = dag
            .consumers(i)
            .into_iter()
            .filter(|c| selected.contains(c))
            .filter_map(|c| senders[c].clone())
            .collect();
        let persist = (decl.role == Role::Source && !opts.dry_run).then(|| store.clone());
        let mut outbox = Outbox::new(txs, persist);
        if decl.role == Role::Transform && !opts.dry_run {
            outbox = outbox.with_ledger(store.clone(), &p.name, &decl.name);
        }
        let inputs = input_roles(p, i);
        let mut inbox = Inbox::new(receivers[i].take());
        if decl.role != Role::Source {
            let query = stage_query(p, i, backlog_since, PENDING_PAGE);
            inbox = inbox.with_pending(PendingPages {
                store: store.clone(),
                // A source that re-sends a stored item (a file read again)
                // passes it on again: the score is recomputed with the
                // current interest model (feedback since), and every stage
                // is idempotent. The ledger keeps what is pending, not a
                // ban on handling an item twice.
                query,
                exhausted: !decl.agent.takes_backlog(),
            });
        }
        let mut ctx = RunCtx::new(
            &p.name,
            &decl.name,
            &decl.kind,
            run_id,
            store.clone(),
            opts.dry_run,
        );
        (ctx.worker, ctx.refetch) = (opts.worker.clone(), opts.refetch);
        (ctx.inputs, ctx.backlog_since) = (inputs, backlog_since);
        let role = decl.role;
        let observer = observer.clone();
        let max_attempts = p.max_attempts;
        // Agents are borrowed from the pipeline, so their futures are joined
        // in place (concurrently, on this task) rather than spawned; agents
        // that compute for long move that work to blocking threads themselves.
        let agent = decl.agent.as_ref();
        tasks.push(run_agent(
            agent,
            ctx,
            inbox,
            outbox,
            role,
            max_attempts,
            observer,
        ));
    }
    // The original senders must go, or inboxes would never close.
    drop(senders);

    let outcomes = futures::future::join_all(tasks).await;
    let status = run_status(&outcomes);
    if let Some(run) = run_id {
        store.finish_run(run, status).await?;
    }
    Ok(RunSummary {
        run: run_id,
        status,
        outcomes,
    })
}

/// The agents a run runs: all, or `--only` one with what feeds it (or it
/// alone), less the `--exclude`d ones; an unknown name is an error.
fn selected_agents(p: &Pipeline, dag: &Dag, opts: &RunOptions) -> anyhow::Result<HashSet<usize>> {
    let mut selected: HashSet<usize> = match &opts.only {
        Some(name) => {
            let i = p
                .agents
                .iter()
                .position(|a| &a.name == name)
                .ok_or_else(|| {
                    anyhow::anyhow!("--only: no agent named `{name}` in the pipeline")
                })?;
            if opts.alone {
                HashSet::from([i])
            } else {
                dag.ancestors(i)
            }
        }
        None => (0..p.agents.len()).collect(),
    };
    for name in &opts.exclude {
        let i = p
            .agents
            .iter()
            .position(|a| &a.name == name)
            .ok_or_else(|| anyhow::anyhow!("no agent named `{name}` to leave out"))?;
        selected.remove(&i);
    }
    Ok(selected)
}

/// Runs one agent of a run to its end: drains its inbox so upstream never
/// blocks, records in the stage ledger what it handled, turns its result and
/// per-item failures into a status with redacted errors, and records the
/// outcome in the run's history.
async fn run_agent(
    agent: &dyn crate::agent::Agent,
    ctx: RunCtx,
    mut inbox: Inbox,
    mut outbox: Outbox,
    role: Role,
    max_attempts: u32,
    observer: Arc<dyn Observer>,
) -> AgentOutcome {
    observer.agent_started(&ctx.agent);
    let started = Instant::now();
    let result = agent.run(&ctx, &mut inbox, &mut outbox).await;
    // Keep draining so upstream agents never block on a full channel
    // after this one stopped early; the store's backlog is not read
    // any further (what was not taken stays pending).
    inbox.stop_backlog();
    while inbox.next().await.is_some() {}
    outbox.close();
    let mut errors = ctx.errors();
    let failure = result.as_ref().err().map(|e| format!("{e:#}"));
    let (marks, skips) = ledger_marks(role, &ctx, &inbox, &outbox, failure.as_deref());
    // Items the agent could not handle make its status partial: the
    // run's exit code says something failed, though it carried on.
    let item_failures: Vec<&StageMark> = marks.iter().filter(|m| m.attempt).collect();
    if let Some(first) = item_failures.first() {
        errors.push(format!(
            "{} item{} failed (retried next run, parked after {max_attempts} attempts;                      `agg items --failed`): {}",
            item_failures.len(),
            if item_failures.len() == 1 { "" } else { "s" },
            first.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    if !ctx.dry_run
        && role != Role::Source
        && !marks.is_empty()
        && let Err(e) = ctx
            .store
            .mark_stage(&ctx.pipeline, &ctx.agent, &marks, max_attempts)
            .await
    {
        // Nothing is lost: unrecorded items stay pending and are
        // offered again (every stage is idempotent).
        errors.push(format!("could not record what this agent handled: {e:#}"));
    }
    let status = match &failure {
        Some(e) => {
            errors.push(e.clone());
            AgentStatus::Failed
        }
        None if !errors.is_empty() => AgentStatus::Partial,
        None => AgentStatus::Ok,
    };
    // Run history is kept: an error that quotes a secret (a URL with
    // its password, a server echoing a login) must not keep it too.
    for e in &mut errors {
        if let std::borrow::Cow::Owned(clean) = crate::secrets::redact(e) {
            *e = clean;
        }
    }
    let outcome = AgentOutcome {
        agent: ctx.agent.clone(),
        kind: ctx.kind.clone(),
        role,
        status,
        items_in: inbox.count.load(Ordering::Relaxed),
        items_out: outbox.count.load(Ordering::Relaxed),
        items_new: outbox.new_count.load(Ordering::Relaxed),
        errors,
        duration_ms: started.elapsed().as_millis() as u64,
        items_backlog: inbox.backlog.load(Ordering::Relaxed),
        skips,
    };
    if let Some(run) = ctx.run
        && let Err(e) = ctx.store.record_agent(run, &outcome).await
    {
        tracing::error!(agent = %ctx.agent, "could not record outcome: {e:#}");
    }
    crash_point(&ctx.agent);
    observer.agent_finished(&outcome);
    outcome
}

/// A run is ok when every agent was, failed when every agent failed, and
/// partial otherwise.
fn run_status(outcomes: &[AgentOutcome]) -> RunStatus {
    if outcomes.iter().all(|o| o.status == AgentStatus::Ok) {
        RunStatus::Ok
    } else if outcomes.iter().all(|o| o.status == AgentStatus::Failed) {
        RunStatus::Failed
    } else {
        RunStatus::Partial
    }
}

/// An agent's inputs with their roles.
fn input_roles(p: &Pipeline, i: usize) -> Vec<(String, Role)> {
    p.agents[i]
        .inputs
        .iter()
        .filter_map(|n| p.agents.iter().find(|a| &a.name == n))
        .map(|a| (a.name.clone(), a.role))
        .collect()
}

/// What the store is asked for agent `i`'s pending items (or its view).
pub fn stage_query(
    p: &Pipeline,
    i: usize,
    since: Option<chrono::DateTime<chrono::Utc>>,
    limit: u64,
) -> StageQuery {
    let mut query = StageQuery {
        pipeline: p.name.clone(),
        agent: p.agents[i].name.clone(),
        since,
        after_id: 0,
        limit,
        ..StageQuery::default()
    };
    for (name, role) in input_roles(p, i) {
        if role == Role::Source {
            query.source_inputs.push(name);
        } else {
            query.stage_inputs.push(name);
        }
    }
    query
}

/// One agent's line in `agg status`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StageLine {
    pub agent: String,
    pub kind: String,
    pub role: Role,
    /// Items waiting for it within the pipeline's backlog window (`None`
    /// for sources, which take nothing).
    pub pending: Option<u64>,
    /// Items it passed on, delivered or dropped.
    pub done: u64,
    pub failed: u64,
    pub parked: u64,
    pub last_ok: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
}

/// Per agent of `p`: pending, done, failed and parked items, from the ledger.
pub async fn stage_status(p: &Pipeline, store: &dyn Store) -> anyhow::Result<Vec<StageLine>> {
    let since = Some(crate::clock::now()? - p.backlog);
    let counts = store.stage_counts(&p.name).await?;
    let mut out = Vec::new();
    for (i, decl) in p.agents.iter().enumerate() {
        let c = counts.iter().find(|c| c.agent == decl.name);
        let pending = if decl.role == Role::Source {
            None
        } else {
            // Counted by paging ids: no item body is read.
            let mut q = stage_query(p, i, since, 10_000);
            let mut n = 0u64;
            loop {
                let ids = store.pending_items(&q).await?;
                n += ids.len() as u64;
                match ids.last() {
                    Some(last) if ids.len() as u64 == q.limit => q.after_id = *last,
                    _ => break,
                }
            }
            Some(n)
        };
        out.push(StageLine {
            agent: decl.name.clone(),
            kind: decl.kind.clone(),
            role: decl.role,
            pending,
            done: c.map_or(0, |c| c.passed + c.dropped),
            failed: c.map_or(0, |c| c.failed),
            parked: c.map_or(0, |c| c.parked),
            last_ok: c.and_then(|c| c.last_ok),
            last_error: c.and_then(|c| c.last_error.clone()),
        });
    }
    Ok(out)
}

/// The ledger entries for what an agent took, once it has ended, and the
/// skips it reported. Passed-on items were recorded as they were sent.
/// - On success: a sink has delivered what it took; a transform dropped
///   what it took and did not pass on (a filter, a folded duplicate).
/// - Items the agent reported failed count one attempt each.
/// - Items it deferred, and on a failure of the whole agent everything it
///   did not pass on, stay pending: failed with the reason, no attempt
///   counted (an outage is not the item's fault and must not park it).
fn ledger_marks(
    role: Role,
    ctx: &RunCtx,
    inbox: &Inbox,
    outbox: &Outbox,
    failure: Option<&str>,
) -> (Vec<StageMark>, Vec<String>) {
    let notes = std::mem::take(&mut *ctx.ledger.lock().expect("ledger lock"));
    let mut marks = Vec::new();
    if role == Role::Source {
        return (marks, notes.skips);
    }
    let failed: std::collections::HashMap<i64, &str> = notes
        .failed
        .iter()
        .map(|(id, r)| (*id, r.as_str()))
        .collect();
    let deferred: HashSet<i64> = notes.deferred.iter().copied().collect();
    for (id, reason) in &failed {
        marks.push(StageMark {
            item_id: *id,
            status: StageStatus::Failed,
            reason: Some((*reason).to_string()),
            attempt: true,
        });
    }
    for &id in &inbox.taken {
        if outbox.passed.contains(&id) || failed.contains_key(&id) {
            continue;
        }
        if let Some(why) = failure {
            marks.push(StageMark {
                item_id: id,
                status: StageStatus::Failed,
                reason: Some(why.to_string()),
                attempt: false,
            });
        } else if notes.defer_all || deferred.contains(&id) {
            continue;
        } else {
            marks.push(StageMark {
                item_id: id,
                status: if role == Role::Sink {
                    StageStatus::Passed
                } else {
                    StageStatus::Dropped
                },
                reason: None,
                attempt: false,
            });
        }
    }
    (marks, notes.skips)
}

/// `AGG_TEST_CRASH_AFTER=AGENT` kills the process (as kill -9 would: no
/// clean-up, no run status) right after AGENT's work is recorded: the
/// crash-between-stages tests use it.
fn crash_point(agent: &str) {
    if std::env::var("AGG_TEST_CRASH_AFTER").is_ok_and(|v| v == agent) {
        eprintln!("AGG_TEST_CRASH_AFTER: aborting after `{agent}`");
        std::process::abort();
    }
}
