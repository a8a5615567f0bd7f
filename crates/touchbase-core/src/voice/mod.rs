//! The voice of the customer (R14): surveys of key customers, their responses, the figures of
//! METRICS.md's "Voice of the customer", open answers coded by a codebook, why customers buy,
//! and coder agreement. No IO: stores supply responses and counts, this module judges.

pub mod analysis;
pub mod codebook;
pub mod figures;
pub mod invite;
pub mod response;
pub mod survey;

pub use analysis::{Theme, WhyBuySummary, kappa, themes, why_buy};
pub use codebook::{Code, CodeKind, Codebook, Coder, Family, Tag, TaggedBy};
pub use figures::{Voice, VoiceTally};
pub use response::{Answers, Response};
pub use survey::{Builtin, Identity, Question, Survey};
