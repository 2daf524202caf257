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

use crate::agent::{Inbox, Outbox, Role, RunCtx};
use crate::dag::Dag;
use crate::pipeline::Pipeline;
use crate::store::{AgentOutcome, RunId, RunStatus, Store};

/// Knobs of one run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Fetch and process, write nothing (no store writes, no files, no mail).
    pub dry_run: bool,
    /// Run only this agent and the agents it depends on.
    pub only: Option<String>,
    /// Batches buffered per edge before the producer waits.
    pub channel_capacity: usize,
    /// This process's worker id when several workers share the store.
    pub worker: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dry_run: false,
            only: None,
            channel_capacity: 4,
            worker: None,
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
    let selected: HashSet<usize> = match &opts.only {
        Some(name) => {
            let i = p
                .agents
                .iter()
                .position(|a| &a.name == name)
                .ok_or_else(|| {
                    anyhow::anyhow!("--only: no agent named `{name}` in the pipeline")
                })?;
            dag.ancestors(i)
        }
        None => (0..p.agents.len()).collect(),
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
        let mut inbox = Inbox::new(receivers[i].take());
        let mut ctx = RunCtx::new(
            &p.name,
            &decl.name,
            &decl.kind,
            run_id,
            store.clone(),
            opts.dry_run,
        );
        ctx.worker = opts.worker.clone();
        let role = decl.role;
        let observer = observer.clone();
        // Agents are borrowed from the pipeline, so their futures are joined
        // in place (concurrently, on this task) rather than spawned; agents
        // that compute for long move that work to blocking threads themselves.
        let agent = &decl.agent;
        tasks.push(async move {
            observer.agent_started(&ctx.agent);
            let started = Instant::now();
            let result = agent.run(&ctx, &mut inbox, &mut outbox).await;
            // Keep draining so upstream agents never block on a full channel
            // after this one stopped early.
            while inbox.next().await.is_some() {}
            outbox.close();
            let mut errors = ctx.errors();
            let status = match &result {
                Err(e) => {
                    errors.push(format!("{e:#}"));
                    "failed"
                }
                Ok(()) if !errors.is_empty() => "partial",
                Ok(()) => "ok",
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
                role: role.as_str().to_string(),
                status: status.to_string(),
                items_in: inbox.count.load(Ordering::Relaxed),
                items_out: outbox.count.load(Ordering::Relaxed),
                items_new: outbox.new_count.load(Ordering::Relaxed),
                errors,
                duration_ms: started.elapsed().as_millis() as u64,
            };
            if let Some(run) = ctx.run
                && let Err(e) = ctx.store.record_agent(run, &outcome).await
            {
                tracing::error!(agent = %ctx.agent, "could not record outcome: {e:#}");
            }
            observer.agent_finished(&outcome);
            outcome
        });
    }
    // The original senders must go, or inboxes would never close.
    drop(senders);

    let outcomes = futures::future::join_all(tasks).await;
    let status = if outcomes.iter().all(|o| o.status == "ok") {
        RunStatus::Ok
    } else if outcomes.iter().all(|o| o.status == "failed") {
        RunStatus::Failed
    } else {
        RunStatus::Partial
    };
    if let Some(run) = run_id {
        store.finish_run(run, status).await?;
    }
    Ok(RunSummary {
        run: run_id,
        status,
        outcomes,
    })
}
