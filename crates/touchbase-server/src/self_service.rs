//! The party's self-service page of a standing order (R22): `GET /s/{token}` shows the order
//! — its status, the next run with its cut-off and items, the run already locked — and
//! `POST /s/{token}` makes one change per form through [`touchbase_store::standing::edit`],
//! as the party.
//!
//! The link is the credential: a signed token of the standing purpose
//! ([`touchbase_store::links::open`]), so these routes sit beside `/healthz`, outside the
//! API's bearer tokens. Opening the page changes nothing (mail scanners fetch links); every
//! change carries a CSRF token, the HMAC of the link's hash under a key of its own, so a form
//! posted from elsewhere (or with another link's token) changes nothing. The page is plain
//! HTML with one inline stylesheet (allowed by its hash) and no script; every answer is
//! `Cache-Control: no-store`, and the server's `Referrer-Policy: no-referrer` keeps the token,
//! which is in the path, from leaving with a click.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use touchbase_core::endpoint::Keys;
use touchbase_core::link::{LinkError, Purpose};
use touchbase_core::standing::{self, Edit, Item, OrderStatus, Upcoming};
use touchbase_store::OpError;
use touchbase_store::links::{self, LinkRecord, Refused};
use touchbase_store::standing::{By, Context, OrderFilter};

use crate::AppState;
use crate::customer_page::{self, document, escape, no_store, notice, page};

pub fn routes() -> Router<AppState> {
    Router::new().route("/s/{token}", get(show).post(act))
}

/// The cadences a party may choose (besides the one in force).
const CADENCES: [(&str, &str); 3] = [
    ("FREQ=WEEKLY", "Every week"),
    ("FREQ=WEEKLY;INTERVAL=2", "Every 2 weeks"),
    ("FREQ=WEEKLY;INTERVAL=4", "Every 4 weeks"),
];

/// The most products the page offers to add.
const CATALOGUE_MAX: usize = 200;

/// What the CSRF key is derived for.
const CSRF_PURPOSE: &str = "link/standing/csrf";

fn csrf_token(keys: &Keys, link_hash: &str) -> String {
    customer_page::csrf_token(keys, CSRF_PURPOSE, link_hash)
}

fn csrf_holds(keys: &Keys, link_hash: &str, given: Option<&str>) -> bool {
    customer_page::csrf_holds(keys, CSRF_PURPOSE, link_hash, given)
}

/// The token of a `/s/{token}` path, as sent (a token is base64url and `.`: nothing to decode).
fn token_of(uri: &Uri) -> &str {
    uri.path().strip_prefix("/s/").unwrap_or_default()
}

// ---- answers -------------------------------------------------------------------------------

fn not_valid() -> Response {
    notice(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        &["Check that you opened the whole link from your message, or ask us for a new one."],
    )
}

fn unavailable() -> Response {
    notice(
        StatusCode::SERVICE_UNAVAILABLE,
        "This page is unavailable for now",
        &["Nothing was changed. Please try again in a few minutes."],
    )
}

/// The page for a link that does not open.
fn refused(why: &Refused) -> Response {
    tracing::debug!(reason = %why, "a self-service link was refused");
    match why {
        Refused::Invalid(LinkError::Expired(_)) => notice(
            StatusCode::GONE,
            "This link has expired: ask for a new one",
            &["Links to this page last a limited time. Ask us and we will send you a new one."],
        ),
        Refused::Revoked => notice(
            StatusCode::GONE,
            "This link was replaced by a newer one or the order was cancelled",
            &["Use the latest link we sent you, or ask us for a new one."],
        ),
        Refused::Invalid(_) | Refused::Unknown | Refused::Used => not_valid(),
        Refused::Store(e) => {
            tracing::warn!(error = %e, "opening a self-service link");
            unavailable()
        }
    }
}

/// The page for an operation of the store that failed other than by a broken rule.
fn failed(e: &OpError) -> Response {
    match e {
        OpError::NotFound(_) | OpError::PointNotFound(_) => not_valid(),
        OpError::Store(touchbase_store::StoreError::Conflict(_)) => notice(
            StatusCode::CONFLICT,
            "Your order changed meanwhile",
            &["Nothing was changed by this form. Open your link again and repeat the change."],
        ),
        other => {
            tracing::warn!(error = %other, "the self-service page");
            unavailable()
        }
    }
}

/// The link's record and the order's context, or the page that says why not.
async fn open(state: &AppState, token: &str, now: i64) -> Result<Opened, Response> {
    let Some(keys) = state.keys.as_deref() else {
        tracing::warn!("a self-service link was opened but the server has no organization key");
        return Err(unavailable());
    };
    let record = links::open(&*state.store, keys, Purpose::Standing, token, false, now)
        .await
        .map_err(|why| refused(&why))?;
    let ctx = touchbase_store::standing::context(&*state.store, &record.subject)
        .await
        .map_err(|e| failed(&e))?;
    Ok(Opened { record, ctx })
}

// ---- GET -----------------------------------------------------------------------------------

/// The page. Changes nothing.
async fn show(State(state): State<AppState>, uri: Uri) -> Response {
    let now = touchbase_store::ingest::now_us();
    let token = token_of(&uri);
    let opened = match open(&state, token, now).await {
        Ok(opened) => opened,
        Err(answer) => return answer,
    };
    let saved = match saved_of(&uri) {
        Some(revision) => match saved(&state, &opened.ctx, revision).await {
            Ok(saved) => saved,
            Err(e) => return failed(&e),
        },
        None => None,
    };
    render(&state, token, &opened, now, saved, None).await
}

/// The revision `?saved=N` names.
fn saved_of(uri: &Uri) -> Option<u32> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "saved")
        .and_then(|(_, v)| v.parse().ok())
}

/// A change the party saved: its note, and the runs as they stood when it was saved.
#[derive(Debug)]
struct Saved {
    note: String,
    upcoming: Option<Upcoming>,
    /// Whether it ended the order (its link no longer opens the page).
    cancelled: bool,
}

/// The party's revision `revision` of the order, if there is one.
async fn saved(state: &AppState, ctx: &Context, revision: u32) -> Result<Option<Saved>, OpError> {
    let revisions = state.store.order_revisions(&ctx.order.id).await?;
    let Some(rev) = revisions
        .into_iter()
        .find(|r| r.revision == revision && r.actor.starts_with("party:"))
    else {
        return Ok(None);
    };
    let upcoming = Timestamp::from_microsecond(rev.at)
        .ok()
        .and_then(|at| standing::upcoming(&rev.order, &ctx.standing, &ctx.zone, at).ok());
    Ok(Some(Saved {
        note: rev.note,
        upcoming,
        cancelled: rev.order.status == OrderStatus::Cancelled,
    }))
}

/// The products known at the order's automated point: every SKU of its orders at the price of
/// the order changed last, by SKU, at most [`CATALOGUE_MAX`].
async fn catalogue(state: &AppState, point: &str) -> Result<Vec<(String, f64)>, OpError> {
    let filter = OrderFilter {
        point: Some(point.to_owned()),
        ..OrderFilter::default()
    };
    let orders = state.store.orders(&filter).await?;
    let mut known: HashMap<&str, (i64, f64)> = HashMap::new();
    for order in &orders {
        for item in &order.items {
            let seen = known.entry(&item.sku).or_insert((i64::MIN, item.price));
            if order.changed_at > seen.0 {
                *seen = (order.changed_at, item.price);
            }
        }
    }
    let mut list: Vec<(String, f64)> = known
        .into_iter()
        .map(|(sku, (_, price))| (sku.to_owned(), price))
        .collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list.truncate(CATALOGUE_MAX);
    Ok(list)
}

/// A change refused: the section whose form made it, and why (each broken rule as `field:
/// rule`).
#[derive(Debug)]
struct Refusal {
    section: &'static str,
    message: String,
}

impl Refusal {
    fn new(section: &'static str, field: &str, rule: impl std::fmt::Display) -> Refusal {
        Refusal {
            section,
            message: format!("{field}: {rule}"),
        }
    }
}

/// The page as it stands at `now`, with a change saved or refused (422).
async fn render(
    state: &AppState,
    token: &str,
    opened: &Opened,
    now: i64,
    saved: Option<Saved>,
    refusal: Option<Refusal>,
) -> Response {
    let ctx = &opened.ctx;
    let now_at = Timestamp::from_microsecond(now).unwrap_or_else(|_| Timestamp::now());
    let upcoming = match standing::upcoming(&ctx.order, &ctx.standing, &ctx.zone, now_at) {
        Ok(u) => u,
        Err(why) => {
            tracing::warn!(order = %ctx.order.id, "the schedule does not expand: {why}");
            return unavailable();
        }
    };
    let catalogue = match catalogue(state, &ctx.order.point).await {
        Ok(c) => c,
        Err(e) => return failed(&e),
    };
    let Some(keys) = state.keys.as_deref() else {
        return unavailable();
    };
    let status = if refusal.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = View {
        action: format!("/s/{token}"),
        csrf: csrf_token(keys, &opened.record.hash),
        ctx,
        upcoming: &upcoming,
        catalogue: &catalogue,
        saved: saved.as_ref(),
        refusal: refusal.as_ref(),
    };
    page(status, document("Your standing order", &view.body()))
}

// ---- POST ----------------------------------------------------------------------------------

/// One change, from one of the page's forms.
async fn act(State(state): State<AppState>, uri: Uri, body: Bytes) -> Response {
    let now = touchbase_store::ingest::now_us();
    let token = token_of(&uri);
    let opened = match open(&state, token, now).await {
        Ok(opened) => opened,
        Err(answer) => return answer,
    };
    let mut form: HashMap<String, String> = HashMap::new();
    for (name, value) in form_urlencoded::parse(&body) {
        form.entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    let Some(keys) = state.keys.as_deref() else {
        return unavailable();
    };
    if !csrf_holds(
        keys,
        &opened.record.hash,
        form.get("csrf").map(String::as_str),
    ) {
        let back = format!(
            "<a href=\"/s/{}\">Open your order again</a> and repeat the change.",
            escape(token)
        );
        return notice(
            StatusCode::FORBIDDEN,
            "This form could not be checked",
            &[
                "Nothing was changed: the form did not come from this page.",
                &back,
            ],
        );
    }
    let catalogue = match catalogue(&state, &opened.ctx.order.point).await {
        Ok(c) => c,
        Err(e) => return failed(&e),
    };
    let now_at = Timestamp::from_microsecond(now).unwrap_or_else(|_| Timestamp::now());
    let edit = match edit_of(&form, &opened.ctx, &catalogue, now_at) {
        Ok(edit) => edit,
        Err(refusal) => return render(&state, token, &opened, now, None, Some(refusal)).await,
    };
    let section = section_of(form.get("action").map(String::as_str).unwrap_or_default());
    let id = opened.ctx.order.id.clone();
    match touchbase_store::standing::edit(&*state.store, By::Party, &id, &[edit], now).await {
        Ok(edited) if edited.order.status == OrderStatus::Cancelled => {
            // The order's links are revoked with it: the page is answered here, not redirected
            // to.
            let ctx = match touchbase_store::standing::context(&*state.store, &id).await {
                Ok(ctx) => ctx,
                Err(e) => return failed(&e),
            };
            let saved = Saved {
                note: standing::Edit::Cancel.summary(),
                upcoming: standing::upcoming(&ctx.order, &ctx.standing, &ctx.zone, now_at).ok(),
                cancelled: true,
            };
            let opened = Opened {
                record: opened.record,
                ctx,
            };
            render(&state, token, &opened, now, Some(saved), None).await
        }
        Ok(edited) => {
            let to = format!("/s/{token}?saved={}", edited.order.revision);
            let mut response = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, to)],
                String::new(),
            )
                .into_response();
            no_store(&mut response);
            response
        }
        Err(OpError::Invalid(violations)) => {
            let message = violations
                .0
                .iter()
                .map(|v| format!("{}: {}", v.field, v.rule))
                .collect::<Vec<_>>()
                .join("; ");
            let refusal = Refusal { section, message };
            render(&state, token, &opened, now, None, Some(refusal)).await
        }
        Err(e) => failed(&e),
    }
}

/// The section of the page that holds an action's form.
fn section_of(action: &str) -> &'static str {
    match action {
        "set" | "remove" => "items",
        "skip" | "unskip" | "pause" | "resume" => "runs",
        "cadence" => "cadence",
        "cancel" => "cancel",
        "confirm" => "confirm",
        _ => "status",
    }
}

/// The change a form asks for, or why it is refused before the store sees it. Prices come
/// from the order or the catalogue, never from the form.
fn edit_of(
    form: &HashMap<String, String>,
    ctx: &Context,
    catalogue: &[(String, f64)],
    now: Timestamp,
) -> Result<Edit, Refusal> {
    let field = |name: &str| form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let action = field("action").unwrap_or_default();
    let section = section_of(action);
    let next = standing::upcoming(&ctx.order, &ctx.standing, &ctx.zone, now)
        .ok()
        .and_then(|u| u.next);
    let order = &ctx.order;
    Ok(match action {
        "set" => {
            let sku = field("sku")
                .ok_or_else(|| Refusal::new(section, "sku", "choose a product from the list"))?;
            let qty = field("qty")
                .and_then(|q| q.parse::<f64>().ok())
                .filter(|q| q.is_finite())
                .ok_or_else(|| {
                    Refusal::new(section, "qty", "must be a number above 0, such as 2")
                })?;
            let only = match field("only") {
                None => None,
                Some("next") => Some(next.as_ref().map(|(_, date, _)| date.clone()).ok_or_else(
                    || Refusal::new(section, "only", "there is no delivery ahead to add it to"),
                )?),
                // A line's own form names the date of its line.
                Some(date)
                    if order
                        .items
                        .iter()
                        .any(|i| i.sku == sku && i.only.as_deref() == Some(date)) =>
                {
                    Some(date.to_owned())
                }
                Some(_) => {
                    return Err(Refusal::new(
                        section,
                        "only",
                        "is the next delivery (`next`) or the date of one of your lines",
                    ));
                }
            };
            let price = if order.items.iter().any(|i| i.sku == sku) {
                None
            } else {
                let price = catalogue
                    .iter()
                    .find(|(known, _)| known == sku)
                    .map(|(_, price)| *price)
                    .ok_or_else(|| {
                        Refusal::new(
                            section,
                            "sku",
                            format!(
                                "`{sku}` is not a product we offer here: choose one from the list"
                            ),
                        )
                    })?;
                Some(price)
            };
            Edit::Set {
                sku: sku.to_owned(),
                qty,
                price,
                only,
            }
        }
        "remove" => Edit::Remove {
            sku: field("sku")
                .ok_or_else(|| Refusal::new(section, "sku", "name the item to remove"))?
                .to_owned(),
        },
        "skip" => {
            let (_, date, _) = next.ok_or_else(|| {
                Refusal::new(section, "date", "there is no delivery ahead to skip")
            })?;
            match field("date") {
                Some(asked) if asked == date => Edit::Skip { date },
                Some(asked) => {
                    return Err(Refusal::new(
                        section,
                        "date",
                        format!(
                            "the delivery on {} can no longer change (its cut-off has passed); the next one you can skip is on {}",
                            date_named(asked),
                            date_named(&date)
                        ),
                    ));
                }
                None => Edit::Skip { date },
            }
        }
        "unskip" => Edit::Unskip,
        "pause" => Edit::Pause,
        "resume" => Edit::Resume,
        "confirm" => Edit::Confirm,
        "cancel" => {
            if field("confirm") != Some("yes") {
                return Err(Refusal::new(
                    section,
                    "confirm",
                    "tick the box to confirm that you want to cancel",
                ));
            }
            Edit::Cancel
        }
        "cadence" => {
            let asked = field("schedule").unwrap_or_default();
            if normalized(asked) == normalized(&order.schedule) {
                return Err(Refusal::new(
                    section,
                    "schedule",
                    format!("your order already comes {}", describe(&order.schedule)),
                ));
            }
            let (schedule, _) = CADENCES.iter().find(|(s, _)| *s == asked).ok_or_else(|| {
                Refusal::new(section, "schedule", "choose one of the cadences offered")
            })?;
            Edit::Cadence {
                schedule: (*schedule).to_owned(),
            }
        }
        _ => {
            return Err(Refusal::new(
                section,
                "action",
                "is not a change this page makes: use one of its forms",
            ));
        }
    })
}

/// An RRULE as compared: without `RRULE:`, in capitals, without spaces.
fn normalized(schedule: &str) -> String {
    let s = schedule.trim();
    s.strip_prefix("RRULE:")
        .unwrap_or(s)
        .to_ascii_uppercase()
        .replace(' ', "")
}

/// A cadence in words: "every week", "every 2 weeks", or the rule itself.
fn describe(schedule: &str) -> String {
    let rule = normalized(schedule);
    let mut freq = None;
    let mut interval = 1u32;
    let mut other = false;
    for part in rule.split(';').filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("FREQ", f)) => freq = Some(f.to_owned()),
            Some(("INTERVAL", n)) => match n.parse() {
                Ok(n) => interval = n,
                Err(_) => other = true,
            },
            _ => other = true,
        }
    }
    let unit = match freq.as_deref() {
        Some("DAILY") => ("day", "days"),
        Some("WEEKLY") => ("week", "weeks"),
        Some("MONTHLY") => ("month", "months"),
        Some("YEARLY") => ("year", "years"),
        _ => return format!("on the schedule {}", schedule.trim()),
    };
    if other {
        return format!("on the schedule {}", schedule.trim());
    }
    if interval == 1 {
        format!("every {}", unit.0)
    } else {
        format!("every {interval} {}", unit.1)
    }
}

// ---- the page ------------------------------------------------------------------------------

/// The link's record and the order it opens.
#[derive(Debug)]
struct Opened {
    record: LinkRecord,
    ctx: Context,
}

/// What the page shows.
struct View<'a> {
    /// Where the forms post: the page's own path.
    action: String,
    csrf: String,
    ctx: &'a Context,
    upcoming: &'a Upcoming,
    catalogue: &'a [(String, f64)],
    saved: Option<&'a Saved>,
    refusal: Option<&'a Refusal>,
}

impl View<'_> {
    fn zone(&self) -> &TimeZone {
        &self.ctx.zone
    }

    fn money(&self, amount: f64) -> String {
        money(amount, &self.ctx.currency)
    }

    /// The opening tag of a form with its action and CSRF token.
    fn form(&self, action: &str, class: &str) -> String {
        format!(
            "<form method=\"post\" action=\"{}\"{}>\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n<input type=\"hidden\" name=\"action\" value=\"{action}\">\n",
            escape(&self.action),
            if class.is_empty() {
                String::new()
            } else {
                format!(" class=\"{class}\"")
            },
            escape(&self.csrf),
        )
    }

    /// The refusal's message, if it belongs to `section`.
    fn refused_in(&self, section: &str) -> String {
        match self.refusal {
            Some(r) if r.section == section => format!(
                "<p class=\"error\" id=\"{section}-error\">Not saved: {}</p>\n",
                escape(&r.message)
            ),
            _ => String::new(),
        }
    }

    fn body(&self) -> String {
        let order = &self.ctx.order;
        let mut h = String::from("<h1>Your standing order</h1>\n");
        if let Some(saved) = self.saved {
            h += &self.saved_html(saved);
        }
        if let Some(r) = self.refusal {
            let _ = writeln!(
                h,
                "<p class=\"error\" role=\"alert\">Not saved: {}. <a href=\"#{}\">See the form</a>.</p>",
                escape(&r.message),
                r.section
            );
        }
        h += &self.status_html();
        h += &self.refused_in("status");
        if order.status == OrderStatus::Offered {
            h += &self.confirm_html();
        }
        h += &self.next_html();
        if order.status != OrderStatus::Cancelled {
            h += &self.items_html();
            h += &self.runs_html();
            h += &self.cadence_html();
            h += &self.cancel_html();
            let _ = writeln!(
                h,
                "<p class=\"muted small\">Changes close {} before each delivery; a change made later reaches the delivery after. \
                 Keep this link to yourself: whoever has it can change your order.</p>",
                escape(&self.ctx.standing.cutoff.to_string())
            );
        }
        h
    }

    fn saved_html(&self, saved: &Saved) -> String {
        let mut text = format!("Saved: {}.", escape(&saved.note));
        let upcoming = saved.upcoming.as_ref();
        if !saved.cancelled
            && let Some((at, _, _)) = upcoming.and_then(|u| u.next.as_ref())
        {
            let _ = write!(text, " It reaches the run on {}.", day(*at, self.zone()));
        }
        if let Some((at, _)) = upcoming.and_then(|u| u.locked.as_ref()) {
            let _ = write!(
                text,
                " The run on {} is being prepared and goes out as it is.",
                day(*at, self.zone())
            );
        }
        if saved.cancelled {
            text.push_str(" Nothing is sent after it, and this link no longer opens the page.");
        }
        format!("<p class=\"saved\" role=\"status\">{text}</p>\n")
    }

    fn status_html(&self) -> String {
        let order = &self.ctx.order;
        let how = describe(&order.schedule);
        let (name, what) = match order.status {
            OrderStatus::Offered => (
                "Waiting for your confirmation",
                "Nothing is sent until you confirm it.".to_owned(),
            ),
            OrderStatus::Active => ("Active", format!("It is delivered {how}.")),
            OrderStatus::Paused => (
                "Paused",
                "Deliveries are skipped until you resume it.".to_owned(),
            ),
            OrderStatus::Cancelled => ("Cancelled", "Nothing more is sent.".to_owned()),
        };
        format!(
            "<p class=\"status\" id=\"status\">Status: <strong>{name}</strong>. {}</p>\n",
            escape(&what)
        )
    }

    fn confirm_html(&self) -> String {
        let first = self
            .upcoming
            .next
            .as_ref()
            .map(|(at, _, _)| format!(", the first time on {}", long(*at, self.zone())))
            .unwrap_or_default();
        let mut h = String::from(
            "<section id=\"confirm\" aria-labelledby=\"confirm-h\">\n<h2 id=\"confirm-h\">Confirm your standing order</h2>\n",
        );
        h += &self.refused_in("confirm");
        let _ = writeln!(
            h,
            "<p>Once you confirm, the items below are delivered {}{}. You can change, skip, pause or cancel it here until the cut-off before each delivery.</p>",
            escape(&describe(&self.ctx.order.schedule)),
            first
        );
        h += &self.form("confirm", "");
        h += "<button type=\"submit\">Confirm my standing order</button>\n</form>\n</section>\n";
        h
    }

    fn next_html(&self) -> String {
        let order = &self.ctx.order;
        let zone = self.zone();
        let mut h = String::from(
            "<section id=\"next\" aria-labelledby=\"next-h\">\n<h2 id=\"next-h\">Your next delivery</h2>\n",
        );
        if let Some((at, _)) = &self.upcoming.locked {
            let _ = writeln!(
                h,
                "<p class=\"locked\">The run on {} is being prepared and goes out as it is.</p>",
                day(*at, zone)
            );
        }
        let next = self.upcoming.next.as_ref();
        if order.status == OrderStatus::Cancelled {
            h += "<p>None: the standing order is cancelled.</p>\n</section>\n";
            return h;
        }
        let Some((at, date, cutoff)) = next else {
            h += "<p>No delivery is scheduled.</p>\n</section>\n";
            return h;
        };
        let _ = writeln!(
            h,
            "<p class=\"when\"><strong>{}</strong> <span class=\"muted\">({} time)</span></p>",
            long(*at, zone),
            escape(zone.iana_name().unwrap_or("UTC"))
        );
        let _ = writeln!(
            h,
            "<p>Changes until {}. A change you save now reaches the run on {}.</p>",
            day_time(*cutoff, zone),
            day(*at, zone)
        );
        if order.skip.as_deref() == Some(date.as_str()) {
            h += "<p class=\"note\">You skipped this delivery: it does not go out.</p>\n";
        } else if order.status == OrderStatus::Paused {
            h += "<p class=\"note\">Your deliveries are paused: this one is skipped unless you resume before the cut-off.</p>\n";
        }
        let items = standing::items_for(&order.items, date);
        let _ = writeln!(
            h,
            "<div class=\"scroll\" role=\"region\" aria-labelledby=\"items-caption\" tabindex=\"0\">\n<table>\n<caption id=\"items-caption\">Items of the delivery on {}</caption>",
            day(*at, zone)
        );
        h += "<thead><tr><th scope=\"col\">Item</th><th scope=\"col\" class=\"num\">Quantity</th><th scope=\"col\" class=\"num\">Price each</th><th scope=\"col\" class=\"num\">Amount</th></tr></thead>\n<tbody>\n";
        for item in &items {
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\"><span class=\"nowrap\">{}</span>{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&item.sku),
                only_tag(item),
                item.qty,
                self.money(item.price),
                self.money(item.qty * item.price)
            );
        }
        let _ = writeln!(
            h,
            "</tbody>\n<tfoot><tr><th scope=\"row\" colspan=\"3\">Total</th><td class=\"num\">{}</td></tr></tfoot>\n</table>\n</div>",
            self.money(standing::value_of(&items))
        );
        h += "</section>\n";
        h
    }

    fn items_html(&self) -> String {
        let order = &self.ctx.order;
        let next = self.upcoming.next.as_ref();
        let lines: Vec<&Item> = match next {
            Some((_, date, _)) => order
                .items
                .iter()
                .filter(|i| i.only.as_deref().is_none_or(|d| d == date))
                .collect(),
            None => order.items.iter().filter(|i| i.only.is_none()).collect(),
        };
        let mut h = String::from(
            "<section id=\"items\" aria-labelledby=\"items-h\">\n<h2 id=\"items-h\">Change your items</h2>\n",
        );
        h += &self.refused_in("items");
        h += "<ul class=\"lines\">\n";
        for (n, item) in lines.iter().enumerate() {
            let sku = escape(&item.sku);
            let _ = writeln!(
                h,
                "<li>\n<p class=\"sku\">{sku}{} <span class=\"muted\">{} each</span></p>\n<div class=\"row\">",
                only_tag(item),
                self.money(item.price)
            );
            h += &self.form("set", "row");
            let _ = writeln!(h, "<input type=\"hidden\" name=\"sku\" value=\"{sku}\">");
            if let Some(date) = &item.only {
                let _ = writeln!(
                    h,
                    "<input type=\"hidden\" name=\"only\" value=\"{}\">",
                    escape(date)
                );
            }
            let _ = writeln!(
                h,
                "<span><label for=\"qty-{n}\">Quantity<span class=\"vh\"> of {sku}</span></label>\n\
                 <input id=\"qty-{n}\" name=\"qty\" type=\"number\" inputmode=\"decimal\" min=\"0\" step=\"any\" value=\"{}\" required></span>\n\
                 <button type=\"submit\">Update<span class=\"vh\"> {sku}</span></button>\n</form>",
                item.qty
            );
            h += &self.form("remove", "");
            let _ = writeln!(
                h,
                "<input type=\"hidden\" name=\"sku\" value=\"{sku}\">\n<button type=\"submit\" class=\"quiet\">Remove<span class=\"vh\"> {sku}</span></button>\n</form>\n</div>\n</li>"
            );
        }
        h += "</ul>\n";
        h += &self.form("set", "add");
        h += "<h3>Add an item</h3>\n<p><label for=\"add-sku\">Product</label>\n<select id=\"add-sku\" name=\"sku\" required>\n<option value=\"\">Choose a product</option>\n";
        for (sku, price) in self.catalogue {
            let _ = writeln!(
                h,
                "<option value=\"{0}\">{0}, {1} each</option>",
                escape(sku),
                self.money(*price)
            );
        }
        h += "</select></p>\n<p><label for=\"add-qty\">Quantity</label>\n<input id=\"add-qty\" name=\"qty\" type=\"number\" inputmode=\"decimal\" min=\"0\" step=\"any\" value=\"1\" required></p>\n";
        if let Some((at, _, _)) = next {
            let _ = writeln!(
                h,
                "<p class=\"check\"><input type=\"checkbox\" id=\"add-only\" name=\"only\" value=\"next\">\n<label for=\"add-only\">For the next delivery only ({})</label></p>",
                day(*at, self.zone())
            );
        }
        h += "<button type=\"submit\">Add to my order</button>\n</form>\n</section>\n";
        h
    }

    fn runs_html(&self) -> String {
        let order = &self.ctx.order;
        if order.status == OrderStatus::Offered {
            return String::new();
        }
        let zone = self.zone();
        let mut h = String::from(
            "<section id=\"runs\" aria-labelledby=\"runs-h\">\n<h2 id=\"runs-h\">Skip or pause</h2>\n",
        );
        h += &self.refused_in("runs");
        let next = self.upcoming.next.as_ref();
        if let Some(skip) = &order.skip {
            let _ = writeln!(
                h,
                "<p>You asked to skip the delivery on {}.</p>",
                date_named(skip)
            );
            h += &self.form("unskip", "");
            h += "<button type=\"submit\" class=\"quiet\">Take the skip back</button>\n</form>\n";
        }
        if order.status == OrderStatus::Active
            && let Some((at, date, _)) = next
            && order.skip.as_deref() != Some(date.as_str())
        {
            h += &self.form("skip", "");
            let _ = writeln!(
                h,
                "<input type=\"hidden\" name=\"date\" value=\"{}\">\n<button type=\"submit\">Skip the delivery on {}</button>\n</form>",
                escape(date),
                day(*at, zone)
            );
        }
        match order.status {
            OrderStatus::Active => {
                h += "<p>While your order is paused, its deliveries are skipped.</p>\n";
                h += &self.form("pause", "");
                h += "<button type=\"submit\" class=\"quiet\">Pause my deliveries</button>\n</form>\n";
            }
            OrderStatus::Paused => {
                h += &self.form("resume", "");
                h += "<button type=\"submit\">Resume my deliveries</button>\n</form>\n";
            }
            _ => {}
        }
        h += "</section>\n";
        h
    }

    fn cadence_html(&self) -> String {
        let current = &self.ctx.order.schedule;
        let mut h = String::from(
            "<section id=\"cadence\" aria-labelledby=\"cadence-h\">\n<h2 id=\"cadence-h\">How often</h2>\n",
        );
        h += &self.refused_in("cadence");
        h += &self.form("cadence", "");
        h += "<p><label for=\"cadence-schedule\">Deliver</label>\n<select id=\"cadence-schedule\" name=\"schedule\">\n";
        let offered = CADENCES
            .iter()
            .any(|(s, _)| normalized(s) == normalized(current));
        if !offered {
            let _ = writeln!(
                h,
                "<option value=\"{}\" selected>As now: {}</option>",
                escape(current),
                escape(&describe(current))
            );
        }
        for (schedule, label) in CADENCES {
            let selected = if normalized(schedule) == normalized(current) {
                " selected"
            } else {
                ""
            };
            let _ = writeln!(h, "<option value=\"{schedule}\"{selected}>{label}</option>");
        }
        h += "</select></p>\n<button type=\"submit\">Change how often</button>\n</form>\n</section>\n";
        h
    }

    fn cancel_html(&self) -> String {
        let mut h = String::from(
            "<section id=\"cancel\" aria-labelledby=\"cancel-h\">\n<h2 id=\"cancel-h\">Cancel</h2>\n",
        );
        h += &self.refused_in("cancel");
        let locked = self
            .upcoming
            .locked
            .as_ref()
            .map(|(at, _)| {
                format!(
                    " The run on {} is being prepared and still goes out.",
                    day(*at, self.zone())
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<p>Cancelling ends your standing order for good, and this link stops working.{locked}</p>"
        );
        h += &self.form("cancel", "");
        h += "<p class=\"check\"><input type=\"checkbox\" id=\"cancel-confirm\" name=\"confirm\" value=\"yes\" required>\n\
              <label for=\"cancel-confirm\">Yes, cancel my standing order</label></p>\n\
              <button type=\"submit\" class=\"danger\">Cancel my standing order</button>\n</form>\n</section>\n";
        h
    }
}

fn only_tag(item: &Item) -> &'static str {
    if item.only.is_some() {
        " <span class=\"tag\">this delivery only</span>"
    } else {
        ""
    }
}

// ---- words and markup ----------------------------------------------------------------------

/// A run's day: "Mon 16 Mar".
fn day(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%a %-d %b")
        .to_string()
}

/// An instant to the minute: "Sun 15 Mar 10:00".
fn day_time(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%a %-d %b %H:%M")
        .to_string()
}

/// A run in full: "Monday 16 March 2026 at 10:00".
fn long(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%A %-d %B %Y at %H:%M")
        .to_string()
}

/// A local date (`YYYY-MM-DD`) as a day: "Mon 16 Mar".
fn date_named(date: &str) -> String {
    jiff::civil::Date::strptime("%Y-%m-%d", date)
        .map(|d| d.strftime("%a %-d %b").to_string())
        .unwrap_or_else(|_| escape(date))
}

/// An amount in the organization's currency.
fn money(amount: f64, currency: &str) -> String {
    match currency {
        "EUR" => format!("€{amount:.2}"),
        "GBP" => format!("£{amount:.2}"),
        "USD" => format!("${amount:.2}"),
        other => format!("{amount:.2} {}", escape(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadences_and_times_read_as_words() {
        assert_eq!(describe("FREQ=WEEKLY"), "every week");
        assert_eq!(describe("RRULE:FREQ=WEEKLY;INTERVAL=2"), "every 2 weeks");
        assert_eq!(describe("FREQ=MONTHLY"), "every month");
        assert_eq!(
            describe("FREQ=WEEKLY;BYDAY=TU"),
            "on the schedule FREQ=WEEKLY;BYDAY=TU"
        );
        let london = TimeZone::get("Europe/London").unwrap();
        let at: Timestamp = "2026-03-15T10:00:00Z".parse().unwrap();
        assert_eq!(day_time(at, &london), "Sun 15 Mar 10:00");
        assert_eq!(day(at, &london), "Sun 15 Mar");
        assert_eq!(long(at, &london), "Sunday 15 March 2026 at 10:00");
        assert_eq!(date_named("2026-03-16"), "Mon 16 Mar");
        assert_eq!(money(5.25, "EUR"), "€5.25");
        assert_eq!(money(5.0, "CHF"), "5.00 CHF");
    }
}
