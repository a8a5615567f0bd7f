use anyhow::Context;
use touchbase_core::change::Change;
use touchbase_core::governance::{Proposal, ProposalKind, ProposalStatus};
use touchbase_core::{Actor, Kind, Mode, Point, Status, enum_name, file};
use touchbase_store::{Store, inventory, proposals};

use crate::args::PointCommand;
use crate::commands::proposal::opened;
use crate::edit;
use crate::output::{number, print_json, read_input, table};

pub async fn run(store: &dyn Store, actor: &Actor, command: PointCommand) -> anyhow::Result<()> {
    match command {
        PointCommand::List {
            status,
            function,
            mode,
            json,
        } => {
            let (status, mode): (Option<Status>, Option<Mode>) =
                (status.map(Into::into), mode.map(Into::into));
            let points: Vec<Point> = inventory::get(store)
                .await?
                .value
                .points
                .into_iter()
                .filter(|p| status.is_none_or(|s| p.status == s))
                .filter(|p| function.as_ref().is_none_or(|f| &p.function == f))
                .filter(|p| mode.is_none_or(|m| p.mode == m))
                .collect();
            if json {
                return print_json(&points);
            }
            let mut t = table([
                "key",
                "name",
                "function",
                "party",
                "channel",
                "mode",
                "status",
                "volume/month",
                "strategic",
                "owner",
            ]);
            for p in &points {
                t.add_row([
                    p.key.clone(),
                    p.name.clone(),
                    p.function.clone(),
                    p.party.clone(),
                    p.channel.clone(),
                    enum_name(&p.mode),
                    enum_name(&p.status),
                    number(p.expected.volume_per_month),
                    enum_name(&p.strategic_value),
                    p.owner.clone(),
                ]);
            }
            println!("{t}\n{} points", points.len());
        }
        PointCommand::Show { key, json } => {
            let inventory = inventory::get(store).await?.value;
            let point = inventory
                .point(&key)
                .ok_or_else(|| inventory::InventoryError::PointNotFound(key.clone()))?;
            if json {
                print_json(point)?;
            } else {
                print!("{}", serde_yaml_ng::to_string(point)?);
            }
        }
        PointCommand::Add { file: path } => {
            let point = file::parse_point(&read_input(&path)?)
                .with_context(|| format!("`{}` was not added", path.display()))?;
            let key = point.key.clone();
            let changes = inventory::add_point(store, actor, point)
                .await
                .with_context(|| format!("point {key} was not added"))?;
            println!("added point {key} as proposed");
            for p in opened(&changes) {
                println!(
                    "opened proposal {id}: the new point {key} needs sign-off ({n} approvals) before it can go live.\n\
                     The business case: `touchbase proposal show {id}`.",
                    id = p.id,
                    n = p.approvals_required
                );
            }
        }
        PointCommand::Edit {
            key,
            file: path,
            set,
        } => {
            // `--set` edits the point as read: the write lands only over that version.
            let mut read = None;
            let point = match path {
                Some(path) => {
                    let point = file::parse_point(&read_input(&path)?)
                        .with_context(|| format!("`{}` was not applied", path.display()))?;
                    anyhow::ensure!(
                        point.key == key,
                        "point `{key}`: key: the file describes `{}`; a point's key cannot change",
                        point.key
                    );
                    point
                }
                None => {
                    let inventory = inventory::get(store).await?.value;
                    let current = inventory
                        .point(&key)
                        .ok_or_else(|| inventory::InventoryError::PointNotFound(key.clone()))?;
                    read = Some(current.etag());
                    let mut doc = serde_json::to_value(current)?;
                    for assignment in &set {
                        edit::set(&mut doc, assignment)
                            .map_err(|e| anyhow::anyhow!("point `{key}`: {e}"))?;
                    }
                    file::decode_value(doc)?
                }
            };
            let wanted = point.clone();
            let changes = match &read {
                Some(etag) => inventory::put_point_if(store, actor, point, &[etag]).await,
                None => inventory::put_point(store, actor, point).await,
            }
            .with_context(|| format!("point {key} was not changed"))?;
            let applied = point_change(&changes);
            if let Some(change) = applied {
                println!("changed point {key}");
                for f in &change.fields {
                    println!("    {}: {} → {}", f.field, show(&f.before), show(&f.after));
                }
            }
            let proposals = opened(&changes);
            for p in &proposals {
                print_change_proposal(p);
            }
            if applied.is_none() && proposals.is_empty() {
                let same = |p: &Proposal| p.proposed.as_ref() == Some(&wanted);
                let otherwise = format!("point {key} unchanged");
                unchanged(store, actor, &key, ProposalKind::Change, same, &otherwise).await?;
            }
        }
        PointCommand::Retire { key } => {
            let changes = inventory::retire_point(store, actor, &key)
                .await
                .with_context(|| format!("point {key} was not retired"))?;
            if point_change(&changes).is_some() {
                println!("retired point {key}");
            }
            let proposals = opened(&changes);
            for p in &proposals {
                print_change_proposal(p);
            }
            if point_change(&changes).is_none() && proposals.is_empty() {
                let otherwise = format!("point {key} is retired already");
                unchanged(
                    store,
                    actor,
                    &key,
                    ProposalKind::Retire,
                    |_| true,
                    &otherwise,
                )
                .await?;
            }
        }
        PointCommand::GoLive { key } => {
            let changes = inventory::go_live(store, actor, &key)
                .await
                .with_context(|| format!("point {key} did not go live"))?;
            if changes.is_empty() {
                println!("point {key} is live already");
            } else {
                println!("point {key} is live: interactions seen there are now counted");
            }
        }
    }
    Ok(())
}

/// The change to the point itself, when the write applied one.
fn point_change(changes: &[Change]) -> Option<&Change> {
    changes.iter().find(|c| c.kind == Kind::Point)
}

/// A write to a live point that waits for sign-off instead of applying (R6).
fn print_change_proposal(p: &Proposal) {
    let what = match p.kind {
        ProposalKind::Retire => format!("retiring live point {}", p.point),
        _ => format!("this change to live point {}", p.point),
    };
    println!(
        "opened proposal {id}: {what} needs sign-off ({n} approvals), because it",
        id = p.id,
        n = p.approvals_required
    );
    for reason in &p.reasons {
        println!("  - {reason}");
    }
    println!(
        "The point stays as it is until the executives approve: `touchbase proposal show {}`.",
        p.id
    );
}

/// Nothing was written: either the point already is as asked, or a pending proposal already
/// asks for it.
async fn unchanged(
    store: &dyn Store,
    actor: &Actor,
    key: &str,
    kind: ProposalKind,
    same: impl Fn(&Proposal) -> bool,
    otherwise: &str,
) -> anyhow::Result<()> {
    let pending = proposals::list(store, actor).await?.into_iter().find(|p| {
        p.point == key && p.kind == kind && p.status == ProposalStatus::Pending && same(p)
    });
    match pending {
        Some(p) => println!(
            "point {key} unchanged: proposal {id} already asks for this and awaits sign-off ({a} of {n} approvals): `touchbase proposal show {id}`",
            id = p.id,
            a = p.approvals(),
            n = p.approvals_required
        ),
        None => println!("{otherwise}"),
    }
    Ok(())
}

fn show(value: &Option<serde_json::Value>) -> String {
    value
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), |v| v.to_string())
}
