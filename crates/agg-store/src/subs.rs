//! Subscriptions (issue 19), written once for both backends like the
//! ledger (`ledger.rs`): one generic body per method, instantiated with each
//! backend's sqlx database type. Duplicates are refused by the primary key
//! (`ON CONFLICT DO NOTHING`), so two processes adding the same URL at once
//! store it once.

macro_rules! subscription_methods {
    ($db:ty, $store:ty) => {
        impl $store {
            pub(crate) async fn subs_add(
                &self,
                sub: &agg_core::store::Subscription,
            ) -> anyhow::Result<bool> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO subscriptions (url, title, folder, added) VALUES (",
                );
                let mut sep = qb.separated(", ");
                sep.push_bind(sub.url.clone());
                sep.push_bind(sub.title.clone());
                sep.push_bind(sub.folder.clone());
                sep.push_bind(sub.added);
                qb.push(") ON CONFLICT (url) DO NOTHING");
                let mut tx = self.write_tx().await?;
                let n = qb.build().execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                Ok(n == 1)
            }

            pub(crate) async fn subs_remove(&self, url: &str) -> anyhow::Result<bool> {
                let mut qb =
                    sqlx::QueryBuilder::<$db>::new("DELETE FROM subscriptions WHERE url = ");
                qb.push_bind(url.to_string());
                let mut tx = self.write_tx().await?;
                let n = qb.build().execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            pub(crate) async fn subs_list(
                &self,
                folder: Option<&str>,
            ) -> anyhow::Result<Vec<agg_core::store::Subscription>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT url, title, folder, added FROM subscriptions",
                );
                if let Some(f) = folder {
                    qb.push(" WHERE folder = ");
                    qb.push_bind(f.to_string());
                }
                qb.push(" ORDER BY folder, url");
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok(agg_core::store::Subscription {
                            url: r.try_get("url")?,
                            title: r.try_get("title")?,
                            folder: r.try_get("folder")?,
                            added: r.try_get("added")?,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn subs_notified(
                &self,
                pipeline: &str,
                agent: &str,
                ids: &[i64],
            ) -> anyhow::Result<std::collections::HashSet<i64>> {
                let mut out = std::collections::HashSet::new();
                for chunk in ids.chunks($crate::state::IDS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT item_id FROM notifications WHERE pipeline = ",
                    );
                    qb.push_bind(pipeline.to_string());
                    qb.push(" AND agent = ");
                    qb.push_bind(agent.to_string());
                    qb.push(" AND item_id IN (");
                    let mut sep = qb.separated(", ");
                    for id in chunk {
                        sep.push_bind(*id);
                    }
                    qb.push(")");
                    // Lists of every length: not worth a cached statement each.
                    for r in qb.build().persistent(false).fetch_all(&self.pool).await? {
                        out.insert(r.try_get::<i64, _>(0)?);
                    }
                }
                Ok(out)
            }

            pub(crate) async fn subs_record_notification(
                &self,
                pipeline: &str,
                agent: &str,
                item_id: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<()> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO notifications (pipeline, agent, item_id, sent_at) VALUES (",
                );
                let mut sep = qb.separated(", ");
                sep.push_bind(pipeline.to_string());
                sep.push_bind(agent.to_string());
                sep.push_bind(item_id);
                sep.push_bind(at);
                qb.push(") ON CONFLICT (pipeline, agent, item_id) DO NOTHING");
                let mut tx = self.write_tx().await?;
                qb.build().execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn subs_notifications_since(
                &self,
                pipeline: &str,
                agent: &str,
                since: chrono::DateTime<chrono::Utc>,
            ) -> anyhow::Result<u64> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT COUNT(*) FROM notifications WHERE pipeline = ",
                );
                qb.push_bind(pipeline.to_string());
                qb.push(" AND agent = ");
                qb.push_bind(agent.to_string());
                qb.push(" AND sent_at >= ");
                qb.push_bind(since);
                let n: i64 = qb.build().fetch_one(&self.pool).await?.try_get(0)?;
                Ok(n.max(0) as u64)
            }
        }
    };
}
pub(crate) use subscription_methods;
