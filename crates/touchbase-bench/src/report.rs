//! The figures: each printed as it is measured, next to its target, then all of them in one
//! table, and as JSON (`--json FILE`).

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

/// The targets of the ingest issue, printed next to the figures they apply to.
pub mod targets {
    use super::Target;

    /// SQLite bulk import, events/s.
    pub const SQLITE_IMPORT: Target = Target::AtLeast(150_000.0);
    /// SQLite bulk import over the SQLite floor of the same run.
    pub const SQLITE_RATIO: Target = Target::AtLeast(0.60);
    /// PostgreSQL bulk import, events/s.
    pub const PG_IMPORT: Target = Target::AtLeast(100_000.0);
    /// HTTP batched, events/s.
    pub const HTTP_BATCHED: Target = Target::AtLeast(100_000.0);
    /// Single-event HTTP, requests/s.
    pub const SINGLE_RATE: Target = Target::AtLeast(20_000.0);
    /// Single-event HTTP, p99 latency in ms.
    pub const SINGLE_P99_MS: Target = Target::AtMost(10.0);
    /// Peak memory of a touchbase process, MB, whatever the file size.
    pub const PEAK_MB: Target = Target::AtMost(300.0);
    /// Reverse feed: ingest with an event rule firing on about 10 % of the events over the
    /// same ingest without rules (bulk import and batched HTTP).
    pub const FEED_RATIO: Target = Target::AtLeast(0.90);
    /// Reverse feed: an outbox drained to a receiver that answers at once, deliveries/s.
    pub const FEED_DRAIN: Target = Target::AtLeast(2_000.0);
    /// Reverse feed: from a firing to its delivery received, p99 in ms.
    pub const FEED_P99_MS: Target = Target::AtMost(100.0);
    /// Standing orders: one scheduler step sending a week's runs, in seconds.
    pub const STANDING_STEP_S: Target = Target::AtMost(10.0);
    /// Standing orders: runs delivered to a receiver that answers at once, runs/s.
    pub const STANDING_DELIVERY: Target = Target::AtLeast(2_000.0);
}

/// A target a figure is held to.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(limit) => value >= limit,
            Target::AtMost(limit) => value <= limit,
        }
    }

    fn show(self, unit: Unit) -> String {
        match self {
            Target::AtLeast(limit) => format!("≥ {}", unit.show(limit)),
            Target::AtMost(limit) => format!("≤ {}", unit.show(limit)),
        }
    }
}

/// What a figure counts, and how it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    EventsPerS,
    RequestsPerS,
    DeliveriesPerS,
    OrdersPerS,
    RunsPerS,
    ResponsesPerS,
    Seconds,
    Milliseconds,
    Megabytes,
    Ratio,
    Count,
}

impl Unit {
    fn show(self, value: f64) -> String {
        match self {
            Unit::EventsPerS => format!("{} events/s", thousands(value)),
            Unit::RequestsPerS => format!("{} requests/s", thousands(value)),
            Unit::DeliveriesPerS => format!("{} deliveries/s", thousands(value)),
            Unit::OrdersPerS => format!("{} orders/s", thousands(value)),
            Unit::RunsPerS => format!("{} runs/s", thousands(value)),
            Unit::ResponsesPerS => format!("{} responses/s", thousands(value)),
            Unit::Seconds => format!("{value:.1} s"),
            Unit::Milliseconds => format!("{value:.2} ms"),
            Unit::Megabytes => format!("{value:.1} MB"),
            Unit::Ratio => format!("{:.0} %", value * 100.0),
            Unit::Count => thousands(value),
        }
    }
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

/// One figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub step: String,
    pub figure: String,
    pub value: f64,
    pub unit: Unit,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
}

/// Where and on what the figures were taken.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub events: u64,
    pub single_events: u64,
    /// The reverse feed step's events, when it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed_events: Option<u64>,
    /// The standing orders of the `standing` subcommand, which runs alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standing_orders: Option<u64>,
    pub touchbase: String,
    pub started: String,
}

impl Machine {
    /// `10,000,000 events (single-event HTTP: 200,000; reverse feed: 1,000,000)`.
    fn sizes(&self) -> String {
        if let Some(n) = self.standing_orders {
            return format!("{} standing orders", thousands(n as f64));
        }
        let feed = match self.feed_events {
            Some(n) => format!("; reverse feed: {}", thousands(n as f64)),
            None => String::new(),
        };
        format!(
            "{} events (single-event HTTP: {}{feed})",
            thousands(self.events as f64),
            thousands(self.single_events as f64)
        )
    }
}

/// A step that failed, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    pub step: String,
    pub error: String,
}

/// Every figure of a run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub figures: Vec<Figure>,
    pub failed: Vec<Failed>,
}

impl Report {
    pub fn new(machine: Machine) -> Report {
        println!(
            "touchbase-bench: {} cores, {}, {}",
            machine.cores,
            machine.sizes(),
            machine.touchbase
        );
        Report {
            machine,
            figures: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Records a figure and prints it.
    pub fn add(
        &mut self,
        step: &str,
        figure: &str,
        value: f64,
        unit: Unit,
        target: Option<Target>,
    ) {
        let met = target.map(|t| t.met(value));
        let against = match target {
            Some(t) => format!(
                "  (target {}: {})",
                t.show(unit),
                if t.met(value) { "met" } else { "NOT met" }
            ),
            None => String::new(),
        };
        println!("  {step}: {figure} {}{against}", unit.show(value));
        self.figures.push(Figure {
            step: step.to_owned(),
            figure: figure.to_owned(),
            value,
            unit,
            target,
            met,
        });
    }

    pub fn fail(&mut self, step: &str, error: &anyhow::Error) {
        println!("{step}: FAILED: {error:#}");
        self.failed.push(Failed {
            step: step.to_owned(),
            error: format!("{error:#}"),
        });
    }

    /// All the figures in one table.
    pub fn print_table(&self) {
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(["step", "figure", "value", "target", ""]);
        for f in &self.figures {
            table.add_row([
                f.step.clone(),
                f.figure.clone(),
                f.unit.show(f.value),
                f.target.map(|t| t.show(f.unit)).unwrap_or_default(),
                match f.met {
                    Some(true) => "met".to_owned(),
                    Some(false) => "NOT met".to_owned(),
                    None => String::new(),
                },
            ]);
        }
        for f in &self.failed {
            table.add_row([f.step.clone(), "FAILED (below)".to_owned()]);
        }
        let m = &self.machine;
        println!(
            "\n{} cores, {}, {}, started {}\n{table}",
            m.cores,
            m.sizes(),
            m.touchbase,
            m.started
        );
        for f in &self.failed {
            println!("{} FAILED: {}", f.step, f.error);
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        println!("figures saved to {}", path.display());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        for (value, shown) in [
            (0.0, "0"),
            (999.4, "999"),
            (1000.0, "1,000"),
            (1_234_567.8, "1,234,568"),
            (-12_345.0, "-12,345"),
        ] {
            assert_eq!(thousands(value), shown, "{value}");
        }
    }

    #[test]
    fn targets_are_met_or_not() {
        assert!(targets::SQLITE_IMPORT.met(150_000.0));
        assert!(!targets::SQLITE_IMPORT.met(149_999.0));
        assert!(targets::PEAK_MB.met(300.0));
        assert!(!targets::PEAK_MB.met(300.1));
        assert_eq!(targets::SQLITE_RATIO.show(Unit::Ratio), "≥ 60 %");
    }
}
