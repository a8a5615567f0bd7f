use std::sync::Arc;

use anyhow::Context;
use touchbase_core::{Status, file};
use touchbase_server::{AppState, ServerConfig};
use touchbase_store::{Store, inventory};

use crate::args::ServeArgs;
use crate::{demo, store};

/// `touchbase serve`: the API and the dashboard until ctrl-c or SIGTERM.
pub async fn serve(store: Arc<dyn Store>, args: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another server using it? Try --listen 127.0.0.1:0",
                args.listen
            )
        })?;
    let address = listener.local_addr()?;
    eprintln!(
        "touchbase serving the {} store on http://{address}/ (ctrl-c stops)",
        store.backend()
    );
    run_server(listener, store, args).await
}

async fn run_server(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    args: ServeArgs,
) -> anyhow::Result<()> {
    let config = ServerConfig {
        body_limit: args.body_limit,
    };
    touchbase_server::serve(
        listener,
        AppState { store },
        &config,
        touchbase_server::shutdown_signal(),
    )
    .await
    .context("the server stopped with an error")
}

/// `touchbase demo`: creates the demo organization when the store holds none, then serves it.
pub async fn demo(db: &str, args: ServeArgs) -> anyhow::Result<()> {
    let store = store::open(Some(db)).await?;
    let created = match inventory::load(&*store).await? {
        Some(_) => false,
        None => {
            let parsed =
                file::parse_inventory(demo::INVENTORY).context("the demo inventory is broken")?;
            inventory::import(&*store, &parsed).await?;
            true
        }
    };
    let current = inventory::get(&*store).await?.value;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another server using it? Try --listen 127.0.0.1:0",
                args.listen
            )
        })?;
    let url = format!("http://{}", listener.local_addr()?);
    let live = current
        .points
        .iter()
        .filter(|p| p.status == Status::Live)
        .count();
    // The program as it was started (`target/release/touchbase` under `cargo run`), so the
    // hints can be pasted as they are.
    let me = std::env::args()
        .next()
        .unwrap_or_else(|| "touchbase".to_owned());
    println!(
        "touchbase demo: {org}, {points} points of interaction ({live} live), {what} {db}\n\
         \n  dashboard  {url}/\n  API        {url}/api/points   (all of it: {url}/api/openapi.json)\n  \
         inventory  {url}/api/inventory/export\n\
         \nFrom another terminal:\n  {me} --db {db} point list\n  {me} --db {db} point show store.checkout\n  \
         {me} --db {db} inventory export --out inventory.yaml\n\
         \nctrl-c stops the server; the store stays in {db}.",
        org = current.organization.name,
        points = current.points.len(),
        what = if created { "created in" } else { "already in" },
    );
    run_server(listener, store, args).await
}
