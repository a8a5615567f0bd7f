//! What one client may cost the server: bodies nested too deep, measurements too large, rejects
//! too long, lists too long, connections too many or too slow. Driven through the router (and
//! through real sockets for the connections), on a fresh embedded store per test.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use touchbase_core::{Actor, Role};
use touchbase_server::connections::Limits;
use touchbase_server::{AppState, ServerConfig, router};
use touchbase_store::access;
use touchbase_store_sqlite::SqliteStore;
use tower::ServiceExt;

const SMALL: &str = include_str!("../../touchbase-store/src/conformance/small.yaml");

struct App {
    router: Router,
    tokens: std::collections::BTreeMap<&'static str, String>,
    _dir: Arc<tempfile::TempDir>,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn detail(&self) -> String {
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{}",
            self.text
        );
        self.json()["detail"].as_str().unwrap().to_owned()
    }
}

async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("limits.db")).unwrap());
    let mut tokens = std::collections::BTreeMap::new();
    for (name, role) in [("viewer", Role::Viewer), ("admin", Role::Admin)] {
        let issued = access::add_user(&*store, &Actor::local_admin(), name, role, vec![])
            .await
            .unwrap();
        tokens.insert(name, issued.secret);
    }
    let config = ServerConfig::default();
    App {
        router: router(AppState::new(store, &config), &config),
        tokens,
        _dir: Arc::new(dir),
    }
}

impl App {
    async fn call(&self, role: &str, method: &str, uri: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.tokens[role]),
            )
            .body(body.into())
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

    async fn get(&self, role: &str, uri: &str) -> Reply {
        self.call(role, "GET", uri, Body::empty()).await
    }

    async fn imported(self) -> App {
        let reply = self
            .call(
                "admin",
                "POST",
                "/api/inventory/import?baseline=true",
                SMALL,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        self
    }
}

/// The attack's body: 100,000 nested flow sequences, 200 KB.
fn yaml_bomb() -> String {
    format!(
        "organization: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    )
}

/// The bomb is refused at once, naming the rule, before the YAML parser sees it (it cost a
/// minute of CPU there), and a viewer is refused by role before the body is even read.
#[tokio::test]
async fn an_inventory_nested_too_deep_is_refused_before_it_is_parsed() {
    let app = app().await;
    let reply = app
        .call("admin", "POST", "/api/inventory/import", yaml_bomb())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    let detail = reply.detail();
    assert!(
        detail.contains("more than 64 levels deep (line 1)"),
        "{detail}"
    );

    let reply = app
        .call("viewer", "POST", "/api/inventory/import", yaml_bomb())
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);

    // A body that never ends: a viewer's import is refused without waiting for it.
    let endless = Body::from_stream(futures_util::stream::pending::<
        Result<Vec<u8>, std::io::Error>,
    >());
    let refused = tokio::time::timeout(
        Duration::from_secs(30),
        app.call("viewer", "POST", "/api/inventory/import", endless),
    )
    .await
    .expect("the role is checked before the body is read");
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The rules file goes through the same check.
    let rules = format!("key: r\nwhen: {}\n", "{a: ".repeat(100));
    let reply = app.call("admin", "POST", "/api/rules", rules).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(
        reply.detail().contains("more than 64 levels"),
        "{}",
        reply.text
    );
}

/// One viewer's request for every day of two centuries by point is refused naming the bound;
/// so is a period before 1970 or years ahead; a large answer within the bounds is streamed.
#[tokio::test]
async fn scorecard_requests_are_bounded_and_large_answers_streamed() {
    let app = app().await.imported().await;
    let reply = app
        .get(
            "viewer",
            "/api/scorecards?from=1900-01-01&to=2100-01-01&by=day&all=point",
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(
        reply
            .detail()
            .starts_with("from: must be 1970-01-01 or later"),
        "{}",
        reply.text
    );
    let reply = app
        .get(
            "viewer",
            "/api/scorecards?from=2000-01-01&to=2100-01-01&by=day",
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(reply.detail().starts_with("to: must be "), "{}", reply.text);
    for uri in [
        "/api/portfolio?from=1900-01-01",
        "/api/journeys?from=1900-01-01",
        "/api/quality?from=1900-01-01",
        "/api/report?from=1900-01-01&format=json",
    ] {
        let reply = app.get("admin", uri).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            reply.text
        );
        assert!(
            reply.detail().contains("1970-01-01"),
            "{uri}: {}",
            reply.text
        );
    }

    let reply = app
        .get(
            "viewer",
            "/api/scorecards?from=1970-01-01&to=2026-01-01&by=day&all=point",
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    let detail = reply.detail();
    assert!(
        detail.starts_with("by/all: ask for at most 10000 scorecards in one request"),
        "{detail}"
    );

    // Within the bound: the cards are all there, written out as a stream.
    let request = Request::builder()
        .uri("/api/scorecards?from=2026-01-01&to=2026-07-01&by=day&all=mode")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", app.tokens["viewer"]),
        )
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let body = response.into_body();
    assert_eq!(
        axum::body::HttpBody::size_hint(&body).exact(),
        None,
        "a large answer is streamed, not built whole"
    );
    let bytes = body.collect().await.unwrap().to_bytes();
    let cards: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(cards.len(), 181 * 3);
}

/// A long body that is not events is kept as its head, its length and its hash; the rejects
/// come in pages with a `Link` to the next.
#[tokio::test]
async fn long_rejects_are_kept_as_their_head_and_lists_are_paged() {
    let app = app().await.imported().await;
    let long = "x".repeat(1_000_000);
    let reply = app.call("admin", "POST", "/api/events", long.clone()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    for i in 0..4 {
        let reply = app
            .call("admin", "POST", "/api/events", format!("not json {i}"))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }
    let reply = app.get("admin", "/api/rejects?limit=2").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let page = reply.json();
    assert_eq!(page.as_array().unwrap().len(), 2);
    let first = &page[0];
    assert_eq!(first["raw"].as_str().unwrap().len(), 65_536);
    assert_eq!(first["length"], 1_000_000);
    assert_eq!(first["truncated"], true);
    assert_eq!(first["replayable"], false);
    assert_eq!(first["sha256"].as_str().unwrap().len(), 64);

    let mut seen = page.as_array().unwrap().len();
    let mut link = reply.headers.get(header::LINK).cloned();
    while let Some(next) = link {
        let next = next.to_str().unwrap();
        let uri = next
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("{next}"));
        assert!(uri.starts_with("/api/rejects?limit=2&cursor="), "{uri}");
        let reply = app.get("admin", uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        seen += reply.json().as_array().unwrap().len();
        link = reply.headers.get(header::LINK).cloned();
    }
    assert_eq!(seen, 5);

    // The other lists page the same way, and name what breaks the rule.
    let reply = app.get("admin", "/api/points?limit=1").await;
    assert_eq!(reply.json().as_array().unwrap().len(), 1);
    assert!(reply.headers.contains_key(header::LINK));
    for uri in [
        "/api/points?limit=0",
        "/api/rejects?limit=1001",
        "/api/audit?limit=x",
        "/api/proposals?limit=100000",
        "/api/undocumented?limit=-1",
    ] {
        let reply = app.get("admin", uri).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            reply.text
        );
        assert!(
            reply
                .detail()
                .starts_with("limit: must be a whole number from 1 to"),
            "{uri}"
        );
    }
    let reply = app.get("admin", "/api/audit?cursor=nonsense!").await;
    assert!(reply.detail().starts_with("cursor: "), "{}", reply.text);
}

/// Serves on a real socket with small limits; answers the address, an admin's token and a stop.
async fn serve_with(
    limits: Limits,
) -> (
    std::net::SocketAddr,
    String,
    tokio::sync::oneshot::Sender<()>,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("s.db")).unwrap());
    let token = access::add_user(&*store, &Actor::local_admin(), "admin", Role::Admin, vec![])
        .await
        .unwrap()
        .secret;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServerConfig {
        connections: limits,
        ..ServerConfig::default()
    };
    tokio::spawn(async move {
        let _dir = dir;
        let shutdown = async {
            let _ = stopped.await;
        };
        touchbase_server::serve(listener, AppState::new(store, &config), &config, shutdown).await
    });
    (address, token, stop)
}

async fn healthz(address: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// Reads until the server closes the connection (or resets it); what came before.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Idle connections up to the server's bound, a client that sends its request head a byte at
/// a time and one that never finishes its body: each is cut after its timeout, and `/healthz`
/// answers meanwhile (at once below the bound, once the idle ones are cut above it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_clients_are_cut_and_the_server_stays_reachable() {
    let limits = Limits {
        max_connections: 8,
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
    };
    let (address, token, _stop) = serve_with(limits).await;
    let deadline = Duration::from_secs(30);

    // Below the bound: healthz answers beside idle connections.
    let mut idle = Vec::new();
    for _ in 0..7 {
        idle.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    let answer = tokio::time::timeout(deadline, healthz(address))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // At the bound: the idle ones are cut after the header timeout, then healthz answers.
    idle.push(tokio::net::TcpStream::connect(address).await.unwrap());
    let answer = tokio::time::timeout(deadline, healthz(address))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for stream in &mut idle {
        tokio::time::timeout(deadline, until_closed(stream))
            .await
            .expect("an idle connection is closed");
    }

    // A slow request head (slowloris): cut, though it keeps sending.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let trickle = async {
        for _ in 0..100 {
            if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    assert!(
        tokio::time::timeout(deadline, trickle).await.unwrap(),
        "a client sending its head slowly is cut"
    );

    // A body that never arrives in full: the request fails and the connection is closed.
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 100\r\n\r\n["
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::timeout(deadline, until_closed(&mut stream))
        .await
        .expect("a body that does not arrive in time is cut");

    let answer = tokio::time::timeout(deadline, healthz(address))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
