//! `touchbase check`: the store's invariants, verified from what it holds
//! (`touchbase_store::check`); what differs is named, and the exit status is nonzero.

use touchbase_core::Actor;
use touchbase_store::Store;
use touchbase_store::check;

use crate::args::CheckArgs;
use crate::output::{print_json, table};

pub async fn run(store: &dyn Store, actor: &Actor, args: CheckArgs) -> anyhow::Result<()> {
    let report = check::check(store, actor).await?;
    if args.json {
        print_json(&report)?;
    } else {
        let c = &report.checked;
        println!(
            "checked the {} store: {} counted and {} held events, {} rollup rows, {} journeys in {} rows, {} rejects, {} audit records",
            report.backend,
            c.counted_events,
            c.held_events,
            c.rollup_rows,
            c.journeys,
            c.journey_rows,
            c.rejects,
            c.audit_records
        );
        if report.ok() {
            println!("every invariant holds");
        } else {
            let mut t = table(["invariant", "subject", "what differs"]);
            for p in &report.problems {
                t.add_row([p.kind, p.subject.as_str(), p.detail.as_str()]);
            }
            println!("{t}");
        }
    }
    if !report.ok() {
        anyhow::bail!(
            "{} problems found: the store does not hold what it should; the table (or --json) names each",
            report.problems.len()
        );
    }
    Ok(())
}
