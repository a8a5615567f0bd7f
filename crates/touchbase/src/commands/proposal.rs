//! `touchbase proposal`: the executives' sign-off (R6), and how the other commands tell that a
//! write opened a proposal instead of applying.

use touchbase_core::change::{Action, Change, Entity};
use touchbase_core::governance::{Proposal, ProposalKind, ProposalStatus};
use touchbase_core::{Actor, enum_name};
use touchbase_store::{Store, proposals};

use crate::args::ProposalCommand;
use crate::output::{count, number, print_json, table, when};

pub async fn run(store: &dyn Store, actor: &Actor, command: ProposalCommand) -> anyhow::Result<()> {
    match command {
        ProposalCommand::List { status, json } => {
            let status: Option<ProposalStatus> = status.map(Into::into);
            let list: Vec<Proposal> = proposals::list(store, actor)
                .await?
                .into_iter()
                .filter(|p| status.is_none_or(|s| p.status == s))
                .collect();
            if json {
                return print_json(&list);
            }
            let mut t = table([
                "id",
                "kind",
                "point",
                "proposer",
                "created",
                "status",
                "approvals",
            ]);
            for p in &list {
                t.add_row([
                    p.id.to_string(),
                    enum_name(&p.kind),
                    p.point.clone(),
                    p.proposer.clone(),
                    when(&p.created_at),
                    enum_name(&p.status),
                    format!("{}/{}", p.approvals(), p.approvals_required),
                ]);
            }
            let pending = list
                .iter()
                .filter(|p| p.status == ProposalStatus::Pending)
                .count();
            if list.is_empty() {
                println!("no proposals");
            } else {
                println!(
                    "{t}\n{}, {pending} pending",
                    count(list.len(), "proposal", "proposals")
                );
            }
        }
        ProposalCommand::Show { id, json } => {
            let proposal = proposals::get(store, actor, id).await?;
            if json {
                return print_json(&proposal);
            }
            print!("{}", render(&proposal));
        }
        ProposalCommand::Approve { id, comment } => {
            let p = proposals::decide(store, actor, id, true, &comment).await?;
            println!("{} approved proposal {id}: {}", actor.name, outcome(&p));
        }
        ProposalCommand::Reject { id, comment } => {
            let p = proposals::decide(store, actor, id, false, &comment).await?;
            println!("{} rejected proposal {id}: {}", actor.name, outcome(&p));
        }
    }
    Ok(())
}

/// What a proposal is about, in words: `new point web.order`.
pub fn subject(p: &Proposal) -> String {
    match p.kind {
        ProposalKind::New => format!("new point {}", p.point),
        ProposalKind::Change => format!("change to live point {}", p.point),
        ProposalKind::Retire => format!("retirement of live point {}", p.point),
        ProposalKind::Baseline => {
            let keys: Vec<&str> = p.batch.iter().map(|b| b.key.as_str()).collect();
            format!(
                "baseline of {} existing points ({})",
                keys.len(),
                keys.join(", ")
            )
        }
    }
}

/// What became of a proposal after a decision.
fn outcome(p: &Proposal) -> String {
    let tally = format!("{} of {} approvals", p.approvals(), p.approvals_required);
    match (p.status, p.kind) {
        (ProposalStatus::Pending, _) => {
            let missing = (p.approvals_required as usize).saturating_sub(p.approvals());
            format!("{tally}; the {} waits for {missing} more", subject(p))
        }
        (ProposalStatus::Approved, ProposalKind::New) => format!(
            "{tally}; point {key} is approved. Its owner takes it live with `touchbase point go-live {key}`",
            key = p.point
        ),
        (ProposalStatus::Approved, ProposalKind::Change) => {
            format!("{tally}; the change to point {} is applied", p.point)
        }
        (ProposalStatus::Approved, ProposalKind::Retire) => {
            format!("{tally}; point {} is retired", p.point)
        }
        (ProposalStatus::Approved, ProposalKind::Baseline) => {
            format!("{tally}; the baseline's points are recorded as the file has them")
        }
        (ProposalStatus::Rejected, ProposalKind::Baseline) => {
            "the baseline's points are rejected and do not go live".to_owned()
        }
        (ProposalStatus::Rejected, ProposalKind::New) => {
            format!("point {} is rejected and does not go live", p.point)
        }
        (ProposalStatus::Rejected, ProposalKind::Change) => {
            format!("the change is not made; point {} stays as it is", p.point)
        }
        (ProposalStatus::Rejected, ProposalKind::Retire) => {
            format!("point {} stays live", p.point)
        }
        (ProposalStatus::Withdrawn, _) => {
            format!(
                "the {} was withdrawn: its point changed so that it no longer applies",
                subject(p)
            )
        }
    }
}

/// One proposal in full, as a person reads it.
pub fn render(p: &Proposal) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "proposal {}: {} — {}, {} of {} approvals",
        p.id,
        subject(p),
        enum_name(&p.status),
        p.approvals(),
        p.approvals_required
    );
    let _ = writeln!(out, "proposed by {} at {}", p.proposer, when(&p.created_at));
    let case = &p.business_case;
    let _ = writeln!(out, "\nbusiness case");
    let rows = [
        ("rationale", case.rationale.clone()),
        ("strategic value", enum_name(&case.strategic_value)),
        ("volume/month", number(case.volume_per_month)),
        ("value to us", per_interaction(case.value_company)),
        ("value to party", per_interaction(case.value_party)),
        ("cost", per_interaction(case.cost)),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<16} {value}");
    }
    if !p.reasons.is_empty() {
        let _ = writeln!(out, "\nneeds sign-off because it");
        for reason in &p.reasons {
            let _ = writeln!(out, "  - {reason}");
        }
    }
    let _ = writeln!(out, "\ndecisions");
    if p.decisions.is_empty() {
        let _ = writeln!(out, "  none yet");
    }
    for d in &p.decisions {
        let _ = writeln!(
            out,
            "  {} {} {}: {}",
            when(&d.at),
            d.executive,
            if d.approve { "approved" } else { "rejected" },
            d.comment
        );
    }
    if p.status == ProposalStatus::Pending {
        let _ = writeln!(
            out,
            "\nnext: an executive other than {} runs `touchbase proposal approve {id} --comment TEXT` (or `reject`)",
            p.proposer,
            id = p.id
        );
    }
    out
}

fn per_interaction(value: Option<f64>) -> String {
    match value {
        None => number(None),
        some => format!("{} per interaction", number(some)),
    }
}

/// The proposals a write opened, from its list of changes.
pub fn opened(changes: &[Change]) -> Vec<Proposal> {
    changes
        .iter()
        .filter(|c| c.action == Action::Add)
        .filter_map(|c| match &c.after {
            Some(Entity::Proposal(p)) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// Prints each proposal opened (or, in a dry run, that would be) and what waits for sign-off.
pub fn print_opened(proposals: &[Proposal], dry_run: bool) {
    if proposals.is_empty() {
        return;
    }
    let verb = if dry_run { "would open" } else { "opened" };
    for p in proposals {
        println!(
            "{verb} proposal {}: {}, needs {} approvals",
            p.id,
            subject(p),
            p.approvals_required
        );
        for reason in &p.reasons {
            println!("    {reason}");
        }
    }
    let n = proposals.len();
    println!(
        "{n} {} {} sign-off: touchbase proposal list",
        if n == 1 { "proposal" } else { "proposals" },
        match (dry_run, n) {
            (true, _) => "would await",
            (false, 1) => "awaits",
            (false, _) => "await",
        }
    );
}
