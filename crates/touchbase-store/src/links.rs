//! Signed customer-facing links as every store keeps them: [`issue`] makes one (a token for
//! the party, only its hash for the store) and [`open`] lets a token in only if its signature,
//! purpose and expiry hold ([`touchbase_core::link::read`]) and its record says it is neither
//! revoked nor, for a single-use link, used. One mechanism for every link: the self-service
//! pages of standing orders and the survey invitations.

use serde::Serialize;
use touchbase_core::endpoint::Keys;
use touchbase_core::link::{self, LinkError, NONCE_BYTES, Purpose};

use crate::{Store, StoreError};

/// What a store keeps of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkRecord {
    /// The SHA-256 of the token (hex).
    pub hash: String,
    pub purpose: String,
    pub subject: String,
    /// Seconds since the epoch.
    pub expires_at: i64,
    /// Microseconds since the epoch.
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// When a single-use link was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_at: Option<i64>,
}

/// Why a token does not open its page. A party is shown one message for all of them (the
/// link does not open; how to get a new one); the reason is for the log and the tests.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Invalid(#[from] LinkError),
    /// Signed with the key but not on record (a store restored from before it was issued).
    #[error("the link is not on record")]
    Unknown,
    #[error("the link was revoked")]
    Revoked,
    #[error("the link was used already")]
    Used,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues a link for `subject`, valid until `expires_at` (seconds since the epoch), and records
/// its hash; `now` in microseconds. The token is returned once and kept nowhere.
pub async fn issue(
    store: &dyn Store,
    keys: &Keys,
    purpose: Purpose,
    subject: &str,
    expires_at: i64,
    now: i64,
) -> Result<link::Issued, Refused> {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(|e| {
        StoreError::backend(
            "drawing a link's nonce",
            format!("the system's random source failed: {e}"),
        )
    })?;
    let issued = link::issue(keys, purpose, subject, expires_at, nonce)?;
    store
        .put_link(&LinkRecord {
            hash: issued.hash.clone(),
            purpose: purpose.as_str().to_owned(),
            subject: issued.subject.clone(),
            expires_at,
            created_at: now,
            revoked_at: None,
            used_at: None,
        })
        .await?;
    Ok(issued)
}

/// The record of `token` if it opens a `purpose` page at `now` (microseconds): signed with the
/// key for that purpose, not expired, on record for the same subject, not revoked, and — when
/// `single_use` — not used yet. Opening uses nothing: [`Store::use_link`] does, on the action.
pub async fn open(
    store: &dyn Store,
    keys: &Keys,
    purpose: Purpose,
    token: &str,
    single_use: bool,
    now: i64,
) -> Result<LinkRecord, Refused> {
    let claims = link::read(keys, purpose, token, now.div_euclid(1_000_000))?;
    let record = store.link(&claims.hash).await?.ok_or(Refused::Unknown)?;
    if record.purpose != purpose.as_str() || record.subject != claims.subject {
        return Err(Refused::Unknown);
    }
    if record.revoked_at.is_some() {
        return Err(Refused::Revoked);
    }
    if single_use && record.used_at.is_some() {
        return Err(Refused::Used);
    }
    Ok(record)
}
