//! The API driven as a client would, through the router without a socket (and once through a
//! real socket, for `serve` and its graceful shutdown), on a fresh embedded store per test.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use touchbase_core::file;
use touchbase_core::{Actor, Role};
use touchbase_server::{AppState, ServerConfig, router};
use touchbase_store::access;
use touchbase_store_sqlite::SqliteStore;
use tower::ServiceExt;

const SMALL: &str = include_str!("../../touchbase-store/src/conformance/small.yaml");

struct App {
    router: Router,
    /// A token for each role, by role name.
    tokens: std::collections::BTreeMap<&'static str, String>,
    /// The token `call` sends; `None` sends none.
    token: Option<String>,
    /// What the store lives in (a scratch directory, throwaway databases), kept while in use.
    _keep: Arc<dyn std::any::Any + Send + Sync>,
}

const ROLES: [(&str, Role); 5] = [
    ("viewer", Role::Viewer),
    ("analyst", Role::Analyst),
    ("owner", Role::Owner),
    ("executive", Role::Executive),
    ("admin", Role::Admin),
];

async fn app_with(config: ServerConfig) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("api.db")).unwrap());
    app_on(store, config, Arc::new(dir)).await
}

/// The application on a fresh PostgreSQL database (`TOUCHBASE_TEST_PG`).
async fn app_on_postgres() -> App {
    let databases = touchbase_store_postgres::test_support::TestDatabases::new();
    let url = databases.fresh().await;
    let store = Arc::new(
        touchbase_store_postgres::PostgresStore::connect(&url)
            .await
            .unwrap(),
    );
    app_on(store, ServerConfig::default(), Arc::new(databases)).await
}

async fn app_on(
    store: Arc<dyn touchbase_store::Store>,
    config: ServerConfig,
    keep: Arc<dyn std::any::Any + Send + Sync>,
) -> App {
    let mut tokens = std::collections::BTreeMap::new();
    for (name, role) in ROLES {
        let teams = vec!["ecommerce".to_owned()];
        let issued = access::add_user(&*store, &Actor::local_admin(), name, role, teams)
            .await
            .unwrap();
        tokens.insert(name, issued.secret);
    }
    // A second executive: a proposal needs two approvals, and only executives give them.
    let issued = access::add_user(
        &*store,
        &Actor::local_admin(),
        "executive2",
        Role::Executive,
        vec![],
    )
    .await
    .unwrap();
    tokens.insert("executive2", issued.secret);
    let token = Some(tokens["admin"].clone());
    App {
        router: router(AppState::new(store, &config), &config),
        tokens,
        token,
        _keep: keep,
    }
}

async fn app() -> App {
    app_with(ServerConfig::default()).await
}

struct Reply {
    status: StatusCode,
    content_type: String,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl App {
    /// The same application, calling as `role` (or with no token).
    fn as_role(&self, role: Option<&str>) -> App {
        App {
            router: self.router.clone(),
            tokens: self.tokens.clone(),
            token: role.map(|r| self.tokens[r].clone()),
            _keep: Arc::clone(&self._keep),
        }
    }

    async fn call(&self, method: &str, uri: &str, body: impl Into<Body>) -> Reply {
        self.call_with(method, uri, &[], body).await
    }

    /// [`App::call`] with more request headers.
    async fn call_with(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body.into()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            content_type,
            headers,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    /// `PUT /api/points/{key}` over the version `GET` answers now (its `ETag` as `If-Match`).
    async fn put_point(&self, key: &str, body: String) -> Reply {
        let uri = format!("/api/points/{key}");
        let read = self.get(&uri).await;
        let etag = read.headers[header::ETAG].to_str().unwrap().to_owned();
        self.call_with("PUT", &uri, &[("if-match", &etag)], body)
            .await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, Body::empty()).await
    }

    async fn imported(self) -> App {
        let reply = self
            .call("POST", "/api/inventory/import?baseline=true", SMALL)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        self
    }
}

fn point_json(key: &str) -> Value {
    let inventory = file::parse_inventory(SMALL).unwrap();
    let mut point = serde_json::to_value(inventory.point("web.order").unwrap()).unwrap();
    point["key"] = json!(key);
    point["status"] = json!("proposed");
    point
}

fn assert_problem(reply: &Reply, status: StatusCode, detail: &str) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.content_type, "application/problem+json");
    let problem = reply.json();
    assert_eq!(problem["status"], status.as_u16());
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:touchbase:problem:")
    );
    assert!(
        problem["detail"].as_str().unwrap().contains(detail),
        "{problem}"
    );
    problem
}

#[tokio::test]
async fn healthz_names_the_store() {
    let reply = app().await.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({ "status": "ok", "store": "sqlite" }));
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let reply = app().await.get("/api/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    for path in [
        "/healthz",
        "/api/inventory",
        "/api/inventory/export",
        "/api/inventory/import",
        "/api/organization",
        "/api/processes",
        "/api/parties",
        "/api/points",
        "/api/points/{key}",
        "/api/points/{key}/retire",
        "/api/points/{key}/go-live",
        "/api/proposals",
        "/api/proposals/{id}/approve",
        "/api/audit",
        "/api/audit/verify",
        "/api/events",
        "/api/undocumented",
        "/api/rejects",
        "/api/rejects/replay",
        "/api/scorecards",
        "/api/portfolio",
        "/api/journeys",
        "/api/quality",
        "/api/settings",
        "/api/settings/{name}",
    ] {
        assert!(
            paths.iter().any(|p| *p == path),
            "{path} is missing from {paths:?}"
        );
    }
    assert!(doc["components"]["schemas"]["Point"].is_object());
    for schema in [
        "Card",
        "Assessment",
        "JourneySummary",
        "PointQuality",
        "Summary",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} is missing"
        );
    }
    // The ingest summary keeps its name beside the journeys'.
    assert!(doc["components"]["schemas"]["Summary"]["properties"]["accepted"].is_object());
}

#[tokio::test]
async fn empty_store_says_how_to_start() {
    let reply = app().await.get("/api/inventory").await;
    assert_problem(&reply, StatusCode::CONFLICT, "touchbase init");
}

#[tokio::test]
async fn dry_run_import_changes_nothing_then_import_applies() {
    let app = app().await;
    let plan = app
        .call(
            "POST",
            "/api/inventory/import?dry_run=true&baseline=true",
            SMALL,
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
    let plan = plan.json();
    assert_eq!(plan["dry_run"], true);
    // 1 organization, 6 functions, 2 processes, 2 parties, 3 points; and the proposal of the
    // proposed point.
    assert_eq!(plan["added"], 14, "{plan}");
    assert_eq!(plan["proposals_opened"], 1, "{plan}");
    assert_problem(
        &app.get("/api/inventory").await,
        StatusCode::CONFLICT,
        "no inventory",
    );

    let app = app.imported().await;
    let inventory = app.get("/api/inventory").await.json();
    assert_eq!(inventory["organization"]["name"], "Spoke & Chain");
    let export = app.get("/api/inventory/export").await;
    assert_eq!(export.content_type, "application/yaml");
    assert_eq!(
        export.text,
        file::render_inventory(&file::parse_inventory(SMALL).unwrap())
    );

    let again = app
        .call("POST", "/api/inventory/import?baseline=true", SMALL)
        .await
        .json();
    assert_eq!(
        (again["added"].as_u64(), again["changed"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn import_of_a_broken_file_names_the_point_and_field() {
    let app = app().await;
    let broken = SMALL.replace("mode: hybrid", "mode: telepathic");
    let problem = assert_problem(
        &app.call("POST", "/api/inventory/import?baseline=true", broken)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown variant `telepathic`",
    );
    assert_eq!(
        problem["violations"][0]["subject"],
        "point `workshop.booking`"
    );
    assert_eq!(problem["violations"][0]["field"], "mode");
    assert_problem(
        &app.call("POST", "/api/inventory/import", "a: [").await,
        StatusCode::BAD_REQUEST,
        "not valid",
    );
}

#[tokio::test]
async fn points_list_filters() {
    let app = app().await.imported().await;
    let all = app.get("/api/points").await.json();
    assert_eq!(all.as_array().unwrap().len(), 3);
    let live = app.get("/api/points?status=live").await.json();
    let keys: Vec<&str> = live
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["web.order", "workshop.booking"]);
    let people = app
        .get("/api/points?mode=people&function=service")
        .await
        .json();
    assert_eq!(people.as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/parties")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.get("/api/processes").await.json()[0]["key"],
        "order-to-cash"
    );
    assert_eq!(app.get("/api/organization").await.json()["currency"], "EUR");
}

#[tokio::test]
async fn point_add_edit_retire() {
    let app = app().await.imported().await;
    let added = app
        .call("POST", "/api/points", point_json("kiosk.order").to_string())
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(added.json()["key"], "kiosk.order");
    assert_problem(
        &app.call("POST", "/api/points", point_json("kiosk.order").to_string())
            .await,
        StatusCode::CONFLICT,
        "exists already",
    );

    let mut changed = point_json("kiosk.order");
    changed["expected"]["cost"] = json!(0.9);
    let put = app.put_point("kiosk.order", changed.to_string()).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(
        app.get("/api/points/kiosk.order").await.json()["expected"]["cost"],
        0.9
    );

    let problem = assert_problem(
        &app.call_with(
            "PUT",
            "/api/points/web.order",
            &[("if-match", "*")],
            changed.to_string(),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "must be the key in the URL",
    );
    assert_eq!(problem["violations"][0]["field"], "key");

    let retired = app
        .call("POST", "/api/points/kiosk.order/retire", Body::empty())
        .await;
    assert_eq!(retired.json()["status"], "retired");
    assert_problem(
        &app.get("/api/points/nope").await,
        StatusCode::NOT_FOUND,
        "no point `nope`",
    );
    assert_problem(
        &app.call("POST", "/api/points/nope/retire", Body::empty())
            .await,
        StatusCode::NOT_FOUND,
        "no point `nope`",
    );
}

#[tokio::test]
async fn invalid_points_are_refused_with_the_field_and_rule() {
    let app = app().await.imported().await;
    let mut bad = point_json("kiosk.order");
    bad["function"] = json!("astrology");
    bad["automation"] = json!(1.5);
    let problem = assert_problem(
        &app.call("POST", "/api/points", bad.to_string()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "2 problems",
    );
    let violations = problem["violations"].as_array().unwrap();
    assert_eq!(violations[0]["subject"], "point `kiosk.order`");
    assert_eq!(violations[0]["field"], "function");
    assert!(
        violations[0]["rule"]
            .as_str()
            .unwrap()
            .starts_with("unknown business function `astrology`")
    );
    assert_eq!(violations[1]["field"], "automation");
    assert_eq!(violations[1]["rule"], "must be between 0 and 1, got 1.5");

    let mut bad = point_json("kiosk.order");
    bad["data"][1]["direction"] = json!("sideways");
    let problem = assert_problem(
        &app.call("POST", "/api/points", bad.to_string()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown variant `sideways`",
    );
    assert_eq!(problem["violations"][0]["field"], "data[1].direction");

    assert_problem(
        &app.call("POST", "/api/points", "{oops").await,
        StatusCode::BAD_REQUEST,
        "not JSON",
    );
    assert_problem(
        &app.get("/api/nothing-here").await,
        StatusCode::NOT_FOUND,
        "no such route",
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let app = app_with(ServerConfig {
        body_limit: 1024,
        ..ServerConfig::default()
    })
    .await;
    let reply = app
        .call("POST", "/api/inventory/import", "#".repeat(4096))
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn dashboard_is_served() {
    let reply = app().await.get("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.content_type.starts_with("text/html"));
    assert!(reply.text.contains("/api/inventory"));
}

/// Every `/api/…` path the page names, in the order it first names them.
fn api_paths(page: &str) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for (at, _) in page.match_indices("/api/") {
        let path: String = page[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "/_.-".contains(*c))
            .collect();
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

#[tokio::test]
async fn dashboard_calls_only_routes_that_exist_and_nothing_outside() {
    let app = app().await.imported().await;
    let page = app.get("/").await.text;
    let paths = api_paths(&page);
    for measuring in [
        "/api/scorecards",
        "/api/portfolio",
        "/api/journeys",
        "/api/quality",
        "/api/settings",
    ] {
        assert!(
            paths.iter().any(|p| p == measuring),
            "the dashboard does not show {measuring}: {paths:?}"
        );
    }
    for path in &paths {
        let reply = app.get(path).await;
        assert!(
            !reply.text.contains("no such route"),
            "the dashboard calls {path}, which is not routed: {} {}",
            reply.status,
            reply.text
        );
    }
    // The period it asks for by default: a monthly series of the organization.
    let series = app
        .get("/api/scorecards?from=2025-01-01&to=2026-01-01&by=month")
        .await;
    assert_eq!(series.status, StatusCode::OK, "{}", series.text);
    assert_eq!(series.json().as_array().unwrap().len(), 12);
    // One self-contained page: no scripts, styles, fonts or images from elsewhere.
    for outside in ["http://", "https://", "src=", "@import", "url("] {
        assert!(
            !page.contains(outside),
            "the dashboard refers to {outside}…"
        );
    }
}

#[tokio::test]
async fn serve_answers_on_a_socket_and_shuts_down_gracefully() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("s.db")).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        touchbase_server::serve(
            listener,
            AppState::new(store, &ServerConfig::default()),
            &ServerConfig::default(),
            shutdown,
        )
        .await
    });

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""status":"ok""#), "{response}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Every role through every kind of call: allowed, or refused with 403 and the roles needed;
/// no token at all is 401.
#[tokio::test]
async fn every_role_through_every_kind_of_call() {
    let app = app().await.imported().await;
    // (method, uri, body, roles allowed)
    let calls: Vec<(&str, &str, String, &[&str])> = vec![
        (
            "GET",
            "/api/inventory",
            String::new(),
            &["viewer", "analyst", "owner", "executive", "admin"],
        ),
        (
            "GET",
            "/api/points",
            String::new(),
            &["viewer", "analyst", "owner", "executive", "admin"],
        ),
        (
            "GET",
            "/api/points/web.order",
            String::new(),
            &["viewer", "analyst", "owner", "executive", "admin"],
        ),
        (
            "GET",
            "/api/proposals",
            String::new(),
            &["analyst", "owner", "executive", "admin"],
        ),
        (
            "GET",
            "/api/proposals/1",
            String::new(),
            &["analyst", "owner", "executive", "admin"],
        ),
        ("GET", "/api/tokens", String::new(), &["admin"]),
        // An already-live point: the permission is asked before anything.
        (
            "POST",
            "/api/points/web.order/go-live",
            String::new(),
            &["owner", "executive", "admin"],
        ),
        (
            "GET",
            "/api/inventory/export",
            String::new(),
            &["analyst", "owner", "executive", "admin"],
        ),
        (
            "GET",
            "/api/audit",
            String::new(),
            &["analyst", "owner", "executive", "admin"],
        ),
        (
            "GET",
            "/api/audit/verify",
            String::new(),
            &["analyst", "owner", "executive", "admin"],
        ),
        (
            "POST",
            "/api/points",
            point_json("new.ROLE").to_string(),
            &["owner", "executive", "admin"],
        ),
        (
            "POST",
            "/api/proposals/2/approve",
            json!({"comment": "ok"}).to_string(),
            &["executive"],
        ),
        (
            "POST",
            "/api/inventory/import?dry_run=true",
            SMALL.to_owned(),
            &["admin"],
        ),
        (
            "POST",
            "/api/events",
            json!([{ "point": "web.order", "at": "2026-03-01T09:30:00Z" }]).to_string(),
            &["owner", "executive", "admin"],
        ),
        (
            "GET",
            "/api/undocumented",
            String::new(),
            &["analyst", "owner", "executive", "admin"],
        ),
        (
            "GET",
            "/api/rejects",
            String::new(),
            &["analyst", "owner", "executive", "admin"],
        ),
        (
            "POST",
            "/api/rejects/replay",
            String::new(),
            &["owner", "executive", "admin"],
        ),
    ];
    for (method, uri, body, allowed) in &calls {
        let reply = app.as_role(None).call(method, uri, body.clone()).await;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "Authorization: Bearer");
        for (role, _) in ROLES {
            let body = body.replace("ROLE", role);
            let reply = app.as_role(Some(role)).call(method, uri, body).await;
            if allowed.contains(&role) {
                assert!(
                    reply.status.is_success(),
                    "{role} {method} {uri}: {} {}",
                    reply.status,
                    reply.text
                );
            } else {
                let problem = assert_problem(&reply, StatusCode::FORBIDDEN, "this needs the role");
                let detail = problem["detail"].as_str().unwrap();
                assert!(
                    detail.contains(&format!("{role} has the role {role}")),
                    "{detail}"
                );
            }
        }
    }
    let mut bad = app.as_role(None);
    bad.token = Some("tb_nonsense".into());
    assert_problem(
        &bad.get("/api/points").await,
        StatusCode::UNAUTHORIZED,
        "unknown or revoked",
    );
    // Health and the API description stay open.
    assert_eq!(
        app.as_role(None).get("/healthz").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.as_role(None).get("/api/openapi.json").await.status,
        StatusCode::OK
    );
}

/// Propose, approve twice, go live, change, retire — through the API.
#[tokio::test]
async fn sign_off_workflow_through_the_api_on_sqlite() {
    workflow(app().await.imported().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_off_workflow_through_the_api_on_postgres() {
    workflow(app_on_postgres().await.imported().await).await;
}

async fn workflow(app: App) {
    let owner = app.as_role(Some("owner"));
    let executive = app.as_role(Some("executive"));
    let executive2 = app.as_role(Some("executive2"));
    let admin = app.as_role(Some("admin"));

    let added = owner
        .call("POST", "/api/points", point_json("app.order").to_string())
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let proposals = owner.get("/api/proposals").await.json();
    let id = proposals
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["point"] == "app.order")
        .unwrap()["id"]
        .as_u64()
        .unwrap();

    let comment = json!({ "comment": "worth it" }).to_string();
    let first = executive
        .call(
            "POST",
            &format!("/api/proposals/{id}/approve"),
            comment.clone(),
        )
        .await
        .json();
    assert_eq!(
        (
            first["status"].as_str(),
            first["decisions"].as_array().unwrap().len()
        ),
        (Some("pending"), 1)
    );
    assert_problem(
        &executive
            .call(
                "POST",
                &format!("/api/proposals/{id}/approve"),
                comment.clone(),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "has decided on it already",
    );
    assert_problem(
        &owner
            .call("POST", "/api/points/app.order/go-live", Body::empty())
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "only an approved point goes live",
    );
    // Administrators administer; they do not sign off (R6).
    assert_problem(
        &admin
            .call(
                "POST",
                &format!("/api/proposals/{id}/approve"),
                comment.clone(),
            )
            .await,
        StatusCode::FORBIDDEN,
        "only executives sign off",
    );
    let second = executive2
        .call(
            "POST",
            &format!("/api/proposals/{id}/approve"),
            comment.clone(),
        )
        .await
        .json();
    assert_eq!(second["status"], "approved");
    let live = owner
        .call("POST", "/api/points/app.order/go-live", Body::empty())
        .await;
    assert_eq!(live.json()["status"], "live");

    let mut changed = owner.get("/api/points/app.order").await.json();
    changed["expected"]["cost"] = json!(0.5);
    let put = owner.put_point("app.order", changed.to_string()).await;
    assert_eq!(
        put.json()["expected"]["cost"],
        0.35,
        "a material change waits for sign-off"
    );
    let change = owner
        .get("/api/proposals")
        .await
        .json()
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(change["kind"], "change");
    let change_id = change["id"].as_u64().unwrap();
    executive
        .call(
            "POST",
            &format!("/api/proposals/{change_id}/approve"),
            comment.clone(),
        )
        .await;
    executive2
        .call(
            "POST",
            &format!("/api/proposals/{change_id}/approve"),
            comment.clone(),
        )
        .await;
    assert_eq!(
        owner.get("/api/points/app.order").await.json()["expected"]["cost"],
        0.5
    );

    let retire = owner
        .call("POST", "/api/points/app.order/retire", Body::empty())
        .await;
    assert_eq!(
        retire.json()["status"],
        "live",
        "retiring a live point waits for sign-off"
    );
    let retire_id = owner
        .get("/api/proposals")
        .await
        .json()
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    executive
        .call(
            "POST",
            &format!("/api/proposals/{retire_id}/approve"),
            comment.clone(),
        )
        .await;
    executive2
        .call(
            "POST",
            &format!("/api/proposals/{retire_id}/approve"),
            comment,
        )
        .await;
    assert_eq!(
        owner.get("/api/points/app.order").await.json()["status"],
        "retired"
    );

    let history = admin.get("/api/audit?point=app.order").await.json();
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"point.go-live") && actions.contains(&"proposal.approve"),
        "{actions:?}"
    );
    assert_eq!(admin.get("/api/audit/verify").await.json()["intact"], true);
}

#[tokio::test]
async fn events_in_as_json_or_ndjson() {
    let app = app().await.imported().await;
    let owner = app.as_role(Some("owner"));
    let batch = json!([
        { "id": "e1", "point": "web.order", "at": "2026-03-01T09:30:00Z", "data": { "basket": [], "email": "a@b" } },
        { "id": "e1", "point": "web.order", "at": "2026-03-01T09:30:00Z" },
        { "point": "sms.promo", "at": "2026-03-01T09:30:00Z" },
        { "point": "web.order", "at": "2026-03-01T09:30:00Z", "outcomes": { "satisfaction": 7 } }
    ]);
    let reply = owner.call("POST", "/api/events", batch.to_string()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = reply.json();
    assert_eq!(
        reply["summary"],
        json!({ "accepted": 1, "duplicates": 1, "held": 1, "rejected": 1 })
    );
    assert_eq!(
        reply["results"][3]["reasons"][0],
        "outcomes.satisfaction: must be an integer from 1 to 5, got 7"
    );

    let ndjson = "{\"point\":\"web.order\",\"at\":\"2026-03-02T09:30:00Z\"}\n\n{\"point\":\"web.order\",\"at\":\"2026-03-03T09:30:00Z\"}\nnot json\n";
    let request = Request::builder()
        .method("POST")
        .uri("/api/events")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", app.tokens["owner"]),
        )
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from(ndjson))
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let reply: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        reply["summary"],
        json!({ "accepted": 2, "duplicates": 0, "held": 0, "rejected": 1 })
    );

    let undocumented = owner.get("/api/undocumented").await.json();
    assert_eq!(undocumented[0]["point"], "sms.promo");
    assert_eq!(undocumented[0]["volume"], 1);
    let rejects = owner.get("/api/rejects").await.json();
    assert_eq!(rejects.as_array().unwrap().len(), 2);
    assert_eq!(rejects[1]["raw"], "not json");

    // A body that is not events at all is refused, and kept.
    assert_problem(
        &owner.call("POST", "/api/events", "[1, 2").await,
        StatusCode::BAD_REQUEST,
        "kept in the rejects",
    );
    assert_eq!(
        owner
            .get("/api/rejects")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let replay = owner
        .call("POST", "/api/rejects/replay", Body::empty())
        .await
        .json();
    assert_eq!(
        replay,
        json!({ "taken": 0, "still_rejected": 3, "not_replayable": 0 })
    );
}

#[tokio::test]
async fn batches_over_the_limit_are_refused_whole() {
    let app = app_with(ServerConfig {
        max_batch: 2,
        ..ServerConfig::default()
    })
    .await
    .imported()
    .await;
    let batch = json!([
        { "point": "web.order", "at": "2026-03-01T09:30:00Z" },
        { "point": "web.order", "at": "2026-03-02T09:30:00Z" },
        { "point": "web.order", "at": "2026-03-03T09:30:00Z" }
    ]);
    assert_problem(
        &app.call("POST", "/api/events", batch.to_string()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "the limit is 2",
    );
}

/// Concurrent requests are written together (group commit), and each is answered with the
/// outcomes of its own events, after the commit that holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_get_their_own_outcomes() {
    let app = app().await.imported().await;
    let owner = Arc::new(app.as_role(Some("owner")));
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..64 {
        let owner = Arc::clone(&owner);
        requests.spawn(async move {
            // Every fourth request sends a broken event, the others a good one and its retry.
            let body = if i % 4 == 3 {
                json!([{ "id": format!("c{i}"), "point": "web.order", "at": "2026-03-01T09:30:00Z", "cost": -1 }])
            } else {
                let event = json!({ "id": format!("c{i}"), "point": "web.order", "at": "2026-03-01T09:30:00Z" });
                json!([event, event])
            };
            (i, owner.call("POST", "/api/events", body.to_string()).await)
        });
    }
    while let Some(done) = requests.join_next().await {
        let (i, reply) = done.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let reply = reply.json();
        if i % 4 == 3 {
            assert_eq!(reply["results"][0]["status"], "rejected");
            assert_eq!(
                reply["results"][0]["reasons"][0],
                "cost: must be a finite number of at least 0, got -1",
                "{reply}"
            );
        } else {
            assert_eq!(reply["results"][0]["status"], "accepted", "{reply}");
            assert_eq!(reply["results"][0]["id"], format!("c{i}"));
            assert_eq!(reply["results"][1]["status"], "duplicate", "{reply}");
        }
    }
    let rejects = owner.call("GET", "/api/rejects", "").await.json();
    assert_eq!(rejects.as_array().unwrap().len(), 16);
}

/// A body that is not UTF-8 is kept whole in the rejects, never decoded lossily into events,
/// and marked not replayable.
#[tokio::test]
async fn a_body_that_is_not_utf8_is_kept_and_not_replayed() {
    let app = app().await.imported().await;
    let mut body = br#"[{"point": "web.order", "at": "2026-03-01T09:30:00Z", "party": "a"#.to_vec();
    body.extend_from_slice(&[0xff, b'"', b'}', b']']);
    let reply = app.call("POST", "/api/events", body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(
        reply.text.contains("not UTF-8 (invalid byte at offset 65)"),
        "{}",
        reply.text
    );
    let rejects = app.call("GET", "/api/rejects", "").await.json();
    assert_eq!(rejects[0]["replayable"], false, "{rejects}");
    let replay = app.call("POST", "/api/rejects/replay", "").await.json();
    assert_eq!(replay["not_replayable"], 1);
    assert_eq!(replay["taken"], 0);
}

/// The committer checks events against the inventory as it is now: a change to the inventory
/// is in force for the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_checked_against_the_current_inventory() {
    let app = app().await.imported().await;
    let event = |id: &str| {
        json!([{ "id": id, "point": "web.order", "at": "2026-03-01T09:30:00Z", "vars": { "urgency": "asap" } }])
            .to_string()
    };
    let before = app.call("POST", "/api/events", event("u-1")).await.json();
    assert_eq!(before["results"][0]["status"], "rejected", "{before}");
    let widened = SMALL.replace(
        "values: [routine, same-day]",
        "values: [routine, same-day, asap]",
    );
    let reply = app.call("POST", "/api/inventory/import", widened).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let after = app.call("POST", "/api/events", event("u-2")).await.json();
    assert_eq!(after["results"][0]["status"], "accepted", "{after}");
}

/// Three interactions at `web.order` (one without its required data) and one at
/// `workshop.booking`, with known figures; rider r1 goes web.order → workshop.booking →
/// web.order.
fn measured() -> String {
    json!([
        { "id": "w1", "point": "web.order", "at": "2026-03-01T09:00:00Z", "party": "r1",
          "value": { "company": 10, "party": 2 }, "cost": 0.5,
          "outcomes": { "satisfaction": 5, "resolved": true },
          "data": { "basket": [], "email": "a@b" } },
        { "id": "w2", "point": "web.order", "at": "2026-03-02T10:00:00Z", "party": "r2",
          "value": { "company": 6 }, "cost": 0.5,
          "outcomes": { "satisfaction": 3, "resolved": false },
          "data": { "basket": [], "email": "c@d" } },
        { "id": "w3", "point": "web.order", "at": "2026-03-02T11:00:00Z", "party": "r1",
          "outcomes": { "satisfaction": 4 } },
        { "id": "b1", "point": "workshop.booking", "at": "2026-03-01T10:00:00Z", "party": "r1",
          "data": { "bike": "x" }, "outcomes": { "engaged": true } }
    ])
    .to_string()
}

fn close(got: &Value, expected: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{got} is not a number"));
    assert!((got - expected).abs() < 1e-9, "{got} ≠ {expected}");
}

const WEEK: &str = "from=2026-03-01&to=2026-03-08";

async fn measuring(app: App) {
    let app = app.imported().await;
    let reply = app.call("POST", "/api/events", measured()).await;
    assert_eq!(reply.json()["summary"]["accepted"], 4, "{}", reply.text);
    let viewer = app.as_role(Some("viewer"));

    let card = viewer
        .get(&format!("/api/scorecards?point=web.order&{WEEK}"))
        .await
        .json();
    assert_eq!(card["scope"], "point");
    assert_eq!(card["key"], "web.order");
    assert_eq!(card["from"], "2026-03-01T00:00:00Z");
    assert_eq!(card["volume"], 3);
    close(&card["value_company"], 16.0);
    close(&card["csat"], 2.0 / 3.0);
    close(&card["resolution_rate"], 0.5);
    close(&card["conformance_rate"], 2.0 / 3.0);
    close(&card["expected_volume"], 900.0 * 7.0 / 30.4375);

    let modes = viewer
        .get(&format!("/api/scorecards?all=mode&{WEEK}"))
        .await
        .json();
    let volumes: Vec<(&str, u64)> = modes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap(), c["volume"].as_u64().unwrap()))
        .collect();
    assert_eq!(volumes, [("machine", 3), ("people", 0), ("hybrid", 1)]);
    let series = viewer
        .get("/api/scorecards?function=sales&by=day&from=2026-03-01&to=2026-03-04")
        .await
        .json();
    let volumes: Vec<u64> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["volume"].as_u64().unwrap())
        .collect();
    assert_eq!(volumes, [1, 2, 0]);
    assert_eq!(series[2]["from"], "2026-03-03T00:00:00Z");

    let verdicts = viewer.get(&format!("/api/portfolio?{WEEK}")).await.json();
    assert_eq!(verdicts[0]["point"], "web.order");
    assert_eq!(verdicts[0]["verdict"], "insufficient-data");
    let settings = viewer.get("/api/settings").await.json();
    assert_eq!(
        settings,
        json!({
            "journeys.journey_gap_s": 2_592_000,
            "portfolio.adequacy": 0.8,
            "portfolio.carries_journeys": 0.1,
            "portfolio.cost_tolerance": 0.05,
            "portfolio.min_volume": 30,
            "portfolio.quality_threshold": 0.6,
            "survey.min_responses": 10,
            "survey.per_survey_days": 30,
            "survey.any_survey_days": 7,
            "survey.sampling": 1.0,
            "survey.link_days": 14
        })
    );
    assert_problem(
        &viewer
            .call("PUT", "/api/settings/portfolio.min_volume", "1")
            .await,
        StatusCode::FORBIDDEN,
        "admin",
    );
    let after = app
        .call("PUT", "/api/settings/portfolio.min_volume", "1")
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    assert_eq!(after.json()["portfolio.min_volume"], 1);
    let verdicts = viewer.get(&format!("/api/portfolio?{WEEK}")).await.json();
    assert_eq!(verdicts[0]["verdict"], "improve", "{verdicts}");
    assert_eq!(verdicts[0]["reasons"][0]["code"], "quality_below_threshold");
    close(&verdicts[0]["reasons"][0]["value"], (2.0 / 3.0 + 0.5) / 3.0);
    let after = app
        .call(
            "PUT",
            "/api/settings/portfolio.quality_threshold",
            r#"{"value": 0.35}"#,
        )
        .await;
    assert_eq!(after.json()["portfolio.quality_threshold"], 0.35);
    let verdicts = viewer.get(&format!("/api/portfolio?{WEEK}")).await.json();
    assert_eq!(verdicts[0]["verdict"], "invest", "{verdicts}");

    let summary = viewer
        .get(&format!("/api/journeys?{WEEK}&party_type=rider&top=1"))
        .await
        .json();
    assert_eq!(summary["journeys"], 2);
    assert_eq!(summary["distinct_variants"], 2);
    assert_eq!(summary["variants"].as_array().unwrap().len(), 1);
    assert_eq!(summary["variants"][0]["text"], "web.order");
    assert_eq!(summary["handoffs"][0]["from_function"], "sales");
    assert_eq!(summary["handoffs"][0]["to_function"], "workshop");
    let summary = viewer
        .get(&format!("/api/journeys?{WEEK}&start=workshop.booking"))
        .await
        .json();
    assert_eq!(summary["journeys"], 0);

    assert_problem(
        &viewer.get(&format!("/api/quality?{WEEK}")).await,
        StatusCode::FORBIDDEN,
        "viewer",
    );
    let quality = app
        .as_role(Some("analyst"))
        .get(&format!("/api/quality?{WEEK}&top=1"))
        .await
        .json();
    assert_eq!(quality[0]["point"], "web.order");
    assert_eq!(quality[0]["conforming"], 2);
    assert_eq!(quality[0]["failing"].as_array().unwrap().len(), 1);
    assert_eq!(
        quality[0]["failing"][0]["failure"],
        "\"basket\" is a required property"
    );

    // The executive report: the page, Markdown or JSON, for analysts and up.
    let analyst = app.as_role(Some("analyst"));
    let page = analyst.get(&format!("/api/report?{WEEK}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert!(
        page.text.starts_with("<!DOCTYPE html>"),
        "{}",
        &page.text[..80]
    );
    assert!(page.text.contains("web.order"));
    let json = analyst
        .get(&format!("/api/report?{WEEK}&format=json"))
        .await
        .json();
    assert_eq!(json["scorecard"]["volume"], 4);
    assert_eq!(json["portfolio"][0]["verdict"], "invest");
    let md = analyst.get(&format!("/api/report?{WEEK}&format=md")).await;
    assert_eq!(md.content_type, "text/markdown; charset=utf-8");
    assert_problem(
        &analyst.get(&format!("/api/report?{WEEK}&format=pdf")).await,
        StatusCode::BAD_REQUEST,
        "format: must be html, md or json, got `pdf`",
    );
    assert_problem(
        &viewer.get(&format!("/api/report?{WEEK}")).await,
        StatusCode::FORBIDDEN,
        "viewer",
    );
}

#[tokio::test]
async fn measuring_through_the_api_on_sqlite() {
    measuring(app().await).await;
}

#[tokio::test]
async fn measuring_through_the_api_on_postgres() {
    measuring(app_on_postgres().await).await;
}

#[tokio::test]
async fn measuring_refuses_bad_parameters_naming_them() {
    let app = app().await.imported().await;
    for (uri, status, detail) in [
        (
            "/api/scorecards?from=yesterday",
            StatusCode::BAD_REQUEST,
            "from: must be a date (2026-03-01) or an RFC 3339 instant",
        ),
        (
            "/api/portfolio?from=2026-03-10&to=2026-03-01",
            StatusCode::BAD_REQUEST,
            "from: is after `to`",
        ),
        (
            "/api/scorecards?mode=robot",
            StatusCode::BAD_REQUEST,
            "mode: must be one of machine, people, hybrid, got `robot`",
        ),
        (
            "/api/scorecards?by=year",
            StatusCode::BAD_REQUEST,
            "by: must be one of day, week, month, got `year`",
        ),
        (
            "/api/scorecards?point=web.order&all=mode",
            StatusCode::BAD_REQUEST,
            "give at most one of them",
        ),
        (
            "/api/scorecards?point=web.ordr",
            StatusCode::NOT_FOUND,
            "point: no point `web.ordr`",
        ),
        (
            "/api/scorecards?function=legal",
            StatusCode::NOT_FOUND,
            "function: no business function `legal`",
        ),
        (
            "/api/scorecards?party_type=robot",
            StatusCode::NOT_FOUND,
            "party_type: no party type `robot` in the inventory; the party types are club, rider",
        ),
        (
            "/api/journeys?start=nowhere",
            StatusCode::NOT_FOUND,
            "start: no point `nowhere`",
        ),
        (
            "/api/journeys?top=-1",
            StatusCode::BAD_REQUEST,
            "top: must be a whole number of 0 or more, got `-1`",
        ),
    ] {
        assert_problem(&app.get(uri).await, status, detail);
    }
    for (name, body, detail) in [
        (
            "portfolio.quality_threshold",
            "2",
            "portfolio.quality_threshold: must be from 0 to 1",
        ),
        (
            "portfolio.min_volume",
            "2.5",
            "portfolio.min_volume: must be a whole number of 0 or more, got `2.5`",
        ),
        (
            "portfolio.adequacy",
            "\"high\"",
            "portfolio.adequacy: the body must be the value as a JSON number",
        ),
        ("portfolio.speed", "1", "portfolio.speed: no such setting"),
    ] {
        let problem = assert_problem(
            &app.call("PUT", &format!("/api/settings/{name}"), body)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            detail,
        );
        assert_eq!(problem["violations"][0]["field"], name);
    }
    // Nothing changed.
    assert_eq!(
        app.get("/api/settings").await.json()["portfolio.quality_threshold"],
        0.6
    );
}

/// Once events stop coming, the journeys are brought up to date in the background: the store's
/// party-ordered copy and its journey rows hold the new events before any journeys request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journeys_catch_up_once_ingest_pauses() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let config = ServerConfig {
        journeys_idle: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let app = app_on(store, config, Arc::new(dir)).await.imported().await;
    let batch = json!([
        { "id": "k1", "point": "web.order", "at": "2026-03-01T09:00:00Z", "party": "r1" },
        { "id": "k2", "point": "web.order", "at": "2026-03-01T10:00:00Z", "party": "r1" },
        { "id": "k3", "point": "web.order", "at": "2026-03-02T10:00:00Z", "party": "r2" },
    ]);
    let reply = app
        .as_role(Some("owner"))
        .call("POST", "/api/events", batch.to_string())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["summary"]["accepted"], 3, "{}", reply.text);

    let db = rusqlite::Connection::open(&path).unwrap();
    let state = || -> (i64, i64, i64, i64) {
        db.query_row(
            "SELECT (SELECT value FROM meta WHERE key = 'party_touches_seq'),
                    (SELECT MAX(seq) FROM events),
                    (SELECT COUNT(*) FROM journey_rows),
                    (SELECT COUNT(*) FROM touch_queue)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    };
    let started = Instant::now();
    // Caught up: the mark at the last event, the queue empty, and the two parties' journeys
    // (one a day) cut.
    while state() != (3, 3, 2, 0) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not caught up 20 s after the last write: (mark, last event, rows, queued) = {:?}",
            state()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A token the server has already let in stops working soon after it is revoked beside it
/// (as `touchbase token revoke` does, through the store): what the server remembers of
/// tokens is forgotten when the store's version moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_working_on_a_running_server() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("api.db")).unwrap());
    let app = app_on(store.clone(), ServerConfig::default(), Arc::new(dir))
        .await
        .imported()
        .await;
    let issued = access::issue_token(&*store, &Actor::local_admin(), "viewer")
        .await
        .unwrap();
    let mut viewer = app.as_role(None);
    viewer.token = Some(issued.secret.clone());
    for _ in 0..2 {
        let reply = viewer.call("GET", "/api/inventory", Body::empty()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    access::revoke_token(&*store, &Actor::local_admin(), &issued.id)
        .await
        .unwrap();
    let revoked = Instant::now();
    loop {
        let reply = viewer.call("GET", "/api/inventory", Body::empty()).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(5),
            "the revoked token still answers {} after 5 s",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /api/points/{key}` answers the point's version as `ETag`; `PUT` needs it back as
/// `If-Match`: 428 without, 412 when the point changed meanwhile (nothing written), 200 with the
/// new version otherwise.
#[tokio::test]
async fn point_edits_land_only_over_the_version_read() {
    let app = app().await.imported().await;
    let uri = "/api/points/web.order";
    let read = app.get(uri).await;
    let etag = read.headers[header::ETAG].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );
    let mut mine = read.json();
    mine["description"] = json!("Mine");

    let problem = assert_problem(
        &app.call("PUT", uri, mine.to_string()).await,
        StatusCode::PRECONDITION_REQUIRED,
        "needs `If-Match`",
    );
    assert_eq!(
        problem["type"],
        "urn:touchbase:problem:precondition-required"
    );

    // Someone else changes the point in between.
    let mut theirs = read.json();
    theirs["name"] = json!("Theirs");
    let first = app
        .call_with("PUT", uri, &[("if-match", &etag)], theirs.to_string())
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let new_etag = first.headers[header::ETAG].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(app.get(uri).await.headers[header::ETAG], new_etag.as_str());

    assert_problem(
        &app.call_with("PUT", uri, &[("if-match", &etag)], mine.to_string())
            .await,
        StatusCode::PRECONDITION_FAILED,
        "changed since it was read",
    );
    let weak = format!("W/{new_etag}");
    assert_problem(
        &app.call_with("PUT", uri, &[("if-match", &weak)], mine.to_string())
            .await,
        StatusCode::PRECONDITION_FAILED,
        "changed since it was read",
    );
    assert_eq!(
        app.get(uri).await.json()["name"],
        "Theirs",
        "nothing was overwritten"
    );
    // Any of a list of tags matches.
    let list = format!("{etag}, {new_etag}");
    mine["name"] = json!("Theirs");
    let put = app
        .call_with("PUT", uri, &[("if-match", &list)], mine.to_string())
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(app.get(uri).await.json()["description"], "Mine");

    // The document says so.
    let doc = app.get("/api/openapi.json").await.json();
    let put_doc = &doc["paths"]["/api/points/{key}"]["put"];
    for status in ["412", "428"] {
        assert!(
            put_doc["responses"][status].is_object(),
            "{status}: {put_doc}"
        );
    }
    assert!(
        put_doc["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "If-Match" && p["in"] == "header"),
        "{put_doc}"
    );
    assert!(
        doc["paths"]["/api/points/{key}"]["get"]["responses"]["200"]["headers"]["ETag"].is_object()
    );
    // A viewer is refused before anything else.
    assert_problem(
        &app.as_role(Some("viewer"))
            .call("PUT", uri, mine.to_string())
            .await,
        StatusCode::FORBIDDEN,
        "viewer has the role viewer",
    );
}

/// The `Bearer` scheme's name is case-insensitive (RFC 9110 §11.1).
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = app().await;
    let token = app.tokens["viewer"].clone();
    let mut bare = app.as_role(None);
    bare.token = None;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let value = format!("{scheme} {token}");
        let reply = bare
            .call_with(
                "GET",
                "/api/me",
                &[("authorization", &value)],
                Body::empty(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{scheme}: {}", reply.text);
        assert_eq!(reply.json()["name"], "viewer");
    }
    let basic = format!("Basic {token}");
    assert_problem(
        &bare
            .call_with(
                "GET",
                "/api/me",
                &[("authorization", &basic)],
                Body::empty(),
            )
            .await,
        StatusCode::UNAUTHORIZED,
        "Authorization: Bearer",
    );
}

/// The application over a fresh store with `ConnectInfo` as a real listener gives it (the
/// client address `peer`), and its state.
async fn app_from(peer: std::net::SocketAddr) -> (Router, AppState, String, tempfile::TempDir) {
    use axum::extract::connect_info::MockConnectInfo;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn touchbase_store::Store> =
        Arc::new(SqliteStore::open(dir.path().join("api.db")).unwrap());
    let admin = access::add_user(&*store, &Actor::local_admin(), "admin", Role::Admin, vec![])
        .await
        .unwrap();
    let config = ServerConfig::default();
    let state = AppState::new(store, &config);
    let router = router(state.clone(), &config).layer(MockConnectInfo(peer));
    (router, state, admin.secret, dir)
}

async fn send(router: &Router, token: &str, uri: &str) -> axum::response::Response {
    let request = Request::builder()
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    router.clone().oneshot(request).await.unwrap()
}

/// Failed authentications slow a client address down: after the free ones, 429 with
/// `Retry-After`, even for a valid token, while other addresses go on.
#[tokio::test]
async fn failed_authentications_slow_the_client_address_down() {
    use touchbase_server::tokens::FREE_FAILURES;
    let guesser: std::net::SocketAddr = "192.0.2.1:50000".parse().unwrap();
    let (router, state, admin, _dir) = app_from(guesser).await;
    for i in 0..FREE_FAILURES {
        let reply = send(&router, &format!("tb_guess{i}"), "/api/me").await;
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let reply = send(&router, "tb_guess", "/api/me").await;
    assert_eq!(reply.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.headers()[header::RETRY_AFTER], "1");
    assert_eq!(
        reply.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    // While it waits, not even a valid token is looked at.
    let reply = send(&router, &admin, "/api/me").await;
    assert_eq!(reply.status(), StatusCode::TOO_MANY_REQUESTS);
    // A call without a token guesses nothing: it is answered 401 at once, neither held back
    // nor counted.
    let bare = |router: &Router| {
        router.clone().oneshot(
            Request::builder()
                .uri("/api/me")
                .body(Body::empty())
                .unwrap(),
        )
    };
    assert_eq!(
        bare(&router).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Another address is not held up.
    let elsewhere = touchbase_server::router(state.clone(), &ServerConfig::default()).layer(
        axum::extract::connect_info::MockConnectInfo(
            "198.51.100.9:40000"
                .parse::<std::net::SocketAddr>()
                .unwrap(),
        ),
    );
    assert_eq!(
        send(&elsewhere, &admin, "/api/me").await.status(),
        StatusCode::OK
    );
    for _ in 0..2 * FREE_FAILURES {
        assert_eq!(
            bare(&elsewhere).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        send(&elsewhere, &admin, "/api/me").await.status(),
        StatusCode::OK,
        "calls without a token do not count as failed authentications"
    );
    assert!(
        state
            .throttle
            .check(guesser.ip(), std::time::Instant::now())
            .is_err()
    );
}

/// A token's last use is noted by the server and recorded in the store when the notes are
/// flushed (at most once a minute); admins see it in `GET /api/tokens`.
#[tokio::test]
async fn the_last_use_of_a_token_is_visible_to_admins() {
    let (router, state, admin, _dir) = app_from("192.0.2.2:1".parse().unwrap()).await;
    let viewer = access::add_user(
        &*state.store,
        &Actor::local_admin(),
        "vi",
        Role::Viewer,
        vec![],
    )
    .await
    .unwrap();
    let tokens = |reply: Value| -> Vec<Value> { reply.as_array().unwrap().clone() };
    let body = |r: axum::response::Response| async move {
        serde_json::from_slice::<Value>(&r.into_body().collect().await.unwrap().to_bytes()).unwrap()
    };
    let listed = tokens(body(send(&router, &admin, "/api/tokens").await).await);
    let of = |list: &[Value], id: &str| list.iter().find(|t| t["id"] == id).unwrap().clone();
    assert!(of(&listed, &viewer.id)["last_used_at"].is_null());

    assert_eq!(
        send(&router, &viewer.secret, "/api/me").await.status(),
        StatusCode::OK
    );
    let recorded = state.tokens.record_use(&*state.store).await.unwrap();
    assert_eq!(recorded, 2, "the admin's and the viewer's");
    assert_eq!(state.tokens.record_use(&*state.store).await.unwrap(), 0);
    let listed = tokens(body(send(&router, &admin, "/api/tokens").await).await);
    let used = of(&listed, &viewer.id)["last_used_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap();
    assert!((jiff::Timestamp::now() - used).as_secs().abs() < 120);
    assert_eq!(viewer.id.len(), 35, "{}", viewer.id);
    // Viewers do not see tokens.
    assert_eq!(
        send(&router, &viewer.secret, "/api/tokens").await.status(),
        StatusCode::FORBIDDEN
    );
}

/// Every response carries the security headers; the dashboard's policy allows its own inline
/// script and styles by hash and nothing from elsewhere.
#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = app().await.imported().await;
    let pages = [
        ("/", StatusCode::OK),
        ("/api/points", StatusCode::OK),
        ("/healthz", StatusCode::OK),
        ("/api/openapi.json", StatusCode::OK),
        ("/api/nope", StatusCode::NOT_FOUND),
        ("/api/report?format=html", StatusCode::OK),
    ];
    for (uri, status) in pages {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, status, "{uri}: {}", reply.text);
        let h = |name: &str| {
            reply
                .headers
                .get(name)
                .unwrap_or_else(|| panic!("{uri}: no {name}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(h("x-frame-options"), "DENY", "{uri}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{uri}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{uri}");
        let csp = h("content-security-policy");
        assert!(csp.starts_with("default-src 'none'"), "{uri}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
        assert!(!csp.contains("http") && !csp.contains('*'), "{uri}: {csp}");
        if uri == "/" || uri.starts_with("/api/report") {
            assert!(csp.contains("style-src 'sha256-"), "{uri}: {csp}");
            assert!(!csp.contains("unsafe-eval"), "{uri}: {csp}");
        }
        if uri == "/" {
            assert!(csp.contains("script-src 'sha256-"), "{csp}");
            assert!(csp.contains("connect-src 'self'"), "{csp}");
        }
    }
    let unauthorized = app.as_role(None).get("/api/points").await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauthorized.headers["x-frame-options"], "DENY");
    // The dashboard keeps its token for the tab only.
    let page = app.get("/").await.text;
    assert!(!page.contains("localStorage.setItem") && page.contains("sessionStorage.setItem"));
}

/// A later `?baseline=true` opens one proposal for the batch, shown in the summary, and takes
/// nothing live.
#[tokio::test]
async fn a_later_baseline_through_the_api_is_one_proposal() {
    let app = app().await.imported().await;
    let mut file = file::parse_inventory(SMALL).unwrap();
    for key in ["kiosk.order", "van.order"] {
        let mut point = file.point("web.order").unwrap().clone();
        point.key = key.into();
        file.points.push(point);
    }
    let text = file::render_inventory(&file.normalized());
    let plan = app
        .call(
            "POST",
            "/api/inventory/import?baseline=true&dry_run=true",
            text.clone(),
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
    assert_eq!(
        plan.json()["baseline_proposal"]["points"],
        json!(["kiosk.order", "van.order"])
    );
    let done = app
        .call("POST", "/api/inventory/import?baseline=true", text)
        .await
        .json();
    let id = done["baseline_proposal"]["proposal"].as_u64().unwrap();
    assert_eq!(
        app.get("/api/points/kiosk.order").await.json()["status"],
        "proposed"
    );
    let proposal = app.get(&format!("/api/proposals/{id}")).await.json();
    assert_eq!(proposal["kind"], "baseline");
    assert_eq!(proposal["batch"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn surveys_and_responses_through_the_api() {
    let app = app().await.imported().await;
    let owner = app.as_role(Some("owner"));
    let viewer = app.as_role(Some("viewer"));
    let survey = "key: after-visit\nname: After your visit\npoints: [web.order]\nquestions: [nps, csat, change]\n";
    // A viewer may read surveys, not add them; the role is checked before the body.
    assert_problem(
        &viewer.call("POST", "/api/surveys", survey).await,
        StatusCode::FORBIDDEN,
        "",
    );
    let stored = owner.call("POST", "/api/surveys", survey).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text);
    assert_eq!(stored.json()["version"], 1);
    // A survey of a point that does not exist breaks a rule of the inventory: 422 naming it.
    let unknown = survey.replace("[web.order]", "[nowhere]");
    let problem = assert_problem(
        &owner.call("POST", "/api/surveys", unknown).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "",
    );
    assert_eq!(problem["violations"][0]["subject"], "survey `after-visit`");
    assert_eq!(problem["violations"][0]["field"], "points[0]");
    // One that is not a survey at all: 400 with the field.
    let broken = owner
        .call(
            "POST",
            "/api/surveys",
            "key: s\nname: n\npoints: [web.order]\nquestions: [nope]\n",
        )
        .await;
    assert_eq!(
        broken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        broken.text
    );
    assert_eq!(
        viewer.get("/api/surveys").await.json()[0]["key"],
        "after-visit"
    );
    assert_eq!(
        viewer.get("/api/surveys/after-visit").await.json()["questions"][2],
        "change"
    );
    assert_problem(
        &viewer.get("/api/surveys/nope").await,
        StatusCode::NOT_FOUND,
        "survey list",
    );

    let batch = json!([
        { "id": "r1", "survey": "after-visit", "point": "web.order", "at": "2026-03-01T09:30:00Z", "answers": { "nps": 10, "csat": 5 } },
        { "id": "r1", "survey": "after-visit", "point": "web.order", "at": "2026-03-01T09:30:00Z", "answers": { "nps": 10, "csat": 5 } },
        { "id": "r2", "survey": "after-visit", "point": "web.order", "at": "2026-03-01T10:30:00Z", "answers": { "nps": 3, "change": "Faster delivery" } },
        { "id": "r3", "survey": "after-visit", "point": "web.order", "at": "2026-03-01T11:30:00Z", "answers": { "ces": 4 } }
    ]);
    assert_problem(
        &viewer
            .call("POST", "/api/responses", batch.to_string())
            .await,
        StatusCode::FORBIDDEN,
        "",
    );
    let reply = owner
        .call("POST", "/api/responses", batch.to_string())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let reply = reply.json();
    assert_eq!(
        reply["summary"],
        json!({ "accepted": 2, "duplicates": 1, "rejected": 1 })
    );
    assert_eq!(
        reply["results"][3]["reasons"][0],
        "answers.ces: the survey after-visit does not ask this question"
    );
    // The scorecard of the point carries the customers' voice.
    let card = viewer
        .get("/api/scorecards?point=web.order&from=2026-03-01&to=2026-03-02")
        .await
        .json();
    assert_eq!(card["responses"], 2);
    assert_eq!(card["nps"], 0.0, "one promoter, one detractor");
    assert_eq!(card["csat_survey"], 1.0);
    assert!(card["voice"].is_null(), "fewer than survey.min_responses");
    // The themes of the change answers, by a codebook imported through the API.
    assert_problem(
        &viewer.get("/api/codebook").await,
        StatusCode::NOT_FOUND,
        "no codebook yet",
    );
    let book =
        "version: 1\ncodes:\n  - { key: delivery, family: change, any: [deliver*, faster] }\n";
    assert_problem(
        &viewer.call("POST", "/api/codebook", book).await,
        StatusCode::FORBIDDEN,
        "",
    );
    let imported = owner.call("POST", "/api/codebook", book).await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text);
    assert_eq!(imported.json()["new"], true);
    let exported = viewer.get("/api/codebook").await;
    assert_eq!(exported.content_type, "application/yaml");
    assert_eq!(exported.text, book);
    let bad = owner
        .call(
            "POST",
            "/api/codebook",
            "version: 1\ncodes:\n  - { key: x, family: why_buy, any: [a] }\n",
        )
        .await;
    let problem = assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "");
    assert_eq!(problem["violations"][0]["field"], "codes[0].kind");
    let themes = viewer
        .get("/api/themes?point=web.order&from=2026-03-01&to=2026-03-02")
        .await
        .json();
    assert_eq!(themes["codebook"], 1, "{themes}");
    assert_eq!(
        (themes["responses"].as_u64(), themes["with_change"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(themes["themes"][0]["code"], "delivery");
    assert_eq!(themes["themes"][0]["mentions"], 1);
    // nps(R) = 0 (one 10, one 3); without the delivery answer (the 3): 100.
    assert_eq!(themes["themes"][0]["nps_impact"], -100.0);
    assert_problem(
        &viewer.get("/api/themes?point=nope").await,
        StatusCode::NOT_FOUND,
        "point `nope`",
    );
    // A body that is not responses is refused and kept, as a response's reject.
    assert_problem(
        &owner.call("POST", "/api/responses", "[1, 2").await,
        StatusCode::BAD_REQUEST,
        "kept in the rejects",
    );
    let rejects = app.get("/api/rejects").await.json();
    let sources: Vec<&str> = rejects
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["response:http", "response:http"]);
}

#[tokio::test]
async fn people_code_answers_and_say_why_customers_buy_through_the_api() {
    let app = app().await.imported().await;
    let owner = app.as_role(Some("owner"));
    let analyst = app.as_role(Some("analyst"));
    let viewer = app.as_role(Some("viewer"));
    let executive = app.as_role(Some("executive"));
    let survey =
        "key: listen\nname: Tell us\npoints: [web.order]\nquestions: [nps, change, why_buy]\n";
    assert_eq!(
        owner.call("POST", "/api/surveys", survey).await.status,
        StatusCode::OK
    );
    let batch = json!([
        { "id": "r1", "survey": "listen", "point": "web.order", "at": "2026-03-01T09:30:00Z", "party": "p1",
          "answers": { "nps": 3, "change": "Faster delivery please", "why_buy": "It is easy" } },
        { "id": "r2", "survey": "listen", "point": "web.order", "at": "2026-03-01T10:30:00Z", "party": "p2",
          "answers": { "nps": 10, "change": "Nothing", "why_buy": "Cheap" } }
    ]);
    let reply = owner
        .call("POST", "/api/responses", batch.to_string())
        .await;
    assert_eq!(reply.json()["summary"]["accepted"], 2, "{}", reply.text);
    let book = "version: 1\ncodes:\n  - { key: delivery, family: change, any: [deliver*] }\n  - { key: ease, family: why_buy, kind: interaction, any: [easy], points: [web.order] }\n  - { key: price, family: why_buy, kind: product, any: [cheap] }\n";
    assert_eq!(
        owner.call("POST", "/api/codebook", book).await.status,
        StatusCode::OK
    );
    let period = "from=2026-03-01&to=2026-03-02";
    // The coders' worklist is for analysts and above.
    assert_problem(
        &viewer.get(&format!("/api/answers?{period}")).await,
        StatusCode::FORBIDDEN,
        "",
    );
    let listed = analyst.get(&format!("/api/answers?{period}")).await.json();
    assert_eq!(listed[0]["id"], "r1");
    assert_eq!(listed[0]["tags"][0]["code"], "delivery");
    assert_eq!(listed[0]["tags"][0]["by"], "rule");
    assert!(listed[1]["tags"].as_array().unwrap().is_empty());
    // A person tags r2 and takes delivery off r1.
    let tagged = analyst
        .call(
            "POST",
            "/api/answers/r2/tags",
            json!({ "code": "delivery", "tagged": true }).to_string(),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::OK, "{}", tagged.text);
    assert_eq!(tagged.json()["tags"][0]["by"], "person");
    let untagged = analyst
        .call(
            "POST",
            "/api/answers/r1/tags",
            json!({ "code": "delivery", "tagged": false }).to_string(),
        )
        .await
        .json();
    assert!(
        untagged["tags"].as_array().unwrap().is_empty(),
        "{untagged}"
    );
    let problem = assert_problem(
        &analyst
            .call(
                "POST",
                "/api/answers/r1/tags",
                json!({ "code": "nope", "tagged": true }).to_string(),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no code `nope`",
    );
    assert_eq!(problem["violations"][0]["field"], "code");
    assert_problem(
        &analyst
            .call("POST", "/api/answers/r1/tags", "{\"code\": 1}")
            .await,
        StatusCode::BAD_REQUEST,
        "body",
    );
    assert_problem(
        &analyst
            .call(
                "POST",
                "/api/answers/zz/tags",
                json!({ "code": "delivery", "tagged": true }).to_string(),
            )
            .await,
        StatusCode::NOT_FOUND,
        "answers list",
    );
    let themes = viewer
        .get(&format!("/api/themes?point=web.order&{period}"))
        .await
        .json();
    assert_eq!(themes["themes"][0]["code"], "delivery");
    assert_eq!(themes["themes"][0]["mentions"], 1, "r2 by a person, not r1");
    // The sample and two coders' codes: they disagree on one answer of two.
    let sample = analyst
        .get("/api/answers/sample?n=5&coder=ann")
        .await
        .json();
    assert_eq!(sample.as_array().unwrap().len(), 2);
    assert!(sample[0]["given"].is_null());
    for (coder, r2) in [("ann", json!(["delivery"])), ("bob", json!([]))] {
        let reply = analyst
            .call(
                "POST",
                "/api/codings",
                json!({ "family": "change", "coder": coder, "codings": [
                    { "answer": "r1", "codes": [] }, { "answer": "r2", "codes": r2 }
                ] })
                .to_string(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let agreement = viewer.get("/api/agreement?family=change").await.json();
    assert_eq!(agreement["coders"], json!(["ann", "bob"]));
    // delivery: Po = 1/2, p1 = 1/2, p2 = 0, Pe = 1/2: kappa 0, unreliable.
    assert_eq!(agreement["codes"][0]["kappa"], 0.0);
    assert_eq!(agreement["codes"][0]["unreliable"], true);
    let themes = viewer
        .get(&format!("/api/themes?point=web.order&{period}"))
        .await
        .json();
    assert_eq!(themes["themes"][0]["unreliable"], true);
    // Why customers buy: the senior team's answers beside the customers'.
    assert_problem(
        &analyst
            .call(
                "POST",
                "/api/why-buy",
                json!({ "text": "price" }).to_string(),
            )
            .await,
        StatusCode::FORBIDDEN,
        "executives and owners",
    );
    let statement = executive
        .call(
            "POST",
            "/api/why-buy",
            json!({ "text": "Our prices are cheap" }).to_string(),
        )
        .await;
    assert_eq!(statement.status, StatusCode::OK, "{}", statement.text);
    assert_eq!(statement.json()["role"], "executive");
    let summary = viewer.get("/api/why-buy?from=2026-03-01").await.json();
    assert_eq!(summary["executives"]["coded"], 1, "{summary}");
    assert_eq!(summary["executives"]["product_share"], 1.0);
    assert_eq!(summary["customers"]["interaction_share"], 0.5);
    assert_eq!(summary["customers"]["codes"][0]["code"], "ease");
    assert_eq!(
        summary["customers"]["codes"][0]["points"],
        json!(["web.order"])
    );
    assert_eq!(summary["gap"][0]["code"], "ease");
    assert_eq!(summary["gap"][0]["gap"], -0.5);
    // Key customers and invitations are for analysts and above; forgetting is the admins'.
    assert_problem(
        &viewer.get("/api/customers").await,
        StatusCode::FORBIDDEN,
        "",
    );
    assert_eq!(analyst.get("/api/customers").await.json(), json!([]));
    assert_eq!(
        analyst.get("/api/surveys/listen/invitations").await.json(),
        json!([])
    );
    assert_problem(
        &analyst.get("/api/surveys/nope/invitations").await,
        StatusCode::NOT_FOUND,
        "",
    );
    assert_problem(
        &owner.call("POST", "/api/parties/p1/forget", "").await,
        StatusCode::FORBIDDEN,
        "",
    );
    let forgotten = app.call("POST", "/api/parties/p1/forget", "").await;
    assert_eq!(forgotten.status, StatusCode::OK, "{}", forgotten.text);
    assert_eq!(forgotten.json()["responses"], 1);
    let listed = analyst.get(&format!("/api/answers?{period}")).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "r1's texts are gone");
}

/// Events posted while a catch-up of the journeys runs are answered between its short
/// transactions (none waits a second), and the journeys come out as a catch-up without
/// interruptions would cut them: `touchbase check`'s fresh cut of the events agrees.
async fn events_are_answered_while_journeys_catch_up(
    store: Arc<dyn touchbase_store::Store>,
    app: App,
) {
    use std::time::{Duration, Instant};
    use touchbase_store::journey_days::{JourneyCut, catch_up};

    // 40,000 events of 4,000 parties over 200 days, written straight into the store (the
    // server's keeper does not know of them).
    let checker = touchbase_store::ingest::checker(&*store).await.unwrap();
    let points = ["web.order", "workshop.booking"];
    let start = 20_513_i64 * 86_400; // 2026-03-01
    for chunk in 0..20 {
        let inputs: Vec<touchbase_store::ingest::Input> = (0..2_000)
            .map(|i| {
                let n = chunk * 2_000 + i;
                let at = start + (n * 7_919 % (200 * 86_400));
                let event = json!({
                    "id": format!("bulk-{n}"),
                    "point": points[n as usize % 2],
                    "at": jiff::Timestamp::from_second(at).unwrap().to_string(),
                    "party": format!("p-{}", n % 4_000),
                    "value": { "company": (n % 5) as f64 - 1.0 },
                });
                touchbase_store::ingest::Input::new(event.to_string(), "test")
            })
            .collect();
        touchbase_store::ingest::ingest(&*store, &Actor::local_admin(), &checker, &inputs)
            .await
            .unwrap();
    }
    let inventory = touchbase_store::inventory::get(&*store)
        .await
        .unwrap()
        .value;
    let cut = JourneyCut::of(&inventory);
    let running = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { catch_up(&*store, &cut).await.unwrap() })
    };
    let owner = app.as_role(Some("owner"));
    let mut during = Vec::new();
    let mut n = 0;
    while !running.is_finished() {
        let event = json!({
            "id": format!("during-{n}"),
            "point": "web.order",
            "at": jiff::Timestamp::from_second(start + n * 3_600).unwrap().to_string(),
            "party": format!("p-{}", n % 4_000),
        });
        let sent = Instant::now();
        let reply = owner.call("POST", "/api/events", event.to_string()).await;
        during.push(sent.elapsed());
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        n += 1;
    }
    let done = running.await.unwrap();
    assert!(
        done.steps > 2,
        "a catch-up of 40,000 events in {} steps",
        done.steps
    );
    assert!(
        !during.is_empty(),
        "no event was posted during the catch-up"
    );
    let slowest = during.iter().max().unwrap();
    assert!(
        *slowest < Duration::from_secs(1),
        "{} events posted during a catch-up of {} steps (the longest {} ms): the slowest waited {} ms",
        during.len(),
        done.steps,
        done.longest.as_millis(),
        slowest.as_millis()
    );
    // The events posted meanwhile join at the next catch-up, which check runs first.
    let report = touchbase_store::check::check(&*store, &Actor::local_admin())
        .await
        .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.checked.journeys > 4_000, "{:?}", report.checked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_answered_while_journeys_catch_up_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn touchbase_store::Store> =
        Arc::new(SqliteStore::open(dir.path().join("c.db")).unwrap());
    let app = app_on(Arc::clone(&store), ServerConfig::default(), Arc::new(dir))
        .await
        .imported()
        .await;
    events_are_answered_while_journeys_catch_up(store, app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_answered_while_journeys_catch_up_on_postgres() {
    let databases = touchbase_store_postgres::test_support::TestDatabases::new();
    let url = databases.fresh().await;
    let store: Arc<dyn touchbase_store::Store> = Arc::new(
        touchbase_store_postgres::PostgresStore::connect(&url)
            .await
            .unwrap(),
    );
    let app = app_on(
        Arc::clone(&store),
        ServerConfig::default(),
        Arc::new(databases),
    )
    .await
    .imported()
    .await;
    events_are_answered_while_journeys_catch_up(store, app).await;
}
