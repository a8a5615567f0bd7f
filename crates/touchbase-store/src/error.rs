use std::error::Error as StdError;

/// What can go wrong in a store, reduced to what a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else wrote first; load again and retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The stored data could not be read back (a document no longer matches its type).
    #[error("the store holds data this version of touchbase cannot read: {0}")]
    Corrupt(String),
    /// The database failed: unreachable, out of space, a migration that did not apply, …
    #[error("{context}: {source}")]
    Backend {
        context: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl StoreError {
    pub fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        StoreError::Backend {
            context: context.into(),
            source: source.into(),
        }
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}
