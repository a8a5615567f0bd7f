use std::sync::Arc;

use anyhow::Context;
use touchbase_core::governance::{Proposal, ProposalKind, ProposalStatus};
use touchbase_core::{Actor, Role, Status, file};
use touchbase_server::{AppState, ServerConfig};
use touchbase_store::inventory::{self, ImportMode};
use touchbase_store::{Store, access, proposals};

use crate::args::{DemoArgs, ServeArgs};
use crate::commands::events::ingest_all;
use crate::output::{count, thousands};
use crate::{demo, store};

/// The listener of `--listen`, or what to do when the address is taken.
async fn bind(args: &ServeArgs) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another server using it? Try --listen 127.0.0.1:0",
                args.listen
            )
        })
}

/// `touchbase serve`: the API and the dashboard until ctrl-c or SIGTERM.
pub async fn serve(
    store: Arc<dyn Store>,
    keys: touchbase_core::endpoint::Keys,
    args: ServeArgs,
) -> anyhow::Result<()> {
    let listener = bind(&args).await?;
    let address = listener.local_addr()?;
    eprintln!(
        "touchbase serving the {} store on http://{address}/ (ctrl-c stops)",
        store.backend()
    );
    run_server(listener, store, keys, args).await
}

async fn run_server(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    keys: touchbase_core::endpoint::Keys,
    args: ServeArgs,
) -> anyhow::Result<()> {
    let config = ServerConfig {
        body_limit: args.body_limit,
        max_batch: args.max_batch,
        connections: touchbase_server::connections::Limits {
            max_connections: args.max_connections,
            ..Default::default()
        },
        ..ServerConfig::default()
    };
    // One shutdown (ctrl-c, SIGTERM) for every source.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        touchbase_server::shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let state = AppState::new(Arc::clone(&store), &config).with_keys(keys.clone());
    let mqtt = match &args.mqtt {
        None => None,
        Some(url) => {
            let config = touchbase_server::mqtt::MqttConfig {
                url: url.clone(),
                topic: args.mqtt_topic.clone(),
                client_id: args.mqtt_client_id.clone(),
            };
            config.check()?;
            eprintln!(
                "touchbase taking events from MQTT {url}, topic {}",
                config.topic
            );
            let shutdown = until_stopped(stopped.clone());
            Some(tokio::spawn(touchbase_server::mqtt::run(
                Arc::clone(&store),
                state.committer.clone(),
                config,
                shutdown,
            )))
        }
    };
    // The reverse feed: what rules fire goes out from here, woken by each write.
    let mut feed_config = crate::commands::feed::config(&args.feed, args.mqtt.as_deref());
    if args.feed.public_url.is_none() {
        feed_config.public_url = format!("http://{}", listener.local_addr()?);
    }
    let dispatcher = touchbase_feed::Dispatcher::new(Arc::clone(&store), keys, feed_config)
        .context("the reverse feed's dispatcher could not start")?
        .woken_by(Arc::clone(&state.written));
    let feed = {
        let shutdown = until_stopped(stopped.clone());
        tokio::spawn(async move { dispatcher.run(shutdown).await })
    };
    // The standing orders: what is due runs every --standing-every, and at once on start.
    let scheduler = tokio::spawn(touchbase_server::standing::run_scheduler(
        Arc::clone(&store),
        Arc::clone(&state.written),
        std::time::Duration::from_secs(args.standing_every.max(1) as u64),
        until_stopped(stopped.clone()),
    ));
    touchbase_server::serve(listener, state, &config, until_stopped(stopped))
        .await
        .context("the server stopped with an error")?;
    let _ = feed.await;
    let _ = scheduler.await;
    if let Some(mqtt) = mqtt {
        mqtt.await
            .context("the MQTT source failed")?
            .context("the MQTT source stopped with an error")?;
    }
    Ok(())
}

/// The demo's users: one of each role, two executives so that sign-off can be shown.
const DEMO_USERS: [(&str, Role, &[&str]); 6] = [
    ("vera", Role::Viewer, &[]),
    ("anil", Role::Analyst, &[]),
    (
        "olga",
        Role::Owner,
        &["ecommerce", "store-ops", "marketing"],
    ),
    ("erin", Role::Executive, &[]),
    ("ed", Role::Executive, &[]),
    ("ada", Role::Admin, &[]),
];

/// `touchbase demo`: creates the demo organization when the store holds none, with a year of
/// interactions, then serves it.
pub async fn demo(
    db: &str,
    options: &store::Options,
    keys: touchbase_core::endpoint::Keys,
    args: DemoArgs,
) -> anyhow::Result<()> {
    let DemoArgs {
        events,
        serve: args,
    } = args;
    let store = store::open(Some(db), options).await?;
    let admin = Actor::local_admin();
    let created = match inventory::load(&*store).await? {
        Some(_) => false,
        None => {
            let parsed =
                file::parse_inventory(demo::INVENTORY).context("the demo inventory is broken")?;
            // The demo's live points exist already: they are taken in as a baseline (R6), and
            // its proposed points open proposals.
            inventory::import(&*store, &admin, &parsed, ImportMode::Baseline)
                .await
                .context("the demo inventory was not imported")?;
            true
        }
    };
    let issued = demo_users(&*store, &admin).await?;
    let mut crm_secret = None;
    let mut replayed = None;
    if created {
        demo_decisions(&*store).await?;
        demo_events(&*store, &admin, events).await?;
        replayed = Some(demo_standing(&store, &admin, &keys).await?);
        demo_voice(&*store, &admin, &keys).await?;
        crm_secret = demo_feed(&*store, &admin, &keys).await?;
    }
    let current = inventory::get(&*store).await?.value;
    let listener = bind(&args).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let live = current
        .points
        .iter()
        .filter(|p| p.status == Status::Live)
        .count();
    let pending: Vec<Proposal> = proposals::list(&*store, &admin)
        .await?
        .into_iter()
        .filter(|p| p.status == ProposalStatus::Pending)
        .collect();
    // The program as it was started (`target/release/touchbase` under `cargo run`), so the
    // hints can be pasted as they are.
    let me = std::env::args()
        .next()
        .unwrap_or_else(|| "touchbase".to_owned());
    println!(
        "touchbase demo: {org}, {points} points of interaction ({live} live, {pending} pending sign-off), {what} {db}\n\
         \n  dashboard  {url}/\n  API        {url}/api/points   (all of it: {url}/api/openapi.json)\n  \
         inventory  {url}/api/inventory/export\n",
        org = current.organization.name,
        points = current.points.len(),
        what = if created { "created in" } else { "already in" },
        pending = count(pending.len(), "proposal", "proposals"),
    );
    let users: Vec<String> = DEMO_USERS
        .iter()
        .map(|(name, role, _)| format!("{name} ({role})"))
        .collect();
    if issued.is_empty() {
        println!(
            "Users: {}.\nTheir API tokens were shown when the demo store was created and cannot be shown again;\n\
             issue a new one with `{me} --db {db} token issue NAME`.",
            users.join(", ")
        );
    } else {
        println!(
            "Users and their API tokens (shown only now; the API wants `Authorization: Bearer TOKEN`):"
        );
        for (name, role, secret) in &issued {
            println!("  {name:<5} {:<10} {secret}", role.as_str());
        }
        if let Some((name, _, secret)) = issued.iter().find(|(_, role, _)| *role == Role::Executive)
        {
            println!("  the dashboard as {name}: {url}/#token={secret}");
        }
        if let Some((_, _, secret)) = issued.first() {
            println!("  e.g. curl -H 'Authorization: Bearer {secret}' {url}/api/points");
        }
    }
    println!(
        "\nFrom another terminal:\n  {me} --db {db} point list\n  {me} --db {db} point show store.checkout\n  \
         {me} --db {db} --as ed proposal list --status pending"
    );
    if let Some(p) = pending
        .iter()
        .find(|p| p.point == "app.scan-and-go" && p.approvals() > 0)
    {
        println!(
            "  {me} --db {db} --as ed proposal approve {id} --comment \"Go ahead\"   (scan and go: erin approved, ed's approval is the second)",
            id = p.id
        );
    }
    demo_standing_banner(&*store, &admin, &keys, &url, &me, db, replayed.as_ref()).await?;
    demo_voice_banner(&*store, &admin, &keys, &url, &me, db).await?;
    let admin_token = issued
        .iter()
        .find(|(_, role, _)| *role == Role::Admin)
        .map_or("ADMIN_TOKEN", |(_, _, secret)| secret.as_str());
    println!(
        "\nThe reverse feed: rules unhappy-caller, shelf-low and point-live send to the endpoints crm \
         (a webhook to {crm}) and shelf-commands (MQTT topic {topic}).",
        crm = demo::CRM_URL,
        topic = demo::SHELF_TOPIC,
    );
    match &crm_secret {
        Some(secret) => println!(
            "  {me} listen --secret {secret}   (a receiver on :9000 that checks each signature; the secret is shown only now)"
        ),
        None => println!(
            "  {me} listen --secret SECRET   (crm's secret was shown when the store was made; `{me} --db {db} endpoint rotate crm` gives a new one)"
        ),
    }
    // A key customer calls and is unhappy: the CRM's call-back comes with a survey link.
    let caller = store
        .key_customers()
        .await?
        .into_iter()
        .next()
        .map_or_else(|| "hh-000042".to_owned(), |c| c.party);
    println!(
        "  curl -H 'Authorization: Bearer {admin_token}' -X POST {url}/api/events \\\n       \
         -d '{{\"point\":\"phone.care\",\"at\":\"'$(date -u +%FT%TZ)'\",\"party\":\"{caller}\",\"outcomes\":{{\"satisfaction\":1}}}}'\n    \
         ({caller} is a key customer: unhappy-caller's delivery to crm carries an after-contact survey invitation with its link, or why the contact rules held it back)\n  \
         {me} --db {db} deliveries list\n  \
         {me} --db {db} rule test unhappy-caller --from 2025-12-01   (the rule over the year's history, sending nothing)"
    );
    // The trail as it stands, checked now: what `audit verify` and `check` show in full.
    let trail = touchbase_store::audit::verify(&*store, &admin)
        .await
        .context("the demo store's audit trail could not be read")?;
    let sealed = match &trail.key {
        Some(key) if trail.sealed_records == trail.records => {
            format!("each sealed with the organization key {key} (kept outside the database)")
        }
        Some(key) => format!(
            "{} of them sealed with the organization key {key}",
            thousands(trail.sealed_records)
        ),
        None => "not sealed (no organization key)".to_owned(),
    };
    let head = match (&trail.head.file, trail.head.seq) {
        (Some(file), Some(seq)) => format!("; its head (record {seq}) is kept in {file}"),
        _ => String::new(),
    };
    println!(
        "\nThe audit trail: {records}, {sealed}{head}: {state}.\n  \
         {me} --db {db} audit verify   (the chain, its seals, its head, and every stored entity replayed against it)\n  \
         {me} --db {db} check          (rollups against the events, journeys, held and rejected counts, the trail)\n",
        records = count(trail.records as usize, "record", "records"),
        state = match &trail.broken {
            None => "intact".to_owned(),
            Some(why) => format!("BROKEN: {why}"),
        },
    );
    println!(
        "  {me} --db {db} inventory export --out inventory.yaml\n  \
         {me} --db {db} scorecard --all mode\n  \
         {me} --db {db} portfolio\n  \
         {me} --db {db} journeys --top 5\n  \
         {me} --db {db} report --out report.html\n\
         \nctrl-c stops the server; the store stays in {db}."
    );
    run_server(listener, store, keys, args).await
}

/// The demo's reverse feed: the `crm` webhook (to `touchbase listen`'s address) and the
/// `shelf-commands` MQTT topic, and the rules of `demo/rules.yaml`. Returns crm's secret.
async fn demo_feed(
    store: &dyn Store,
    admin: &Actor,
    keys: &touchbase_core::endpoint::Keys,
) -> anyhow::Result<Option<String>> {
    use touchbase_core::endpoint::EndpointKind;
    use touchbase_store::feed::{self, NewEndpoint};
    let crm = feed::add_endpoint(
        store,
        admin,
        keys,
        NewEndpoint {
            key: "crm".to_owned(),
            kind: EndpointKind::Webhook,
            target: demo::CRM_URL.to_owned(),
            allow_private: true,
        },
    )
    .await
    .context("the demo's crm endpoint was not added")?;
    feed::add_endpoint(
        store,
        admin,
        keys,
        NewEndpoint {
            key: "shelf-commands".to_owned(),
            kind: EndpointKind::Mqtt,
            target: demo::SHELF_TOPIC.to_owned(),
            allow_private: false,
        },
    )
    .await
    .context("the demo's shelf-commands endpoint was not added")?;
    let rules = touchbase_core::rules::parse_rules(demo::RULES)
        .map_err(|e| anyhow::anyhow!("the demo's rules are broken: {e}"))?;
    feed::put_rules(store, admin, &rules)
        .await
        .context("the demo's rules were not added")?;
    Ok(crm.secret)
}

/// Adds the demo users that are missing; returns the tokens of those added (name, role, secret).
async fn demo_users(
    store: &dyn Store,
    admin: &Actor,
) -> anyhow::Result<Vec<(String, Role, String)>> {
    let (existing, _) = access::list(store, admin).await?;
    let mut issued = Vec::new();
    for (name, role, teams) in DEMO_USERS {
        if existing.iter().any(|u| u.name == name) {
            continue;
        }
        let teams = teams.iter().map(|t| (*t).to_owned()).collect();
        let token = access::add_user(store, admin, name, role, teams)
            .await
            .with_context(|| format!("the demo user {name} was not added"))?;
        issued.push((name.to_owned(), role, token.secret));
    }
    Ok(issued)
}

/// A year of synthetic interactions (`touchbase gen` with its default seed), taken in through
/// the one ingest path: the points that are not live get theirs held (R8).
async fn demo_events(store: &dyn Store, admin: &Actor, events: u64) -> anyhow::Result<()> {
    if events == 0 {
        return Ok(());
    }
    let inventory = crate::commands::r#gen::demo_inventory()?;
    // The year up to today (00:00 UTC), so that the measuring commands' default period (the
    // last 30 days) and the report's (the last whole month) show the demo's data.
    let days = jiff::Timestamp::now().as_second().div_euclid(86_400);
    let today = jiff::civil::date(1970, 1, 1).checked_add(jiff::Span::new().days(days))?;
    let period = touchbase_synth::Period::ending(today, 365)?;
    let options = touchbase_synth::Options {
        events,
        seed: 1,
        period,
    };
    let generator = touchbase_synth::Generator::new(&inventory, options)?;
    let progress = crate::commands::r#gen::progress_bar(events);
    let started = std::time::Instant::now();
    let inputs = generator.map(|event| -> anyhow::Result<_> {
        Ok(touchbase_store::ingest::Input::new(
            serde_json::to_string(&event)?,
            "demo",
        ))
    });
    admin.require(touchbase_core::Permission::Ingest)?;
    // Synthetic history: it fires no rule.
    let (summary, failed) = ingest_all(
        store,
        inputs,
        10_000,
        touchbase_core::event::Firing::Off,
        |summary| {
            progress.set_position(summary.total());
        },
    )
    .await
    .context("the demo's interactions were not loaded")?;
    if let Some(e) = failed {
        return Err(e.context("the demo's interactions were not all loaded"));
    }
    progress.finish_and_clear();
    println!(
        "loaded {} interactions from {} to {} ({} accepted, {} held at points that are not live, {} rejected) in {:.1} s",
        thousands(summary.total()),
        period.from(),
        period.end(),
        thousands(summary.accepted),
        thousands(summary.held),
        thousands(summary.rejected),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Sign-off as it went: both executives approved automatic replenishment and its
/// self-service page, and their owner (olga) took both live before the year's interactions
/// went in, so that every household's first web order was captured as a standing order.
/// Still under way: erin approved scan and go (it waits for a second approval); ed rejected
/// the meal kit.
async fn demo_decisions(store: &dyn Store) -> anyhow::Result<()> {
    let erin = access::actor_named(store, "erin").await?;
    let ed = access::actor_named(store, "ed").await?;
    let olga = access::actor_named(store, "olga").await?;
    let pending: Vec<Proposal> = proposals::list(store, &erin)
        .await?
        .into_iter()
        .filter(|p| p.status == ProposalStatus::Pending && p.kind == ProposalKind::New)
        .collect();
    let find = |point: &str| pending.iter().find(|p| p.point == point);
    const SIGNED_OFF: [(&str, &str, &str); 2] = [
        (
            "replenishment.auto",
            "Strong case: repeat baskets at a low cost to serve and demand we can plan a week ahead. \
             Approved, provided households can pause or cancel it themselves at any time.",
            "Approved. Nothing runs until the household confirms, and each run reaches fulfilment \
             once per idempotency key: that settles finance's worry about double orders.",
        ),
        (
            "replenishment.edit",
            "Approved: without a page to skip or change a run, households would cancel instead.",
            "Approved. The signed link opens that one household's order only, and an older link \
             stops working when a new one is sent.",
        ),
    ];
    for (point, by_erin, by_ed) in SIGNED_OFF {
        let Some(p) = find(point) else { continue };
        proposals::decide(store, &erin, p.id, true, by_erin).await?;
        proposals::decide(store, &ed, p.id, true, by_ed).await?;
        inventory::go_live(store, &olga, point)
            .await
            .with_context(|| format!("the demo's {point} did not go live"))?;
    }
    if let Some(p) = find("app.scan-and-go") {
        proposals::decide(
            store,
            &erin,
            p.id,
            true,
            "Approve for the two hypermarkets first, and report the loss found at the exit checks after a quarter.",
        )
        .await?;
    }
    if let Some(p) = find("app.meal-kit") {
        proposals::decide(
            store,
            &ed,
            p.id,
            false,
            "Not this year: standing orders have just gone live, and a second subscription would \
             compete for the same households before we know how long they stay.",
        )
        .await?;
    }
    Ok(())
}

/// `n` things, with thousands separators.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// The year of standing orders, replayed after the year's interactions: the `fulfilment`
/// endpoint, the scheduler stepped week by week with the households' changes between the steps,
/// and the runs delivered (see `demo::standing`).
async fn demo_standing(
    store: &Arc<dyn Store>,
    admin: &Actor,
    keys: &touchbase_core::endpoint::Keys,
) -> anyhow::Result<demo::standing::Replay> {
    let now = touchbase_store::ingest::now_us();
    let replay = demo::standing::replay(store, admin, keys, now).await?;
    for problem in &replay.problems {
        tracing::warn!("the demo's standing orders: {problem}");
    }
    if replay.orders > 0 {
        let day = |us: i64| {
            touchbase_core::rules::instant(us)
                .chars()
                .take(10)
                .collect::<String>()
        };
        println!(
            "replayed the standing orders from {} to {} in {} weekly steps: {} captured, {} by households \
             on their page, {} sent ({} skipped), {} delivered to fulfilment, in {:.1} s",
            day(replay.from),
            day(replay.to),
            replay.steps,
            counted(replay.orders as u64, "order", "orders"),
            counted(replay.changes, "change", "changes"),
            counted(replay.sent, "run", "runs"),
            thousands(replay.skipped),
            thousands(replay.delivered),
            replay.seconds
        );
    }
    Ok(replay)
}

/// The year's surveys: key customers, invitations, responses (see `demo::voice`).
async fn demo_voice(
    store: &dyn Store,
    admin: &Actor,
    keys: &touchbase_core::endpoint::Keys,
) -> anyhow::Result<()> {
    let now = touchbase_store::ingest::now_us();
    let v = demo::voice::replay(store, admin, keys, now).await?;
    if v.key_customers > 0 {
        println!(
            "surveyed the year's key customers: {} households, {} invited ({} suppressed by the contact rules), {} answered; \
             {} why-buy answers from the senior team, {} answers tagged by a person, {} double-coded, in {:.1} s",
            thousands(v.key_customers as u64),
            thousands(v.invited as u64),
            thousands(v.suppressed),
            thousands(v.responses),
            v.statements,
            v.tagged,
            v.coded,
            v.seconds
        );
    }
    Ok(())
}

/// The banner's paragraph on the voice of the customer: the surveys, and one invitation's link
/// (a new one each time the demo starts) for a newcomer to answer.
async fn demo_voice_banner(
    store: &dyn Store,
    admin: &Actor,
    keys: &touchbase_core::endpoint::Keys,
    url: &str,
    me: &str,
    db: &str,
) -> anyhow::Result<()> {
    let inventory = inventory::get(store).await?.value;
    if inventory.surveys.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = inventory
        .surveys
        .iter()
        .map(|s| format!("{} ({})", s.key, s.points.join(", ")))
        .collect();
    println!(
        "\nVoice of the customer: surveys {} ask the key customers (the households that bought most) about one interaction each.",
        names.join(" and ")
    );
    let now = touchbase_store::ingest::now_us();
    if let Some(issued) = demo::voice::showcase(store, admin, keys, now).await? {
        println!(
            "  {party}'s survey about their {point} interaction: {url}{link}\n    (a signed single-use link, shown only now; answer it and the dashboard's Voice of the customer moves)",
            party = issued.invitation.party.as_deref().unwrap_or("a household"),
            point = issued.invitation.point,
            link = issued.link,
        );
    }
    println!(
        "  {me} --db {db} survey list\n  {me} --db {db} scorecard --all point --json   (nps, csat_survey, ces_agree, voice beside effectiveness)\n  \
         {me} --db {db} themes --from {from}   (what customers would change, coded by the demo's codebook, with each theme's NPS impact)\n  \
         {me} --db {db} why-buy summary --from {from}   (why customers buy: the senior team's view beside the customers')\n  \
         {me} --db {db} answers agreement   (two coders' kappa on a sample; `digital` falls below 0.6 and its theme is flagged)",
        from = touchbase_core::rules::instant(now - 365 * 86_400_000_000)
            .chars()
            .take(10)
            .collect::<String>()
    );
    Ok(())
}

/// The banner's paragraph on standing orders: the orders by status, the runs sent and
/// confirmed, one household's self-service page (a new link each time the demo starts), and
/// the commands to look further.
#[allow(clippy::too_many_arguments)]
async fn demo_standing_banner(
    store: &dyn Store,
    admin: &Actor,
    keys: &touchbase_core::endpoint::Keys,
    url: &str,
    me: &str,
    db: &str,
    replayed: Option<&demo::standing::Replay>,
) -> anyhow::Result<()> {
    use touchbase_core::standing::OrderStatus;
    let summary = demo::standing::summary(store, admin).await?;
    let inventory = inventory::get(store).await?.value;
    let zone = inventory.organization.timezone.as_deref().unwrap_or("UTC");
    println!(
        "\nStanding orders: {point} repeats a household's first web order once the household confirms it, weekly \
         (or every two weeks, or monthly,\nas the household chose) at the hour of that order, {zone} time; each run \
         goes to the endpoint {endpoint} (a webhook to {target}).",
        point = demo::standing::POINT,
        endpoint = demo::standing::ENDPOINT,
        target = demo::FULFILMENT_URL,
    );
    if summary.orders() == 0 {
        println!(
            "  none yet: the demo was made without interactions, so no first order was captured"
        );
        return Ok(());
    }
    println!(
        "The year was replayed a week at a time: each past run notes how late it was caught up."
    );
    println!(
        "  {orders}: {active} active, {paused} paused, {cancelled} cancelled, {offered} offered (never confirmed)",
        orders = counted(summary.orders(), "order", "orders"),
        active = thousands(summary.count(OrderStatus::Active)),
        paused = thousands(summary.count(OrderStatus::Paused)),
        cancelled = thousands(summary.count(OrderStatus::Cancelled)),
        offered = thousands(summary.count(OrderStatus::Offered)),
    );
    let waiting = match replayed.and_then(|r| r.undelivered.as_deref()) {
        Some(why) if summary.pending > 0 => format!(
            "; {} wait: {why} while the demo was made, and they go out once a receiver listens there",
            thousands(summary.pending)
        ),
        _ if summary.pending > 0 => format!("; {} waiting to go out", thousands(summary.pending)),
        _ => String::new(),
    };
    let failed = if summary.failed > 0 {
        format!(", {} failed", thousands(summary.failed))
    } else {
        String::new()
    };
    println!(
        "  {sent} sent to fulfilment, {confirmed} confirmed by it{failed}{waiting}",
        sent = counted(summary.sent, "run", "runs"),
        confirmed = thousands(summary.confirmed),
    );
    let showcase = demo::standing::showcase(store).await?;
    if let Some(order) = &showcase {
        let now = touchbase_store::ingest::now_us();
        let link = touchbase_store::standing::link(
            store,
            admin,
            keys,
            &order.id,
            touchbase_store::standing::LINK_TTL_S,
            now,
        )
        .await
        .context("the demo household's self-service link was not issued")?;
        println!(
            "  {party}'s own page: {url}/s/{token}\n    (a signed link for a week, shown only now; each change made there is an interaction at {edit})",
            party = order.party,
            token = link.token,
            edit = inventory
                .point(demo::standing::POINT)
                .and_then(|p| p.standing.as_ref())
                .map_or("its edit point", |s| s.edit_point.as_str()),
        );
    }
    println!(
        "  {me} --db {db} standing list --status active\n  \
         {me} --db {db} standing show {id}\n  \
         {me} --db {db} standing run   (what is due now; the server runs it every minute)",
        id = showcase.as_ref().map_or("ID", |o| o.id.as_str()),
    );
    match replayed.and_then(|r| r.secret.as_deref()) {
        Some(secret) => println!(
            "  {me} listen --listen 127.0.0.1:9001 --secret {secret}   (fulfilment's receiver; the secret is shown only now)"
        ),
        None => println!(
            "  {me} listen --listen 127.0.0.1:9001 --secret SECRET   (fulfilment's secret was shown when the store was made; \
             `{me} --db {db} endpoint rotate fulfilment` gives a new one)"
        ),
    }
    Ok(())
}
