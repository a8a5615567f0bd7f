//! `touchbase settings`: the organization's settings for the portfolio and journey rules
//! (METRICS.md): list them, get one, set one (admins; on the audit trail).

use touchbase_core::portfolio::{SETTING_NAMES, Settings};
use touchbase_core::{Actor, Permission};
use touchbase_store::{Store, settings};

use crate::args::{SettingsArgs, SettingsCommand};
use crate::output::{print_json, table};

/// The settings as a JSON object, name → value, in [`SETTING_NAMES`]' order.
pub fn object(settings: &Settings) -> serde_json::Map<String, serde_json::Value> {
    settings
        .named()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

pub async fn run(store: &dyn Store, actor: &Actor, args: SettingsArgs) -> anyhow::Result<()> {
    match args.command {
        None => {
            actor.require(Permission::Read)?;
            let current = settings::get(store).await?;
            if args.json {
                return print_json(&object(&current));
            }
            let defaults = Settings::default();
            let mut t = table(["setting", "value", "default"]);
            for (name, value) in current.named() {
                let default = defaults.get(name).unwrap_or_default();
                t.add_row([name.to_owned(), value.to_string(), default.to_string()]);
            }
            println!("{t}");
        }
        Some(SettingsCommand::Get { name }) => {
            actor.require(Permission::Read)?;
            let Some(value) = settings::get(store).await?.get(&name) else {
                anyhow::bail!(
                    "no setting `{name}`; the settings are {}",
                    SETTING_NAMES.join(", ")
                );
            };
            println!("{value}");
        }
        Some(SettingsCommand::Set { name, value }) => {
            let before = settings::get(store).await?.get(&name);
            let after = settings::set(store, actor, &name, &value).await?;
            let after = after.get(&name).unwrap_or_default();
            match before {
                Some(before) if before != after => println!("{name}: {before} → {after}"),
                _ => println!("{name}: {after} (unchanged)"),
            }
        }
    }
    Ok(())
}
