//! `agg gc` and what the CLI says of the retention a run applied
//! (`retention_days:`, issue 23). Retention itself is
//! `agg_app::retention`, which `agg serve` applies too.

use std::process::ExitCode;

use agg_app::run::Retention;
use agg_core::Store;

/// Says on stderr what retention did after a run, when it did something or
/// failed; a skipped or empty pass is not worth a line.
pub fn report(r: &Retention) {
    match r {
        Retention::Applied { days, report: r }
            if r.thinned + r.deleted + r.sagas + r.tombstones > 0 =>
        {
            eprintln!(
                "retention ({days} days): {} items thinned, {} deleted, {} kept; {} archived sagas and {} tombstones forgotten",
                r.thinned, r.deleted, r.kept, r.sagas, r.tombstones
            )
        }
        Retention::Failed { error, .. } => {
            eprintln!("retention failed (the run is done): {error:#}")
        }
        Retention::Applied { .. } | Retention::Skipped(_) => {}
    }
}

/// `agg gc`: retention now, whatever the time of the last one.
pub async fn gc(store: &dyn Store, days: u32, json: bool) -> anyhow::Result<ExitCode> {
    let r = agg_app::retention::apply(store, days).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"days": days, "thinned": r.thinned, "deleted": r.deleted, "kept": r.kept, "sagas": r.sagas, "tombstones": r.tombstones})
        );
    } else {
        println!(
            "retention ({days} days): {} items thinned, {} deleted, {} kept (followed sagas, likes); {} archived sagas and {} tombstones forgotten",
            r.thinned, r.deleted, r.kept, r.sagas, r.tombstones
        );
        println!("the database file keeps its size; `sqlite3 FILE VACUUM` gives the space back");
    }
    Ok(ExitCode::SUCCESS)
}
