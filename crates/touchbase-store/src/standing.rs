//! Standing orders as every store keeps them (R19): the order as of its latest revision and
//! each revision it went through. The order itself is `touchbase_core::standing::Order`; a
//! store writes a revision only over the one before it, so a capture twice finds the order
//! there and two edits at once never overwrite each other.

use serde::Serialize;
use touchbase_core::standing::{Order, OrderStatus};

/// One revision of an order: who made it, when and why, and the order it made.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderRevision {
    pub revision: u32,
    /// Microseconds since the epoch.
    pub at: i64,
    /// `party:ID` for the party's own changes through its link, a user's name otherwise, or
    /// `capture` for the first order.
    pub actor: String,
    pub note: String,
    pub order: Order,
}

/// Which orders a list holds; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderFilter {
    pub point: Option<String>,
    pub party: Option<String>,
    pub status: Option<OrderStatus>,
}

impl OrderFilter {
    pub fn admits(&self, order: &Order) -> bool {
        self.point.as_ref().is_none_or(|p| *p == order.point)
            && self.party.as_ref().is_none_or(|p| *p == order.party)
            && self.status.is_none_or(|s| s == order.status)
    }
}

/// The order as its stored document.
pub fn doc_of(order: &Order) -> String {
    serde_json::to_string(order).expect("an order always serializes")
}

/// The order of a stored document; a document this version cannot read is named.
pub fn order_of(id: &str, doc: &str) -> Result<Order, crate::StoreError> {
    serde_json::from_str(doc)
        .map_err(|e| crate::StoreError::Corrupt(format!("standing order `{id}`: {e}")))
}

/// An order with where its scheduler stands: the instants (microseconds) of its last run sent
/// or skipped and of its last run locked.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub order: Order,
    pub handled_at: Option<i64>,
    pub locked_at: Option<i64>,
}

/// The revision a capture writes: the first order, by `capture`.
pub fn captured(order: &Order) -> OrderRevision {
    OrderRevision {
        revision: 1,
        at: order.first_at,
        actor: "capture".to_owned(),
        note: format!("first order {}", order.first_event),
        order: order.clone(),
    }
}

/// Who changes an order: the party through its self-service link (each change is also an
/// interaction at the section's `edit_point`), or a user with the right to.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    Party,
    User(&'a touchbase_core::Actor),
}

/// An order changed: its new revision, and which run the change reaches first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Edited {
    pub order: Order,
    /// The local date of the first run the change reaches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaches: Option<String>,
    /// The local date of a run already locked (its cut-off passed), which goes out as it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<String>,
    /// The interaction recorded at the edit point (the party's changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// A standing order with its automated point's section and time zone, or why not.
#[derive(Debug, Clone)]
pub struct Context {
    pub order: Order,
    pub point: touchbase_core::Point,
    pub standing: touchbase_core::standing::Standing,
    pub zone: jiff::tz::TimeZone,
    pub currency: String,
}

/// The order `id` with what it runs under.
pub async fn context(store: &dyn crate::Store, id: &str) -> Result<Context, crate::OpError> {
    let order = store.order(id).await?.ok_or_else(|| not_found(id))?;
    let inventory = crate::inventory::get(store).await?.value;
    let point = inventory
        .point(&order.point)
        .cloned()
        .ok_or_else(|| crate::OpError::PointNotFound(order.point.clone()))?;
    let standing = point.standing.clone().ok_or_else(|| {
        crate::OpError::invalid(
            format!("point `{}`", point.key),
            "standing",
            "the point no longer declares a standing section: its orders do not run",
        )
    })?;
    let zone =
        touchbase_core::standing::time_zone(&standing, inventory.organization.timezone.as_deref())
            .map_err(|why| {
                crate::OpError::invalid(format!("point `{}`", point.key), "standing.timezone", why)
            })?;
    Ok(Context {
        order,
        point,
        standing,
        zone,
        currency: inventory.organization.currency.clone(),
    })
}

fn not_found(id: &str) -> crate::OpError {
    crate::OpError::NotFound(format!(
        "standing order `{id}`: does not exist; `touchbase standing list` shows them"
    ))
}

/// Applies `edits` to order `id` at `now` (microseconds) as one new revision, written only
/// over the revision it was made from (read again and retried when another change got in
/// first). A change after the next run's cut-off reaches the run after; the answer says which.
pub async fn edit(
    store: &dyn crate::Store,
    by: By<'_>,
    id: &str,
    edits: &[touchbase_core::standing::Edit],
    now: i64,
) -> Result<Edited, crate::OpError> {
    use touchbase_core::standing;
    if let By::User(actor) = by {
        actor.require(touchbase_core::Permission::Propose)?;
    }
    if edits.is_empty() {
        return Err(crate::OpError::invalid(
            format!("standing order `{id}`"),
            "changes",
            "name at least one change",
        ));
    }
    let now_at = jiff::Timestamp::from_microsecond(now)
        .map_err(|e| crate::OpError::invalid("the change", "at", e.to_string()))?;
    for _ in 0..5 {
        let ctx = context(store, id).await?;
        let mut next = ctx.order.clone();
        for edit in edits {
            next = standing::apply(&next, edit).map_err(|why| {
                crate::OpError::invalid(format!("standing order `{id}`"), "changes", why)
            })?;
        }
        next.revision = ctx.order.revision + 1;
        next.changed_at = now;
        let note: Vec<String> = edits.iter().map(standing::Edit::summary).collect();
        let actor = match by {
            By::Party => format!("party:{}", next.party),
            By::User(actor) => actor.name.clone(),
        };
        let revision = OrderRevision {
            revision: next.revision,
            at: now,
            actor,
            note: note.join(", "),
            order: next.clone(),
        };
        if !store.put_order(&revision).await? {
            continue;
        }
        if next.status == OrderStatus::Cancelled {
            // A cancelled order has no page: its links stop working with it.
            store
                .revoke_links(touchbase_core::link::Purpose::Standing.as_str(), id, now)
                .await?;
        }
        let upcoming =
            standing::upcoming(&next, &ctx.standing, &ctx.zone, now_at).map_err(|why| {
                crate::OpError::invalid(format!("standing order `{id}`"), "schedule", why)
            })?;
        let mut edited = Edited {
            order: next,
            reaches: upcoming.next.map(|(_, date, _)| date),
            locked: upcoming.locked.map(|(_, date)| date),
            event: None,
        };
        if let By::Party = by {
            edited.event = Some(record_edit(store, &ctx, &revision, &edited, now).await?);
        }
        return Ok(edited);
    }
    Err(crate::OpError::Store(crate::StoreError::Conflict(format!(
        "standing order `{id}` kept changing while this change was made: make it again"
    ))))
}

/// The party's change as an interaction at the section's edit point (held while that point
/// is not live, like any event).
async fn record_edit(
    store: &dyn crate::Store,
    ctx: &Context,
    revision: &OrderRevision,
    edited: &Edited,
    now: i64,
) -> Result<String, crate::OpError> {
    let id = format!("edit:{}:{}", revision.order.id, revision.revision);
    let event = serde_json::json!({
        "id": id,
        "point": ctx.standing.edit_point,
        "at": touchbase_core::rules::instant(now),
        "party": revision.order.party,
        "outcomes": { "engaged": revision.order.status != OrderStatus::Cancelled },
        "data": {
            "standing_order_id": revision.order.id,
            "revision": revision.revision,
            "change": revision.note,
            "reaches": edited.reaches,
        }
    });
    let checker = crate::ingest::checker(store).await?;
    let input =
        crate::ingest::Input::new(event.to_string(), format!("standing:{}", revision.order.id));
    let prepared =
        crate::ingest::prepare_batch_at(&checker, &[input], now.max(crate::ingest::now_us()));
    let outcome = crate::ingest::commit(store, prepared).await?;
    if let Some(o) = outcome.value.first().filter(|o| !o.reasons.is_empty()) {
        tracing::warn!(
            "the change to {} was saved; its interaction was refused: {}",
            revision.order.id,
            o.reasons.join("; ")
        );
    }
    Ok(id)
}

/// An order as `standing show` reads it: every revision, its runs (a sent run confirmed or
/// failed as its delivery is), and what is ahead.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderView {
    pub order: Order,
    pub endpoint: String,
    pub edit_point: String,
    pub timezone: String,
    pub cutoff: String,
    /// The run already locked, if any (local date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<String>,
    /// The next run a change made now reaches: its local date, instant and cut-off (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<NextRun>,
    pub revisions: Vec<OrderRevision>,
    pub runs: Vec<touchbase_core::standing::Run>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NextRun {
    pub date: String,
    pub at: String,
    pub cutoff: String,
    /// The items it carries as the order stands now.
    pub items: Vec<touchbase_core::standing::Item>,
    pub value: f64,
}

/// The whole of order `id` as of `now` (microseconds); `runs` of them at most, newest first.
pub async fn view(
    store: &dyn crate::Store,
    id: &str,
    runs: u32,
    now: i64,
) -> Result<OrderView, crate::OpError> {
    use touchbase_core::standing::{self, RunState};
    let ctx = context(store, id).await?;
    let now_at = jiff::Timestamp::from_microsecond(now)
        .map_err(|e| crate::OpError::invalid("the view", "now", e.to_string()))?;
    let upcoming =
        standing::upcoming(&ctx.order, &ctx.standing, &ctx.zone, now_at).map_err(|why| {
            crate::OpError::invalid(format!("standing order `{id}`"), "schedule", why)
        })?;
    let mut list = store.runs(Some(id), runs).await?;
    for run in &mut list {
        if run.state != RunState::Sent {
            continue;
        }
        if let Some(delivery) = &run.delivery
            && let Some((d, _)) = store.delivery(delivery).await?
        {
            run.state = match d.state {
                crate::outbox::DeliveryState::Delivered => RunState::Confirmed,
                crate::outbox::DeliveryState::Dead => RunState::Failed,
                crate::outbox::DeliveryState::Pending => RunState::Sent,
            };
        }
    }
    let next = upcoming.next.map(|(at, date, cutoff)| {
        let items = standing::items_for(&ctx.order.items, &date);
        NextRun {
            value: standing::value_of(&items),
            items,
            date,
            at: at.to_string(),
            cutoff: cutoff.to_string(),
        }
    });
    Ok(OrderView {
        endpoint: ctx.standing.endpoint.clone(),
        edit_point: ctx.standing.edit_point.clone(),
        timezone: ctx.zone.iana_name().unwrap_or("UTC").to_owned(),
        cutoff: ctx.standing.cutoff.to_string(),
        locked: upcoming.locked.map(|(_, date)| date),
        next,
        revisions: store.order_revisions(id).await?,
        runs: list,
        order: ctx.order,
    })
}

/// How long a self-service link opens its page unless told otherwise: a week, so that the
/// link sent after one run still works before the next.
pub const LINK_TTL_S: i64 = 7 * 86_400;

/// A new self-service link to order `id`, valid `ttl_s` seconds from `now` (microseconds).
/// Every earlier link to the order is revoked first: a link forwarded or left in an old mail
/// stops working when a new one is sent. The token is returned once; only its hash is kept.
pub async fn link(
    store: &dyn crate::Store,
    actor: &touchbase_core::Actor,
    keys: &touchbase_core::endpoint::Keys,
    id: &str,
    ttl_s: i64,
    now: i64,
) -> Result<touchbase_core::link::Issued, crate::OpError> {
    use touchbase_core::link::Purpose;
    actor.require(touchbase_core::Permission::Propose)?;
    let order = store.order(id).await?.ok_or_else(|| not_found(id))?;
    if order.status == OrderStatus::Cancelled {
        return Err(crate::OpError::invalid(
            format!("standing order `{id}`"),
            "status",
            "the order is cancelled: it has no page any more",
        ));
    }
    if !(60..=90 * 86_400).contains(&ttl_s) {
        return Err(crate::OpError::invalid(
            format!("standing order `{id}`"),
            "ttl",
            "a link lasts 1 minute to 90 days",
        ));
    }
    store
        .revoke_links(Purpose::Standing.as_str(), id, now)
        .await?;
    let expires_at = now.div_euclid(1_000_000) + ttl_s;
    crate::links::issue(store, keys, Purpose::Standing, id, expires_at, now)
        .await
        .map_err(|refused| match refused {
            crate::links::Refused::Store(e) => crate::OpError::Store(e),
            other => {
                crate::OpError::invalid(format!("standing order `{id}`"), "link", other.to_string())
            }
        })
}

/// The orders `filter` admits (at most `limit`, by id) with the count of every order by status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderList {
    pub orders: Vec<Order>,
    /// Every order by status (`offered`, `active`, `paused`, `cancelled`), whatever the filter.
    pub counts: std::collections::BTreeMap<String, u64>,
}

/// The standing orders for someone who may read everything (`Export`).
pub async fn list(
    store: &dyn crate::Store,
    actor: &touchbase_core::Actor,
    filter: &OrderFilter,
    limit: usize,
) -> Result<OrderList, crate::OpError> {
    actor.require(touchbase_core::Permission::Export)?;
    let all = store.orders(&OrderFilter::default()).await?;
    let mut counts: std::collections::BTreeMap<String, u64> = [
        OrderStatus::Offered,
        OrderStatus::Active,
        OrderStatus::Paused,
        OrderStatus::Cancelled,
    ]
    .into_iter()
    .map(|s| (s.as_str().to_owned(), 0))
    .collect();
    for order in &all {
        *counts.entry(order.status.as_str().to_owned()).or_default() += 1;
    }
    let orders = all
        .into_iter()
        .filter(|o| filter.admits(o))
        .take(limit)
        .collect();
    Ok(OrderList { orders, counts })
}

/// [`view`] for someone who may read everything (`Export`).
pub async fn show(
    store: &dyn crate::Store,
    actor: &touchbase_core::Actor,
    id: &str,
    runs: u32,
    now: i64,
) -> Result<OrderView, crate::OpError> {
    actor.require(touchbase_core::Permission::Export)?;
    view(store, id, runs, now).await
}

/// The latest runs of every order, for someone who may read everything.
pub async fn recent_runs(
    store: &dyn crate::Store,
    actor: &touchbase_core::Actor,
    limit: u32,
) -> Result<Vec<touchbase_core::standing::Run>, crate::OpError> {
    actor.require(touchbase_core::Permission::Export)?;
    Ok(store.runs(None, limit).await?)
}
