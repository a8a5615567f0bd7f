//! The demo organization: Northwind Grocers, the grocer of seed 000.

mod rng;
pub mod standing;
pub mod voice;

/// Its codebook: what its customers' open answers are coded by.
pub const CODEBOOK: &str = include_str!("codebook.yaml");

/// Its inventory file.
pub const INVENTORY: &str = include_str!("northwind.yaml");

/// Where `touchbase demo` keeps its store unless told otherwise.
pub const DEFAULT_DB: &str = "touchbase-demo.db";

/// Its reverse feed's rules.
pub const RULES: &str = include_str!("rules.yaml");

/// Where the demo's `crm` endpoint posts: `touchbase listen`'s default address.
pub const CRM_URL: &str = "http://127.0.0.1:9000/crm";

/// The MQTT topic the demo's shelf sensors take restock commands on.
pub const SHELF_TOPIC: &str = "northwind/shelf/restock";

/// Where the demo's `fulfilment` endpoint posts each standing order's run: a receiver on
/// another port than crm's (`touchbase listen --listen 127.0.0.1:9001`).
pub const FULFILMENT_URL: &str = "http://127.0.0.1:9001/fulfilment";
