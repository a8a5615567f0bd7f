//! The application on a fresh embedded store, driven through the router without a socket, with
//! a token of each role; and the API document's answers as JSON Schemas to check replies with.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use touchbase_core::{Actor, Role};
use touchbase_server::{AppState, ServerConfig, router};
use touchbase_store::access;
use touchbase_store_sqlite::SqliteStore;
use tower::ServiceExt;

pub const SMALL: &str = include_str!("../../../touchbase-store/src/conformance/small.yaml");

pub const ROLES: [(&str, Role); 5] = [
    ("viewer", Role::Viewer),
    ("analyst", Role::Analyst),
    ("owner", Role::Owner),
    ("executive", Role::Executive),
    ("admin", Role::Admin),
];

pub struct App {
    pub router: Router,
    pub tokens: BTreeMap<&'static str, String>,
    /// The token `call` sends; `None` sends none.
    pub token: Option<String>,
    _dir: Arc<tempfile::TempDir>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub content_type: String,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

pub async fn app_with(config: ServerConfig) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("api.db")).unwrap());
    let mut tokens = BTreeMap::new();
    for (name, role) in ROLES {
        let issued = access::add_user(
            &*store,
            &Actor::local_admin(),
            name,
            role,
            vec!["ecommerce".to_owned()],
        )
        .await
        .unwrap();
        tokens.insert(name, issued.secret);
    }
    let token = Some(tokens["admin"].clone());
    App {
        router: router(AppState::new(store, &config), &config),
        tokens,
        token,
        _dir: Arc::new(dir),
    }
}

pub async fn app() -> App {
    app_with(ServerConfig::default()).await
}

/// The application with the small inventory imported.
pub async fn imported() -> App {
    let app = app().await;
    let reply = app
        .call("POST", "/api/inventory/import?baseline=true", SMALL)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    app
}

impl App {
    pub fn as_role(&self, role: Option<&str>) -> App {
        App {
            router: self.router.clone(),
            tokens: self.tokens.clone(),
            token: role.map(|r| self.tokens[r].clone()),
            _dir: Arc::clone(&self._dir),
        }
    }

    pub async fn call(&self, method: &str, uri: &str, body: impl Into<Body>) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(body.into()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            content_type,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, Body::empty()).await
    }
}

/// Checks `reply` is a problem document of `status` whose detail holds `detail`; returns it.
pub fn assert_problem(reply: &Reply, status: StatusCode, detail: &str) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(
        reply.content_type, "application/problem+json",
        "{}",
        reply.text
    );
    let problem = reply.json();
    assert_eq!(problem["status"], status.as_u16(), "{problem}");
    assert_eq!(
        problem["title"],
        status.canonical_reason().unwrap(),
        "{problem}"
    );
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:touchbase:problem:"),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains(detail),
        "{problem}"
    );
    problem
}

/// The API document as the server gives it.
pub fn document() -> Value {
    use utoipa::OpenApi;
    serde_json::to_value(touchbase_server::ApiDoc::openapi()).unwrap()
}

/// A JSON pointer's token for `s`, as it stands in a URI fragment.
fn escape(s: &str) -> String {
    s.replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// Checks `reply` against what `doc` says operation `method path` answers: its status is
/// declared, with its content type, and the body fits the declared schema.
pub fn assert_documented(doc: &Value, method: &str, path: &str, reply: &Reply) {
    let what = format!("{method} {path} answered {}", reply.status.as_u16());
    let operation = &doc["paths"][path][method.to_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {path} is not in the document"
    );
    let status = reply.status.as_u16().to_string();
    let mut response = &operation["responses"][&status];
    let mut pointer = format!(
        "#/paths/{}/{}/responses/{status}",
        escape(path),
        method.to_lowercase()
    );
    assert!(
        response.is_object(),
        "{what}, which the document does not declare: {}",
        reply.text
    );
    if let Some(reference) = response["$ref"].as_str() {
        pointer = reference.to_owned();
        let name = reference.rsplit('/').next().unwrap();
        response = &doc["components"]["responses"][name];
    }
    let media = reply.content_type.split(';').next().unwrap().trim();
    let content = &response["content"];
    if reply.text.is_empty() && content.is_null() {
        return;
    }
    assert!(
        content[media].is_object(),
        "{what} as {media}, which the document does not declare (it declares {content})"
    );
    if !media.ends_with("json") {
        return;
    }
    let mut schema = doc.clone();
    schema["$ref"] = Value::String(format!("{pointer}/content/{}/schema", escape(media)));
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{what}: the declared schema does not compile: {e}"));
    let body = reply.json();
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} with a body the document does not describe:\n{}\n{body}",
        errors.join("\n")
    );
}
