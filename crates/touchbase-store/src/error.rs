use std::error::Error as StdError;

use touchbase_core::access::Denied;
use touchbase_core::governance::DecideError;
use touchbase_core::{FileError, Violations};

/// What can go wrong in a store, reduced to what a caller can act on. The message holds the
/// cause whole (it is no `source`, which the binary's error chain would print a second time).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else wrote first; load again and retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The stored data could not be read back (a document no longer matches its type).
    #[error("the store holds data this version of touchbase cannot read: {0}")]
    Corrupt(String),
    /// The storage is full (the disk, the file system, the database's space): nothing of the
    /// write was kept. Writes work again once space is freed, without a restart.
    #[error("the disk is full: {context}: {cause}")]
    Full {
        context: String,
        cause: Box<dyn StdError + Send + Sync>,
    },
    /// The database cannot be reached for now (restarting, the connection lost, locked by
    /// another writer for too long): the write was not kept, or its commit was not confirmed.
    /// Sending it again is safe (an event id is kept once) and works once it is back.
    #[error("the database is unavailable: {context}: {cause}")]
    Unavailable {
        context: String,
        cause: Box<dyn StdError + Send + Sync>,
    },
    /// The database failed otherwise: a migration that did not apply, a statement refused, …
    #[error("{context}: {cause}")]
    Backend {
        context: String,
        cause: Box<dyn StdError + Send + Sync>,
    },
}

impl StoreError {
    pub fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        StoreError::Backend {
            context: context.into(),
            cause: source.into(),
        }
    }

    pub fn full(
        context: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        StoreError::Full {
            context: context.into(),
            cause: source.into(),
        }
    }

    pub fn unavailable(
        context: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        StoreError::Unavailable {
            context: context.into(),
            cause: source.into(),
        }
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }

    /// Whether the storage is full ([`StoreError::Full`]).
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Full { .. })
    }

    /// Whether the database is unavailable for now ([`StoreError::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
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
    /// A write made against a version of a point that is no longer the stored one (HTTP 412).
    #[error(
        "point `{key}` changed since it was read (it was {read}, it is {now} now): read it again and make the edit on what it is now"
    )]
    PointChanged {
        key: String,
        read: String,
        now: String,
    },
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

impl OpError {
    /// An input that breaks a rule: what it is about, its field, and the rule.
    pub fn invalid(subject: impl Into<String>, field: &str, rule: impl Into<String>) -> OpError {
        OpError::Invalid(Violations(vec![touchbase_core::Violation::new(
            subject, field, rule,
        )]))
    }
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
