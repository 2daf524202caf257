//! The digest, sent or previewed: `agg digest`, `/ui/digest`, and the
//! digests of `agg replay`.
//!
//! A digest is never assembled by hand. Each `email_digest` agent is built
//! again from its own options by its kind's typed builder
//! (`agg_agents::email_digest::build_with`), with a [`Mode`] (send, dry
//! run, preview to files) in place of the normal `Send` — the same code
//! path `agg run` builds it through, so a preview selects, ranks and
//! renders exactly what a run would send. Nothing here edits an agent's
//! options. [`set_mode`] is that one step; [`Job`] runs a pipeline's
//! digests with what feeds them (`agg digest`), and [`preview`] runs one
//! digest alone on what the store holds for it (`/ui/digest`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agg_agents::email_digest::{self, Report};
use agg_core::exec::{Quiet, RunOptions, RunSummary};
use agg_core::{BuildCtx, DigestRecord, Pipeline, Store};

use crate::StoreError;

pub use agg_agents::email_digest::{Mode, Outcome, Status};

/// Largest rendered digest [`preview`] returns inline (a template gone
/// wrong should not make a page enormous).
pub const MAX_HTML: u64 = 2 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} has no `email_digest` agent: nothing to send", .0.display())]
    NoDigest(PathBuf),
    #[error("{} has no `email_digest` agent named `{agent}`", .file.display())]
    NoSuchDigest { file: PathBuf, agent: String },
    /// The agent's options do not build (validation would have said so).
    #[error("agent `{agent}`: {message}")]
    Options { agent: String, message: String },
    /// The pipeline file changed since it was served and no longer loads.
    #[error("{}: {why}", .file.display())]
    Reload { file: PathBuf, why: String },
    /// The executor could not run the pipeline at all.
    #[error("{0:#}")]
    Run(anyhow::Error),
    /// The digest agent was not run (an agent it depends on failed?).
    #[error("the digest did not run: {0}")]
    DidNotRun(String),
    /// The digest ran and failed (rendering, SMTP…).
    #[error("{0}")]
    Failed(String),
    /// The rendered preview is larger than [`MAX_HTML`].
    #[error("the rendered digest is {0} bytes, more than the {MAX_HTML} shown here")]
    TooLarge(u64),
    #[error("cannot read the rendered preview: {0}")]
    Scratch(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Rebuilds the `email_digest` agents of `p` (only the one named `only`,
/// if given) in the mode `mode_for(agent name)` returns, with `force`
/// (send again a day already sent). Returns each rebuilt agent's name and
/// the report it fills when it runs.
pub fn set_mode(
    p: &mut Pipeline,
    only: Option<&str>,
    force: bool,
    mut mode_for: impl FnMut(&str) -> Mode,
) -> Result<Vec<(String, Report)>, Error> {
    let base_dir = base_dir(p);
    let (pipeline, timezone) = (p.name.clone(), p.timezone);
    let mut reports = Vec::new();
    for decl in p
        .agents
        .iter_mut()
        .filter(|a| a.kind == email_digest::KIND.name && only.is_none_or(|name| a.name == name))
    {
        let ctx = BuildCtx {
            pipeline: pipeline.clone(),
            agent: decl.name.clone(),
            base_dir: base_dir.clone(),
            timezone,
        };
        let (agent, report) =
            email_digest::build_with(&decl.options, &ctx, mode_for(&decl.name), force).map_err(
                |e| Error::Options {
                    agent: decl.name.clone(),
                    message: e.message,
                },
            )?;
        decl.agent = agent;
        reports.push((decl.name.clone(), report));
    }
    Ok(reports)
}

fn base_dir(p: &Pipeline) -> PathBuf {
    p.file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// What one digest agent's run gave: usually one outcome; none when it did
/// not run; an error message per failed delivery.
pub struct Delivered {
    pub agent: String,
    pub results: Vec<Result<Outcome, String>>,
}

/// The result of [`Job::run`].
pub struct Ran {
    /// The run of the digests and what feeds them.
    pub summary: RunSummary,
    pub digests: Vec<Delivered>,
}

impl Ran {
    /// Whether every digest ran and succeeded (what an exit code says;
    /// failures upstream of a digest that still ran are warnings).
    pub fn ok(&self) -> bool {
        self.summary.status == agg_core::RunStatus::Ok
            && self
                .digests
                .iter()
                .all(|d| !d.results.is_empty() && d.results.iter().all(Result::is_ok))
    }
}

/// A pipeline whose digests are set to one mode, ready to run with what
/// feeds them (`agg digest`).
pub struct Job {
    pipeline: Pipeline,
    reports: Vec<(String, Report)>,
}

impl Job {
    /// Sets every digest of `p` to `mode`; [`Error::NoDigest`] when it has
    /// none.
    pub fn new(mut p: Pipeline, mode: Mode, force: bool) -> Result<Job, Error> {
        let reports = set_mode(&mut p, None, force, |_| mode.clone())?;
        if reports.is_empty() {
            return Err(Error::NoDigest(p.file.clone()));
        }
        Ok(Job {
            pipeline: p,
            reports,
        })
    }

    /// The pipeline, for choosing its store.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Runs the digests and the agents they depend on (only those, when
    /// there is one digest), as a run of the pipeline would.
    pub async fn run(self, store: Arc<dyn Store>) -> Result<Ran, Error> {
        let only = (self.reports.len() == 1).then(|| self.reports[0].0.clone());
        let opts = RunOptions {
            only,
            ..RunOptions::default()
        };
        let summary = agg_core::exec::run(&self.pipeline, store, &opts, Arc::new(Quiet))
            .await
            .map_err(Error::Run)?;
        let digests = self
            .reports
            .iter()
            .map(|(agent, report)| Delivered {
                agent: agent.clone(),
                results: take(report)
                    .into_iter()
                    .map(|r| r.map_err(|e| format!("{e:#}")))
                    .collect(),
            })
            .collect();
        Ok(Ran { summary, digests })
    }
}

fn take(report: &Report) -> Vec<anyhow::Result<Outcome>> {
    match report.lock() {
        Ok(mut r) => std::mem::take(&mut *r),
        Err(_) => vec![Err(anyhow::anyhow!("the digest agent panicked"))],
    }
}

/// What a digest would hold if it were sent now.
#[derive(Debug)]
pub struct Preview {
    pub outcome: Outcome,
    /// The rendered email (a whole HTML document), when it has items.
    pub html: Option<String>,
    /// The pipeline's latest digest record, sent or not: whether today's
    /// went out is the first thing a reader of a preview asks.
    pub last: Option<DigestRecord>,
}

/// Previews the digest agent `agent` of `p`: it is run alone in a dry run,
/// offered what the store holds pending for it (every item its inputs
/// passed that no digest delivered, within the backlog window), and
/// renders in memory. Nothing upstream runs (a preview must fetch and
/// store nothing), no run is recorded, the day is not claimed and no item
/// is marked sent.
///
/// `p` is the pipeline as served; it is loaded again from its file, since
/// a served pipeline is shared and its agents cannot be swapped.
pub async fn preview(p: &Pipeline, agent: &str, store: &Arc<dyn Store>) -> Result<Preview, Error> {
    let env = |name: &str| std::env::var(name).ok();
    let reload = |why: String| Error::Reload {
        file: p.file.clone(),
        why,
    };
    let mut loaded = agg_core::pipeline::load(&p.file, &agg_agents::registry(), &env)
        .map_err(|e| reload(format!("{e:#}")))?;
    let mut alone = loaded
        .pipeline
        .take()
        .ok_or_else(|| reload("no longer validates".into()))?;
    let scratch = tempfile::tempdir()?;
    let html_path = scratch.path().join("digest.html");
    let reports = set_mode(&mut alone, Some(agent), false, |_| Mode::Preview {
        html: Some(html_path.clone()),
        eml: None,
    })?;
    let Some((_, report)) = reports.into_iter().next() else {
        return Err(Error::NoSuchDigest {
            file: p.file.clone(),
            agent: agent.to_string(),
        });
    };
    let opts = RunOptions {
        dry_run: true,
        only: Some(agent.to_string()),
        alone: true,
        ..RunOptions::default()
    };
    let summary = agg_core::exec::run(&alone, store.clone(), &opts, Arc::new(Quiet))
        .await
        .map_err(Error::Run)?;
    let outcome = match take(&report).pop() {
        Some(r) => r.map_err(|e| Error::Failed(format!("{e:#}")))?,
        None => {
            return Err(Error::DidNotRun(
                summary
                    .outcomes
                    .iter()
                    .flat_map(|o| o.errors.iter().cloned())
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
    };
    let html = if outcome.items.is_empty() || outcome.status != Status::Previewed {
        None
    } else {
        let len = std::fs::metadata(&html_path)?.len();
        if len > MAX_HTML {
            return Err(Error::TooLarge(len));
        }
        Some(std::fs::read_to_string(&html_path)?)
    };
    let last = store
        .list_digests(&p.name, 1)
        .await
        .map_err(StoreError)?
        .into_iter()
        .next();
    Ok(Preview {
        outcome,
        html,
        last,
    })
}
