//! `agg sagas …` and `agg eval sagas`: looking at and steering sagas.

use std::path::PathBuf;
use std::process::ExitCode;

use agg_app::sagas::{Changed, Control};
use agg_core::Store;
use agg_saga::{SagaId, SagaStatus};
use anyhow::Context;
use clap::{Args, Subcommand};

use crate::cmd_score::ModelArgs;

#[derive(Subcommand)]
pub enum SagasCmd {
    /// Sagas, most recently active first.
    List {
        /// Include dormant, closed and merged sagas, and those archived
        /// after 30 quiet days.
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
    /// Undo a merge: the items that came with saga FROM leave saga INTO for a
    /// new saga, and the two are kept apart (see `agg sagas show INTO`).
    Unmerge {
        into: u64,
        from: u64,
    },
    /// The largest sagas with their sources, span and sample titles, and
    /// flags for the suspicious ones: a person can judge a store in a minute.
    Audit {
        /// How many sagas to list.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Flag sagas spanning more days than this.
        #[arg(long, default_value_t = 30)]
        max_span_days: i64,
        #[arg(long)]
        json: bool,
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
    let (id, control) = match cmd {
        SagasCmd::Follow { id } => (id, Control::Follow),
        SagasCmd::Unfollow { id } => (id, Control::Unfollow),
        SagasCmd::Mute { id } => (id, Control::Mute),
        SagasCmd::Unmute { id } => (id, Control::Unmute),
        SagasCmd::Rename { id, title } => (id, Control::Rename(title)),
        SagasCmd::Close { id } => (id, Control::Close),
        SagasCmd::Reopen { id } => (id, Control::Reopen),
        SagasCmd::Merge { into, from } => (into, Control::Merge { from }),
        SagasCmd::Unmerge { into, from } => (into, Control::Unmerge { from }),
        SagasCmd::Split { id, items } => (id, Control::Split { items }),
        read => return show(store, read).await,
    };
    let what = control.clone();
    match agg_app::sagas::control(store, id, control).await? {
        Changed::NewSaga(new) => match what {
            Control::Unmerge { from } => {
                println!("the items of saga {from} are now saga {}", new.0)
            }
            _ => println!("split into saga {}", new.0),
        },
        Changed::Done => {}
    }
    println!("ok");
    Ok(ExitCode::SUCCESS)
}

/// The commands that only read: no lease, nothing saved.
async fn show(store: &dyn Store, cmd: SagasCmd) -> anyhow::Result<ExitCode> {
    let engine = agg_app::sagas::read(store).await?;
    match cmd {
        SagasCmd::List { all, limit, json } => {
            // Active sagas are live; archived ones only the stored list has.
            let mut sagas: Vec<agg_saga::SagaListing> = if all {
                agg_app::sagas::list_all(store, &engine).await?
            } else {
                engine
                    .sagas()
                    .filter(|s| matches!(s.status, SagaStatus::Active))
                    .map(|s| s.listing())
                    .collect()
            };
            sagas.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
            sagas.truncate(limit);
            for s in sagas {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"id": s.id.0, "title": s.title, "status": status(s.status),
                            "followed": s.followed, "muted": s.muted, "items": s.item_count,
                            "outlets": s.outlet_count, "first_seen": s.first_seen, "last_seen": s.last_seen})
                    );
                } else {
                    let flags = format!(
                        "{}{}",
                        if s.followed { "★" } else { " " },
                        if s.muted { "∅" } else { " " }
                    );
                    println!(
                        "{:>5} {flags} {:<8} {:>3} items {:>2} outlets  {}  {}",
                        s.id.0,
                        status(s.status),
                        s.item_count,
                        s.outlet_count,
                        s.date_range,
                        s.title
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SagasCmd::Show { id, json } => {
            // A live saga as it is (a merged one shows where it went); an
            // archived one from the archive.
            let archived = match engine.saga(SagaId(id)) {
                Some(_) => None,
                None => agg_agents::saga::find_saga(store, &engine, SagaId(id)).await?,
            };
            let s = engine
                .saga(SagaId(id))
                .or(archived.as_ref())
                .with_context(|| format!("no saga {id} (see `agg sagas list --all`)"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s.summary())?);
            } else {
                println!(
                    "saga {} · {} · {} · {} items from {} outlets",
                    s.id.0,
                    s.title,
                    s.date_range(),
                    s.item_count(),
                    s.outlet_count()
                );
                for m in &s.merges {
                    println!(
                        "merged with saga {} \"{}\" ({} items, {}{}; undo: agg sagas unmerge {} {})",
                        m.from.0,
                        m.from_title,
                        m.items.len(),
                        if m.auto { "automatically" } else { "by you" },
                        m.at.map(|t| format!(", {}", t.format("%-d %b %Y %H:%M")))
                            .unwrap_or_default(),
                        s.id.0,
                        m.from.0
                    );
                }
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
            Ok(ExitCode::SUCCESS)
        }
        SagasCmd::Audit {
            limit,
            max_span_days,
            json,
        } => {
            audit(&engine, limit, max_span_days, json);
            Ok(ExitCode::SUCCESS)
        }
        _ => unreachable!("changes are handled by `run`"),
    }
}

/// Why a saga looks wrong, for `agg sagas audit`.
fn audit_flags(s: &agg_saga::Saga, total: usize, max_span_days: i64) -> Vec<String> {
    let mut flags = Vec::new();
    let n = s.item_count();
    if n > 1 && s.feed_count().max(s.outlet_count()) <= 1 {
        flags.push("one feed only".to_string());
    }
    let span = (s.last_seen - s.first_seen).num_days();
    if span > max_span_days {
        flags.push(format!("spans {span} days"));
    }
    if s.langs.len() > 1 {
        let l: Vec<String> = s.langs.iter().map(|(k, v)| format!("{k} {v}")).collect();
        flags.push(format!("mixed languages ({})", l.join(", ")));
    }
    if total > 0 && n * 20 > total {
        flags.push(format!(
            "holds {:.1}% of all items",
            100.0 * n as f64 / total as f64
        ));
    }
    if s.merges.iter().any(|m| m.auto) {
        flags.push(format!(
            "{} automatic merges",
            s.merges.iter().filter(|m| m.auto).count()
        ));
    }
    flags
}

/// Five titles spread over the saga's timeline (first, last and between).
fn sample_titles(s: &agg_saga::Saga) -> Vec<String> {
    let t = s.timeline();
    let n = t.len();
    let mut idx: Vec<usize> = if n <= 5 {
        (0..n).collect()
    } else {
        (0..5).map(|k| k * (n - 1) / 4).collect()
    };
    idx.dedup();
    idx.into_iter()
        .map(|i| {
            format!(
                "{}  {}  {}",
                t[i].time.format("%Y-%m-%d"),
                t[i].source.as_deref().unwrap_or("-"),
                t[i].title
            )
        })
        .collect()
}

fn audit(engine: &agg_saga::SagaEngine, limit: usize, max_span_days: i64, json: bool) {
    let live: Vec<&agg_saga::Saga> = engine.sagas().filter(|s| s.merged_into.is_none()).collect();
    let total: usize = live.iter().map(|s| s.item_count()).sum();
    let multi = live.iter().filter(|s| s.item_count() > 1).count();
    let mut big = live.clone();
    big.sort_by_key(|s| (std::cmp::Reverse(s.item_count()), s.id));
    big.truncate(limit);
    let suspicious = live
        .iter()
        .filter(|s| s.item_count() > 1 && !audit_flags(s, total, max_span_days).is_empty())
        .count();
    if !json {
        println!(
            "{total} items in {} sagas ({multi} with more than one item, {suspicious} flagged); the {} largest:",
            live.len(),
            big.len()
        );
    }
    for s in big {
        let flags = audit_flags(s, total, max_span_days);
        let mut outlets: Vec<(&String, &u32)> = s.outlets.iter().collect();
        outlets.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        if json {
            println!(
                "{}",
                serde_json::json!({"id": s.id.0, "title": s.title, "items": s.item_count(),
                    "outlets": s.outlet_count(), "feeds": s.feed_count(), "first_seen": s.first_seen,
                    "last_seen": s.last_seen, "span": s.date_range(), "languages": s.langs,
                    "top_outlets": outlets.iter().take(5).map(|(o, n)| serde_json::json!([o, n])).collect::<Vec<_>>(),
                    "samples": sample_titles(s), "flags": flags})
            );
            continue;
        }
        println!();
        println!(
            "saga {} · {} items · {} outlets · {} feeds · {}{}",
            s.id.0,
            s.item_count(),
            s.outlet_count(),
            s.feed_count(),
            s.date_range(),
            if flags.is_empty() {
                String::new()
            } else {
                format!("  ⚑ {}", flags.join("; "))
            }
        );
        println!("  title: {}", s.title);
        let top: Vec<String> = outlets
            .iter()
            .take(5)
            .map(|(o, n)| format!("{o} ({n})"))
            .collect();
        println!("  sources: {}", top.join(", "));
        for t in sample_titles(s) {
            println!("    {t}");
        }
    }
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
    /// A JSONL file of title embeddings (`{"id", "model", "title",
    /// "embedding"}` per line) to reuse and extend: rows whose id, title and
    /// model match a line are not embedded again, and the file is rewritten
    /// with every row's vector. Embedding a 30,000-row stream on a small CPU
    /// takes minutes; a second evaluation then takes seconds.
    #[arg(long)]
    pub embeddings_cache: Option<PathBuf>,
    /// Run as the saga agent does, one run a day: save the engine in parts
    /// at the end of each day and place the next day's items with only
    /// the sagas they need loaded. The output must equal the default's;
    /// this checks that a run loads what it needs.
    #[arg(long)]
    pub in_runs: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Reads an embeddings cache: `(id, title) → vector` for one model. Lines of
/// other models are ignored; a malformed line is an error with its number.
fn read_embedding_cache(
    path: &std::path::Path,
    model: &str,
) -> anyhow::Result<std::collections::HashMap<(String, String), Vec<f32>>> {
    use std::io::BufRead;
    let mut out = std::collections::HashMap::new();
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = || format!("{}:{}: not a cache line", path.display(), i + 1);
        let v: serde_json::Value = serde_json::from_str(&line).with_context(bad)?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let (Some(id), Some(m), Some(title)) = (text("id"), text("model"), text("title")) else {
            anyhow::bail!(bad());
        };
        let emb: Vec<f32> = v
            .get("embedding")
            .and_then(|e| e.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_f64().map(|f| f as f32))
                    .collect()
            })
            .with_context(bad)?;
        if m == model {
            out.insert((id, title), emb);
        }
    }
    Ok(out)
}

pub fn eval_sagas(a: &EvalSagas) -> anyhow::Result<ExitCode> {
    let f = std::fs::File::open(&a.input)
        .with_context(|| format!("cannot open {}", a.input.display()))?;
    let mut rows = agg_saga::read_rows(std::io::BufReader::new(f))?;
    if !a.no_embeddings {
        use agg_score::Embedder;
        match a.model.embedder() {
            Ok(e) => {
                let model = e.model_id().to_string();
                let cache = match &a.embeddings_cache {
                    Some(p) => read_embedding_cache(p, &model)?,
                    None => Default::default(),
                };
                // Titles only: the engine's weights were tuned on title vectors.
                let missing: Vec<usize> = (0..rows.len())
                    .filter(|&i| {
                        let key = (rows[i].id.clone(), rows[i].title.clone());
                        match cache.get(&key) {
                            Some(v) => {
                                rows[i].embedding = Some(v.clone());
                                false
                            }
                            None => true,
                        }
                    })
                    .collect();
                if !missing.is_empty() {
                    let titles: Vec<&str> =
                        missing.iter().map(|&i| rows[i].title.as_str()).collect();
                    let vectors = e.embed(&titles)?;
                    for (&i, v) in missing.iter().zip(vectors) {
                        rows[i].embedding = Some(v);
                    }
                }
                if let Some(p) = &a.embeddings_cache {
                    eprintln!(
                        "{} of {} titles from the cache {}",
                        rows.len() - missing.len(),
                        rows.len(),
                        p.display()
                    );
                    if !missing.is_empty() {
                        use std::io::Write;
                        let tmp = p.with_extension("tmp");
                        let mut w = std::io::BufWriter::new(
                            std::fs::File::create(&tmp)
                                .with_context(|| format!("cannot write {}", tmp.display()))?,
                        );
                        for r in &rows {
                            if let Some(v) = &r.embedding {
                                writeln!(
                                    w,
                                    "{}",
                                    serde_json::json!({"id": r.id, "model": model, "title": r.title, "embedding": v})
                                )?;
                            }
                        }
                        w.flush()?;
                        drop(w);
                        std::fs::rename(&tmp, p)
                            .with_context(|| format!("cannot write {}", p.display()))?;
                    }
                }
            }
            Err(e) => eprintln!("warning: no sentence model ({e}); matching on words only"),
        }
    }
    let out = if a.in_runs {
        agg_saga::evaluate_in_runs(&rows, agg_saga::SagaConfig::default())
    } else {
        agg_saga::evaluate(&rows, agg_saga::SagaConfig::default())
    };
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
