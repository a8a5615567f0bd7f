use touchbase_core::{Actor, Organization};
use touchbase_store::{Store, inventory};

use crate::args::InitArgs;

pub async fn run(store: &dyn Store, actor: &Actor, args: InitArgs) -> anyhow::Result<()> {
    let mut organization = Organization::named(args.name);
    organization.industry = args.industry;
    organization.currency = args.currency;
    let created = inventory::init(store, actor, organization).await?;
    println!(
        "created the inventory of {} ({} store) with the functions {}.\n\
         Next: describe it in a file and `touchbase inventory import FILE --dry-run`\n\
         (add --baseline to record the points that exist already as live, without sign-off).",
        created.organization.name,
        store.backend(),
        created.functions.join(", ")
    );
    Ok(())
}
