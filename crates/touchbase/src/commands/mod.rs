//! One module per command group. Every command but `serve`, `demo` and `gen` runs as the [`Actor`]
//! resolved once in `main` (`--as`, else the local administrator).
//!
//! [`Actor`]: touchbase_core::Actor

pub mod answers;
pub mod audit;
pub mod check;
pub mod events;
pub mod feed;
pub mod r#gen;
pub mod init;
pub mod inventory;
pub mod measure;
pub mod point;
pub mod proposal;
pub mod report;
pub mod serve;
pub mod settings;
pub mod standing;
pub mod user;
pub mod voice;
