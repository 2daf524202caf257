//! Run history (`agg runs`, `/ui/runs`), written once for both backends.
//!
//! The SQL is the same on SQLite and PostgreSQL: `$N` placeholders (SQLite
//! numbers `$1`, `$2`… in order of appearance), `ON CONFLICT … DO UPDATE`.
//! The one difference is the column that keeps an agent's events in the
//! order they were recorded (`rowid` on SQLite, `seq` on PostgreSQL), a
//! parameter of the macro.

/// The run-history methods of `Store` for one backend, as inherent `runs_*`
/// methods its `Store` impl forwards to (see `shared.rs`).
macro_rules! runs_methods {
    ($db:ty, $store:ty, $event_order:literal) => {
        impl $store {
            pub(crate) async fn runs_record_agent(
                &self,
                run: agg_core::store::RunId,
                o: &agg_core::AgentOutcome,
            ) -> anyhow::Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO run_events (run_id, agent, kind, role, status, items_in,
                         items_out, items_new, errors, duration_ms, items_backlog, skips)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (run_id, agent) DO UPDATE SET kind = excluded.kind,
                         role = excluded.role, status = excluded.status,
                         items_in = excluded.items_in, items_out = excluded.items_out,
                         items_new = excluded.items_new, errors = excluded.errors,
                         duration_ms = excluded.duration_ms,
                         items_backlog = excluded.items_backlog, skips = excluded.skips",
                )
                .bind(run)
                .bind(&o.agent)
                .bind(&o.kind)
                .bind(o.role.as_str())
                .bind(o.status.as_str())
                .bind(o.items_in as i64)
                .bind(o.items_out as i64)
                .bind(o.items_new as i64)
                .bind(serde_json::to_string(&o.errors)?)
                .bind(o.duration_ms as i64)
                .bind(o.items_backlog as i64)
                .bind(serde_json::to_string(&o.skips)?)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn runs_finish(
                &self,
                run: agg_core::store::RunId,
                status: agg_core::RunStatus,
            ) -> anyhow::Result<()> {
                sqlx::query::<$db>("UPDATE runs SET status = $1, finished = $2 WHERE id = $3")
                    .bind(status.as_str())
                    .bind(chrono::Utc::now())
                    .bind(run)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            pub(crate) async fn runs_list(
                &self,
                limit: u64,
            ) -> anyhow::Result<Vec<agg_core::RunRecord>> {
                use sqlx::Row;
                let runs = sqlx::query::<$db>("SELECT * FROM runs ORDER BY id DESC LIMIT $1")
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await?;
                let mut out = Vec::new();
                for r in runs {
                    let id: i64 = r.try_get("id")?;
                    let events = sqlx::query::<$db>(concat!(
                        "SELECT * FROM run_events WHERE run_id = $1 ORDER BY ",
                        $event_order
                    ))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                    let agents = events
                        .iter()
                        .map(|e| -> anyhow::Result<agg_core::AgentOutcome> {
                            let text = |c: &str| -> anyhow::Result<String> { Ok(e.try_get(c)?) };
                            let num = |c: &str| -> anyhow::Result<u64> {
                                Ok(e.try_get::<i64, _>(c)? as u64)
                            };
                            Ok(agg_core::AgentOutcome {
                                agent: text("agent")?,
                                kind: text("kind")?,
                                role: agg_core::Role::parse(&text("role")?)?,
                                status: agg_core::AgentStatus::parse(&text("status")?)?,
                                items_in: num("items_in")?,
                                items_out: num("items_out")?,
                                items_new: num("items_new")?,
                                errors: serde_json::from_str(&text("errors")?)?,
                                duration_ms: num("duration_ms")?,
                                items_backlog: num("items_backlog")?,
                                skips: serde_json::from_str(&text("skips")?)?,
                            })
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    out.push(agg_core::RunRecord {
                        id,
                        pipeline: r.try_get("pipeline")?,
                        started: r.try_get("started")?,
                        finished: r.try_get("finished")?,
                        status: agg_core::RunStatus::parse(&r.try_get::<String, _>("status")?)?,
                        agents,
                    });
                }
                Ok(out)
            }
        }
    };
}
pub(crate) use runs_methods;
