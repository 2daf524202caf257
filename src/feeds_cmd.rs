//! `agg feeds`: what the store knows about each feed (health, schedule),
//! OPML import and export, feed discovery from a site, and resuming a
//! paused feed.

use std::process::ExitCode;

use agg_core::{FeedState, Store};
use agg_fetch::opml::{self, Outline};
use agg_fetch::schedule;
use anyhow::Context;
use chrono::{DateTime, Utc};

#[derive(clap::Args)]
pub struct FeedsArgs {
    #[command(subcommand)]
    pub command: Option<FeedsCommand>,
    /// Output JSON (for `list`, the default).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Subcommand)]
pub enum FeedsCommand {
    /// Every known feed: agent, title, last success and error, failures,
    /// pause and reason, items per day, next fetch (the default).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Read an OPML file and print the pipeline agent that fetches its feeds.
    Import {
        file: std::path::PathBuf,
        /// Name of the agent in the printed snippet.
        #[arg(long, default_value = "feeds")]
        agent: String,
        /// `opml`: an agent that reads the file at each run (default);
        /// `rss`: an agent listing the feeds.
        #[arg(long, value_parser = ["opml", "rss"], default_value = "opml")]
        kind: String,
        /// Only feeds under this folder.
        #[arg(long)]
        folder: Option<String>,
        /// Write the feed URLs, one per line, to this file too.
        #[arg(long)]
        write: Option<std::path::PathBuf>,
        /// Subscribe to the feeds in the store instead (each filed in its
        /// OPML folder, or in `--folder`), for a `subscriptions` source.
        #[arg(long)]
        store: bool,
    },
    /// Subscribe to a feed in the store (read by `subscriptions` sources):
    /// a page URL is resolved to the feed it advertises; the feed is fetched
    /// once to check it; a URL subscribed already is refused.
    Add {
        url: String,
        /// File it in this folder.
        #[arg(long, default_value = "")]
        folder: String,
    },
    /// Unsubscribe from a feed in the store.
    Remove { url: String },
    /// The feeds subscribed to in the store, by folder.
    Subscriptions {
        #[arg(long)]
        folder: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print an OPML 2.0 file of every known feed (folders are agents).
    Export {
        #[arg(long, default_value = "agg feeds")]
        title: String,
        /// Export the store's subscriptions (by folder) rather than every
        /// feed fetched (by agent).
        #[arg(long)]
        subscriptions: bool,
    },
    /// Fetch a web page and print the feeds it advertises
    /// (`<link rel="alternate">`), or the URL itself when it is a feed.
    Discover {
        url: String,
        #[arg(long)]
        json: bool,
    },
    /// Un-pause a feed and clear its backoff, so the next run fetches it.
    Resume { url: String },
}

pub async fn run(store: &dyn Store, args: FeedsArgs) -> anyhow::Result<ExitCode> {
    match args
        .command
        .unwrap_or(FeedsCommand::List { json: args.json })
    {
        FeedsCommand::List { json } => list(store, json || args.json).await,
        FeedsCommand::Import {
            file,
            agent: _,
            kind: _,
            folder,
            write: _,
            store: true,
        } => import_to_store(store, &file, folder.as_deref()).await,
        FeedsCommand::Import {
            file,
            agent,
            kind,
            folder,
            write,
            store: false,
        } => import(&file, &agent, &kind, folder.as_deref(), write.as_deref()),
        FeedsCommand::Add { url, folder } => add(store, &url, &folder).await,
        FeedsCommand::Remove { url } => {
            if store.remove_subscription(&url).await? {
                println!("unsubscribed from {url}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("not subscribed to {url} (see `agg feeds subscriptions`)");
                Ok(ExitCode::from(1))
            }
        }
        FeedsCommand::Subscriptions { folder, json } => {
            let subs = store.list_subscriptions(folder.as_deref()).await?;
            if json || args.json {
                println!("{}", serde_json::to_string_pretty(&subs)?);
            } else {
                for s in &subs {
                    println!(
                        "{}\t{}\t{}",
                        s.folder,
                        s.url,
                        s.title.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FeedsCommand::Export {
            title,
            subscriptions: true,
        } => {
            let subs = store.list_subscriptions(None).await?;
            let outlines: Vec<Outline> = subs
                .into_iter()
                .map(|s| Outline {
                    title: s.title,
                    xml_url: s.url,
                    html_url: None,
                    folders: Some(s.folder)
                        .filter(|f| !f.is_empty())
                        .into_iter()
                        .collect(),
                })
                .collect();
            print!("{}", opml::write(&title, &outlines));
            Ok(ExitCode::SUCCESS)
        }
        FeedsCommand::Export { title, .. } => {
            let feeds = store.list_feeds().await?;
            print!("{}", export(&title, &feeds));
            Ok(ExitCode::SUCCESS)
        }
        FeedsCommand::Discover { url, json } => discover(&url, json || args.json).await,
        FeedsCommand::Resume { url } => {
            let Some(mut st) = store.feed_state(&url).await? else {
                eprintln!("no feed {url} in the store (see `agg feeds`)");
                return Ok(ExitCode::from(1));
            };
            schedule::resume(&mut st);
            store.save_feed_state(&st).await?;
            println!("resumed {url}: the next run fetches it");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(t) = t else { return "-".into() };
    let d = now - t;
    let (n, unit) = if d.num_seconds().abs() < 120 {
        (d.num_seconds(), "s")
    } else if d.num_minutes().abs() < 120 {
        (d.num_minutes(), "m")
    } else if d.num_hours().abs() < 48 {
        (d.num_hours(), "h")
    } else {
        (d.num_days(), "d")
    };
    if n >= 0 {
        format!("{n}{unit} ago")
    } else {
        format!("in {}{unit}", -n)
    }
}

fn row_json(f: &FeedState) -> serde_json::Value {
    serde_json::json!({
        "url": f.url,
        "agent": f.agent,
        "title": f.title,
        "last_fetch": f.last_fetch,
        "last_success": f.last_success,
        "last_error": f.last_error,
        "consecutive_failures": f.consecutive_failures,
        "paused": f.paused,
        "pause_reason": f.pause_reason,
        "moved_to": f.moved_to,
        "items_total": f.items_total,
        "items_per_day": schedule::items_per_day(f).map(|x| (x * 100.0).round() / 100.0),
        "next_fetch": f.next_fetch,
    })
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n.saturating_sub(1)).collect::<String>() + "…"
    }
}

async fn list(store: &dyn Store, json: bool) -> anyhow::Result<ExitCode> {
    let mut feeds = store.list_feeds().await?;
    feeds.sort_by(|a, b| (&a.agent, &a.url).cmp(&(&b.agent, &b.url)));
    if json {
        let rows: Vec<_> = feeds.iter().map(row_json).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if feeds.is_empty() {
        println!("no feeds yet: run a pipeline with an rss or opml agent");
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    println!(
        "{:<10} {:<28} {:<12} {:>5} {:>7} {:<12} {:<10} problem",
        "agent", "feed", "last ok", "fails", "items/d", "next fetch", "state"
    );
    for f in &feeds {
        let name = f.title.clone().unwrap_or_else(|| f.url.clone());
        let state = if f.paused {
            "PAUSED"
        } else if f.consecutive_failures > 0 {
            "failing"
        } else {
            "ok"
        };
        let problem = if f.paused {
            f.pause_reason.clone().unwrap_or_default()
        } else {
            f.last_error.clone().unwrap_or_default()
        };
        println!(
            "{:<10} {:<28} {:<12} {:>5} {:>7} {:<12} {:<10} {}",
            cut(f.agent.as_deref().unwrap_or("-"), 10),
            cut(&name, 28),
            ago(f.last_success, now),
            f.consecutive_failures,
            schedule::items_per_day(f).map_or("-".into(), |x| format!("{x:.1}")),
            if f.paused {
                "-".into()
            } else {
                ago(f.next_fetch, now)
            },
            state,
            cut(&problem, 80),
        );
        if f.moved_to.is_some() || name != f.url {
            let moved = f
                .moved_to
                .as_deref()
                .map(|m| format!(" (moved to {m})"))
                .unwrap_or_default();
            println!("{:<10} {}{moved}", "", f.url);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn import(
    file: &std::path::Path,
    agent: &str,
    kind: &str,
    folder: Option<&str>,
    write: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let doc = opml::parse(&bytes).with_context(|| format!("{}", file.display()))?;
    let feeds: Vec<&Outline> = doc
        .feeds()
        .into_iter()
        .filter(|o| folder.is_none_or(|f| o.folders.iter().any(|x| x == f)))
        .collect();
    let (ok, bad): (Vec<&Outline>, Vec<&Outline>) = feeds.into_iter().partition(|o| {
        agg_fetch::url::Url::parse(&o.xml_url)
            .is_ok_and(|u| u.scheme() == "http" || u.scheme() == "https")
    });
    for o in &bad {
        eprintln!("skipped (not an http(s) URL): {}", o.xml_url);
    }
    if let Some(w) = write {
        let list: String = ok.iter().map(|o| format!("{}\n", o.xml_url)).collect();
        std::fs::write(w, list).with_context(|| format!("writing {}", w.display()))?;
        eprintln!("wrote {} feed URLs to {}", ok.len(), w.display());
    }
    eprintln!(
        "{} feeds{} in {}; add this to your pipeline's `agents:`",
        ok.len(),
        folder.map(|f| format!(" under `{f}`")).unwrap_or_default(),
        file.display()
    );
    if kind == "opml" {
        println!("  {agent}:");
        println!("    kind: opml");
        println!("    path: {}", yaml_str(&file.display().to_string()));
        if let Some(f) = folder {
            println!("    folder: {}", yaml_str(f));
        }
    } else {
        println!("  {agent}:");
        println!("    kind: rss");
        println!("    feeds:");
        for o in &ok {
            match &o.title {
                Some(t) => println!(
                    "      - {}   # {}",
                    yaml_str(&o.xml_url),
                    t.replace('\n', " ")
                ),
                None => println!("      - {}", yaml_str(&o.xml_url)),
            }
        }
    }
    Ok(if ok.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// OPML of known feeds; each agent is a folder.
pub fn export(title: &str, feeds: &[FeedState]) -> String {
    let outlines: Vec<Outline> = feeds
        .iter()
        .map(|f| Outline {
            title: f.title.clone(),
            // Export where the feed lives now.
            xml_url: f.moved_to.clone().unwrap_or_else(|| f.url.clone()),
            html_url: None,
            folders: f.agent.clone().into_iter().collect(),
        })
        .collect();
    opml::write(title, &outlines)
}

async fn discover(url: &str, json: bool) -> anyhow::Result<ExitCode> {
    let fetcher = agg_fetch::Fetcher::new(agg_fetch::FetchLimits::default())?;
    let (bytes, final_url, content_type) = fetcher
        .get_page(url)
        .await
        .with_context(|| format!("fetching {url}"))?;
    // The URL may already be a feed.
    let found = match agg_fetch::parse_feed_from(
        &bytes,
        &agg_fetch::FeedSource {
            feed: &final_url,
            base: Some(&final_url),
            content_type: content_type.as_deref(),
            source: "discover",
        },
        Utc::now(),
    ) {
        Ok(feed) => vec![opml::Discovered {
            url: final_url.clone(),
            title: feed.title,
            mime: content_type.unwrap_or_default(),
        }],
        Err(_) => {
            let page = agg_fetch::charset::to_utf8(&bytes, content_type.as_deref());
            let html = String::from_utf8_lossy(&page.utf8);
            let base = agg_fetch::url::Url::parse(&final_url)?;
            opml::discover(&html, &base)
        }
    };
    if json {
        let rows: Vec<_> = found
            .iter()
            .map(|d| serde_json::json!({"url": d.url, "title": d.title, "type": d.mime}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for d in &found {
            println!(
                "{}\t{}\t{}",
                d.url,
                d.mime,
                d.title.as_deref().unwrap_or("")
            );
        }
    }
    if found.is_empty() {
        eprintln!("no feed advertised by {final_url} (no <link rel=\"alternate\"> of a feed type)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `agg feeds import F.opml --store`: every http(s) feed of the file
/// subscribed in the store (duplicates counted, not added twice). The feeds
/// are not fetched here: an OPML file lists feeds already, and the first run
/// reports any that fail.
async fn import_to_store(
    store: &dyn Store,
    file: &std::path::Path,
    folder: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let doc = opml::parse(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let (mut added, mut known, mut bad) = (0, 0, 0);
    let now = agg_core::clock::current();
    for o in doc.feeds() {
        if let Some(f) = folder
            && !o.folders.iter().any(|x| x == f)
        {
            continue;
        }
        if !agg_agents::feedpoll::check_url(&o.xml_url) {
            eprintln!("skipped `{}`: not an http(s) feed URL", o.xml_url);
            bad += 1;
            continue;
        }
        let sub = agg_core::store::Subscription {
            url: o.xml_url.clone(),
            title: o.title.clone(),
            folder: folder
                .map(String::from)
                .or_else(|| o.folders.first().cloned())
                .unwrap_or_default(),
            added: now,
        };
        if store.add_subscription(&sub).await? {
            added += 1;
        } else {
            known += 1;
        }
    }
    println!("{added} subscribed, {known} already subscribed, {bad} skipped");
    Ok(if added + known == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `agg feeds add URL [--folder F]`.
async fn add(store: &dyn Store, url: &str, folder: &str) -> anyhow::Result<ExitCode> {
    if !agg_agents::feedpoll::check_url(url) {
        eprintln!("`{url}` is not an http(s) URL");
        return Ok(ExitCode::from(1));
    }
    let fetcher = agg_fetch::Fetcher::new(agg_fetch::FetchLimits::default())?;
    use agg_app::subscriptions::{Error, Origin, subscribe};
    let (feed, title) = match subscribe(store, &fetcher, url, folder, Origin::Typed).await {
        Ok(s) => (s.url, s.title),
        Err(Error::Store(e)) => return Err(e.into()),
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    println!(
        "subscribed to {feed}{}{}",
        title.map(|t| format!(" ({t})")).unwrap_or_default(),
        if folder.is_empty() {
            String::new()
        } else {
            format!(" in folder {folder}")
        }
    );
    Ok(ExitCode::SUCCESS)
}
