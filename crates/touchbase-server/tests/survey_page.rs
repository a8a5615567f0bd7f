//! The respondent page of a survey invitation (`/r/{survey}/{token}`), driven through the router
//! without a socket on a fresh embedded store: a survey of the web shop's orders, two key
//! customers invited for their orders, and their signed links.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use touchbase_core::Actor;
use touchbase_core::endpoint::Keys;
use touchbase_core::link::{self, Purpose};
use touchbase_core::period::Period;
use touchbase_server::{AppState, ServerConfig, router};
use touchbase_store::Store;
use touchbase_store::ingest::{self, Input};
use touchbase_store::inventory::{self, ImportMode};
use touchbase_store::invitations::{self, Issued, KeyCustomer};
use touchbase_store_sqlite::SqliteStore;
use tower::ServiceExt;

const SMALL: &str = include_str!("../../touchbase-store/src/conformance/small.yaml");

const SURVEYS: &str = r#"
surveys:
  - key: after-order
    name: After your order
    points: [web.order]
    questions:
      - nps
      - csat
      - change
      - { key: parts, type: multi, text: "Which parts did you order?", options: [chain, tube, tape] }
      - { key: again, type: choice, text: "Would you order online again?", options: ["yes", "no"] }
  - key: other
    name: Another survey
    points: [web.order]
    questions: [nps]
"#;

/// 3 March 2026, 09:30 UTC.
const ORDERED: &str = "2026-03-03T09:30:00Z";

struct Shop {
    router: Router,
    store: Arc<SqliteStore>,
    keys: Keys,
    /// r-1's and r-2's invitations, with their links' paths.
    invited: Vec<Issued>,
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

async fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("shop.db")).unwrap());
    let text = SMALL.replacen("points:\n", &format!("{SURVEYS}\npoints:\n"), 1);
    let parsed = touchbase_core::file::parse_inventory(&text).unwrap();
    let admin = Actor::local_admin();
    inventory::import(&*store, &admin, &parsed, ImportMode::Baseline)
        .await
        .unwrap();
    let order = |id: &str, party: &str| {
        Input::new(
            format!(r#"{{"id":"{id}","point":"web.order","at":"{ORDERED}","party":"{party}"}}"#),
            "test",
        )
    };
    let checker = ingest::checker(&*store).await.unwrap();
    ingest::ingest(
        &*store,
        &admin,
        &checker,
        &[order("o-1", "r-1"), order("o-2", "r-2")],
    )
    .await
    .unwrap();
    let key = |party: &str| KeyCustomer {
        party: party.to_owned(),
        segment: "gold".to_owned(),
        source: "file".to_owned(),
        added_at: 0,
    };
    invitations::put_key_customers(&*store, &admin, &[key("r-1"), key("r-2")])
        .await
        .unwrap();
    let keys = Keys::from_bytes([7; 32]);
    let period = Period {
        from: 1_772_409_600_000_000,
        to: 1_772_409_600_000_000 + 7 * 86_400_000_000,
    };
    let mut report = invitations::invite(
        &*store,
        &admin,
        &keys,
        "after-order",
        period,
        ingest::now_us(),
    )
    .await
    .unwrap();
    report
        .invited
        .sort_by(|a, b| a.invitation.party.cmp(&b.invitation.party));
    assert_eq!(report.invited.len(), 2);
    let config = ServerConfig::default();
    let state = AppState::new(store.clone(), &config).with_keys(keys.clone());
    let peer: std::net::SocketAddr = "198.51.100.7:40000".parse().unwrap();
    Shop {
        router: router(state, &config).layer(MockConnectInfo(peer)),
        store,
        keys,
        invited: report.invited,
        _dir: dir,
    }
}

impl Shop {
    async fn call(&self, method: &str, uri: &str, form: &[(&str, &str)], lang: &str) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT_LANGUAGE, lang)
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
        self.call("GET", uri, &[], "en-GB,en;q=0.9").await
    }

    async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let start = page
            .text
            .find("name=\"csrf\" value=\"")
            .expect("a CSRF token")
            + "name=\"csrf\" value=\"".len();
        page.text[start..][..page.text[start..].find('"').unwrap()].to_owned()
    }

    async fn answered(&self, i: usize) -> bool {
        self.store
            .invitation(&self.invited[i].invitation.id)
            .await
            .unwrap()
            .unwrap()
            .answered
    }
}

#[tokio::test]
async fn a_key_customer_answers_from_the_link_once() {
    let shop = shop().await;
    let path = shop.invited[0].link.clone();
    let page = shop.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(page.text.contains("<html lang=\"en\">"));
    assert!(
        page.text.contains("A few questions from Spoke &amp; Chain"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("<strong>Online order</strong> on 3 March"),
        "{}",
        page.text
    );
    assert!(page.text.contains("name=\"nps\" value=\"10\""));
    assert!(page.text.contains("Which parts did you order?"));
    assert!(!page.text.contains("<script"));
    // Opening it changed nothing.
    assert!(!shop.answered(0).await);
    assert!(
        shop.store
            .draft(&shop.invited[0].invitation.id)
            .await
            .unwrap()
            .is_none()
    );

    // In French where the browser asks for it.
    let fr = shop
        .call("GET", &path, &[], "fr-CA,fr;q=0.9,en;q=0.5")
        .await;
    assert!(fr.text.contains("<html lang=\"fr\">"));
    assert!(
        fr.text.contains("Quelques questions de Spoke &amp; Chain"),
        "{}",
        fr.text
    );
    assert!(fr.text.contains("le 3 mars"));

    // A form from elsewhere (no CSRF token, or another link's) changes nothing.
    let forged = shop
        .call("POST", &path, &[("nps", "10"), ("action", "send")], "en")
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let other_csrf = shop.csrf(&shop.invited[1].link).await;
    let forged = shop
        .call(
            "POST",
            &path,
            &[("csrf", &other_csrf), ("nps", "10"), ("action", "send")],
            "en",
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!shop.answered(0).await);

    // Half answered, saved, resumed: the page shows what was kept.
    let csrf = shop.csrf(&path).await;
    let saved = shop
        .call(
            "POST",
            &path,
            &[
                ("csrf", &csrf),
                ("nps", "8"),
                ("q.parts", "chain"),
                ("q.parts", "tape"),
                ("action", "save"),
            ],
            "en",
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let back = saved.headers[header::LOCATION].to_str().unwrap().to_owned();
    assert!(back.ends_with("?saved=1"));
    let resumed = shop.get(&back).await;
    assert!(resumed.text.contains("Your answers are saved"));
    assert!(
        resumed.text.contains("name=\"nps\" value=\"8\" checked"),
        "{}",
        resumed.text
    );
    assert!(
        resumed.text.contains("value=\"chain\" checked")
            && resumed.text.contains("value=\"tape\" checked")
    );
    assert!(!resumed.text.contains("value=\"tube\" checked"));
    assert!(!shop.answered(0).await, "saving sends nothing");

    // An answer the question does not have (a crafted form) is refused, naming it.
    let refused = shop
        .call(
            "POST",
            &path,
            &[("csrf", &csrf), ("q.again", "maybe"), ("action", "send")],
            "en",
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text
            .contains("answers.again: must be one of yes, no"),
        "{}",
        refused.text
    );
    let empty = shop
        .call("POST", &path, &[("csrf", &csrf), ("action", "send")], "en")
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Sent: thanks; the invitation is answered once, with the interaction's instant.
    let sent = shop
        .call(
            "POST",
            &path,
            &[
                ("csrf", &csrf),
                ("nps", "9"),
                ("csat", "4"),
                ("change", "Faster <b>delivery</b>"),
                ("q.again", "yes"),
                ("action", "send"),
            ],
            "en",
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert!(sent.text.contains("Thank you"));
    assert!(shop.answered(0).await);
    assert!(
        shop.store
            .draft(&shop.invited[0].invitation.id)
            .await
            .unwrap()
            .is_none()
    );
    let inventory = touchbase_store::inventory::get(&*shop.store)
        .await
        .unwrap()
        .value;
    let voice = touchbase_store::measure::scorecards(
        &*shop.store,
        &inventory,
        Period {
            from: 1_772_409_600_000_000,
            to: 1_772_409_600_000_000 + 7 * 86_400_000_000,
        },
        &[touchbase_store::measure::Scope::Point("web.order".into())],
        None,
    )
    .await
    .unwrap()
    .remove(0)
    .scorecard
    .voice;
    assert_eq!((voice.invitations, voice.responses), (2, 1));
    assert_eq!(voice.response_rate, Some(0.5));
    // The link is used: it shows that the answer is in, and a second answer is refused.
    let again = shop.get(&path).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.text.contains("You have answered already"));
    let twice = shop
        .call(
            "POST",
            &path,
            &[("csrf", &csrf), ("nps", "1"), ("action", "send")],
            "en",
        )
        .await;
    assert_eq!(twice.status, StatusCode::GONE);
}

#[tokio::test]
async fn links_that_do_not_open_say_why_and_slow_down_guessing() {
    let shop = shop().await;
    let path = shop.invited[0].link.clone();
    let token = path.rsplit('/').next().unwrap().to_owned();
    // Another survey's path with this survey's token opens nothing.
    let elsewhere = shop.get(&format!("/r/other/{token}")).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert!(elsewhere.text.contains("This link is not valid"));
    // Altered: one character of the MAC changed.
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        shop.get(&format!("/r/after-order/{tampered}")).await.status,
        StatusCode::NOT_FOUND
    );
    // A standing order's token (another purpose) opens no survey.
    let subject = invitations::link_subject("after-order", 1, &shop.invited[0].invitation.id);
    let standing = link::issue(
        &shop.keys,
        Purpose::Standing,
        &subject,
        4_000_000_000,
        [1; 16],
    )
    .unwrap();
    assert_eq!(
        shop.get(&format!("/r/after-order/{}", standing.token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Expired: a link of this invitation whose time is past.
    let expired = touchbase_store::links::issue(
        &*shop.store,
        &shop.keys,
        Purpose::Survey,
        &subject,
        1_000,
        ingest::now_us(),
    )
    .await
    .unwrap();
    let gone = shop.get(&format!("/r/after-order/{}", expired.token)).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert!(gone.text.contains("This survey link has expired"));
    // Revoked.
    shop.store
        .revoke_links("survey", &subject, ingest::now_us())
        .await
        .unwrap();
    let withdrawn = shop.get(&path).await;
    assert_eq!(withdrawn.status, StatusCode::GONE);
    assert!(withdrawn.text.contains("withdrawn"));
    // The second invitation still opens, until the address has failed too often.
    assert_eq!(shop.get(&shop.invited[1].link).await.status, StatusCode::OK);
    for _ in 0..6 {
        shop.get("/r/after-order/not-a-token").await;
    }
    let slowed = shop.get(&shop.invited[1].link).await;
    assert_eq!(
        slowed.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        slowed.text
    );
}
