//! The one trait every agent kind implements, and the table they register in.
//!
//! An agent kind is a typed options struct plus an [`Agent`] impl, exposed as
//! one [`KindDef`] in the table that `agg-agents` builds. The engine only ever
//! sees the table: it never names a kind. Sources, transforms and sinks differ
//! by their [`Role`] (declared in the table entry, used to check edges and to
//! decide what the executor does with an agent's output), not by their names.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::item::Item;
use crate::store::{RunId, Store};
use crate::yaml::PathSeg;

/// Where an agent sits in the data flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
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
    pub(crate) errors: Mutex<Vec<String>>,
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
            errors: Mutex::new(Vec::new()),
        }
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

/// The receiving end of an agent's inputs: batches from all upstream agents,
/// merged. It ends when every upstream agent has finished.
pub struct Inbox {
    rx: Option<mpsc::Receiver<Vec<Item>>>,
    pub(crate) count: Arc<AtomicU64>,
}

impl Inbox {
    pub(crate) fn new(rx: Option<mpsc::Receiver<Vec<Item>>>) -> Self {
        Inbox {
            rx,
            count: Arc::default(),
        }
    }

    pub async fn next(&mut self) -> Option<Vec<Item>> {
        let batch = self.rx.as_mut()?.recv().await?;
        self.count.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Some(batch)
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
    pub(crate) count: Arc<AtomicU64>,
    pub(crate) new_count: Arc<AtomicU64>,
}

impl Outbox {
    pub(crate) fn new(txs: Vec<mpsc::Sender<Vec<Item>>>, persist: Option<Arc<dyn Store>>) -> Self {
        Outbox {
            txs,
            persist,
            count: Arc::default(),
            new_count: Arc::default(),
        }
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
        }
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
}

/// An agent: reads its inbox (empty for sources), writes its outbox (ignored
/// for sinks). Returning an error marks the agent failed; agents that do not
/// depend on it keep running.
#[async_trait]
pub trait Agent: Send + Sync {
    async fn run(&self, ctx: &RunCtx, input: &mut Inbox, output: &mut Outbox)
    -> anyhow::Result<()>;
}
