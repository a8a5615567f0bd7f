use anyhow::Context;
use touchbase_core::change::{Change, ImportSummary, render_plan};
use touchbase_core::{Actor, Kind, file};
use touchbase_store::Store;
use touchbase_store::inventory::{self, ImportMode};

use crate::args::InventoryCommand;
use crate::commands::proposal::{opened, print_opened};
use crate::output::{print_json, read_input};

pub async fn run(
    store: &dyn Store,
    actor: &Actor,
    command: InventoryCommand,
) -> anyhow::Result<()> {
    match command {
        InventoryCommand::Import {
            file: path,
            dry_run,
            json,
            baseline,
        } => {
            let text = read_input(&path)?;
            let parsed = file::parse_inventory(&text)
                .with_context(|| format!("`{}` was not imported", path.display()))?;
            let mode = if baseline {
                ImportMode::Baseline
            } else {
                ImportMode::Normal
            };
            let changes = if dry_run {
                inventory::plan_import(store, actor, &parsed, mode).await
            } else {
                inventory::import(store, actor, &parsed, mode).await
            }
            .with_context(|| format!("`{}` was not imported", path.display()))?;
            if json {
                return print_json(&ImportSummary::new(dry_run, changes));
            }
            print_plan(dry_run, changes);
        }
        InventoryCommand::Export { out } => {
            let current = inventory::get(store).await?;
            let text = file::render_inventory(&current.value);
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write `{}`", path.display()))?,
                None => print!("{text}"),
            }
        }
    }
    Ok(())
}

/// The plan as a person reads it: the inventory's changes, then each proposal opened (rather
/// than a bare `+ proposal N`), then what waits for sign-off.
fn print_plan(dry_run: bool, changes: Vec<Change>) {
    let proposals = opened(&changes);
    let inventory: Vec<Change> = changes
        .into_iter()
        .filter(|c| c.kind != Kind::Proposal)
        .collect();
    let changed = !inventory.is_empty() || !proposals.is_empty();
    if inventory.is_empty() && !proposals.is_empty() {
        println!(
            "the inventory {} as it is until sign-off",
            if dry_run { "would stay" } else { "stays" }
        );
    } else {
        print!("{}", render_plan(&ImportSummary::new(dry_run, inventory)));
    }
    print_opened(&proposals, dry_run);
    if dry_run && changed {
        println!("dry run: nothing was changed");
    }
}
