//! `agg_app::digest` on a real pipeline and SQLite store: the preview the
//! UI shows renders what the digest would send, changes nothing, and
//! agrees with the CLI's preview (`Job` in preview mode).

mod support;

use std::path::Path;
use std::sync::Arc;

use agg_app::digest::{Error, Job, Mode, Status, preview};
use agg_core::exec::{Quiet, RunOptions};
use agg_core::{Pipeline, Store};

/// The day the fixture feed's items are from; the digest's clock.
const DAY: &str = "2026-11-26T07:00:00Z";

fn setup(dir: &Path, with_digest: bool) -> Pipeline {
    agg_core::clock::pin(agg_core::clock::parse(DAY).unwrap());
    let feeds = dir.join("feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/digest/feeds/day1.xml");
    std::fs::copy(fixture, feeds.join("news.xml")).unwrap();
    let digest = if with_digest {
        r#"  digest:
    kind: email_digest
    inputs: [news]
    to: reader@example.org
    from: "agg <agg@example.org>"
    smtp: smtp://127.0.0.1:9
    secret_file: key
    public_url: https://agg.example.org
"#
    } else {
        "  out: { kind: jsonl, inputs: [news], path: out.jsonl }\n"
    };
    let yaml = format!(
        "name: app-digest\ntimezone: Europe/London\nagents:\n  news: {{ kind: file, path: feeds/news.xml }}\n{digest}"
    );
    let file = dir.join("p.yaml");
    std::fs::write(&file, yaml).unwrap();
    support::load(&file)
}

async fn store_with_items(dir: &Path, p: &Pipeline) -> Arc<dyn Store> {
    let store = agg_store::open(&dir.join("agg.db").display().to_string())
        .await
        .unwrap();
    let opts = RunOptions {
        only: Some("news".into()),
        ..RunOptions::default()
    };
    agg_core::exec::run(p, store.clone(), &opts, Arc::new(Quiet))
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn preview_renders_the_pending_items_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = setup(tmp.path(), true);
    let store = store_with_items(tmp.path(), &p).await;
    let stored = store
        .count_items(&agg_core::ItemQuery::default())
        .await
        .unwrap();
    assert!(stored >= 5, "{stored}");

    let first = preview(&p, "digest", &store).await.unwrap();
    assert_eq!(first.outcome.status, Status::Previewed);
    assert_eq!(first.outcome.day, "2026-11-26");
    assert_eq!(first.outcome.items.len() as u64, stored);
    let html = first.html.as_deref().expect("a digest with items has HTML");
    assert!(html.contains("Port strike enters its fourth day"));
    assert!(first.last.is_none(), "no digest was ever recorded");

    // Nothing was recorded, claimed or marked sent: the same again.
    assert!(
        store
            .list_digests("app-digest", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = preview(&p, "digest", &store).await.unwrap();
    assert_eq!(again.outcome.items, first.outcome.items);

    // The CLI's preview (the digest with what feeds it) selects the same.
    let html_file = tmp.path().join("cli.html");
    let env = |_: &str| None;
    let cli_p = agg_core::pipeline::load(&p.file, &agg_agents::registry(), &env)
        .unwrap()
        .pipeline
        .unwrap();
    let job = Job::new(
        cli_p,
        Mode::Preview {
            html: Some(html_file.clone()),
            eml: None,
        },
        false,
    )
    .unwrap();
    let ran = job.run(store.clone()).await.unwrap();
    assert!(ran.ok());
    assert_eq!(ran.digests.len(), 1);
    let o = ran.digests[0].results[0].as_ref().unwrap();
    let mut cli_items = o.items.clone();
    let mut ui_items = first.outcome.items.clone();
    cli_items.sort_unstable();
    ui_items.sort_unstable();
    assert_eq!(cli_items, ui_items);
    assert!(
        std::fs::read_to_string(html_file)
            .unwrap()
            .contains("Port strike")
    );
    assert!(
        store
            .list_digests("app-digest", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_agent_that_is_no_digest_and_a_pipeline_without_one_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = setup(tmp.path(), true);
    let store = store_with_items(tmp.path(), &p).await;
    match preview(&p, "news", &store).await {
        Err(Error::NoSuchDigest { agent, .. }) => assert_eq!(agent, "news"),
        other => panic!("{:?}", other.map(|p| p.outcome)),
    }

    let tmp = tempfile::tempdir().unwrap();
    let p = setup(tmp.path(), false);
    match Job::new(p, Mode::DryRun, false) {
        Err(Error::NoDigest(file)) => assert!(file.ends_with("p.yaml")),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a pipeline without a digest made a job"),
    }
}
