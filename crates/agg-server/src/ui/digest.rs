//! The digest preview: what the next digest of each served pipeline would
//! contain if it were sent now, rendered by the digest's own selection and
//! templates, with nothing sent and nothing recorded.
//!
//! The pipeline's `email_digest` agent is rebuilt in preview mode (as `agg
//! digest --preview` does) and run alone, with no input, in a dry run: it
//! then offers exactly the items it would backfill from the store (unsent
//! items of its sources within its `backfill` window), selects and renders
//! them, and writes the HTML to a scratch file. A dry run records no run,
//! and preview mode never claims the day, sends, or marks an item sent.
//! Running the whole pipeline instead would fetch feeds and store items:
//! a GET must not change anything.

use std::sync::Arc;

use agg_agents::email_digest::{Mode, Status};
use agg_core::exec::{Quiet, RunOptions};
use agg_core::{AgentDecl, BuildCtx, Pipeline, Role, Store};

/// Largest digest HTML shown inline (a template gone wrong should not make
/// the page enormous).
const MAX_HTML: u64 = 2 * 1024 * 1024;

/// One digest agent's preview.
#[derive(Debug, serde::Serialize)]
pub struct Preview {
    pub pipeline: String,
    pub agent: String,
    pub day: String,
    pub subject: Option<String>,
    pub to: String,
    pub count: usize,
    pub items: Vec<i64>,
    pub summary: Vec<String>,
    pub note: Option<String>,
    /// The rendered email (a whole HTML document), when it has items.
    pub html: Option<String>,
    /// Why this digest could not be previewed.
    pub error: Option<String>,
}

impl Preview {
    fn failed(p: &Pipeline, agent: &str, why: String) -> Preview {
        Preview {
            pipeline: p.name.clone(),
            agent: agent.into(),
            day: String::new(),
            subject: None,
            to: String::new(),
            count: 0,
            items: Vec::new(),
            summary: Vec::new(),
            note: None,
            html: None,
            error: Some(why),
        }
    }
}

/// Previews of every `email_digest` agent of `pipelines`, in order.
pub async fn previews(pipelines: &[Pipeline], store: &Arc<dyn Store>) -> Vec<Preview> {
    let mut out = Vec::new();
    for p in pipelines {
        let dag = agg_core::dag::Dag::build(p);
        for (i, decl) in p.agents.iter().enumerate() {
            if decl.kind != agg_agents::email_digest::KIND.name {
                continue;
            }
            // The digest backfills from the sources it has seen in earlier
            // runs; a pipeline whose digest never ran has seen none, so the
            // preview names the sources upstream of it explicitly.
            let mut sources: Vec<String> = dag
                .ancestors(i)
                .into_iter()
                .filter(|&j| p.agents[j].role == Role::Source)
                .map(|j| p.agents[j].name.clone())
                .collect();
            sources.sort();
            let preview = match preview_one(p, decl, sources, store).await {
                Ok(pr) => pr,
                Err(e) => Preview::failed(p, &decl.name, format!("{e:#}")),
            };
            out.push(preview);
        }
    }
    out
}

async fn preview_one(
    p: &Pipeline,
    decl: &AgentDecl,
    sources: Vec<String>,
    store: &Arc<dyn Store>,
) -> anyhow::Result<Preview> {
    let mut options = decl.options.clone();
    if let Some(obj) = options.as_object_mut() {
        let mut listed: Vec<serde_json::Value> = obj
            .get("sources")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        for s in sources {
            if !listed.iter().any(|v| v.as_str() == Some(s.as_str())) {
                listed.push(s.into());
            }
        }
        obj.insert("sources".into(), listed.into());
    }
    let scratch = tempfile::tempdir()?;
    let html_path = scratch.path().join("digest.html");
    let ctx = BuildCtx {
        pipeline: p.name.clone(),
        agent: decl.name.clone(),
        base_dir: p
            .file
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| ".".into()),
        timezone: p.timezone,
    };
    let mode = Mode::Preview {
        html: Some(html_path.clone()),
        eml: None,
    };
    let (agent, report) = agg_agents::email_digest::build_with(&options, &ctx, mode, false)
        .map_err(|e| anyhow::anyhow!("agent `{}`: {}", decl.name, e.message))?;
    let alone = Pipeline {
        name: p.name.clone(),
        description: None,
        file: p.file.clone(),
        schedule: None,
        timezone: p.timezone,
        store: None,
        retention_days: None,
        agents: vec![AgentDecl {
            name: decl.name.clone(),
            kind: decl.kind.clone(),
            role: decl.role,
            inputs: Vec::new(),
            options,
            agent,
            loc: decl.loc,
        }],
    };
    let opts = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let summary = agg_core::exec::run(&alone, store.clone(), &opts, Arc::new(Quiet)).await?;
    let result = report
        .lock()
        .map_err(|_| anyhow::anyhow!("the digest agent panicked"))?
        .pop();
    let outcome = match result {
        Some(r) => r?,
        None => anyhow::bail!(
            "the digest did not run: {}",
            summary
                .outcomes
                .iter()
                .flat_map(|o| o.errors.iter().cloned())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    let html = if outcome.items.is_empty() || outcome.status != Status::Previewed {
        None
    } else {
        let len = std::fs::metadata(&html_path)?.len();
        anyhow::ensure!(
            len <= MAX_HTML,
            "the rendered digest is {len} bytes, more than the {MAX_HTML} shown here"
        );
        Some(std::fs::read_to_string(&html_path)?)
    };
    Ok(Preview {
        pipeline: p.name.clone(),
        agent: decl.name.clone(),
        day: outcome.day,
        subject: outcome.subject,
        to: outcome.to.join(", "),
        count: outcome.items.len(),
        items: outcome.items,
        summary: outcome.summary,
        note: outcome.note,
        html,
        error: None,
    })
}
