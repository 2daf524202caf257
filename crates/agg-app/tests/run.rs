//! `agg_app::run` on a real pipeline and SQLite store: retention follows
//! the run when the pipeline has a period, the run is a full one and the
//! last pass is old enough; otherwise the outcome says why it was skipped.

mod support;

use std::path::Path;
use std::sync::Arc;

use agg_app::retention::{EVERY, LAST_KEY};
use agg_app::run::{Retention, Skip};
use agg_core::exec::{Quiet, RunOptions};
use agg_core::{Pipeline, RunStatus, Store};
use chrono::{DateTime, Utc};

/// The clock of these tests (the fixture feed's items are from that day).
const NOW: &str = "2026-11-26T07:00:00Z";

fn now() -> DateTime<Utc> {
    agg_core::clock::parse(NOW).unwrap()
}

fn setup(dir: &Path, retention: &str) -> Pipeline {
    agg_core::clock::pin(now());
    let feeds = dir.join("feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/digest/feeds/day1.xml");
    std::fs::copy(fixture, feeds.join("news.xml")).unwrap();
    let yaml = format!(
        "name: app-run\n{retention}agents:\n  news: {{ kind: file, path: feeds/news.xml }}\n  \
         out: {{ kind: jsonl, inputs: [news], path: out.jsonl }}\n"
    );
    let file = dir.join("p.yaml");
    std::fs::write(&file, yaml).unwrap();
    support::load(&file)
}

async fn store(dir: &Path) -> Arc<dyn Store> {
    agg_store::open(&dir.join("agg.db").display().to_string())
        .await
        .unwrap()
}

async fn run(p: &Pipeline, store: &Arc<dyn Store>, opts: RunOptions) -> Retention {
    let outcome = agg_app::run(p, store.clone(), &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(outcome.summary.status, RunStatus::Ok, "{outcome:?}");
    outcome.retention
}

#[tokio::test]
async fn retention_is_skipped_without_a_period_and_for_partial_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let none = setup(tmp.path(), "");
    let store = store(tmp.path()).await;
    let r = run(&none, &store, RunOptions::default()).await;
    assert!(matches!(r, Retention::Skipped(Skip::NoPeriod)), "{r:?}");

    let p = setup(tmp.path(), "retention_days: 30\n");
    for opts in [
        RunOptions {
            dry_run: true,
            ..RunOptions::default()
        },
        RunOptions {
            only: Some("news".into()),
            ..RunOptions::default()
        },
        RunOptions {
            exclude: vec!["out".into()],
            ..RunOptions::default()
        },
    ] {
        let r = run(&p, &store, opts).await;
        assert!(matches!(r, Retention::Skipped(Skip::PartialRun)), "{r:?}");
    }
    // None of them noted a pass.
    assert_eq!(store.load_state(LAST_KEY).await.unwrap(), None);
}

#[tokio::test]
async fn a_full_run_applies_retention_at_most_once_in_twenty_hours() {
    let tmp = tempfile::tempdir().unwrap();
    let p = setup(tmp.path(), "retention_days: 30\n");
    let store = store(tmp.path()).await;

    let r = run(&p, &store, RunOptions::default()).await;
    // Nothing is old enough to go: the pass is applied (and noted) all the
    // same.
    let Retention::Applied { days: 30, report } = r else {
        panic!("{r:?}")
    };
    assert_eq!(report, Default::default());

    let r = run(&p, &store, RunOptions::default()).await;
    assert!(
        matches!(r, Retention::Skipped(Skip::NotDue { last }) if last == now()),
        "{r:?}"
    );

    // The last pass a little longer ago than `EVERY`: due again.
    let earlier = now() - EVERY - chrono::Duration::minutes(1);
    store
        .save_state(LAST_KEY, &earlier.to_rfc3339())
        .await
        .unwrap();
    let r = run(&p, &store, RunOptions::default()).await;
    assert!(matches!(r, Retention::Applied { days: 30, .. }), "{r:?}");
}
