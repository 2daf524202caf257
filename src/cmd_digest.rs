//! `agg digest PIPELINE`: run a pipeline and send (or preview) its daily
//! digest now: `agg_app::digest::Job` sets the pipeline's `email_digest`
//! agents to the command's mode, and everything upstream of them runs as in
//! `agg run`. This file parses the flags and prints the outcome.

use std::path::PathBuf;
use std::process::ExitCode;

use agg_app::digest::{Mode, Outcome, Status};

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
    // The same loading and (redacted) reporting as every other command.
    let Some((p, _)) = crate::load_or_report(&args.pipeline)? else {
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
    let job = agg_app::digest::Job::new(p, mode, args.force)?;
    let store = crate::open_store(db, Some(job.pipeline())).await?;
    let ran = job.run(store).await?;
    for o in &ran.summary.outcomes {
        if o.status != agg_core::AgentStatus::Ok && !ran.digests.iter().any(|d| d.agent == o.agent)
        {
            for e in &o.errors {
                eprintln!("warning: agent `{}`: {e}", o.agent);
            }
        }
    }
    for d in &ran.digests {
        let name = &d.agent;
        if d.results.is_empty() {
            eprintln!("error: the digest `{name}` did not run (an agent it depends on failed?)");
        }
        for r in &d.results {
            match r {
                Err(e) => eprintln!("error: digest `{name}`: {e}"),
                Ok(o) if args.json => println!("{}", serde_json::to_string_pretty(o)?),
                Ok(o) => print_outcome(name, o, &args),
            }
        }
    }
    Ok(if ran.ok() {
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
