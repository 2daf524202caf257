//! Use cases on items named by id (`agg feedback`, `agg mark`, a saga
//! split): every id must name a stored item before anything changes, so a
//! typo in the third id never leaves the first two half-applied.

use agg_core::{Item, ItemMark, Store};

use crate::StoreError;

/// Ids that name no stored item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no stored item {} (ids come from `agg items`)", .0.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "))]
pub struct UnknownItems(pub Vec<i64>);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}; nothing changed")]
    Unknown(#[from] UnknownItems),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The stored items `ids` name, in the order of `ids` (a repeated id
/// once), or every id that names none.
pub async fn all_stored(store: &dyn Store, ids: &[i64]) -> Result<Vec<Item>, Error> {
    let mut found: std::collections::HashMap<i64, Item> = store
        .get_items(ids)
        .await
        .map_err(StoreError)?
        .into_iter()
        .filter_map(|i| Some((i.id?, i)))
        .collect();
    let missing: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| !found.contains_key(id))
        .collect();
    if !missing.is_empty() {
        return Err(UnknownItems(missing).into());
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// Marks the items `ids` read, unread, saved or not saved (`agg mark`):
/// all of them, or none when one id names no stored item. Returns them.
pub async fn mark(store: &dyn Store, ids: &[i64], mark: ItemMark) -> Result<Vec<Item>, Error> {
    let items = all_stored(store, ids).await?;
    store
        .mark_items(ids, mark, agg_core::clock::current())
        .await
        .map_err(StoreError)?;
    Ok(items)
}
