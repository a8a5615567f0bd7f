use std::error::Error as StdError;

use touchbase_core::access::Denied;
use touchbase_core::governance::DecideError;
use touchbase_core::{FileError, Violations};

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

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(
        "the store holds no inventory yet: run `touchbase init` or `touchbase inventory import FILE`"
    )]
    NotInitialized,
    #[error("the store already holds the inventory of {0}")]
    AlreadyInitialized(String),
    #[error("no point `{0}`: `touchbase point list` shows the points there are")]
    PointNotFound(String),
    #[error("a point `{0}` exists already: edit it instead")]
    PointExists(String),
    #[error("no proposal {0}: `touchbase proposal list` shows them")]
    ProposalNotFound(u64),
    #[error("no user `{0}`: `touchbase user list` shows them")]
    UserNotFound(String),
    #[error("a user `{0}` exists already")]
    UserExists(String),
    #[error("no token `{0}`: `touchbase user list` shows each user's tokens")]
    TokenNotFound(String),
    /// Something else named that does not exist (an endpoint, a rule, a delivery): the
    /// message says what and where to look.
    #[error("{0}")]
    NotFound(String),
    /// No valid credentials (HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials, not enough rights (HTTP 403).
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Invalid(#[from] Violations),
    /// A setting that does not exist or a value that breaks its rule (HTTP 422). Not a
    /// `source`: the message holds it whole, and a source would be printed twice.
    #[error("{0}; `touchbase settings` lists the settings")]
    Setting(touchbase_core::portfolio::SettingError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<touchbase_core::portfolio::SettingError> for OpError {
    fn from(e: touchbase_core::portfolio::SettingError) -> Self {
        OpError::Setting(e)
    }
}

impl From<DecideError> for OpError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::Denied(d) => OpError::Denied(d),
            DecideError::Refused(v) => OpError::Invalid(v),
        }
    }
}

impl From<FileError> for OpError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Syntax(why) => {
                OpError::Invalid(Violations(vec![touchbase_core::Violation::new(
                    "body", "", why,
                )]))
            }
            FileError::TooDeep(deep) => {
                OpError::Invalid(Violations(vec![touchbase_core::Violation::new(
                    "body",
                    "",
                    deep.to_string(),
                )]))
            }
            FileError::Invalid(v) => OpError::Invalid(v),
        }
    }
}
