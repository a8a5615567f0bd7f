//! The storage interface of touchbase and the operations written once over it: the [`Store`]
//! trait every backend implements, the errors a store reduces to, and the inventory, sign-off,
//! access and audit operations.
//!
//! Only the backend crates (`touchbase-store-sqlite`, `touchbase-store-postgres`) know SQL.
//! With the `conformance` feature this crate also carries the one test suite that every backend
//! runs, so that all stores behave the same (R20).

pub mod access;
pub mod answers;
pub mod audit;
pub mod check;
pub mod codebook;
mod error;
pub mod feed;
pub mod ingest;
pub mod inventory;
pub mod invitations;
pub mod journey_days;
pub mod links;
pub mod measure;
pub mod outbox;
pub mod proposals;
pub mod responses;
pub mod rollup;
pub mod scheduler;
pub mod settings;
pub mod sources;
pub mod standing;
mod store;
pub mod surveys;
mod write;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{OpError, StoreError};
pub use store::{DayRollup, JourneyDay, JourneyRows, Nonconforming, PartyTouch, Store, Versioned};
pub use write::{load, now, update};
