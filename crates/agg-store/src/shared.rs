//! The `Store` impl of each backend, with what both share written once.
//!
//! The ledger, run history, history, subscriptions and read-state methods are generic
//! over the database (`ledger_methods!` and its siblings); the `Store`
//! methods that reach them were copied, word for word, into both backends'
//! impls. They live here once. They cannot be a separate macro inside the
//! impl: `#[async_trait]` rewrites the impl before a macro in it would
//! expand, so the whole impl is generated here, the backend's own methods
//! passed in as they are.

/// `#[async_trait] impl Store for $store { <$own methods> <shared ones> }`.
macro_rules! impl_store {
    ($store:ty, { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl agg_core::Store for $store {
            $($own)*

            // Run history, written once in `runs.rs`.
            async fn record_agent(
                &self,
                run: agg_core::store::RunId,
                outcome: &agg_core::AgentOutcome,
            ) -> anyhow::Result<()> {
                self.runs_record_agent(run, outcome).await
            }
            async fn finish_run(
                &self,
                run: agg_core::store::RunId,
                status: agg_core::RunStatus,
            ) -> anyhow::Result<()> {
                self.runs_finish(run, status).await
            }
            async fn list_runs(&self, limit: u64) -> anyhow::Result<Vec<agg_core::RunRecord>> {
                self.runs_list(limit).await
            }

        // The ledger, written once for both backends in `ledger.rs`.
        async fn mark_stage(
            &self,
            pipeline: &str,
            agent: &str,
            marks: &[agg_core::store::StageMark],
            max_attempts: u32,
        ) -> anyhow::Result<()> {
            self.ledger_mark_stage(pipeline, agent, marks, max_attempts)
                .await
        }
        async fn pending_items(&self, q: &agg_core::store::StageQuery) -> anyhow::Result<Vec<i64>> {
            self.ledger_pending_items(q).await
        }
        async fn stage_view(
            &self,
            q: &agg_core::store::StageQuery,
        ) -> anyhow::Result<Vec<agg_core::Item>> {
            self.ledger_stage_view(q).await
        }
        async fn stage_counts(
            &self,
            pipeline: &str,
        ) -> anyhow::Result<Vec<agg_core::store::StageCounts>> {
            self.ledger_stage_counts(pipeline).await
        }
        async fn stage_failures(
            &self,
            pipeline: Option<&str>,
            limit: u64,
        ) -> anyhow::Result<Vec<agg_core::store::StageFailure>> {
            self.ledger_stage_failures(pipeline, limit).await
        }
        async fn retry_stage(
            &self,
            pipeline: &str,
            agent: Option<&str>,
            item: Option<i64>,
        ) -> anyhow::Result<u64> {
            self.ledger_retry_stage(pipeline, agent, item).await
        }
        async fn latest_embedding_model(&self) -> anyhow::Result<Option<String>> {
            self.ledger_latest_embedding_model().await
        }

        // issue 23: history
        async fn log_saga_events(&self, events: &[(u64, String, String)]) -> anyhow::Result<()> {
            self.history_log_saga_events(events).await
        }
        async fn prune_saga_events(&self, before: chrono::DateTime<chrono::Utc>) -> anyhow::Result<u64> {
            self.history_prune_saga_events(before).await
        }
        async fn apply_retention(
            &self,
            plan: &agg_core::store::RetentionPlan,
        ) -> anyhow::Result<agg_core::store::RetentionReport> {
            self.history_apply_retention(plan).await
        }
        async fn tombstoned(
            &self,
            keys: &[String],
        ) -> anyhow::Result<std::collections::HashSet<String>> {
            self.history_tombstoned(keys).await
        }
        // issue 19: subscriptions, written once for both backends in `subs.rs`.
        async fn add_subscription(&self, sub: &agg_core::store::Subscription) -> anyhow::Result<bool> {
            self.subs_add(sub).await
        }
        async fn remove_subscription(&self, url: &str) -> anyhow::Result<bool> {
            self.subs_remove(url).await
        }
        async fn list_subscriptions(
            &self,
            folder: Option<&str>,
        ) -> anyhow::Result<Vec<agg_core::store::Subscription>> {
            self.subs_list(folder).await
        }
        async fn notified(
            &self,
            pipeline: &str,
            agent: &str,
            ids: &[i64],
        ) -> anyhow::Result<std::collections::HashSet<i64>> {
            self.subs_notified(pipeline, agent, ids).await
        }
        async fn record_notification(
            &self,
            pipeline: &str,
            agent: &str,
            item_id: i64,
            at: chrono::DateTime<chrono::Utc>,
        ) -> anyhow::Result<()> {
            self.subs_record_notification(pipeline, agent, item_id, at)
                .await
        }
        async fn notifications_since(
            &self,
            pipeline: &str,
            agent: &str,
            since: chrono::DateTime<chrono::Utc>,
        ) -> anyhow::Result<u64> {
            self.subs_notifications_since(pipeline, agent, since).await
        }
        // issue 18: read and saved, written once for both backends in `state.rs`.
        async fn mark_items(
            &self,
            ids: &[i64],
            mark: agg_core::store::ItemMark,
            at: chrono::DateTime<chrono::Utc>,
        ) -> anyhow::Result<u64> {
            self.state_mark(ids, mark, at).await
        }
        async fn item_states(
            &self,
            ids: &[i64],
        ) -> anyhow::Result<std::collections::HashMap<i64, agg_core::store::ItemState>> {
            self.state_get(ids).await
        }
        async fn saved_items(&self, limit: u64) -> anyhow::Result<Vec<agg_core::store::ItemState>> {
            self.state_saved(limit).await
        }
        }
    };
}
pub(crate) use impl_store;
