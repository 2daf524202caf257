//! The one trait every agent kind implements, and the table they register in.
//!
//! An agent kind is a typed options struct plus an [`Agent`] impl, exposed as
//! one [`KindDef`] in the table that `agg-agents` builds. The engine only ever
//! sees the table: it never names a kind. Sources, transforms and sinks differ
//! by their [`Role`] (declared in the table entry, used to check edges and to
//! decide what the executor does with an agent's output), not by their names.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::item::Item;
use crate::store::{RunId, StageMark, StageQuery, StageStatus, Store};
use crate::yaml::PathSeg;

/// Where an agent sits in the data flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Produces items from the outside world; takes no inputs. What a source
    /// emits is stored before anyone downstream sees it.
    Source,
    /// Reads items from its inputs and emits items.
    Transform,
    /// Reads items and delivers them somewhere; emits nothing, so it can never
    /// be another agent's input.
    Sink,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Transform => "transform",
            Role::Sink => "sink",
        }
    }

    /// Strict: a value agg did not write (in run history) is an error.
    pub fn parse(s: &str) -> anyhow::Result<Role> {
        Ok(match s {
            "source" => Role::Source,
            "transform" => Role::Transform,
            "sink" => Role::Sink,
            other => anyhow::bail!("unknown agent role `{other}`"),
        })
    }
}

/// What an agent needs to know at build time (validation builds every agent,
/// so building must not do I/O).
#[derive(Clone, Debug)]
pub struct BuildCtx {
    pub pipeline: String,
    pub agent: String,
    /// Directory of the file that declared the agent: relative paths in
    /// options are resolved against it, not against the current directory.
    pub base_dir: PathBuf,
    /// The pipeline's time zone: what "today" means for its agents.
    pub timezone: chrono_tz::Tz,
}

impl BuildCtx {
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.base_dir.join(p)
        }
    }
}

/// An options problem found while building an agent, with the path to the
/// offending option so validation can point at it in the YAML.
#[derive(Clone, Debug)]
pub struct OptionsError {
    pub path: Vec<PathSeg>,
    pub message: String,
    pub hint: Option<String>,
}

impl OptionsError {
    pub fn at(path: &[&str], message: impl Into<String>) -> Self {
        OptionsError {
            path: path.iter().map(|p| PathSeg::Key((*p).into())).collect(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Deserializes an agent's options into its typed struct, keeping the path of
/// the first problem. Option structs use `#[serde(deny_unknown_fields)]` so a
/// typo is an error, not a silently ignored key.
pub fn typed_options<O: DeserializeOwned>(value: &serde_json::Value) -> Result<O, OptionsError> {
    serde_path_to_error::deserialize(value).map_err(|e| OptionsError {
        path: crate::yaml::path_from_serde(e.path()),
        message: e.inner().to_string(),
        hint: None,
    })
}

/// Builds an agent from its options (validation calls it too, so it must
/// not do I/O).
pub type BuildFn = fn(&serde_json::Value, &BuildCtx) -> Result<Box<dyn Agent>, OptionsError>;

/// One entry of the agent table.
#[derive(Clone, Copy)]
pub struct KindDef {
    pub name: &'static str,
    pub role: Role,
    /// One line for `agg kinds` and for error hints.
    pub summary: &'static str,
    pub build: BuildFn,
}

/// The table of agent kinds. Built by `agg-agents`; the engine only looks
/// things up in it.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: Vec<KindDef>,
}

impl Registry {
    pub fn new(kinds: Vec<KindDef>) -> Self {
        Registry { kinds }
    }

    pub fn get(&self, name: &str) -> Option<&KindDef> {
        self.kinds.iter().find(|k| k.name == name)
    }

    pub fn kinds(&self) -> impl Iterator<Item = &KindDef> {
        self.kinds.iter()
    }
}

/// Everything an agent may use while it runs.
pub struct RunCtx {
    pub pipeline: String,
    pub agent: String,
    pub kind: String,
    pub run: Option<RunId>,
    pub store: Arc<dyn Store>,
    /// Fetch and compute, but write nothing anywhere (store, files, mail).
    pub dry_run: bool,
    /// Set when this run is one of several workers sharing the store: work
    /// that must be done once (fetching a due feed) is claimed in the store
    /// under this id first.
    pub worker: Option<String>,
    /// Fetch every feed now, whatever its polling schedule says (`--refetch`).
    pub refetch: bool,
    /// The agent's inputs and their roles: a sink that shows a view of the
    /// store (a page) asks the store for what these hold.
    pub inputs: Vec<(String, Role)>,
    /// Start of the backlog window: items first fetched before it are no
    /// longer offered or shown. `None`: the whole store.
    pub backlog_since: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) errors: Mutex<Vec<String>>,
    pub(crate) ledger: Mutex<LedgerNotes>,
}

/// What an agent said about the items it took, beyond passing them on:
/// the executor turns it into ledger entries when the agent ends.
#[derive(Default)]
pub(crate) struct LedgerNotes {
    /// Items that failed here, with why (each counts as an attempt).
    pub(crate) failed: Vec<(i64, String)>,
    /// Items left pending on purpose (not failed, not done), e.g. a digest
    /// already sent today keeps its items for tomorrow.
    pub(crate) deferred: Vec<i64>,
    /// Every item taken was left pending on purpose.
    pub(crate) defer_all: bool,
    /// What the agent skipped and why, for the run summary.
    pub(crate) skips: Vec<String>,
}

impl RunCtx {
    pub fn new(
        pipeline: &str,
        agent: &str,
        kind: &str,
        run: Option<RunId>,
        store: Arc<dyn Store>,
        dry_run: bool,
    ) -> Self {
        RunCtx {
            pipeline: pipeline.into(),
            agent: agent.into(),
            kind: kind.into(),
            run,
            store,
            dry_run,
            worker: None,
            refetch: false,
            inputs: Vec::new(),
            backlog_since: None,
            errors: Mutex::new(Vec::new()),
            ledger: Mutex::default(),
        }
    }

    /// Records that the agent could not handle one item: it stays pending
    /// and counts one attempt; after the pipeline's `max_attempts` it is
    /// parked (`agg items --failed`, `agg retry`).
    pub fn item_failed(&self, item_id: i64, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::warn!(agent = %self.agent, item = item_id, "{reason}");
        self.ledger
            .lock()
            .expect("ledger lock")
            .failed
            .push((item_id, reason));
    }

    /// Leaves these items pending without counting a failure: they are
    /// offered again on the next run.
    pub fn defer(&self, ids: impl IntoIterator<Item = i64>) {
        self.ledger
            .lock()
            .expect("ledger lock")
            .deferred
            .extend(ids);
    }

    /// Leaves every item this agent took pending, and says why in the run
    /// summary (a digest already sent today keeps its items for the next).
    pub fn defer_all(&self, why: impl Into<String>) {
        let mut l = self.ledger.lock().expect("ledger lock");
        l.defer_all = true;
        l.skips.push(why.into());
    }

    /// Says in the run summary what this agent skipped and why ("58 of 60
    /// feeds not due until 10:12").
    pub fn skip(&self, why: impl Into<String>) {
        let why = why.into();
        tracing::info!(agent = %self.agent, "{why}");
        self.ledger.lock().expect("ledger lock").skips.push(why);
    }

    /// Input agents that are sources, and those that are not: the two
    /// halves of a [`crate::store::StageQuery`].
    pub fn input_split(&self) -> (Vec<String>, Vec<String>) {
        let mut sources = Vec::new();
        let mut stages = Vec::new();
        for (name, role) in &self.inputs {
            if *role == Role::Source {
                sources.push(name.clone());
            } else {
                stages.push(name.clone());
            }
        }
        (sources, stages)
    }

    /// What this agent's inputs hold in the store within the backlog window,
    /// newest first, at most `limit`: the view a page shows. Read after the
    /// inbox is drained, so this run's items are in it.
    pub async fn view(&self, limit: u64) -> anyhow::Result<Vec<Item>> {
        let (source_inputs, stage_inputs) = self.input_split();
        self.store
            .stage_view(&crate::store::StageQuery {
                pipeline: self.pipeline.clone(),
                agent: self.agent.clone(),
                source_inputs,
                stage_inputs,
                since: self.backlog_since,
                after_id: 0,
                limit,
            })
            .await
    }

    /// Records a problem that does not stop the agent (one broken feed among
    /// many). The agent's outcome becomes "partial" and the run's exit code
    /// says something failed.
    pub fn error(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::warn!(agent = %self.agent, "{message}");
        self.errors.lock().expect("errors lock").push(message);
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().expect("errors lock").clone()
    }
}

/// The receiving end of an agent's inputs: first the stored items still
/// pending for the agent (earlier runs' leftovers, in id order, paged from
/// the store), then batches from all upstream agents, merged. It ends when
/// the pending pages are read and every upstream agent has finished. An item
/// is delivered once per run, and never when the ledger says this agent is
/// done with it.
pub struct Inbox {
    rx: Option<mpsc::Receiver<Vec<Item>>>,
    pending: Option<PendingPages>,
    /// Ids delivered to the agent this run, in order.
    pub(crate) taken: Vec<i64>,
    seen: HashSet<i64>,
    pub(crate) count: Arc<AtomicU64>,
    /// Of the items delivered, how many came from earlier runs.
    pub(crate) backlog: Arc<AtomicU64>,
}

/// Pages of pending items read from the store on demand, so a large backlog
/// never sits in memory at once.
pub(crate) struct PendingPages {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) query: StageQuery,
    pub(crate) exhausted: bool,
}

/// Items read per page of pending ids.
pub(crate) const PENDING_PAGE: u64 = 256;

impl Inbox {
    pub(crate) fn new(rx: Option<mpsc::Receiver<Vec<Item>>>) -> Self {
        Inbox {
            rx,
            pending: None,
            taken: Vec::new(),
            seen: HashSet::new(),
            count: Arc::default(),
            backlog: Arc::default(),
        }
    }

    pub(crate) fn with_pending(mut self, pending: PendingPages) -> Self {
        self.pending = Some(pending);
        self
    }

    /// Stops reading the store's backlog (the agent failed: what it did not
    /// take stays pending for the next run).
    pub(crate) fn stop_backlog(&mut self) {
        if let Some(p) = &mut self.pending {
            p.exhausted = true;
        }
    }

    pub async fn next(&mut self) -> Option<Vec<Item>> {
        match self.try_next().await {
            Ok(b) => b,
            Err(e) => {
                // A store error while reading the backlog: what was not read
                // stays pending; the live input still flows.
                tracing::error!("reading pending items failed: {e:#}");
                self.stop_backlog();
                Box::pin(self.next()).await
            }
        }
    }

    /// This run's items first, then the store's backlog. Live items are the
    /// fresher copies (rescored with today's interest model, boosted by a
    /// saga followed since): an item both pending and sent again this run
    /// is delivered once, as sent.
    async fn try_next(&mut self) -> anyhow::Result<Option<Vec<Item>>> {
        loop {
            if let Some(rx) = self.rx.as_mut() {
                let Some(mut batch) = rx.recv().await else {
                    self.rx = None;
                    continue;
                };
                batch.retain(|i| i.id.is_none_or(|id| !self.seen.contains(&id)));
                if batch.is_empty() {
                    continue;
                }
                return Ok(Some(self.deliver(batch)));
            }
            let Some(p) = self.pending.as_mut().filter(|p| !p.exhausted) else {
                return Ok(None);
            };
            let ids = p.store.pending_items(&p.query).await?;
            if (ids.len() as u64) < p.query.limit {
                p.exhausted = true;
            }
            if let Some(last) = ids.last() {
                p.query.after_id = *last;
            }
            let ids: Vec<i64> = ids
                .into_iter()
                .filter(|id| !self.seen.contains(id))
                .collect();
            if ids.is_empty() {
                continue;
            }
            let batch = p.store.get_items(&ids).await?;
            self.backlog
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            return Ok(Some(self.deliver(batch)));
        }
    }

    fn deliver(&mut self, batch: Vec<Item>) -> Vec<Item> {
        for i in &batch {
            if let Some(id) = i.id {
                self.seen.insert(id);
                self.taken.push(id);
            }
        }
        self.count.fetch_add(batch.len() as u64, Ordering::Relaxed);
        batch
    }

    /// Reads every remaining batch into one vector, for agents that need the
    /// whole input (a page, a file).
    pub async fn collect(&mut self) -> Vec<Item> {
        let mut all = Vec::new();
        while let Some(batch) = self.next().await {
            all.extend(batch);
        }
        all
    }
}

/// The sending end: delivers batches to every downstream agent, waiting when
/// one is full (backpressure). For sources it stores each batch first.
pub struct Outbox {
    txs: Vec<mpsc::Sender<Vec<Item>>>,
    persist: Option<Arc<dyn Store>>,
    /// For transforms: the ledger that records each item passed on, before
    /// it is sent (pipeline, agent).
    ledger: Option<(Arc<dyn Store>, String, String)>,
    /// Ids passed on this run.
    pub(crate) passed: HashSet<i64>,
    pub(crate) count: Arc<AtomicU64>,
    pub(crate) new_count: Arc<AtomicU64>,
}

impl Outbox {
    pub(crate) fn new(txs: Vec<mpsc::Sender<Vec<Item>>>, persist: Option<Arc<dyn Store>>) -> Self {
        Outbox {
            txs,
            persist,
            ledger: None,
            passed: HashSet::new(),
            count: Arc::default(),
            new_count: Arc::default(),
        }
    }

    pub(crate) fn with_ledger(
        mut self,
        store: Arc<dyn Store>,
        pipeline: &str,
        agent: &str,
    ) -> Self {
        self.ledger = Some((store, pipeline.into(), agent.into()));
        self
    }

    /// Closes every output, so consumers see the end of their input now.
    pub(crate) fn close(&mut self) {
        self.txs.clear();
    }

    /// Sends a batch downstream. Storage errors are returned (the agent
    /// decides whether that is fatal); a downstream agent that already
    /// stopped is simply no longer sent to.
    pub async fn send(&mut self, mut batch: Vec<Item>) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(store) = &self.persist {
            let new = store.upsert_items(&mut batch).await?;
            self.new_count.fetch_add(new, Ordering::Relaxed);
            // A key retention deleted for good (a tombstone) gets no id:
            // it is not stored again, so it is not passed on either.
            batch.retain(|i| i.id.is_some());
            if batch.is_empty() {
                return Ok(());
            }
        }
        if let Some((store, pipeline, agent)) = &self.ledger {
            let marks: Vec<StageMark> = batch
                .iter()
                .filter_map(|i| i.id)
                .filter(|id| !self.passed.contains(id))
                .map(|id| StageMark {
                    item_id: id,
                    status: StageStatus::Passed,
                    reason: None,
                    attempt: false,
                })
                .collect();
            if !marks.is_empty() {
                store.mark_stage(pipeline, agent, &marks, u32::MAX).await?;
            }
        }
        self.passed.extend(batch.iter().filter_map(|i| i.id));
        self.count.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let n = self.txs.len();
        let mut closed = Vec::new();
        for (i, tx) in self.txs.iter().enumerate() {
            let b = if i + 1 == n {
                std::mem::take(&mut batch)
            } else {
                batch.clone()
            };
            if tx.send(b).await.is_err() {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            self.txs.remove(i);
        }
        Ok(())
    }

    /// Sends a batch like [`Outbox::send`] and says, per feed
    /// ([`Item::feed`]), how many of its items the store had not seen
    /// before: what a source adds to each feed's item count. Empty when this
    /// outbox does not store (a dry run, an agent that is not a source).
    pub async fn send_counting_new(
        &mut self,
        mut batch: Vec<Item>,
    ) -> anyhow::Result<std::collections::HashMap<String, u64>> {
        let mut by_feed = std::collections::HashMap::new();
        let Some(store) = self.persist.clone().filter(|_| !batch.is_empty()) else {
            self.send(batch).await?;
            return Ok(by_feed);
        };
        let new = store.upsert_items(&mut batch).await?;
        self.new_count.fetch_add(new, Ordering::Relaxed);
        // Tombstoned keys (deleted by retention) are not passed on.
        batch.retain(|i| i.id.is_some());
        for i in batch.iter().filter(|i| i.is_new) {
            *by_feed
                .entry(i.feed.clone().unwrap_or_default())
                .or_default() += 1;
        }
        // Stored already: `send` must not store the batch a second time.
        self.persist = None;
        let sent = self.send(batch).await;
        self.persist = Some(store);
        sent?;
        Ok(by_feed)
    }
}

/// An agent: reads its inbox (empty for sources), writes its outbox (ignored
/// for sinks). Returning an error marks the agent failed; agents that do not
/// depend on it keep running.
#[async_trait]
pub trait Agent: Send + Sync {
    async fn run(&self, ctx: &RunCtx, input: &mut Inbox, output: &mut Outbox)
    -> anyhow::Result<()>;

    /// Whether the executor offers this agent, before the run's own items,
    /// the stored items still pending for it (the default: a stage that
    /// failed yesterday catches up today). A sink that shows a view of the
    /// store (a page) reads what it shows itself, and says no.
    fn takes_backlog(&self) -> bool {
        true
    }

    /// Problems found while building that do not stop the agent from
    /// running (a digest with no public URL sends without feedback links):
    /// `validate` shows them located, as warnings. Settings the environment
    /// may still supply at run time belong here, not in build errors.
    fn warnings(&self) -> Vec<OptionsError> {
        Vec::new()
    }
}
