//! The demo organization: Northwind Grocers, the grocer of seed 000.

/// Its inventory file.
pub const INVENTORY: &str = include_str!("northwind.yaml");

/// Where `touchbase demo` keeps its store unless told otherwise.
pub const DEFAULT_DB: &str = "touchbase-demo.db";
