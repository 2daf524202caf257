//! `agg sagas …` and `agg eval sagas`: looking at and steering sagas.

use std::path::PathBuf;
use std::process::ExitCode;

use agg_agents::saga::{load_engine, lock_engine, save_engine};
use agg_core::Store;
use agg_saga::{SagaId, SagaStatus};
use anyhow::Context;
use clap::{Args, Subcommand};

use crate::cmd_score::ModelArgs;

#[derive(Subcommand)]
pub enum SagasCmd {
    /// Sagas, most recently active first.
    List {
        /// Include dormant, closed and merged sagas.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 30)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// One saga's timeline.
    Show {
        id: u64,
        #[arg(long)]
        json: bool,
    },
    /// Follow a saga: its items rise in scores and digests.
    Follow {
        id: u64,
    },
    Unfollow {
        id: u64,
    },
    /// Mute a saga: its items sink.
    Mute {
        id: u64,
    },
    Unmute {
        id: u64,
    },
    /// Give a saga a fixed title.
    Rename {
        id: u64,
        title: String,
    },
    /// Close a saga: matching items start a new one.
    Close {
        id: u64,
    },
    Reopen {
        id: u64,
    },
    /// Merge saga FROM into saga INTO.
    Merge {
        into: u64,
        from: u64,
    },
    /// Move items (by item id, as `agg items` shows) out of a saga into a new one.
    Split {
        id: u64,
        #[arg(required = true)]
        items: Vec<i64>,
    },
    /// Write the saga feeds (RSS and Atom) and an index page as static files.
    Export {
        #[arg(long)]
        dir: PathBuf,
        /// Where the folder will be served from (for the feeds' self links).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base_url: String,
    },
}

fn status(s: SagaStatus) -> &'static str {
    match s {
        SagaStatus::Active => "active",
        SagaStatus::Dormant => "dormant",
        SagaStatus::Closed => "closed",
        SagaStatus::Merged => "merged",
    }
}

pub async fn run(store: &dyn Store, cmd: SagasCmd) -> anyhow::Result<ExitCode> {
    if let SagasCmd::Export { dir, base_url } = &cmd {
        let files = agg_server::feeds::export(store, dir, base_url).await?;
        println!("wrote {} files to {}", files.len(), dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let lease = lock_engine(store).await?;
    let result = controls(store, cmd).await;
    lease.release().await?;
    result
}

async fn controls(store: &dyn Store, cmd: SagasCmd) -> anyhow::Result<ExitCode> {
    let mut engine = load_engine(store).await?;
    // Quiet sagas turn dormant with time, not only when items arrive.
    engine.sweep(agg_core::clock::now()?);
    match cmd {
        SagasCmd::List { all, limit, json } => {
            let mut sagas: Vec<_> = engine
                .sagas()
                .filter(|s| all || matches!(s.status, SagaStatus::Active))
                .collect();
            sagas.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
            sagas.truncate(limit);
            for s in sagas {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"id": s.id.0, "title": s.title, "status": status(s.status),
                            "followed": s.followed, "muted": s.muted, "items": s.item_count(),
                            "outlets": s.outlet_count(), "first_seen": s.first_seen, "last_seen": s.last_seen})
                    );
                } else {
                    let flags = format!(
                        "{}{}",
                        if s.followed { "★" } else { " " },
                        if s.muted { "∅" } else { " " }
                    );
                    println!(
                        "{:>5} {flags} {:<8} {:>3} items {:>2} outlets  {} – {}  {}",
                        s.id.0,
                        status(s.status),
                        s.item_count(),
                        s.outlet_count(),
                        s.first_seen.format("%Y-%m-%d"),
                        s.last_seen.format("%Y-%m-%d"),
                        s.title
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        SagasCmd::Show { id, json } => {
            let s = engine
                .saga(SagaId(id))
                .with_context(|| format!("no saga {id} (see `agg sagas list --all`)"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s.summary())?);
            } else {
                println!(
                    "saga {} · {} · {} items from {} outlets",
                    s.id.0,
                    s.title,
                    s.item_count(),
                    s.outlet_count()
                );
                println!(
                    "status {}{}{}",
                    status(s.status),
                    if s.followed { " · followed" } else { "" },
                    if s.muted { " · muted" } else { "" }
                );
                for m in s.timeline() {
                    println!(
                        "  {}  {:<18} {}",
                        m.time.format("%Y-%m-%d %H:%M"),
                        m.source.as_deref().unwrap_or("-"),
                        m.title
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        SagasCmd::Follow { id } => engine.follow(SagaId(id), true)?,
        SagasCmd::Unfollow { id } => engine.follow(SagaId(id), false)?,
        SagasCmd::Mute { id } => engine.mute(SagaId(id), true)?,
        SagasCmd::Unmute { id } => engine.mute(SagaId(id), false)?,
        SagasCmd::Rename { id, ref title } => engine.rename(SagaId(id), title)?,
        SagasCmd::Close { id } => engine.close(SagaId(id))?,
        SagasCmd::Reopen { id } => engine.reopen(SagaId(id))?,
        SagasCmd::Merge { into, from } => {
            engine.merge(SagaId(into), SagaId(from))?;
        }
        SagasCmd::Export { .. } => unreachable!("handled above"),
        SagasCmd::Split { id, ref items } => {
            // The engine knows items by their stable key; the user by id.
            let found = store.get_items(items).await?;
            anyhow::ensure!(
                found.len() == items.len(),
                "some item ids do not exist (see `agg items`)"
            );
            let keys: Vec<&str> = found.iter().map(|i| i.key.as_str()).collect();
            let new = engine.split(SagaId(id), &keys)?;
            println!("split into saga {}", new.0);
        }
    }
    save_engine(store, &mut engine).await?;
    println!("ok");
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct EvalSagas {
    /// JSONL rows `{id, date, title, text, url?, source?, story?}`.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write `id<TAB>saga` for every row.
    #[arg(long)]
    pub output: PathBuf,
    /// Match on words only, without sentence embeddings of the titles
    /// (embeddings are used by default when the model is installed).
    #[arg(long)]
    pub no_embeddings: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn eval_sagas(a: &EvalSagas) -> anyhow::Result<ExitCode> {
    let f = std::fs::File::open(&a.input)
        .with_context(|| format!("cannot open {}", a.input.display()))?;
    let mut rows = agg_saga::read_rows(std::io::BufReader::new(f))?;
    if !a.no_embeddings {
        use agg_score::Embedder;
        match a.model.embedder() {
            Ok(e) => {
                // Titles only: the engine's weights were tuned on title vectors.
                let titles: Vec<&str> = rows.iter().map(|r| r.title.as_str()).collect();
                let vectors = e.embed(&titles)?;
                for (r, v) in rows.iter_mut().zip(vectors) {
                    r.embedding = Some(v);
                }
            }
            Err(e) => eprintln!("warning: no sentence model ({e}); matching on words only"),
        }
    }
    let out = agg_saga::evaluate(&rows, agg_saga::SagaConfig::default());
    let file = std::fs::File::create(&a.output)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    agg_saga::write_tsv(std::io::BufWriter::new(file), &out.assignments)?;
    let rate = rows.len() as f64 / out.assign_seconds.max(1e-9);
    eprintln!(
        "{} rows → {} sagas; assignment {:.0} items/s",
        rows.len(),
        out.engine.live_saga_count(),
        rate
    );
    if let Some(m) = out.metrics {
        println!("{}", serde_json::to_string(&m)?);
    }
    Ok(ExitCode::SUCCESS)
}
