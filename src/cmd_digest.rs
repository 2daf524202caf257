//! `agg digest PIPELINE`: run a pipeline and send (or preview) its daily
//! digest now. The pipeline's `email_digest` agents are rebuilt with the
//! command's mode; everything upstream of them runs as in `agg run`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use agg_agents::email_digest::{Mode, Outcome, Status};
use agg_core::exec::{Quiet, RunOptions};
use agg_core::{BuildCtx, RunStatus};
use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct DigestArgs {
    /// The pipeline file (it must have an `email_digest` agent).
    pub pipeline: PathBuf,
    /// Write the digest's HTML here instead of sending it.
    #[arg(long, value_name = "FILE")]
    pub preview: Option<PathBuf>,
    /// Write the whole message (RFC 5322, .eml) here instead of sending it.
    #[arg(long, value_name = "FILE")]
    pub eml: Option<PathBuf>,
    /// Show what would be sent; record and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send again even if today's digest was already sent.
    #[arg(long)]
    pub force: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: DigestArgs, db: Option<&str>) -> anyhow::Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    let registry = agg_agents::registry();
    let mut loaded = agg_core::pipeline::load(&args.pipeline, &registry, &env)
        .with_context(|| format!("cannot read {}", args.pipeline.display()))?;
    for d in &loaded.diagnostics {
        eprintln!("{}", d.render(&loaded.sources));
    }
    let Some(mut p) = loaded.pipeline.take() else {
        return Ok(ExitCode::from(1));
    };
    let mode = if args.preview.is_some() || args.eml.is_some() {
        Mode::Preview {
            html: args.preview.clone(),
            eml: args.eml.clone(),
        }
    } else if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Send
    };
    let base_dir = p
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut reports = Vec::new();
    let pipeline_name = p.name.clone();
    for decl in p
        .agents
        .iter_mut()
        .filter(|a| a.kind == agg_agents::email_digest::KIND.name)
    {
        let ctx = BuildCtx {
            pipeline: pipeline_name.clone(),
            agent: decl.name.clone(),
            base_dir: base_dir.clone(),
            timezone: p.timezone,
        };
        let (agent, report) =
            agg_agents::email_digest::build_with(&decl.options, &ctx, mode.clone(), args.force)
                .map_err(|e| anyhow::anyhow!("agent `{}`: {}", decl.name, e.message))?;
        decl.agent = agent;
        reports.push((decl.name.clone(), report));
    }
    if reports.is_empty() {
        anyhow::bail!(
            "{} has no `email_digest` agent: nothing to send",
            args.pipeline.display()
        );
    }
    let store = crate::open_store(db, Some(&p)).await?;
    // Only the digests and what feeds them.
    let only = (reports.len() == 1).then(|| reports[0].0.clone());
    let opts = RunOptions {
        only,
        ..RunOptions::default()
    };
    let summary = agg_core::exec::run(&p, store, &opts, Arc::new(Quiet)).await?;
    let mut ok = summary.status == RunStatus::Ok;
    for o in &summary.outcomes {
        if o.status != "ok" && !reports.iter().any(|(n, _)| n == &o.agent) {
            for e in &o.errors {
                eprintln!("warning: agent `{}`: {e}", o.agent);
            }
        }
    }
    for (name, report) in &reports {
        let results = std::mem::take(&mut *report.lock().expect("report lock"));
        if results.is_empty() {
            ok = false;
            eprintln!("error: the digest `{name}` did not run (an agent it depends on failed?)");
        }
        for r in results {
            match r {
                Err(e) => {
                    ok = false;
                    eprintln!("error: digest `{name}`: {e:#}");
                }
                Ok(o) if args.json => println!("{}", serde_json::to_string_pretty(&o)?),
                Ok(o) => print_outcome(name, &o, &args),
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_outcome(name: &str, o: &Outcome, args: &DigestArgs) {
    let subject = o.subject.as_deref().unwrap_or("-");
    match o.status {
        Status::Sent => println!(
            "{name}: sent the digest of {} ({} items) to {}\n  subject: {subject}\n  message-id: {}",
            o.day,
            o.items.len(),
            o.to.join(", "),
            o.message_id.as_deref().unwrap_or("-")
        ),
        Status::Previewed => {
            println!(
                "{name}: digest of {} ({} items), not sent",
                o.day,
                o.items.len()
            );
            println!("  subject: {subject}");
            if let Some(p) = &args.preview {
                println!("  html: {}", p.display());
            }
            if let Some(p) = &args.eml {
                println!("  eml: {}", p.display());
            }
        }
        Status::DryRun => {
            println!(
                "{name}: dry run: would send the digest of {} ({} items) to {}",
                o.day,
                o.items.len(),
                o.to.join(", ")
            );
            println!("  subject: {subject}");
            for l in &o.summary {
                println!("  {l}");
            }
        }
        Status::Empty => println!("{name}: nothing new for {}", o.day),
        _ => {}
    }
    if let Some(n) = &o.note {
        println!("{name}: {n}");
    }
}
