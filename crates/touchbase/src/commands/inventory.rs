use std::sync::Arc;

use anyhow::Context;
use touchbase_core::change::{ImportSummary, render_plan};
use touchbase_core::file;
use touchbase_store::{Store, inventory};

use crate::args::InventoryCommand;
use crate::output::{print_json, read_input};

pub async fn run(store: &Arc<dyn Store>, command: InventoryCommand) -> anyhow::Result<()> {
    match command {
        InventoryCommand::Import {
            file: path,
            dry_run,
            json,
        } => {
            let text = read_input(&path)?;
            let parsed = file::parse_inventory(&text)
                .with_context(|| format!("`{}` was not imported", path.display()))?;
            let changes = if dry_run {
                inventory::plan_import(&**store, &parsed).await?
            } else {
                inventory::import(&**store, &parsed).await?
            };
            let summary = ImportSummary::new(dry_run, changes);
            if json {
                print_json(&summary)?;
            } else {
                print!("{}", render_plan(&summary));
                if dry_run && !summary.changes.is_empty() {
                    println!("dry run: nothing was changed");
                }
            }
        }
        InventoryCommand::Export { out } => {
            let current = inventory::get(&**store).await?;
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
