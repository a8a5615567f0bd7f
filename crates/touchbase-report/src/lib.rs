//! The executive report (R17): what a chief customer officer reads about the organization's
//! points of interaction over a period, as one self-contained HTML page with charts (works
//! offline, prints on A4 or Letter), as Markdown, or as JSON.
//!
//! [`build`] gathers the [`Report`] from a store: every figure comes from
//! `touchbase_store::measure`, so the report says exactly what the scorecards, the portfolio
//! and the journeys say elsewhere. [`render`] turns it into one of the [`Format`]s; the HTML
//! page's charts are SVG drawn by `plotters` and inlined, with no script, font or stylesheet
//! from elsewhere.

mod charts;
mod html;
mod markdown;
mod model;
mod period;
mod words;

use std::path::Path;

pub use html::CSS as HTML_CSS;
pub use model::{
    Count, DataClassCount, Headline, InventoryGlance, Options, PendingProposal, PeriodView,
    PointCard, QUALITY_TOP, Report, Undocumented, build, glance,
};
pub use period::default_period;
/// A count with thousands separators (`1,234,567`), as the report prints counts.
pub use words::count as thousands;
pub use words::{why_buy_points, why_buy_shares};

/// What the report cannot be made from.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Denied(touchbase_core::access::Denied),
    #[error(transparent)]
    Store(#[from] touchbase_store::StoreError),
    #[error(transparent)]
    Operation(#[from] touchbase_store::OpError),
    #[error(transparent)]
    Scope(#[from] touchbase_store::measure::ScopeError),
    #[error("{0}")]
    Chart(String),
}

/// The report's renderings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One self-contained page: inline CSS and SVG charts, no script.
    Html,
    /// The same sections as tables.
    Markdown,
    /// The [`Report`] as it is.
    Json,
}

impl Format {
    /// The format a file's extension names: `.html`/`.htm`, `.md`/`.markdown`, `.json`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "html" | "htm" => Some(Format::Html),
            "md" | "markdown" => Some(Format::Markdown),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// The report as text in `format`.
pub fn render(report: &Report, format: Format) -> Result<String, ReportError> {
    match format {
        Format::Html => html::render(report),
        Format::Markdown => Ok(markdown::render(report)),
        Format::Json => serde_json::to_string_pretty(report)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| {
                ReportError::Chart(format!("the report could not be written as JSON: {e}"))
            }),
    }
}
