//! The API driven as a client would, through the router without a socket (and once through a
//! real socket, for `serve` and its graceful shutdown), on a fresh embedded store per test.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use touchbase_core::file;
use touchbase_server::{AppState, ServerConfig, router};
use touchbase_store_sqlite::SqliteStore;
use tower::ServiceExt;

const SMALL: &str = include_str!("../../touchbase-store/src/conformance/small.yaml");

struct App {
    router: Router,
    _dir: tempfile::TempDir,
}

fn app_with(config: ServerConfig) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("api.db")).unwrap();
    App {
        router: router(
            AppState {
                store: Arc::new(store),
            },
            &config,
        ),
        _dir: dir,
    }
}

fn app() -> App {
    app_with(ServerConfig::default())
}

struct Reply {
    status: StatusCode,
    content_type: String,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl App {
    async fn call(&self, method: &str, uri: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(body.into())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            content_type,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, Body::empty()).await
    }

    async fn imported(self) -> App {
        let reply = self.call("POST", "/api/inventory/import", SMALL).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        self
    }
}

fn point_json(key: &str) -> Value {
    let inventory = file::parse_inventory(SMALL).unwrap();
    let mut point = serde_json::to_value(inventory.point("web.order").unwrap()).unwrap();
    point["key"] = json!(key);
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
    let reply = app().get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({ "status": "ok", "store": "sqlite" }));
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let reply = app().get("/api/openapi.json").await;
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
    ] {
        assert!(
            paths.iter().any(|p| *p == path),
            "{path} is missing from {paths:?}"
        );
    }
    assert!(doc["components"]["schemas"]["Point"].is_object());
}

#[tokio::test]
async fn empty_store_says_how_to_start() {
    let reply = app().get("/api/inventory").await;
    assert_problem(&reply, StatusCode::CONFLICT, "touchbase init");
}

#[tokio::test]
async fn dry_run_import_changes_nothing_then_import_applies() {
    let app = app();
    let plan = app
        .call("POST", "/api/inventory/import?dry_run=true", SMALL)
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
    let plan = plan.json();
    assert_eq!(plan["dry_run"], true);
    // 1 organization, 6 functions, 2 processes, 2 parties, 3 points.
    assert_eq!(plan["added"], 14, "{plan}");
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
        .call("POST", "/api/inventory/import", SMALL)
        .await
        .json();
    assert_eq!(
        (again["added"].as_u64(), again["changed"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn import_of_a_broken_file_names_the_point_and_field() {
    let app = app();
    let broken = SMALL.replace("mode: hybrid", "mode: telepathic");
    let problem = assert_problem(
        &app.call("POST", "/api/inventory/import", broken).await,
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
    let app = app().imported().await;
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
    let app = app().imported().await;
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
    let put = app
        .call("PUT", "/api/points/kiosk.order", changed.to_string())
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(
        app.get("/api/points/kiosk.order").await.json()["expected"]["cost"],
        0.9
    );

    let problem = assert_problem(
        &app.call("PUT", "/api/points/web.order", changed.to_string())
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
    let app = app().imported().await;
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
    let app = app_with(ServerConfig { body_limit: 1024 });
    let reply = app
        .call("POST", "/api/inventory/import", "#".repeat(4096))
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn dashboard_is_served() {
    let reply = app().get("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.content_type.starts_with("text/html"));
    assert!(reply.text.contains("/api/inventory"));
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
            AppState { store },
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
