//! The storage interface of touchbase: the [`Store`] trait every backend implements, the
//! errors a store reduces to, and the inventory's operations written once over any store.
//!
//! Only the backend crates (`touchbase-store-sqlite`, `touchbase-store-postgres`) know SQL.
//! With the `conformance` feature this crate also carries the one test suite that every backend
//! runs, so that all stores behave the same (R20).

mod error;
pub mod inventory;
mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::StoreError;
pub use store::{Store, Versioned};
