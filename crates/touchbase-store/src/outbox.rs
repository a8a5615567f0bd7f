//! The reverse feed's outbox as every store keeps it: deliveries (one rule's firing to one
//! endpoint), written in the same transaction as what fired them, and each attempt to send
//! one.

use serde::Serialize;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// The target acknowledged it.
    Delivered,
    /// Every attempt of the retry schedule failed; kept, and replayable.
    Dead,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Dead,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One delivery on record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// Stable across retries and replays (`webhook-id`, `Nats-Msg-Id`).
    pub id: String,
    pub rule: String,
    pub endpoint: String,
    /// Microseconds since the epoch.
    pub fired_at: i64,
    /// The JSON body sent.
    pub body: String,
    pub state: DeliveryState,
    /// Attempts made in all.
    pub attempts: u32,
    /// Attempts made since it was written or last replayed: its place in the retry schedule.
    pub tries: u32,
    /// When the next attempt is due (microseconds since the epoch).
    pub due_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<i64>,
    /// The last failed attempt's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One attempt to send a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    /// 1 for the first attempt.
    pub n: u32,
    /// Microseconds since the epoch.
    pub at: i64,
    /// The HTTP status answered, where there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_us: i64,
    /// `delivered`, `retry`, `dead` or `gone` (the target said it is gone: the endpoint was
    /// disabled).
    pub outcome: String,
    /// The first bytes of the answer, or the error.
    pub detail: String,
}

/// What became of an attempt, for [`crate::Store::finish_attempts`].
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub id: String,
    pub endpoint: String,
    pub attempt: Attempt,
    pub next: Next,
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Due again at this instant (microseconds since the epoch).
    Retry(i64),
    Dead,
}

/// Which deliveries a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub state: Option<DeliveryState>,
    pub rule: Option<String>,
    pub endpoint: Option<String>,
    /// Fired at or after (microseconds since the epoch).
    pub since: Option<i64>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
}

/// Deliveries counted by rule, endpoint and state, and attempts by outcome: the feed's
/// counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedCount {
    pub rule: String,
    pub endpoint: String,
    /// Deliveries written (firings times actions).
    pub fired: u64,
    pub delivered: u64,
    pub pending: u64,
    pub dead: u64,
    /// Attempts that failed and were retried.
    pub retried: u64,
}
