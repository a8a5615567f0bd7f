//! The domain of touchbase: the inventory of points of interaction, the rules it keeps, and the
//! metrics, portfolio and journeys computed over its events.
//!
//! This crate does no IO: it reads and writes text and values, never files, sockets or
//! databases. Stores persist what it defines; the server and the CLI present it.

pub mod access;
pub mod attribution;
pub mod audit;
pub mod change;
pub mod contract;
pub mod endpoint;
pub mod event;
pub mod file;
pub mod governance;
pub mod inventory;
pub mod journeys;
pub mod link;
pub mod metrics;
pub mod period;
pub mod portfolio;
pub mod rules;
pub mod standing;
pub mod validate;
pub mod voice;

pub use access::{Actor, Permission, Role};
pub use change::{Action, Change, Entity, Kind};
pub use file::FileError;
pub use inventory::*;
pub use validate::{Violation, Violations};
