//! Every error answer is an RFC 9457 problem document (`application/problem+json`) that names
//! what was wrong: a query parameter or path segment that breaks its rule, a body over the
//! limit, a route that does not exist, a method the route does not have.

mod support;

use axum::http::{StatusCode, header};
use support::{app, app_with, assert_problem, imported};
use touchbase_server::ServerConfig;

/// The one violation a parameter problem lists: (subject, field, rule).
fn violation(problem: &serde_json::Value) -> (String, String, String) {
    let violations = problem["violations"].as_array().expect("violations");
    assert_eq!(violations.len(), 1, "{problem}");
    let v = &violations[0];
    (
        v["subject"].as_str().unwrap().to_owned(),
        v["field"].as_str().unwrap().to_owned(),
        v["rule"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_bad_query_parameter_is_named_with_its_rule() {
    let app = imported().await;
    // (uri, parameter, words of the rule)
    let cases = [
        ("/api/points?status=accepted", "status", "`accepted`"),
        (
            "/api/points?status=live&status=retired",
            "status",
            "duplicate",
        ),
        ("/api/points?mode=robot", "mode", "`machine`"),
        (
            "/api/inventory/import?dry_run=maybe",
            "dry_run",
            "`true` or `false`",
        ),
        ("/api/report?journeys=ten", "journeys", "`ten`"),
        ("/api/rules/test?samples=-1", "samples", "`-1`"),
        ("/api/deliveries?limit=lots", "limit", "`lots`"),
    ];
    for (uri, parameter, rule) in cases {
        let method = if uri.contains("import") || uri.contains("rules/test") {
            "POST"
        } else {
            "GET"
        };
        let reply = app.call(method, uri, "").await;
        let problem = assert_problem(
            &reply,
            StatusCode::BAD_REQUEST,
            &format!("query parameter `{parameter}`"),
        );
        let (subject, field, said) = violation(&problem);
        assert_eq!(subject, "query parameters", "{uri}");
        assert_eq!(field, parameter, "{uri}: {problem}");
        assert!(said.contains(rule), "{uri}: {said}");
    }
    // A valid filter still filters.
    let reply = app.get("/api/points?status=live").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn a_bad_path_segment_is_named_with_its_rule() {
    let app = imported().await;
    let reply = app.get("/api/proposals/first").await;
    let problem = assert_problem(&reply, StatusCode::BAD_REQUEST, "path parameter `id`");
    let (subject, field, rule) = violation(&problem);
    assert_eq!(
        (subject.as_str(), field.as_str()),
        ("path parameters", "id")
    );
    assert_eq!(rule, "must be a whole number of 0 or more, got `first`");
    let reply = app.get("/api/proposals/-3").await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "got `-3`");
    // A segment that is not UTF-8 once percent-decoded.
    let reply = app.get("/api/points/%FF%FE").await;
    let problem = assert_problem(&reply, StatusCode::BAD_REQUEST, "path parameter `key`");
    assert!(violation(&problem).2.contains("UTF-8"), "{problem}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_problem_naming_the_limit() {
    let app = app_with(ServerConfig {
        body_limit: 1024,
        ..ServerConfig::default()
    })
    .await;
    for uri in ["/api/inventory/import", "/api/events", "/api/points"] {
        let reply = app.call("POST", uri, "#".repeat(4096)).await;
        assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "limit of 1024 bytes");
    }
}

#[tokio::test]
async fn an_unknown_route_is_a_problem_naming_it() {
    let app = app().await;
    for token in [true, false] {
        let app = app.as_role(token.then_some("viewer"));
        let reply = app.get("/api/nothing-here").await;
        assert_problem(
            &reply,
            StatusCode::NOT_FOUND,
            "no such route: GET /api/nothing-here",
        );
        let reply = app.call("POST", "/api/points/a/b/c", "").await;
        assert_problem(&reply, StatusCode::NOT_FOUND, "POST /api/points/a/b/c");
    }
}

#[tokio::test]
async fn a_method_the_route_lacks_is_a_problem_with_allow() {
    let app = imported().await;
    // (method, uri, what Allow lists)
    let cases = [
        ("DELETE", "/api/points", "GET,HEAD,POST"),
        ("PATCH", "/api/points/web.order", "GET,HEAD,PUT"),
        ("POST", "/healthz", "GET,HEAD"),
        ("PUT", "/api/openapi.json", "GET,HEAD"),
    ];
    for (method, uri, allowed) in cases {
        let reply = app.call(method, uri, "").await;
        let problem = assert_problem(
            &reply,
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not allowed on {uri}"),
        );
        let allow = reply.headers[header::ALLOW]
            .to_str()
            .unwrap()
            .replace(' ', "");
        let mut allow: Vec<&str> = allow.split(',').collect();
        allow.sort_unstable();
        assert_eq!(allow.join(","), allowed, "{method} {uri}");
        assert_eq!(problem["type"], "urn:touchbase:problem:method-not-allowed");
    }
}

/// Errors the handlers make were problem documents already, and stay so.
#[tokio::test]
async fn handler_errors_stay_problem_documents() {
    let app = imported().await;
    assert_problem(
        &app.as_role(None).get("/api/points").await,
        StatusCode::UNAUTHORIZED,
        "Authorization: Bearer",
    );
    assert_problem(
        &app.as_role(Some("viewer")).get("/api/audit").await,
        StatusCode::FORBIDDEN,
        "this needs the role",
    );
    assert_problem(
        &app.get("/api/points/no.such").await,
        StatusCode::NOT_FOUND,
        "no.such",
    );
    assert_problem(
        &app.get("/api/scorecards?by=year").await,
        StatusCode::BAD_REQUEST,
        "by: must be one of day, week, month",
    );
}
