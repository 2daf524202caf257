//! The executor with test-only agent kinds registered in their own table
//! (the engine never names a kind, so tests can bring their own).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use agg_core::exec::{Quiet, RunOptions};
use agg_core::{
    Agent, BuildCtx, Inbox, Item, KindDef, OptionsError, Outbox, Registry, Role, RunCtx, RunStatus,
};
use async_trait::async_trait;

static BARRIERS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Barrier>>>> =
    LazyLock::new(Default::default);
static SENT: AtomicU64 = AtomicU64::new(0);
static MAX_AHEAD: AtomicU64 = AtomicU64::new(0);
static RECEIVED: LazyLock<Mutex<HashMap<String, Vec<String>>>> = LazyLock::new(Default::default);

fn item(key: String) -> Item {
    Item {
        title: key.clone(),
        key,
        source: "t".into(),
        fetched: chrono::Utc::now(),
        ..Item::default()
    }
}

/// A source that waits for every other `gate` source sharing its barrier
/// before emitting: run one agent at a time, and this never finishes.
struct Gate {
    barrier: String,
    n: u64,
}
#[async_trait]
impl Agent for Gate {
    async fn run(&self, ctx: &RunCtx, _i: &mut Inbox, out: &mut Outbox) -> anyhow::Result<()> {
        let b = BARRIERS
            .lock()
            .unwrap()
            .get(&self.barrier)
            .cloned()
            .unwrap();
        b.wait().await;
        let items = (0..self.n)
            .map(|i| item(format!("{}-{i}", ctx.agent)))
            .collect();
        out.send(items).await
    }
}

/// A source that emits many one-item batches as fast as it is allowed to;
/// with `track`, it counts them in `SENT` (one tracked pair per test run).
struct Burst {
    n: u64,
    track: bool,
}
#[async_trait]
impl Agent for Burst {
    async fn run(&self, ctx: &RunCtx, _i: &mut Inbox, out: &mut Outbox) -> anyhow::Result<()> {
        for i in 0..self.n {
            let mut it = item(format!("{}-{i}", ctx.agent));
            // Sources name themselves on their items: the ledger finds what
            // a source stored by it.
            it.source = ctx.agent.clone();
            out.send(vec![it]).await?;
            if self.track {
                SENT.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

struct Boom(String);
#[async_trait]
impl Agent for Boom {
    async fn run(&self, _ctx: &RunCtx, _i: &mut Inbox, _o: &mut Outbox) -> anyhow::Result<()> {
        anyhow::bail!("{}", self.0)
    }
}

/// A sink recording what it got; with `slow`, it also measures how far
/// ahead the tracked producer ran.
struct Collect {
    slow: bool,
}
#[async_trait]
impl Agent for Collect {
    async fn run(&self, ctx: &RunCtx, input: &mut Inbox, _o: &mut Outbox) -> anyhow::Result<()> {
        let mut got = 0u64;
        while let Some(batch) = input.next().await {
            got += batch.len() as u64;
            if self.slow {
                let ahead = SENT.load(Ordering::SeqCst).saturating_sub(got);
                MAX_AHEAD.fetch_max(ahead, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            RECEIVED
                .lock()
                .unwrap()
                .entry(ctx.agent.clone())
                .or_default()
                .extend(batch.into_iter().map(|i| i.key));
        }
        Ok(())
    }
}

/// A sink that fails every item whose key contains "poison" (an item it
/// cannot handle, run after run) and takes the rest.
struct Picky;
#[async_trait]
impl Agent for Picky {
    async fn run(&self, ctx: &RunCtx, input: &mut Inbox, _o: &mut Outbox) -> anyhow::Result<()> {
        while let Some(batch) = input.next().await {
            for i in batch {
                if i.key.contains("poison") {
                    ctx.item_failed(i.id.unwrap(), format!("cannot digest {}", i.key));
                } else {
                    RECEIVED
                        .lock()
                        .unwrap()
                        .entry(ctx.agent.clone())
                        .or_default()
                        .push(i.key);
                }
            }
        }
        Ok(())
    }
}

fn n(v: &serde_json::Value, k: &str) -> u64 {
    v.get(k).and_then(|x| x.as_u64()).unwrap_or(0)
}

fn registry() -> Registry {
    fn gate(v: &serde_json::Value, _c: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
        Ok(Box::new(Gate {
            barrier: v["barrier"].as_str().unwrap().into(),
            n: n(v, "n"),
        }))
    }
    fn burst(v: &serde_json::Value, _c: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
        Ok(Box::new(Burst {
            n: n(v, "n"),
            track: v.get("track").is_some(),
        }))
    }
    fn boom(v: &serde_json::Value, _c: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
        Ok(Box::new(Boom(v["msg"].as_str().unwrap_or("boom").into())))
    }
    fn picky(_v: &serde_json::Value, _c: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
        Ok(Box::new(Picky))
    }
    fn collect(v: &serde_json::Value, _c: &BuildCtx) -> Result<Box<dyn Agent>, OptionsError> {
        Ok(Box::new(Collect {
            slow: v.get("slow").is_some(),
        }))
    }
    let mut kinds = vec![
        KindDef {
            name: "gate",
            role: Role::Source,
            summary: "",
            build: gate,
        },
        KindDef {
            name: "burst",
            role: Role::Source,
            summary: "",
            build: burst,
        },
        KindDef {
            name: "boom",
            role: Role::Source,
            summary: "",
            build: boom,
        },
        KindDef {
            name: "collect",
            role: Role::Sink,
            summary: "",
            build: collect,
        },
        KindDef {
            name: "picky",
            role: Role::Sink,
            summary: "",
            build: picky,
        },
    ];
    // The real transforms too, to check they compose with test kinds.
    kinds.extend(
        agg_agents::registry()
            .kinds()
            .filter(|k| k.role == Role::Transform)
            .copied(),
    );
    Registry::new(kinds)
}

fn pipeline(yaml: &str) -> agg_core::Pipeline {
    let loaded =
        agg_core::pipeline::load_str(Path::new("test.yaml"), yaml.into(), &registry(), &|_| None);
    for d in &loaded.diagnostics {
        if d.is_error() {
            panic!("{}", d.render(&loaded.sources));
        }
    }
    loaded.pipeline.unwrap()
}

async fn store() -> (tempfile::TempDir, Arc<dyn agg_core::Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s = agg_store::open(dir.path().join("t.db").to_str().unwrap())
        .await
        .unwrap();
    (dir, s)
}

#[tokio::test]
async fn agents_run_concurrently() {
    BARRIERS
        .lock()
        .unwrap()
        .insert("c".into(), Arc::new(tokio::sync::Barrier::new(3)));
    let p = pipeline(
        "name: c\nagents:\n  g1: { kind: gate, barrier: c, n: 2 }\n  g2: { kind: gate, barrier: c, n: 3 }\n  \
         g3: { kind: gate, barrier: c, n: 1 }\n  all: { kind: dedupe, inputs: [g1, g2, g3] }\n  \
         sink_c: { kind: collect, inputs: [all] }\n",
    );
    let (_d, s) = store().await;
    let summary = tokio::time::timeout(
        Duration::from_secs(20),
        agg_core::exec::run(&p, s.clone(), &RunOptions::default(), Arc::new(Quiet)),
    )
    .await
    .expect("sources waiting on each other finished: they ran concurrently")
    .unwrap();
    assert_eq!(summary.status, RunStatus::Ok);
    assert_eq!(RECEIVED.lock().unwrap()["sink_c"].len(), 6);
    assert_eq!(s.count_items(&Default::default()).await.unwrap(), 6);
}

#[tokio::test]
async fn a_slow_consumer_holds_back_its_producer() {
    let p = pipeline(
        "name: b\nagents:\n  src: { kind: burst, n: 200, track: true }\n  sink_b: { kind: collect, inputs: [src], slow: true }\n",
    );
    let (_d, s) = store().await;
    let opts = RunOptions {
        channel_capacity: 1,
        ..RunOptions::default()
    };
    let summary = agg_core::exec::run(&p, s, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Ok);
    assert_eq!(RECEIVED.lock().unwrap()["sink_b"].len(), 200);
    // One batch in the channel, one being sent, one counted late: never the
    // whole stream buffered ahead of the consumer.
    let ahead = MAX_AHEAD.load(Ordering::SeqCst);
    assert!(
        ahead <= 3,
        "producer ran {ahead} batches ahead of a capacity-1 channel"
    );
}

#[tokio::test]
async fn a_failing_agent_does_not_stop_independent_ones() {
    let p = pipeline(
        "name: f\nagents:\n  bad: { kind: boom }\n  good: { kind: burst, n: 5 }\n  \
         sink_bad: { kind: collect, inputs: [bad] }\n  sink_good: { kind: collect, inputs: [good] }\n",
    );
    let (_d, s) = store().await;
    let summary = agg_core::exec::run(&p, s.clone(), &RunOptions::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Partial);
    let by = |n: &str| summary.outcomes.iter().find(|o| o.agent == n).unwrap();
    assert_eq!(by("bad").status, agg_core::AgentStatus::Failed);
    assert_eq!(by("bad").errors, vec!["boom".to_string()]);
    assert_eq!(by("good").status, agg_core::AgentStatus::Ok);
    assert_eq!(by("sink_good").items_in, 5);
    assert_eq!(by("sink_bad").items_in, 0);
    let runs = s.list_runs(5).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Partial);
    assert_eq!(runs[0].agents.len(), 4);
}

#[tokio::test]
async fn an_error_quoting_a_secret_is_recorded_without_it() {
    agg_core::secrets::register("pl4nted-exec-s3cret");
    let p = pipeline(
        "name: s\nagents:\n  bad: { kind: boom, msg: 'login refused for alice:pl4nted-exec-s3cret' }\n  \
         sink: { kind: collect, inputs: [bad] }\n",
    );
    let (_d, s) = store().await;
    let summary = agg_core::exec::run(&p, s.clone(), &RunOptions::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let bad = summary.outcomes.iter().find(|o| o.agent == "bad").unwrap();
    assert_eq!(bad.errors, vec!["login refused for alice:***".to_string()]);
    let runs = s.list_runs(1).await.unwrap();
    let stored = serde_json::to_string(&runs[0].agents).unwrap();
    assert!(stored.contains("alice:***"), "{stored}");
    assert!(!stored.contains("pl4nted"), "{stored}");
}

#[tokio::test]
async fn only_runs_the_agent_and_its_ancestors() {
    let p = pipeline(
        "name: o\nagents:\n  a: { kind: burst, n: 2 }\n  b: { kind: boom }\n  \
         sink_oa: { kind: collect, inputs: [a] }\n  sink_ob: { kind: collect, inputs: [b] }\n",
    );
    let (_d, s) = store().await;
    let opts = RunOptions {
        only: Some("sink_oa".into()),
        ..RunOptions::default()
    };
    let summary = agg_core::exec::run(&p, s, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    let mut ran: Vec<_> = summary.outcomes.iter().map(|o| o.agent.as_str()).collect();
    ran.sort();
    assert_eq!(ran, ["a", "sink_oa"]);
    assert_eq!(summary.status, RunStatus::Ok);
}

#[test]
fn dag_order_puts_inputs_first() {
    let p = pipeline(
        "name: d\nagents:\n  sink_d: { kind: collect, inputs: [mid] }\n  mid: { kind: dedupe, inputs: [s2, s1] }\n  \
         s1: { kind: burst, n: 1 }\n  s2: { kind: burst, n: 1 }\n",
    );
    let dag = agg_core::dag::Dag::build(&p);
    let order: Vec<&str> = dag
        .order()
        .into_iter()
        .map(|i| p.agents[i].name.as_str())
        .collect();
    assert_eq!(order, ["s1", "s2", "mid", "sink_d"]);
}

async fn run_once(
    p: &agg_core::Pipeline,
    s: &Arc<dyn agg_core::Store>,
    opts: RunOptions,
) -> agg_core::exec::RunSummary {
    agg_core::exec::run(p, s.clone(), &opts, Arc::new(Quiet))
        .await
        .unwrap()
}

/// An item a stage fails on is offered again on the next runs, then parked
/// at `max_attempts` with its reason; the others are handled once; `retry`
/// puts the parked one back in line. A new sink added later takes the
/// whole store with `Backlog::All`.
#[tokio::test]
async fn poison_items_are_parked_after_max_attempts() {
    use agg_core::exec::Backlog;
    use agg_core::store::StageStatus;
    let yaml = "name: poison\nmax_attempts: 2\nagents:\n  src: { kind: burst, n: 3 }\n  \
                poison_pick: { kind: picky, inputs: [src] }\n";
    let p = pipeline(yaml);
    let (_d, s) = store().await;
    // burst keys are "src-0".."src-2": make one of them poison by storing a
    // poison item under the same source first.
    let mut bad = vec![item("src-poison".into())];
    bad[0].source = "src".into();
    s.upsert_items(&mut bad).await.unwrap();
    let first = run_once(&p, &s, RunOptions::default()).await;
    assert_eq!(
        first.status,
        RunStatus::Partial,
        "a failed item is reported"
    );
    let failures = s.stage_failures(Some("poison"), 10).await.unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].status, failures[0].attempts),
        (StageStatus::Failed, 1)
    );
    assert_eq!(
        failures[0].reason.as_deref(),
        Some("cannot digest src-poison")
    );
    run_once(&p, &s, RunOptions::default()).await;
    let failures = s.stage_failures(Some("poison"), 10).await.unwrap();
    assert_eq!(
        (failures[0].status, failures[0].attempts),
        (StageStatus::Parked, 2)
    );
    // Parked: no longer offered, so a third run is clean.
    let third = run_once(&p, &s, RunOptions::default()).await;
    let pick = third
        .outcomes
        .iter()
        .find(|o| o.agent == "poison_pick")
        .unwrap();
    assert_eq!(third.status, RunStatus::Ok, "{:?}", third.outcomes);
    assert!(pick.items_backlog == 0, "{pick:?}");
    let got = RECEIVED.lock().unwrap()["poison_pick"].clone();
    assert!(!got.iter().any(|k| k.contains("poison")));
    // Retry: offered once more (and failing again, counted afresh).
    assert_eq!(s.retry_stage("poison", None, None).await.unwrap(), 1);
    let fourth = run_once(&p, &s, RunOptions::default()).await;
    let pick = fourth
        .outcomes
        .iter()
        .find(|o| o.agent == "poison_pick")
        .unwrap();
    assert_eq!(pick.items_backlog, 1, "{pick:?}");
    let failures = s.stage_failures(Some("poison"), 10).await.unwrap();
    assert_eq!(
        (failures[0].status, failures[0].attempts),
        (StageStatus::Failed, 1)
    );

    // A sink added later: the stored items are pending for it, within the
    // window; `Backlog::All` reaches everything.
    let later = pipeline(&format!(
        "{yaml}  late_sink: {{ kind: collect, inputs: [src] }}\n"
    ));
    let opts = RunOptions {
        only: Some("late_sink".into()),
        alone: true,
        backlog: Backlog::All,
        ..RunOptions::default()
    };
    run_once(&later, &s, opts).await;
    let mut late = RECEIVED.lock().unwrap()["late_sink"].clone();
    late.sort();
    assert_eq!(late, ["src-0", "src-1", "src-2", "src-poison"]);
}
