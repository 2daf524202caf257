//! `agg`: the command line. It parses arguments, loads pipelines and opens
//! the store, then hands over to the library crates; no pipeline logic lives
//! here.

mod cmd_digest;
mod cmd_doctor;
mod cmd_gc;
mod cmd_replay;
mod cmd_sagas;
mod cmd_score;
mod feeds_cmd;
mod progress;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use agg_core::dag::GraphFormat;
use agg_core::exec::{Observer, Quiet, RunOptions};
use agg_core::{ItemQuery, Loaded, Pipeline, RunStatus, Store};
use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "agg",
    version,
    about = "A personal news aggregator: a YAML pipeline of agents run as a DAG"
)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// Database: a SQLite file path, sqlite:// or postgres:// URL. Default: the pipeline's
    /// `store:`, else $XDG_DATA_HOME/agg/agg.db.
    #[arg(long, env = "AGG_DB", global = true)]
    db: Option<String>,
    /// Secrets file: KEY=VALUE lines, readable by you only (chmod 600),
    /// loaded into the environment first (variables already set win).
    /// Default: $AGG_SECRETS_FILE.
    #[arg(long, value_name = "FILE", global = true)]
    #[allow(dead_code)] // read before parsing, by `load_secrets`
    secrets: Option<PathBuf>,
    /// Pin the clock (RFC 3339, or a date read as 07:00 UTC) for sagas,
    /// digest windows, feed polling and the backlog: replay a past day, or
    /// run a demo over a snapshot of feeds.
    #[arg(long, value_name = "RFC3339", global = true)]
    now: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphFmt {
    Text,
    Dot,
    Mermaid,
}

#[derive(Subcommand)]
enum Command {
    /// Check pipeline files; exit 0 when valid, 1 on errors, 2 on usage errors.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutFormat::Text)]
        format: OutFormat,
    },
    /// Print a pipeline's agent graph.
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFmt::Text)]
        format: GraphFmt,
    },
    /// Run a pipeline once.
    Run(RunArgs),
    /// Run a pipeline again over the items one day brought, into an empty
    /// scratch store (`--db`), as of that day: no fetching, files under
    /// `--out`, the digest rendered instead of sent. The same every time.
    Replay(cmd_replay::ReplayArgs),
    /// Per agent of a pipeline: items pending, failed, parked, and when it
    /// last finished one.
    Status {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Put parked items back in line (all, one agent's, or one item), then
    /// run the pipeline so they are processed again.
    Retry {
        file: PathBuf,
        /// Only this agent's entries.
        #[arg(long)]
        agent: Option<String>,
        /// Only this item.
        #[arg(long)]
        item: Option<i64>,
        /// Reset only; the next run processes them.
        #[arg(long)]
        no_run: bool,
    },
    /// Apply retention now: old items lose vectors and bodies at half the
    /// period and are deleted (remembered as tombstones) at the full period;
    /// followed sagas' and liked items are kept. Runs of a pipeline with
    /// `retention_days:` do this once a day by themselves.
    Gc(GcArgs),
    /// List recent runs and what each agent did.
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
    /// List stored items, newest first.
    Items(ItemsArgs),
    /// Mark items (ids from `agg items`) read or unread, saved or not.
    /// Unlike `agg feedback`, this trains nothing.
    Mark {
        #[arg(value_enum)]
        kind: MarkKind,
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// List the agent kinds this build knows.
    Kinds,
    /// Which device the interest classifier would use, and why not the others.
    Doctor(cmd_doctor::DoctorArgs),
    /// Measure quality on labelled data.
    #[command(subcommand)]
    Eval(EvalCmd),
    /// Tell agg what you think of items (ids from `agg items`); the next
    /// scoring run learns from it.
    Feedback {
        #[arg(value_enum)]
        kind: FeedbackKind,
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// Find stored items by meaning (and by exact words).
    Search {
        query: String,
        /// Only items dated on or after this (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// How many results at most (the same default as the web UI's).
        #[arg(long, default_value_t = agg_app::search::LIMIT)]
        limit: usize,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        model: cmd_score::ModelArgs,
    },
    /// Ongoing stories: list, show, follow, mute, rename, merge, split.
    #[command(subcommand)]
    Sagas(cmd_sagas::SagasCmd),
    /// Feeds: health (default), OPML import and export, discovery, resume.
    Feeds(feeds_cmd::FeedsArgs),
    /// Build and send a pipeline's digest for today (or preview it).
    Digest(cmd_digest::DigestArgs),
    /// Work as one of several workers sharing a store (PostgreSQL for
    /// several machines): run the pipelines in cycles, each due feed fetched
    /// by one worker, the saga engine and each day's digest claimed once.
    Worker {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Seconds between cycles.
        #[arg(long, default_value_t = 60)]
        interval: u64,
        /// Stop after this many cycles (0: run until SIGTERM).
        #[arg(long, default_value_t = 0)]
        cycles: u64,
        /// This worker's name in the store's claims (default: host:pid).
        /// Give each worker a stable, distinct name: restarted under it, a
        /// worker takes its claims back at once and completes the cycle it
        /// was killed in, instead of waiting for its claims to expire.
        #[arg(long, env = "AGG_WORKER_NAME")]
        name: Option<String>,
    },
    /// Create or upgrade the store's tables (done on every open; this only
    /// opens the store and reports).
    Migrate,
    /// Print a pipeline's schedule in words and its next runs.
    Schedule {
        file: PathBuf,
        #[arg(long, default_value_t = 5)]
        count: usize,
    },
    /// Run pipelines on their schedules and serve saga feeds, the reader's
    /// own feed, /healthz and /metrics. Stops cleanly on SIGTERM.
    Serve(ServeArgs),
}

#[derive(Subcommand)]
enum EvalCmd {
    /// ROC AUC of the interest model with 0, 20, 100… labels (JSON lines).
    Interests(cmd_score::EvalInterests),
    /// Saga assignment against gold stories (BCubed, pairwise F1, ARI, NMI).
    Sagas(cmd_sagas::EvalSagas),
}

#[derive(Clone, Copy, ValueEnum)]
enum MarkKind {
    Read,
    Unread,
    Save,
    Unsave,
}

#[derive(Clone, Copy, ValueEnum)]
enum FeedbackKind {
    Like,
    Dislike,
    Click,
}

fn main() -> ExitCode {
    // glibc gives every thread its own malloc arena; with a parser thread per
    // core and many fetch tasks that multiplies peak memory for no speed
    // (ingest benchmark: 80 MiB → 55 MiB). Two arenas are plenty.
    // And glibc raises its mmap threshold each time a large block is freed,
    // so response bodies and item batches end up inside the heap, where
    // freeing them returns nothing to the system: a fixed 128 KiB threshold
    // (and trimming the heap's top past 128 KiB) keeps large blocks in their
    // own mappings (ingest benchmark: peak RSS −5 MiB, same time).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any thread starts; each option takes a count
    // of arenas or bytes.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
    }
    // `agg items | head` should end quietly, like any Unix tool, instead of
    // panicking on the closed pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread
    // starts has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Before parsing: `AGG_DB` and `${VAR}` in pipelines may come from it.
    if let Err(e) = load_secrets() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    init_logging(&cli);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("error: {}", agg_core::secrets::redact(&msg));
            ExitCode::from(1)
        }
    }
}

/// Loads the secrets file (`--secrets FILE`, else `$AGG_SECRETS_FILE`) into
/// the environment and registers every secret value, from it and from the
/// environment, for redaction. Runs before any thread exists, as setting
/// environment variables requires.
fn load_secrets() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let mut path = None;
    while let Some(a) = args.next() {
        if a == "--" {
            break;
        }
        if a == "--secrets" {
            path = args.next().map(PathBuf::from);
        } else if let Some(p) = a.to_str().and_then(|a| a.strip_prefix("--secrets=")) {
            path = Some(PathBuf::from(p));
        }
    }
    let path = path.or_else(|| std::env::var_os("AGG_SECRETS_FILE").map(PathBuf::from));
    if let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) {
        for (k, v) in agg_core::secrets::load_file(&path)? {
            agg_core::secrets::register(&v);
            if std::env::var_os(&k).is_none() {
                // SAFETY: no other thread exists yet (called first in main).
                unsafe { std::env::set_var(&k, &v) };
            }
        }
    }
    agg_core::secrets::register_env();
    Ok(())
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Log lines pass through redaction: a driver's debug line quoting a
    // URL with its password prints `***` instead.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| agg_core::secrets::Redacting(std::io::stderr()));
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(now) = &cli.now {
        agg_core::clock::pin(agg_core::clock::parse(now).context("--now")?);
    }
    match cli.command {
        Command::Validate { ref files, format } => Ok(validate(files, format)),
        Command::Graph { ref file, format } => {
            let Some((p, _)) = load_or_report(file)? else {
                return Ok(ExitCode::from(1));
            };
            let f = match format {
                GraphFmt::Text => GraphFormat::Text,
                GraphFmt::Dot => GraphFormat::Dot,
                GraphFmt::Mermaid => GraphFormat::Mermaid,
            };
            print!("{}", agg_core::dag::render(&p, f));
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(a) => run_cmd(cli.db.as_deref(), cli.log_format, a).await,
        Command::Gc(a) => gc_cmd(cli.db.as_deref(), a).await,
        Command::Replay(args) => cmd_replay::run(args, cli.db.as_deref()).await,
        Command::Status { ref file, json } => {
            let Some((p, _)) = load_or_report(file)? else {
                return Ok(ExitCode::from(1));
            };
            let store = open_store(cli.db.as_deref(), Some(&p)).await?;
            status(&p, store.as_ref(), json).await
        }
        Command::Retry {
            ref file,
            ref agent,
            item,
            no_run,
        } => {
            retry(
                cli.db.as_deref(),
                cli.log_format,
                file,
                agent.as_deref(),
                item,
                no_run,
            )
            .await
        }
        Command::Runs { limit, json } => {
            let store = open_store(cli.db.as_deref(), None).await?;
            runs(store.as_ref(), limit, json).await
        }
        Command::Items(a) => items_cmd(cli.db.as_deref(), a).await,
        Command::Mark { kind, ref ids } => {
            let store = open_store(cli.db.as_deref(), None).await?;
            let mark = match kind {
                MarkKind::Read => agg_core::ItemMark::Read,
                MarkKind::Unread => agg_core::ItemMark::Unread,
                MarkKind::Save => agg_core::ItemMark::Save,
                MarkKind::Unsave => agg_core::ItemMark::Unsave,
            };
            mark_items(store.as_ref(), ids, mark).await
        }
        Command::Eval(EvalCmd::Interests(ref a)) => cmd_score::eval_interests(a),
        Command::Eval(EvalCmd::Sagas(ref a)) => cmd_sagas::eval_sagas(a),
        Command::Feedback { kind, ref ids } => {
            let store = open_store(cli.db.as_deref(), None).await?;
            let kind = match kind {
                FeedbackKind::Like => agg_app::feedback::Kind::Like,
                FeedbackKind::Dislike => agg_app::feedback::Kind::Dislike,
                FeedbackKind::Click => agg_app::feedback::Kind::Click,
            };
            cmd_score::feedback(store.as_ref(), kind, ids).await
        }
        Command::Search {
            ref query,
            ref since,
            limit,
            json,
            ref model,
        } => {
            let store = open_store(cli.db.as_deref(), None).await?;
            let req = agg_app::search::Request {
                since: since.as_deref().map(parse_when).transpose()?,
                limit,
                ..agg_app::search::Request::new(query)
            };
            cmd_score::search(store.as_ref(), req, model, json).await
        }
        Command::Sagas(cmd) => {
            let store = open_store(cli.db.as_deref(), None).await?;
            cmd_sagas::run(store.as_ref(), cmd).await
        }
        Command::Feeds(args) => {
            let store = open_store(cli.db.as_deref(), None).await?;
            feeds_cmd::run(store.as_ref(), args).await
        }
        Command::Digest(args) => cmd_digest::run(args, cli.db.as_deref()).await,
        Command::Worker {
            ref files,
            interval,
            cycles,
            ref name,
        } => worker(cli.db.as_deref(), files, interval, cycles, name.as_deref()).await,
        Command::Migrate => {
            open_store(cli.db.as_deref(), None).await?;
            println!("store is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Schedule { ref file, count } => print_schedule(file, count),
        Command::Serve(a) => serve_cmd(cli.db.as_deref(), a).await,
        Command::Doctor(ref a) => cmd_doctor::run(a),
        Command::Kinds => {
            for k in agg_agents::registry().kinds() {
                println!("{:<13} {:<9} {}", k.name, k.role.as_str(), k.summary);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads every pipeline of `files`, printing diagnostics; `None` when one
/// has errors.
fn load_all(files: &[PathBuf]) -> anyhow::Result<Option<Vec<Pipeline>>> {
    let mut pipelines = Vec::new();
    for f in files {
        let Some((p, _)) = load_or_report(f)? else {
            return Ok(None);
        };
        pipelines.push(p);
    }
    Ok(Some(pipelines))
}

/// `agg retry`: puts failed or parked ledger entries back in line, then
/// runs the pipeline unless told not to.
async fn retry(
    db: Option<&str>,
    log_format: LogFormat,
    file: &Path,
    agent: Option<&str>,
    item: Option<i64>,
    no_run: bool,
) -> anyhow::Result<ExitCode> {
    let Some((p, _)) = load_or_report(file)? else {
        return Ok(ExitCode::from(1));
    };
    if let Some(a) = agent {
        anyhow::ensure!(
            p.agents.iter().any(|d| d.name == a),
            "no agent named `{a}` in {}",
            p.file.display()
        );
    }
    let store = open_store(db, Some(&p)).await?;
    let n = store.retry_stage(&p.name, agent, item).await?;
    println!("{n} failed or parked entries put back in line");
    if no_run || n == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    run(&p, store, RunOptions::default(), false, log_format).await
}

/// `agg worker`: runs the pipelines due, under a name in the leases.
async fn worker(
    db: Option<&str>,
    files: &[PathBuf],
    interval: u64,
    cycles: u64,
    name: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let Some(pipelines) = load_all(files)? else {
        return Ok(ExitCode::from(1));
    };
    let store = open_store(db, pipelines.first()).await?;
    let holder = match name.map(str::trim) {
        Some("") => anyhow::bail!("--name: a worker name cannot be empty"),
        Some(n) => n.to_string(),
        None => holder_id(),
    };
    agg_server::serve::work(
        pipelines,
        store,
        holder,
        std::time::Duration::from_secs(interval),
        cycles,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// `agg schedule`: the pipeline's schedule in words and its next runs.
fn print_schedule(file: &Path, count: usize) -> anyhow::Result<ExitCode> {
    let Some((p, _)) = load_or_report(file)? else {
        return Ok(ExitCode::from(1));
    };
    let Some(s) = &p.schedule else {
        println!(
            "{} has no schedule: it runs only when asked (agg run)",
            p.name
        );
        return Ok(ExitCode::SUCCESS);
    };
    println!(
        "{}: `{}` in {} — {}",
        p.name,
        s.expr,
        p.timezone,
        s.cron.describe()
    );
    for t in agg_server::schedule::next_runs(&s.cron, p.timezone, Utc::now(), count) {
        println!(
            "  {}  ({})",
            t.with_timezone(&p.timezone).format("%a %Y-%m-%d %H:%M %Z"),
            t.format("%Y-%m-%d %H:%M UTC")
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Address to listen on (loopback by default: nothing is exposed
    /// unless you ask).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: std::net::SocketAddr,
    /// URL readers use to reach this server (self links in feeds). The
    /// same variable gives an `email_digest` its links' base.
    #[arg(long, env = "AGG_PUBLIC_URL")]
    public_url: Option<String>,
    /// Runs missed while agg was down: last (one run), all, or none.
    #[arg(long, default_value = "last")]
    catch_up: String,
    /// Run every pipeline once right away, then follow the schedules.
    #[arg(long)]
    run_now: bool,
    /// Lowest score for /feed.xml.
    #[arg(long, default_value_t = 0.5)]
    feed_min_score: f32,
    /// Access token for the web UI (open it once as /?token=…).
    #[arg(long, env = "AGG_UI_TOKEN")]
    access_token: Option<String>,
    /// Private host, address or network (CIDR) the UI's "add this URL"
    /// may fetch from (repeatable or comma-separated; none by default).
    #[arg(
        long,
        env = "AGG_ALLOW_PRIVATE",
        value_delimiter = ',',
        value_name = "HOST|IP|CIDR"
    )]
    allow_private: Vec<String>,
    /// Turns on the Google Reader–compatible API at /api/greader for
    /// this user; the password comes from AGG_API_PASSWORD.
    #[arg(long, env = "AGG_API_USER")]
    api_user: Option<String>,
}

/// `agg serve`.
async fn serve_cmd(db: Option<&str>, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let ServeArgs {
        files,
        bind,
        public_url,
        catch_up,
        run_now,
        feed_min_score,
        access_token,
        allow_private,
        api_user,
    } = a;
    let catch_up: agg_server::schedule::CatchUp =
        catch_up.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let Some(pipelines) = load_all(&files)? else {
        return Ok(ExitCode::from(1));
    };
    let store = open_store(db, pipelines.first()).await?;
    let cfg = agg_server::serve::ServeConfig {
        bind,
        public_url: public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bind}")),
        catch_up,
        run_now,
        holder: holder_id(),
        feed_min_score,
        access_token: access_token.clone(),
        allow_private: allow_private.clone(),
        api_account: api_account(api_user.as_deref())?,
    };
    agg_server::serve::serve(pipelines, store, cfg).await?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
struct ItemsArgs {
    /// Only items from this agent.
    #[arg(long)]
    source: Option<String>,
    /// Only items dated on or after this (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only items dated before this (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Only items of this saga.
    #[arg(long)]
    saga: Option<u64>,
    #[arg(long, default_value_t = 50)]
    limit: u64,
    /// Print only the number of matching items.
    #[arg(long)]
    count: bool,
    /// Show each item's score and the reasons for it.
    #[arg(long)]
    explain: bool,
    /// List items that failed in some stage (or were parked after
    /// `max_attempts`), with the reason; `agg retry` offers them again.
    #[arg(long)]
    failed: bool,
    /// Only items not read yet (opened in the UI or `agg mark read`).
    #[arg(long)]
    unread: bool,
    /// Only saved items (☆ in the UI, `agg mark save`).
    #[arg(long)]
    saved: bool,
    #[arg(long)]
    json: bool,
}

/// `agg items`.
async fn items_cmd(db: Option<&str>, a: ItemsArgs) -> anyhow::Result<ExitCode> {
    let ItemsArgs {
        source,
        since,
        until,
        saga,
        limit,
        count,
        explain,
        failed,
        unread,
        saved,
        json,
    } = a;
    let store = open_store(db, None).await?;
    if failed {
        return failed_items(store.as_ref(), limit, json).await;
    }
    let q = ItemQuery {
        source: source.clone(),
        since: since.as_deref().map(parse_when).transpose()?,
        until: until.as_deref().map(parse_when).transpose()?,
        limit: Some(limit),
        saga,
        unread,
        saved,
        ..ItemQuery::default()
    };
    items(store.as_ref(), &q, count, explain, json).await
}

#[derive(clap::Args)]
struct GcArgs {
    /// A pipeline whose `retention_days:` (and `store:`) to use.
    file: Option<PathBuf>,
    /// Retention period in days (overrides the pipeline's).
    #[arg(long)]
    days: Option<u32>,
    #[arg(long)]
    json: bool,
}

/// `agg gc`.
async fn gc_cmd(db: Option<&str>, a: GcArgs) -> anyhow::Result<ExitCode> {
    let GcArgs { file, days, json } = a;
    let p = match file {
        Some(f) => match load_or_report(&f)? {
            Some((p, _)) => Some(p),
            None => return Ok(ExitCode::from(1)),
        },
        None => None,
    };
    let Some(days) = days.or(p.as_ref().and_then(|p| p.retention_days)) else {
        anyhow::bail!("no retention period: pass --days N or a pipeline with `retention_days:`");
    };
    anyhow::ensure!(days > 0, "--days must be at least 1");
    let store = open_store(db, p.as_ref()).await?;
    cmd_gc::gc(store.as_ref(), days, json).await
}

#[derive(clap::Args)]
struct RunArgs {
    file: PathBuf,
    /// Fetch and process but write nothing (store, files, mail).
    #[arg(long)]
    dry_run: bool,
    /// Run only this agent and the agents it depends on.
    #[arg(long)]
    only: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Fetch every feed now, ignoring polling schedules, for this run.
    #[arg(long)]
    refetch: bool,
    /// How far back stages look for stored items still pending for them:
    /// a duration (7d, 36h) or `all` (a new agent over the whole store).
    /// Default: the pipeline's `backlog:` (7 days).
    #[arg(long, value_name = "DURATION|all")]
    backlog: Option<String>,
}

/// `agg run`.
async fn run_cmd(db: Option<&str>, log_format: LogFormat, a: RunArgs) -> anyhow::Result<ExitCode> {
    let RunArgs {
        file,
        dry_run,
        only,
        json,
        refetch,
        backlog,
    } = a;
    let Some((p, _)) = load_or_report(&file)? else {
        return Ok(ExitCode::from(1));
    };
    let store = open_store(db, Some(&p)).await?;
    let opts = RunOptions {
        dry_run,
        only: only.clone(),
        refetch,
        backlog: parse_backlog(backlog.as_deref())?,
        ..RunOptions::default()
    };
    run(&p, store, opts, json, log_format).await
}

/// The reader API's account: a user needs a password, from the
/// environment (or the secrets file), never from the command line where
/// `ps` shows it.
fn api_account(user: Option<&str>) -> anyhow::Result<Option<agg_server::greader::ApiAccount>> {
    let Some(user) = user.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let password = std::env::var("AGG_API_PASSWORD").unwrap_or_default();
    if password.is_empty() {
        anyhow::bail!(
            "--api-user {user:?} needs a password: set AGG_API_PASSWORD (or put it in the secrets file)"
        );
    }
    Ok(Some(agg_server::greader::ApiAccount {
        user: user.to_string(),
        password,
    }))
}

/// This process among several sharing a store: host and pid.
fn holder_id() -> String {
    // gethostname(2), not /etc/hostname: containers and BSDs often have no
    // such file, and two workers would then differ by pid alone.
    let host = gethostname::gethostname();
    format!("{}:{}", host.to_string_lossy().trim(), std::process::id())
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads a pipeline, printing its diagnostics. `None` when it has errors.
pub(crate) fn load_or_report(file: &Path) -> anyhow::Result<Option<(Pipeline, Loaded)>> {
    let mut loaded = agg_core::pipeline::load(file, &agg_agents::registry(), &env_lookup)
        .with_context(|| format!("cannot read {}", file.display()))?;
    // Errors in full; a warning as its one located line, since a scheduled
    // run prints it every day (`agg validate` shows the source and the hint).
    for d in &loaded.diagnostics {
        if d.is_error() {
            eprintln!("{}", agg_core::secrets::redact(&d.render(&loaded.sources)));
        } else {
            let headline = d.headline();
            let line = agg_core::secrets::redact(&headline);
            eprintln!("{line} (`agg validate` says more)");
        }
    }
    Ok(loaded.pipeline.take().map(|p| (p, loaded)))
}

fn validate(files: &[PathBuf], format: OutFormat) -> ExitCode {
    let registry = agg_agents::registry();
    let mut any_error = false;
    let mut usage = false;
    let mut report = Vec::new();
    for f in files {
        match agg_core::pipeline::load(f, &registry, &env_lookup) {
            Err(e) => {
                usage = true;
                eprintln!("error: cannot read {}: {e}", f.display());
                report.push(serde_json::json!({"file": f, "ok": false, "error": e.to_string()}));
            }
            Ok(loaded) => {
                let errors = loaded.has_errors();
                any_error |= errors;
                match format {
                    OutFormat::Text => {
                        for d in &loaded.diagnostics {
                            eprintln!("{}", agg_core::secrets::redact(&d.render(&loaded.sources)));
                        }
                        let (e, w) = counts(&loaded);
                        if errors {
                            println!("{}: {e} error(s), {w} warning(s)", f.display());
                        } else {
                            println!("{}: ok ({w} warning(s))", f.display());
                        }
                    }
                    OutFormat::Json => report.push(serde_json::json!({
                        "file": f,
                        "ok": !errors,
                        "diagnostics": loaded.diagnostics,
                    })),
                }
            }
        }
    }
    if format == OutFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    }
    if usage {
        ExitCode::from(2)
    } else if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn counts(l: &Loaded) -> (usize, usize) {
    let e = l.diagnostics.iter().filter(|d| d.is_error()).count();
    (e, l.diagnostics.len() - e)
}

/// `--db` / `AGG_DB` first, then the pipeline's `store:` (relative to the
/// pipeline file), then the default path in the XDG data dir.
pub(crate) async fn open_store(
    db: Option<&str>,
    p: Option<&Pipeline>,
) -> anyhow::Result<Arc<dyn Store>> {
    let target = store_target(db, p);
    tracing::info!(store = %agg_store::redact(&target), "opening store");
    agg_store::open(&target).await
}

/// Which store a command uses: `--db`, else the pipeline's `store:`
/// (relative to the pipeline file), else the default database.
pub(crate) fn store_target(db: Option<&str>, p: Option<&Pipeline>) -> String {
    match (db, p.and_then(|p| p.store.as_deref())) {
        (Some(db), _) => db.to_string(),
        (None, Some(s)) => {
            let path = s.strip_prefix("sqlite://").unwrap_or(s);
            let is_url = s.contains("://") && !s.starts_with("sqlite://");
            if is_url || Path::new(path).is_absolute() {
                s.to_string()
            } else {
                let dir = p.and_then(|p| p.file.parent()).unwrap_or(Path::new("."));
                dir.join(path).display().to_string()
            }
        }
        (None, None) => agg_store::default_db_path().display().to_string(),
    }
}

/// `--backlog`: a duration, or `all`.
fn parse_backlog(s: Option<&str>) -> anyhow::Result<agg_core::exec::Backlog> {
    use agg_core::exec::Backlog;
    Ok(match s.map(str::trim) {
        None => Backlog::Pipeline,
        Some("all") => Backlog::All,
        Some(d) => Backlog::Window(agg_core::pipeline::parse_duration(d).ok_or_else(|| {
            anyhow::anyhow!("--backlog: `{d}` is neither a duration (7d, 36h, 2w) nor `all`")
        })?),
    })
}

/// `agg status`: what each agent has done and what waits for it.
async fn status(p: &Pipeline, store: &dyn Store, json: bool) -> anyhow::Result<ExitCode> {
    let rows = agg_core::exec::stage_status(p, store).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "  {:<16} {:<12} {:>8} {:>8} {:>7} {:>7}  last ok",
        "agent", "kind", "pending", "done", "failed", "parked"
    );
    for r in &rows {
        let last = r
            .last_ok
            .map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string());
        let pending = r.pending.map_or("-".into(), |n| n.to_string());
        println!(
            "  {:<16} {:<12} {:>8} {:>8} {:>7} {:>7}  {}",
            r.agent, r.kind, pending, r.done, r.failed, r.parked, last
        );
        if let Some(e) = &r.last_error {
            println!("      ! {}", agg_core::secrets::redact(e));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run(
    p: &Pipeline,
    store: Arc<dyn Store>,
    opts: RunOptions,
    json: bool,
    log_format: LogFormat,
) -> anyhow::Result<ExitCode> {
    let observer: Arc<dyn Observer> =
        if std::io::stderr().is_terminal() && log_format == LogFormat::Text && !json {
            Arc::new(progress::Bars::new(p))
        } else {
            Arc::new(Quiet)
        };
    let agg_app::run::Outcome { summary, retention } =
        agg_app::run(p, store, &opts, observer).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "run": summary.run,
                "status": summary.status,
                "agents": summary.outcomes,
            }))?
        );
    } else {
        let id = summary
            .run
            .map_or("dry run".to_string(), |r| format!("run {r}"));
        println!("{} {}: {}", p.name, id, summary.status.as_str());
        print_outcomes(&summary.outcomes);
    }
    cmd_gc::report(&retention);
    Ok(if summary.status == RunStatus::Ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn print_outcomes(outcomes: &[agg_core::AgentOutcome]) {
    println!(
        "  {:<16} {:<12} {:<8} {:>6} {:>6} {:>6} {:>8} {:>8}",
        "agent", "kind", "status", "in", "out", "new", "backlog", "ms"
    );
    for o in outcomes {
        println!(
            "  {:<16} {:<12} {:<8} {:>6} {:>6} {:>6} {:>8} {:>8}",
            o.agent,
            o.kind,
            o.status,
            o.items_in,
            o.items_out,
            o.items_new,
            o.items_backlog,
            o.duration_ms
        );
        for sk in &o.skips {
            println!("      - {}", agg_core::secrets::redact(sk));
        }
        for e in &o.errors {
            println!("      ! {}", agg_core::secrets::redact(e));
        }
    }
}

/// `agg items --failed`: items a stage could not handle, with the reason.
async fn failed_items(store: &dyn Store, limit: u64, json: bool) -> anyhow::Result<ExitCode> {
    let rows = store.stage_failures(None, limit).await?;
    if json {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no failed items");
    }
    for r in &rows {
        println!(
            "{:>6}  {}/{}  {} after {} attempt{}: {}",
            r.item_id,
            r.pipeline,
            r.agent,
            r.status.as_str(),
            r.attempts,
            if r.attempts == 1 { "" } else { "s" },
            agg_core::secrets::redact(r.reason.as_deref().unwrap_or("no reason recorded"))
        );
        println!("        {}", truncate(&r.title, 100));
    }
    Ok(ExitCode::SUCCESS)
}

async fn runs(store: &dyn Store, limit: u64, json: bool) -> anyhow::Result<ExitCode> {
    let runs = store.list_runs(limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("no runs yet");
    }
    for r in &runs {
        let took = r
            .finished
            .map(|f| format!("{:.1}s", (f - r.started).num_milliseconds() as f64 / 1000.0))
            .unwrap_or_else(|| "-".into());
        println!(
            "run {} {} {} {} ({took})",
            r.id,
            r.pipeline,
            r.started.format("%Y-%m-%d %H:%M:%S"),
            r.status.as_str()
        );
        print_outcomes(&r.agents);
    }
    Ok(ExitCode::SUCCESS)
}

async fn items(
    store: &dyn Store,
    q: &ItemQuery,
    count: bool,
    explain: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if count {
        let n = store
            .count_items(&ItemQuery {
                limit: None,
                ..q.clone()
            })
            .await?;
        if json {
            println!("{}", serde_json::json!({ "count": n }));
        } else {
            println!("{n}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let items = store.list_items(q).await?;
    if json {
        for i in &items {
            println!("{}", serde_json::to_string(i)?);
        }
    } else {
        for i in &items {
            let score = i.score.map_or("    ".to_string(), |s| format!("{s:.2}"));
            println!(
                "{:>6}  {}  {score}  {:<12}  {}",
                i.id.unwrap_or_default(),
                i.when().format("%Y-%m-%d %H:%M"),
                truncate(i.feed_title.as_deref().unwrap_or(&i.source), 12),
                i.title
            );
            if explain {
                if let Some(s) = &i.saga {
                    println!("          saga {}: {}", s.id, s.title);
                }
                if i.reasons.is_empty() {
                    println!("          (not scored: no `score` agent has seen it)");
                }
                for r in &i.reasons {
                    println!("          · {r}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `agg mark`: every id must name a stored item, else nothing changes
/// (as with `agg feedback`, a typo is an error, not a silent no-op).
async fn mark_items(
    store: &dyn Store,
    ids: &[i64],
    mark: agg_core::ItemMark,
) -> anyhow::Result<ExitCode> {
    let found = match agg_app::items::mark(store, ids, mark).await {
        Ok(found) => found,
        Err(agg_app::items::Error::Store(e)) => return Err(e.into()),
        Err(e) => anyhow::bail!("{e}"),
    };
    let what = match mark {
        agg_core::ItemMark::Read => "read",
        agg_core::ItemMark::Unread => "unread",
        agg_core::ItemMark::Save => "saved",
        agg_core::ItemMark::Unsave => "not saved",
    };
    for i in &found {
        println!("{what}: {} {}", i.id.unwrap_or_default(), i.title);
    }
    Ok(ExitCode::SUCCESS)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn parse_when(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Ok(d.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("`{s}` is not a date (YYYY-MM-DD) or RFC 3339 time"))?;
    Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}
