//! One module per command group.

pub mod init;
pub mod inventory;
pub mod point;
pub mod serve;
