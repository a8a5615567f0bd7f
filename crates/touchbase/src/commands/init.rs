use std::sync::Arc;

use touchbase_core::Organization;
use touchbase_store::{Store, inventory};

use crate::args::InitArgs;

pub async fn run(store: &Arc<dyn Store>, args: InitArgs) -> anyhow::Result<()> {
    let mut organization = Organization::named(args.name);
    organization.industry = args.industry;
    organization.currency = args.currency;
    let created = inventory::init(&**store, organization).await?;
    println!(
        "created the inventory of {} ({} store) with the functions {}.\n\
         Next: describe it in a file and `touchbase inventory import FILE --dry-run`.",
        created.organization.name,
        store.backend(),
        created.functions.join(", ")
    );
    Ok(())
}
