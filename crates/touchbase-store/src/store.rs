use std::fmt::Debug;

use async_trait::async_trait;
use touchbase_core::{Change, Entity};

use crate::StoreError;

/// A value with the version of the store it was read at; writes name the version they were
/// computed from, so a write based on a stale read is refused as a conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub version: u64,
    pub value: T,
}

/// A place touchbase keeps its records. Implementations: SQLite (embedded) and PostgreSQL.
///
/// A store keeps each inventory entity as a document under (kind, key) and a version number
/// that every successful write increments. It does not validate: the rules live in
/// `touchbase-core` and the operations in [`crate::inventory`] check before they write.
#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Every inventory entity and the version they were read at. An empty list (at version 0)
    /// means the store was never initialized.
    async fn entities(&self) -> Result<Versioned<Vec<Entity>>, StoreError>;

    /// Applies the changes in one transaction, if the store is still at `version`; returns the
    /// new version. A store at another version refuses with [`StoreError::Conflict`] and
    /// changes nothing.
    async fn apply(&self, version: u64, changes: &[Change]) -> Result<u64, StoreError>;
}
