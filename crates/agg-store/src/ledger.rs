//! The per-stage ledger, written once for both backends.
//!
//! The SQL is the same on SQLite and PostgreSQL (`ON CONFLICT … DO UPDATE`,
//! `CASE`, `EXISTS`); placeholders come from sqlx's `QueryBuilder`, which
//! writes `?` or `$N` for the backend at hand. The macro is instantiated in
//! each backend's module with its database type, so each method is one
//! generic body and not two copies that drift.

/// The status of a new ledger row for a mark (before any existing row is
/// taken into account): a first failure parks at once when one attempt is
/// all the pipeline allows.
pub(crate) fn initial_status(
    m: &agg_core::store::StageMark,
    max_attempts: u32,
) -> agg_core::store::StageStatus {
    use agg_core::store::StageStatus;
    match m.status {
        StageStatus::Failed if m.attempt && max_attempts <= 1 => StageStatus::Parked,
        s => s,
    }
}

/// Rows per multi-row INSERT (7 parameters each).
pub(crate) const LEDGER_ROWS_PER_INSERT: usize = 500;

/// How many of the newest cached vectors decide which model's vectors the
/// saga step reads (`Store::latest_embedding_model`): a day's items or
/// more, a bounded read whatever the history.
pub(crate) const RECENT_VECTORS: usize = 1_000;

/// Appends `(… OR …)`: the item was produced by one of `sources` or passed
/// by one of `stages` (of the pipeline). Never empty: with no inputs it is
/// false.
macro_rules! push_from_inputs {
    ($qb:expr, $q:expr) => {{
        let q = $q;
        $qb.push("(1 = 0");
        if !q.source_inputs.is_empty() {
            $qb.push(" OR i.source IN (");
            let mut sep = $qb.separated(", ");
            for s in &q.source_inputs {
                sep.push_bind(s.clone());
            }
            $qb.push(")");
        }
        if !q.stage_inputs.is_empty() {
            $qb.push(
                " OR EXISTS (SELECT 1 FROM stage_ledger u WHERE u.item_id = i.id \
                 AND u.status = 'passed' AND u.pipeline = ",
            );
            $qb.push_bind(q.pipeline.clone());
            $qb.push(" AND u.agent IN (");
            let mut sep = $qb.separated(", ");
            for s in &q.stage_inputs {
                sep.push_bind(s.clone());
            }
            $qb.push("))");
        }
        $qb.push(")");
        if let Some(since) = q.since {
            // Through the fetch-time index: written as `i.fetched >= ?`, the
            // plan walked every item by id or by date order and tested each
            // (1.1 s per query at 1M items, on every run, new items or not).
            $qb.push(" AND i.id IN (SELECT id FROM items WHERE fetched >= ");
            $qb.push_bind(since);
            $qb.push(")");
        }
    }};
}
pub(crate) use push_from_inputs;

/// The ledger methods of `Store`, for one backend (`$db`: the sqlx database
/// type, `$store` the store type with a `pool` and a `write_tx`), as
/// inherent `ledger_*` methods the backend's `Store` impl forwards to
/// (`#[async_trait]` does not see into a macro inside the impl it rewrites).
macro_rules! ledger_methods {
    ($db:ty, $store:ty) => {
        impl $store {
        pub(crate) async fn ledger_mark_stage(
            &self,
            pipeline: &str,
            agent: &str,
            marks: &[agg_core::store::StageMark],
            max_attempts: u32,
        ) -> anyhow::Result<()> {
            if marks.is_empty() {
                return Ok(());
            }
            let now = chrono::Utc::now();
            let max = i64::from(max_attempts.min(i32::MAX as u32));
            let mut tx = self.write_tx().await?;
            for chunk in marks.chunks($crate::ledger::LEDGER_ROWS_PER_INSERT) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO stage_ledger (pipeline, agent, item_id, status, attempts, reason, at) ",
                );
                qb.push_values(chunk, |mut b, m| {
                    b.push_bind(pipeline.to_string())
                        .push_bind(agent.to_string())
                        .push_bind(m.item_id)
                        .push_bind(
                            $crate::ledger::initial_status(m, max_attempts)
                                .as_str()
                                .to_string(),
                        )
                        .push_bind(i64::from(m.attempt))
                        .push_bind(m.reason.clone())
                        .push_bind(now);
                });
                // A finished entry (passed, dropped) replaces anything; a
                // failure never replaces a finished or parked entry, adds its
                // attempt, and parks the item at `max_attempts`.
                qb.push(
                    " ON CONFLICT (pipeline, agent, item_id) DO UPDATE SET \
                     status = CASE \
                       WHEN excluded.status IN ('passed', 'dropped') THEN excluded.status \
                       WHEN stage_ledger.status <> 'failed' THEN stage_ledger.status \
                       WHEN stage_ledger.attempts + excluded.attempts >= ",
                );
                qb.push_bind(max);
                qb.push(
                    " THEN 'parked' ELSE 'failed' END, \
                     attempts = CASE \
                       WHEN excluded.status IN ('passed', 'dropped') THEN stage_ledger.attempts \
                       WHEN stage_ledger.status <> 'failed' THEN stage_ledger.attempts \
                       ELSE stage_ledger.attempts + excluded.attempts END, \
                     reason = CASE \
                       WHEN excluded.status IN ('passed', 'dropped') THEN excluded.reason \
                       WHEN stage_ledger.status <> 'failed' THEN stage_ledger.reason \
                       ELSE excluded.reason END, \
                     at = excluded.at",
                );
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        pub(crate) async fn ledger_pending_items(
            &self,
            q: &agg_core::store::StageQuery,
        ) -> anyhow::Result<Vec<i64>> {
            let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT i.id FROM items i WHERE i.id > ");
            qb.push_bind(q.after_id);
            qb.push(" AND ");
            $crate::ledger::push_from_inputs!(qb, q);
            qb.push(
                " AND NOT EXISTS (SELECT 1 FROM stage_ledger m WHERE m.item_id = i.id \
                 AND m.status <> 'failed' AND m.pipeline = ",
            );
            qb.push_bind(q.pipeline.clone());
            qb.push(" AND m.agent = ");
            qb.push_bind(q.agent.clone());
            qb.push(") ORDER BY i.id LIMIT ");
            qb.push_bind(i64::try_from(q.limit).unwrap_or(i64::MAX));
            let rows = qb.build().fetch_all(&self.pool).await?;
            rows.iter()
                .map(|r| Ok(r.try_get::<i64, _>(0)?))
                .collect()
        }

        pub(crate) async fn ledger_stage_view(
            &self,
            q: &agg_core::store::StageQuery,
        ) -> anyhow::Result<Vec<agg_core::Item>> {
            let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT i.* FROM items i WHERE ");
            $crate::ledger::push_from_inputs!(qb, q);
            qb.push(" ORDER BY i.sort_time DESC, i.id DESC LIMIT ");
            qb.push_bind(i64::try_from(q.limit).unwrap_or(i64::MAX));
            let rows = qb.build().fetch_all(&self.pool).await?;
            rows.iter().map(item_from_row).collect()
        }

        pub(crate) async fn ledger_stage_counts(
            &self,
            pipeline: &str,
        ) -> anyhow::Result<Vec<agg_core::store::StageCounts>> {
            let rows = sqlx::QueryBuilder::<$db>::new(
                "SELECT agent,
                    SUM(CASE WHEN status = 'passed' THEN 1 ELSE 0 END) AS passed,
                    SUM(CASE WHEN status = 'dropped' THEN 1 ELSE 0 END) AS dropped,
                    SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed,
                    SUM(CASE WHEN status = 'parked' THEN 1 ELSE 0 END) AS parked
                 FROM stage_ledger WHERE pipeline = ",
            )
            .push_bind(pipeline.to_string())
            .push(" GROUP BY agent ORDER BY agent")
            .build()
            .fetch_all(&self.pool)
            .await?;
            let mut out = Vec::new();
            for r in rows {
                let agent: String = r.try_get("agent")?;
                let n = |c: &str| -> anyhow::Result<u64> {
                    Ok(r.try_get_unchecked::<Option<i64>, _>(c)?.unwrap_or(0) as u64)
                };
                let last_ok = sqlx::QueryBuilder::<$db>::new(
                    "SELECT at FROM stage_ledger WHERE status IN ('passed', 'dropped') AND pipeline = ",
                )
                .push_bind(pipeline.to_string())
                .push(" AND agent = ")
                .push_bind(agent.clone())
                .push(" ORDER BY at DESC LIMIT 1")
                .build()
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get::<chrono::DateTime<chrono::Utc>, _>("at"))
                .transpose()?;
                let last_error = sqlx::QueryBuilder::<$db>::new(
                    "SELECT reason FROM stage_ledger WHERE status IN ('failed', 'parked') AND pipeline = ",
                )
                .push_bind(pipeline.to_string())
                .push(" AND agent = ")
                .push_bind(agent.clone())
                .push(" ORDER BY at DESC LIMIT 1")
                .build()
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get::<Option<String>, _>("reason"))
                .transpose()?
                .flatten();
                out.push(agg_core::store::StageCounts {
                    passed: n("passed")?,
                    dropped: n("dropped")?,
                    failed: n("failed")?,
                    parked: n("parked")?,
                    agent,
                    last_ok,
                    last_error,
                });
            }
            Ok(out)
        }

        pub(crate) async fn ledger_stage_failures(
            &self,
            pipeline: Option<&str>,
            limit: u64,
        ) -> anyhow::Result<Vec<agg_core::store::StageFailure>> {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT l.pipeline, l.agent, l.item_id, i.title, l.status, l.attempts, l.reason, l.at
                 FROM stage_ledger l JOIN items i ON i.id = l.item_id
                 WHERE l.status IN ('failed', 'parked')",
            );
            if let Some(p) = pipeline {
                qb.push(" AND l.pipeline = ");
                qb.push_bind(p.to_string());
            }
            qb.push(" ORDER BY l.at DESC, l.item_id DESC LIMIT ");
            qb.push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
            let rows = qb.build().fetch_all(&self.pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(agg_core::store::StageFailure {
                        pipeline: r.try_get("pipeline")?,
                        agent: r.try_get("agent")?,
                        item_id: r.try_get("item_id")?,
                        title: r.try_get("title")?,
                        status: agg_core::store::StageStatus::parse(
                            &r.try_get::<String, _>("status")?,
                        )?,
                        attempts: r.try_get::<i64, _>("attempts")?.max(0) as u32,
                        reason: r.try_get("reason")?,
                        at: r.try_get("at")?,
                    })
                })
                .collect()
        }

        pub(crate) async fn ledger_retry_stage(
            &self,
            pipeline: &str,
            agent: Option<&str>,
            item: Option<i64>,
        ) -> anyhow::Result<u64> {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "UPDATE stage_ledger SET status = 'failed', attempts = 0
                 WHERE status IN ('failed', 'parked') AND pipeline = ",
            );
            qb.push_bind(pipeline.to_string());
            if let Some(a) = agent {
                qb.push(" AND agent = ");
                qb.push_bind(a.to_string());
            }
            if let Some(i) = item {
                qb.push(" AND item_id = ");
                qb.push_bind(i);
            }
            let mut tx = self.write_tx().await?;
            let n = qb.build().execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok(n)
        }

        pub(crate) async fn ledger_latest_embedding_model(&self) -> anyhow::Result<Option<String>> {
            // The model with the most vectors among the newest
            // `RECENT_VECTORS` (by item): one model in practice, and after a
            // switch the new one as soon as it embedded most new items.
            // Counted over every vector it was a full scan that grew with
            // history (271 ms of a run with 20 new items at 1M, issue 23);
            // this reads the end of the primary key.
            let row = sqlx::QueryBuilder::<$db>::new(format!(
                "SELECT model, COUNT(*) AS n FROM
                   (SELECT model FROM embeddings ORDER BY item_id DESC LIMIT {})
                   AS recent GROUP BY model ORDER BY n DESC, model LIMIT 1",
                crate::ledger::RECENT_VECTORS
            ))
            .build()
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.map(|r| r.try_get::<String, _>("model")).transpose()?)
        }
        }
    };
}
pub(crate) use ledger_methods;
