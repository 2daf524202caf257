//! Lifecycle over time: dormancy sweeps, when a saga counts as quiet, and
//! retention of item vectors.

#[cfg(doc)]
use super::SagaConfig;
use super::{Saga, SagaEngine, SagaEvent, SagaStatus};
use chrono::{DateTime, Duration, Utc};

impl SagaEngine {
    /// Mark sagas quiet for longer than `dormant_after_days` (relative to
    /// `now`) as dormant. Called by [`SagaEngine::assign`]; call it directly
    /// before listing sagas if no item arrived for a while.
    pub fn sweep(&mut self, now: DateTime<Utc>) {
        let limit = now - days(self.config.dormant_after_days);
        while let Some(&(ts, idx)) = self.active.first() {
            if ts >= limit.timestamp() {
                break;
            }
            self.active.pop_first();
            let s = &mut self.sagas[idx as usize];
            if s.status == SagaStatus::Active {
                s.status = SagaStatus::Dormant;
                self.events.push(SagaEvent::Dormant {
                    saga: s.id,
                    at: now,
                });
            }
        }
    }

    /// Whether the saga has gone quiet relative to its own pace (see
    /// [`SagaConfig::quiet_pace_factor`]) or is dormant.
    pub(super) fn is_quiet(&self, s: &Saga, t: DateTime<Utc>) -> bool {
        if s.status == SagaStatus::Dormant {
            return true;
        }
        let c = &self.config;
        let n = s.members.len();
        if n < 2 || c.quiet_pace_factor <= 0.0 {
            return false;
        }
        let gap_h = (t - s.last_seen).num_seconds() as f32 / 3600.0;
        // The prior keeps a few same-hour items from claiming a frantic pace.
        let span_h = (s.last_seen - s.first_seen).num_seconds() as f32 / 3600.0;
        let pace_h = (span_h + c.quiet_prior_hours) / (n - 1) as f32;
        gap_h > c.quiet_min_hours && gap_h > c.quiet_pace_factor * pace_h
    }

    /// Retention: drop the per-item vectors of items older than `before`.
    /// Memberships, timelines and saga aggregates stay; a later split of such
    /// items rebuilds the centroids without them (their evidence is forgotten).
    /// The sagas whose records change count as changed: their rows hold
    /// the records ([`SagaEngine::to_parts`]).
    pub fn forget_vectors_before(&mut self, before: DateTime<Utc>) {
        let mut touched = Vec::new();
        for s in &self.sagas {
            let mut any = false;
            for m in &s.members {
                if m.time < before
                    && let Some(r) = self.items.get_mut(&m.item_id)
                    && !r.vec.is_empty()
                {
                    r.vec = Vec::new();
                    any = true;
                }
            }
            if any {
                touched.push(s.id.index());
            }
        }
        for i in touched {
            self.sagas.touch(i);
        }
    }
}

fn days(d: f32) -> Duration {
    Duration::seconds((d as f64 * 86_400.0) as i64)
}
