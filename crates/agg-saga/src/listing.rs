//! A saga as a list of sagas shows it (issue 23).
//!
//! `/ui/sagas` used to load the engine's whole state document on every
//! request (0.7 s at 20k items, 2.8 s at 200k). The saga agent now writes one
//! small row per saga into the store's saga list whenever a save changes that
//! saga, and the page reads one page of rows. This module is what a row holds
//! and where the page puts it, so that the rows and a list computed from the
//! engine (before the list is first written) cannot differ.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{Saga, SagaId, SagaStatus};

/// Outlets named in a row: the page shows a few, the count says the rest.
const OUTLET_NAMES: usize = 8;

/// What a list of sagas shows of one saga.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SagaListing {
    pub id: SagaId,
    pub title: String,
    pub status: SagaStatus,
    pub followed: bool,
    pub muted: bool,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub item_count: usize,
    pub outlet_count: usize,
    /// The first outlets by name.
    pub outlet_names: Vec<String>,
    /// Merges into it (each can be undone on its page).
    pub merges: usize,
    /// "since 20 Nov 2026, last 24 Nov".
    pub date_range: String,
}

/// Where a list puts a saga, first group first (then newest `last_seen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListGroup {
    /// The reader follows it.
    Followed = 0,
    /// Active, and told by several outlets: a story in the news.
    SeveralOutlets = 1,
    /// Any other saga of several items.
    SeveralItems = 2,
    /// One item: most "sagas" are a story nobody else told, listed only
    /// when asked for.
    OneItem = 3,
}

impl ListGroup {
    /// The group with this number ([`ListGroup::number`]).
    pub fn from_number(n: u8) -> Option<ListGroup> {
        Some(match n {
            0 => ListGroup::Followed,
            1 => ListGroup::SeveralOutlets,
            2 => ListGroup::SeveralItems,
            3 => ListGroup::OneItem,
            _ => return None,
        })
    }

    /// Its number, as the store keeps and orders it.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Its heading on a page.
    pub fn heading(self) -> &'static str {
        match self {
            ListGroup::Followed => "Stories you follow",
            ListGroup::SeveralOutlets => "Active stories, several outlets",
            ListGroup::SeveralItems => "Other stories",
            ListGroup::OneItem => "One-item stories",
        }
    }
}

impl Saga {
    /// What a list shows of it.
    pub fn listing(&self) -> SagaListing {
        SagaListing {
            id: self.id,
            title: self.title.clone(),
            status: self.status,
            followed: self.followed,
            muted: self.muted,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            item_count: self.item_count(),
            outlet_count: self.outlet_count(),
            outlet_names: self.outlets.keys().take(OUTLET_NAMES).cloned().collect(),
            merges: self.merges.len(),
            date_range: self.date_range(),
        }
    }

    /// Where a list puts it.
    pub fn list_group(&self) -> ListGroup {
        if self.followed {
            ListGroup::Followed
        } else if self.outlet_count() >= 2 && self.status == SagaStatus::Active && !self.muted {
            ListGroup::SeveralOutlets
        } else if self.item_count() >= 2 {
            ListGroup::SeveralItems
        } else {
            ListGroup::OneItem
        }
    }
}
