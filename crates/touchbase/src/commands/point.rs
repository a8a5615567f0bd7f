use std::sync::Arc;

use anyhow::Context;
use touchbase_core::{Mode, Point, Status, enum_name, file};
use touchbase_store::{Store, inventory};

use crate::args::PointCommand;
use crate::edit;
use crate::output::{number, print_json, read_input, table};

pub async fn run(store: &Arc<dyn Store>, command: PointCommand) -> anyhow::Result<()> {
    let store = &**store;
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
            inventory::add_point(store, point).await?;
            println!("added point {key}");
        }
        PointCommand::Edit {
            key,
            file: path,
            set,
        } => {
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
                    let mut doc = serde_json::to_value(current)?;
                    for assignment in &set {
                        edit::set(&mut doc, assignment)
                            .map_err(|e| anyhow::anyhow!("point `{key}`: {e}"))?;
                    }
                    file::decode_value(doc)?
                }
            };
            let changes = inventory::put_point(store, point).await?;
            match changes.first() {
                None => println!("point {key} unchanged"),
                Some(change) => {
                    println!("changed point {key}");
                    for f in &change.fields {
                        println!("    {}: {} → {}", f.field, show(&f.before), show(&f.after));
                    }
                }
            }
        }
        PointCommand::Retire { key } => {
            inventory::retire_point(store, &key).await?;
            println!("retired point {key}");
        }
    }
    Ok(())
}

fn show(value: &Option<serde_json::Value>) -> String {
    value
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), |v| v.to_string())
}
