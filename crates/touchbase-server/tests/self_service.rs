//! The party's self-service page of a standing order (`/s/{token}`), driven through the router
//! without a socket on a fresh embedded store: an automated point repeating each rider's first
//! web order weekly in London, two riders' orders (one whose next run is still open to
//! changes, one whose next run is already locked), and their signed links.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use jiff::{Timestamp, ToSpan};
use touchbase_core::Actor;
use touchbase_core::endpoint::Keys;
use touchbase_core::link::Purpose;
use touchbase_core::standing::{Order, OrderStatus};
use touchbase_server::{AppState, ServerConfig, router};
use touchbase_store::Store;
use touchbase_store::ingest::{self, Input};
use touchbase_store::inventory::{self, ImportMode};
use touchbase_store::standing::{LINK_TTL_S, OrderFilter};
use touchbase_store_sqlite::SqliteStore;
use tower::ServiceExt;

const SMALL: &str = include_str!("../../touchbase-store/src/conformance/small.yaml");

/// The automated point (weekly, London time, explicit consent) and its page's point.
const AUTOMATED: &str = include_str!("../../touchbase-store/src/conformance/automated.yaml");

struct Shop {
    router: Router,
    store: Arc<SqliteStore>,
    keys: Keys,
    /// r-1's order: its next run four days ahead, open to changes.
    open: Order,
    /// r-2's order: its next run twelve hours ahead, locked since its cut-off passed.
    late: Order,
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

fn london() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/London").unwrap()
}

/// A run's day as the page writes it.
fn day(at: Timestamp) -> String {
    at.to_zoned_datetime(london())
        .strftime("%a %-d %b")
        .to_string()
}

/// The instant a week after `first`, in London (the schedule keeps the local time).
fn week_after(first: Timestamp) -> Timestamp {
    first
        .to_zoned_datetime(london())
        .checked_add(7.days())
        .unwrap()
        .timestamp()
}

fn web_order(id: &str, party: &str, at: Timestamp, basket: serde_json::Value) -> Input {
    let event = serde_json::json!({
        "id": id, "point": "web.order", "at": at.to_string(), "party": party,
        "data": { "basket": basket, "email": "r@example.org" }
    });
    Input::new(event.to_string(), "test")
}

fn now_s() -> Timestamp {
    Timestamp::now().round(jiff::Unit::Second).unwrap()
}

async fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("shop.db")).unwrap());
    let text = SMALL.replacen("points:\n", &format!("points:\n{AUTOMATED}\n"), 1);
    let parsed = touchbase_core::file::parse_inventory(&text).unwrap();
    inventory::import(
        &*store,
        &Actor::local_admin(),
        &parsed,
        ImportMode::Baseline,
    )
    .await
    .unwrap();
    let now = now_s();
    let checker = ingest::checker(&*store).await.unwrap();
    let outcomes = ingest::ingest(
        &*store,
        &Actor::local_admin(),
        &checker,
        &[
            web_order(
                "o-1",
                "r-1",
                now - 72.hours(),
                serde_json::json!([
                    { "sku": "chain-lube", "qty": 1, "price": 6.5 },
                    { "sku": "tube-700c", "qty": 2, "price": 4.0 } ]),
            ),
            web_order(
                "o-2",
                "r-2",
                now - 156.hours(),
                serde_json::json!([
                    { "sku": "bar-tape", "qty": 1, "price": 12.0 },
                    { "sku": "tube-700c", "qty": 1, "price": 4.0 } ]),
            ),
        ],
    )
    .await
    .unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| o.status == ingest::Status::Accepted),
        "{outcomes:?}"
    );
    let orders = store.orders(&OrderFilter::default()).await.unwrap();
    let of = |party: &str| orders.iter().find(|o| o.party == party).unwrap().clone();
    let keys = Keys::from_bytes([7; 32]);
    let config = ServerConfig::default();
    let state = AppState::new(store.clone(), &config).with_keys(keys.clone());
    Shop {
        router: router(state, &config),
        open: of("r-1"),
        late: of("r-2"),
        store,
        keys,
        _dir: dir,
    }
}

impl Shop {
    async fn call(&self, method: &str, uri: &str, form: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, &[]).await
    }

    /// A new link to `order` (every earlier one revoked); its page's path.
    async fn link(&self, order: &Order) -> String {
        let issued = touchbase_store::standing::link(
            &*self.store,
            &Actor::local_admin(),
            &self.keys,
            &order.id,
            LINK_TTL_S,
            ingest::now_us(),
        )
        .await
        .unwrap();
        format!("/s/{}", issued.token)
    }

    async fn order(&self, id: &str) -> Order {
        self.store.order(id).await.unwrap().unwrap()
    }

    /// The CSRF token in the forms of the page at `path`.
    async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        csrf_in(&page.text)
    }

    /// One form posted with the page's own CSRF token.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let csrf = self.csrf(path).await;
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.call("POST", path, &fields).await
    }

    /// A form that saves: the redirect, and the page it leads to.
    async fn saves(&self, path: &str, form: &[(&str, &str)]) -> (u32, Reply) {
        let reply = self.post(path, form).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{form:?}: {}",
            reply.text
        );
        let to = reply.header(header::LOCATION).to_owned();
        let (back, revision) = to.split_once("?saved=").unwrap();
        assert_eq!(back, path);
        assert_eq!(reply.header(header::CACHE_CONTROL), "no-store");
        let page = self.get(&to).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        (revision.parse().unwrap(), page)
    }
}

fn csrf_in(html: &str) -> String {
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + "name=\"csrf\" value=\"".len();
    html[start..][..html[start..].find('"').unwrap()].to_owned()
}

/// The text of a page without its tags, its white space made single.
fn words(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => {
                inside = false;
                out.push(' ');
            }
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_page(reply: &Reply, status: StatusCode, says: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert!(
        reply.header(header::CONTENT_TYPE).starts_with("text/html"),
        "{:?}",
        reply.headers
    );
    assert_eq!(reply.header(header::CACHE_CONTROL), "no-store");
    assert_eq!(reply.header(header::REFERRER_POLICY), "no-referrer");
    let text = words(&reply.text);
    assert!(text.contains(says), "expected {says:?} in: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_the_page_changes_nothing() {
    let shop = shop().await;
    let path = shop.link(&shop.open).await;
    let before = shop.store.order_revisions(&shop.open.id).await.unwrap();
    for _ in 0..3 {
        let page = shop.get(&path).await;
        assert_page(
            &page,
            StatusCode::OK,
            "Status: Waiting for your confirmation",
        );
        let policy = page.header(header::CONTENT_SECURITY_POLICY);
        assert!(policy.contains("script-src 'none'"), "{policy}");
        assert!(policy.contains("form-action 'self'"), "{policy}");
        assert!(!page.text.contains("<script"), "the page runs no script");
        assert!(page.text.contains("<html lang=\"en\">") && page.text.contains("<main>"));
        let text = words(&page.text);
        let run = week_after(shop.open.first_at());
        let cutoff = run - 24.hours();
        let cutoff = cutoff
            .to_zoned_datetime(london())
            .strftime("%a %-d %b %H:%M");
        assert!(text.contains(&format!("Changes until {cutoff}")), "{text}");
        assert!(
            text.contains(&format!(
                "A change you save now reaches the run on {}",
                day(run)
            )),
            "{text}"
        );
        assert!(text.contains("(Europe/London time)"), "{text}");
        // The items, their prices and the total in the organization's currency.
        assert!(text.contains("chain-lube 1 €6.50 €6.50"), "{text}");
        assert!(text.contains("tube-700c 2 €4.00 €8.00"), "{text}");
        assert!(text.contains("Total €14.50"), "{text}");
        // The products known at the point: both riders' SKUs.
        assert!(
            page.text
                .contains("<option value=\"bar-tape\">bar-tape, €12.00 each</option>")
        );
        assert!(!text.contains("is being prepared"), "nothing is locked yet");
    }
    let after = shop.store.order_revisions(&shop.open.id).await.unwrap();
    assert_eq!(before, after, "opening the page wrote no revision");
    assert_eq!(shop.order(&shop.open.id).await.revision, 1);
}

trait FirstAt {
    fn first_at(&self) -> Timestamp;
}

impl FirstAt for Order {
    fn first_at(&self) -> Timestamp {
        Timestamp::from_microsecond(self.first_at).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_the_pages_csrf_token_changes_nothing() {
    let shop = shop().await;
    let path = shop.link(&shop.open).await;
    let other = shop.link(&shop.late).await;
    let others_csrf = shop.csrf(&other).await;
    let own = shop.csrf(&path).await;
    assert_ne!(own, others_csrf);
    for form in [
        vec![("action", "confirm")],
        vec![("action", "confirm"), ("csrf", others_csrf.as_str())],
        vec![("action", "confirm"), ("csrf", "AAAA")],
        vec![("action", "confirm"), ("csrf", &own[..own.len() - 1])],
    ] {
        let reply = shop.call("POST", &path, &form).await;
        assert_page(&reply, StatusCode::FORBIDDEN, "Nothing was changed");
    }
    assert_eq!(shop.order(&shop.open.id).await.revision, 1);
    assert_eq!(
        shop.store
            .order_revisions(&shop.open.id)
            .await
            .unwrap()
            .len(),
        1
    );
    // The page's own token does it.
    let reply = shop
        .call("POST", &path, &[("action", "confirm"), ("csrf", &own)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    assert_eq!(shop.order(&shop.open.id).await.revision, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_links_say_why_and_nothing_more() {
    let shop = shop().await;
    let first = shop.link(&shop.open).await;
    assert_eq!(shop.get(&first).await.status, StatusCode::OK);

    // One character of the MAC changed; a token that is no token.
    let (payload, mac) = first.split_once('.').unwrap();
    let changed = if mac.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{payload}.{changed}{}", &mac[1..]);
    for path in [forged.as_str(), "/s/abc", "/s/abc.def", "/s/"] {
        let reply = shop.get(path).await;
        if path == "/s/" {
            assert_eq!(reply.status, StatusCode::NOT_FOUND);
            continue;
        }
        assert_page(&reply, StatusCode::NOT_FOUND, "This link is not valid");
        assert!(
            !words(&reply.text).contains("signature"),
            "which part was wrong is not said"
        );
    }
    let csrf = shop.csrf(&first).await;
    let reply = shop
        .call("POST", &forged, &[("action", "confirm"), ("csrf", &csrf)])
        .await;
    assert_page(&reply, StatusCode::NOT_FOUND, "This link is not valid");

    // Expired: issued an hour ago for ten minutes.
    let now = ingest::now_us();
    let expired = touchbase_store::links::issue(
        &*shop.store,
        &shop.keys,
        Purpose::Standing,
        &shop.open.id,
        now / 1_000_000 - 3_000,
        now - 3_600_000_000,
    )
    .await
    .unwrap();
    let reply = shop.get(&format!("/s/{}", expired.token)).await;
    assert_page(
        &reply,
        StatusCode::GONE,
        "This link has expired: ask for a new one",
    );

    // Revoked: a second link replaces the first.
    let second = shop.link(&shop.open).await;
    let reply = shop.get(&first).await;
    assert_page(
        &reply,
        StatusCode::GONE,
        "This link was replaced by a newer one or the order was cancelled",
    );
    let reply = shop
        .call("POST", &first, &[("action", "confirm"), ("csrf", &csrf)])
        .await;
    assert_eq!(reply.status, StatusCode::GONE);
    assert_eq!(shop.get(&second).await.status, StatusCode::OK);

    // A valid link of another purpose, and one for an order that does not exist.
    let survey = touchbase_store::links::issue(
        &*shop.store,
        &shop.keys,
        Purpose::Survey,
        &shop.open.id,
        now / 1_000_000 + 3_600,
        now,
    )
    .await
    .unwrap();
    let reply = shop.get(&format!("/s/{}", survey.token)).await;
    assert_page(&reply, StatusCode::NOT_FOUND, "This link is not valid");
    let nowhere = touchbase_store::links::issue(
        &*shop.store,
        &shop.keys,
        Purpose::Standing,
        "so_000000000000000000000000",
        now / 1_000_000 + 3_600,
        now,
    )
    .await
    .unwrap();
    let reply = shop.get(&format!("/s/{}", nowhere.token)).await;
    assert_page(&reply, StatusCode::NOT_FOUND, "This link is not valid");

    // A valid link of another order opens that order, never this one.
    let other = shop.link(&shop.late).await;
    let page = words(&shop.get(&other).await.text);
    assert!(page.contains("bar-tape 1 €12.00"), "{page}");
    assert!(!page.contains("chain-lube 1"), "{page}");
    assert_eq!(shop.order(&shop.open.id).await.revision, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_the_page_are_the_partys_revisions_and_interactions() {
    let shop = shop().await;
    let id = shop.open.id.clone();
    let path = shop.link(&shop.open).await;
    let run = week_after(shop.open.first_at());
    let reaches = format!("It reaches the run on {}.", day(run));

    let (revision, page) = shop.saves(&path, &[("action", "confirm")]).await;
    assert_eq!(revision, 2);
    assert_page(
        &page,
        StatusCode::OK,
        &format!("Saved: confirmed. {reaches}"),
    );
    assert_page(&page, StatusCode::OK, "Status: Active");

    let (revision, page) = shop
        .saves(
            &path,
            &[("action", "set"), ("sku", "tube-700c"), ("qty", "3")],
        )
        .await;
    assert_eq!(revision, 3);
    assert_page(
        &page,
        StatusCode::OK,
        &format!("Saved: tube-700c × 3. {reaches}"),
    );
    assert_page(&page, StatusCode::OK, "tube-700c 3 €4.00 €12.00");

    // A product of the point's catalogue, for the next run only; its price is the catalogue's
    // whatever the form says.
    let date = run.to_zoned_datetime(london()).date().to_string();
    let (revision, page) = shop
        .saves(
            &path,
            &[
                ("action", "set"),
                ("sku", "bar-tape"),
                ("qty", "1"),
                ("only", "next"),
                ("price", "0.01"),
            ],
        )
        .await;
    assert_eq!(revision, 4);
    assert_page(
        &page,
        StatusCode::OK,
        &format!("Saved: bar-tape × 1 on {date} only. {reaches}"),
    );
    assert_page(
        &page,
        StatusCode::OK,
        "bar-tape this delivery only 1 €12.00 €12.00",
    );
    let order = shop.order(&id).await;
    let tape = order.items.iter().find(|i| i.sku == "bar-tape").unwrap();
    assert_eq!(
        (tape.price, tape.only.as_deref()),
        (12.0, Some(date.as_str()))
    );

    let (revision, page) = shop
        .saves(&path, &[("action", "skip"), ("date", &date)])
        .await;
    assert_eq!(revision, 5);
    assert_page(&page, StatusCode::OK, &format!("Saved: skip {date}."));
    assert_page(&page, StatusCode::OK, "You skipped this delivery");
    let (_, page) = shop.saves(&path, &[("action", "unskip")]).await;
    assert_page(&page, StatusCode::OK, "Saved: skip taken back.");
    let (_, page) = shop
        .saves(
            &path,
            &[
                ("action", "cadence"),
                ("schedule", "FREQ=WEEKLY;INTERVAL=2"),
            ],
        )
        .await;
    assert_page(
        &page,
        StatusCode::OK,
        "Saved: cadence FREQ=WEEKLY;INTERVAL=2.",
    );
    assert_page(&page, StatusCode::OK, "It is delivered every 2 weeks.");
    let (_, page) = shop.saves(&path, &[("action", "pause")]).await;
    assert_page(&page, StatusCode::OK, "Status: Paused");
    let (revision, _) = shop.saves(&path, &[("action", "resume")]).await;
    assert_eq!(revision, 9);

    // Every change is the party's, and an interaction at the edit point.
    let revisions = shop.store.order_revisions(&id).await.unwrap();
    assert_eq!(revisions.len(), 9);
    assert!(
        revisions[1..].iter().all(|r| r.actor == "party:r-1"),
        "{revisions:?}"
    );
    let today = shop
        .store
        .events_of_day(touchbase_core::period::day_of(ingest::now_us()))
        .await
        .unwrap();
    let edits: Vec<&str> = today
        .iter()
        .filter(|e| e.point == "auto.edit")
        .map(|e| e.id.as_str())
        .collect();
    for n in 2..=9 {
        assert!(
            edits.contains(&format!("edit:{id}:{n}").as_str()),
            "{edits:?}"
        );
    }
    assert!(
        today
            .iter()
            .filter(|e| e.point == "auto.edit")
            .all(|e| e.party.as_deref() == Some("r-1"))
    );

    // Refused: named beside the form, 422, nothing changed.
    for (form, says) in [
        (
            vec![("action", "set"), ("sku", "saddle"), ("qty", "1")],
            "sku: `saddle` is not a product we offer here",
        ),
        (
            vec![("action", "set"), ("sku", "tube-700c"), ("qty", "0")],
            "changes: qty of tube-700c must be above 0",
        ),
        (
            vec![("action", "set"), ("sku", "tube-700c"), ("qty", "lots")],
            "qty: must be a number above 0",
        ),
        (
            vec![("action", "resume")],
            "changes: cannot resume an order that is active",
        ),
        (
            vec![("action", "cadence"), ("schedule", "FREQ=DAILY")],
            "schedule: choose one of the cadences offered",
        ),
        (
            vec![("action", "cancel")],
            "confirm: tick the box to confirm that you want to cancel",
        ),
        (
            vec![("action", "skip"), ("date", "2020-01-01")],
            "date: the delivery on Wed 1 Jan can no longer change",
        ),
    ] {
        let reply = shop.post(&path, &form).await;
        assert_page(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Not saved: {says}"),
        );
        assert!(
            reply.text.contains("class=\"error\" id=\""),
            "the message stands beside its form: {form:?}"
        );
    }
    assert_eq!(shop.order(&id).await.revision, 9);

    // Cancelled: said on the page; the link opens nothing after it.
    let reply = shop
        .post(&path, &[("action", "cancel"), ("confirm", "yes")])
        .await;
    assert_page(&reply, StatusCode::OK, "Saved: cancelled.");
    assert_page(&reply, StatusCode::OK, "this link no longer opens the page");
    assert_eq!(shop.order(&id).await.status, OrderStatus::Cancelled);
    assert_page(
        &shop.get(&path).await,
        StatusCode::GONE,
        "This link was replaced by a newer one or the order was cancelled",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_after_the_cut_off_reaches_the_run_after() {
    let shop = shop().await;
    let path = shop.link(&shop.late).await;
    let locked = week_after(shop.late.first_at());
    let after = week_after(locked);
    let page = shop.get(&path).await;
    let prepared = format!(
        "The run on {} is being prepared and goes out as it is.",
        day(locked)
    );
    assert_page(&page, StatusCode::OK, &prepared);
    assert_page(
        &page,
        StatusCode::OK,
        &format!("A change you save now reaches the run on {}", day(after)),
    );
    shop.saves(&path, &[("action", "confirm")]).await;
    let (revision, page) = shop
        .saves(
            &path,
            &[("action", "set"), ("sku", "chain-lube"), ("qty", "2")],
        )
        .await;
    assert_eq!(revision, 3);
    assert_page(
        &page,
        StatusCode::OK,
        &format!(
            "Saved: chain-lube × 2. It reaches the run on {}. {prepared}",
            day(after)
        ),
    );
    // The catalogue's price for a product new to this order.
    let order = shop.order(&shop.late.id).await;
    let lube = order.items.iter().find(|i| i.sku == "chain-lube").unwrap();
    assert_eq!(lube.price, 6.5);
    // Skipping the locked run is refused: the next one it can skip is the run after.
    let date = locked.to_zoned_datetime(london()).date().to_string();
    let reply = shop
        .post(&path, &[("action", "skip"), ("date", &date)])
        .await;
    assert_page(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("the next one you can skip is on {}", day(after)),
    );
}
