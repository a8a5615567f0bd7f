//! Standing orders as every store keeps them (R19): the order as of its latest revision and
//! each revision it went through. The order itself is `touchbase_core::standing::Order`; a
//! store writes a revision only over the one before it, so a capture twice finds the order
//! there and two edits at once never overwrite each other.

use serde::Serialize;
use touchbase_core::standing::{Order, OrderStatus};

/// One revision of an order: who made it, when and why, and the order it made.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderRevision {
    pub revision: u32,
    /// Microseconds since the epoch.
    pub at: i64,
    /// `party:ID` for the party's own changes through its link, a user's name otherwise, or
    /// `capture` for the first order.
    pub actor: String,
    pub note: String,
    pub order: Order,
}

/// Which orders a list holds; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderFilter {
    pub point: Option<String>,
    pub party: Option<String>,
    pub status: Option<OrderStatus>,
}

impl OrderFilter {
    pub fn admits(&self, order: &Order) -> bool {
        self.point.as_ref().is_none_or(|p| *p == order.point)
            && self.party.as_ref().is_none_or(|p| *p == order.party)
            && self.status.is_none_or(|s| s == order.status)
    }
}

/// The order as its stored document.
pub fn doc_of(order: &Order) -> String {
    serde_json::to_string(order).expect("an order always serializes")
}

/// The order of a stored document; a document this version cannot read is named.
pub fn order_of(id: &str, doc: &str) -> Result<Order, crate::StoreError> {
    serde_json::from_str(doc)
        .map_err(|e| crate::StoreError::Corrupt(format!("standing order `{id}`: {e}")))
}
