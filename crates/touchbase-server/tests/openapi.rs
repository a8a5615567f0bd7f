//! The OpenAPI document is true: real answers of the API fit what it declares (status, content
//! type, schema), the error answers are declared as problem documents, and what needs no token
//! says so. (`.ci/schemathesis.sh` checks the same over every operation with generated inputs.)

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{assert_documented, document, imported};

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    out
}

#[test]
fn point_status_and_event_status_are_two_schemas() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let point = schemas["PointStatus"]["enum"].as_array().unwrap();
    assert!(point.contains(&json!("live")) && !point.contains(&json!("accepted")));
    let event = schemas["EventStatus"]["enum"].as_array().unwrap();
    assert!(event.contains(&json!("accepted")) && !event.contains(&json!("live")));
    assert!(
        schemas.get("Status").is_none(),
        "a schema named only Status is ambiguous"
    );
    // The points' filter offers point statuses.
    let status = doc["paths"]["/api/points"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "status")
        .unwrap();
    assert!(status.to_string().contains("PointStatus"), "{status}");
}

#[test]
fn health_and_the_document_need_no_token_and_everything_else_does() {
    let doc = document();
    assert_eq!(doc["security"], json!([{ "bearer": [] }]));
    for (method, path, operation) in operations(&doc) {
        let public = path == "/healthz" || path == "/api/openapi.json";
        if public {
            assert_eq!(operation["security"], json!([]), "{method} {path}");
            assert!(
                operation["responses"].get("401").is_none(),
                "{method} {path}"
            );
        } else {
            assert!(operation.get("security").is_none(), "{method} {path}");
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path} lacks 401"
            );
        }
    }
}

#[test]
fn every_error_answer_is_declared_as_a_problem_document() {
    let doc = document();
    let responses = &doc["components"]["responses"];
    for (method, path, operation) in operations(&doc) {
        let has_params = operation["parameters"]
            .as_array()
            .is_some_and(|p| !p.is_empty());
        let in_path = path.contains('{');
        let has_body = operation.get("requestBody").is_some();
        if has_params || has_body {
            assert!(
                operation["responses"]["400"].is_object(),
                "{method} {path} lacks 400"
            );
        }
        if in_path {
            assert!(
                operation["responses"]["404"].is_object(),
                "{method} {path} lacks 404"
            );
        }
        if has_body {
            assert!(
                operation["responses"]["413"].is_object(),
                "{method} {path} lacks 413"
            );
        }
        for (status, response) in operation["responses"].as_object().unwrap() {
            if !status.starts_with('4') && !status.starts_with('5') {
                continue;
            }
            let response = match response["$ref"].as_str() {
                Some(r) => &responses[r.rsplit('/').next().unwrap()],
                None => response,
            };
            let content = response["content"].as_object().unwrap();
            assert_eq!(
                content.keys().collect::<Vec<_>>(),
                ["application/problem+json"],
                "{method} {path} {status}"
            );
            assert_eq!(
                content["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem"
            );
        }
    }
}

/// Answers of the kinds the document once described wrongly, checked against it.
#[tokio::test]
async fn real_answers_fit_the_document() {
    let doc = document();
    let app = imported().await;
    let owner = app.as_role(Some("owner"));

    let reply = app.get("/api/points").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_documented(&doc, "GET", "/api/points", &reply);
    let reply = app.get("/api/points/web.order").await;
    assert_documented(&doc, "GET", "/api/points/{key}", &reply);

    let events = json!([
        { "point": "web.order", "at": "2026-03-01T09:30:00Z" },
        { "point": "sms.promo", "at": "2026-03-01T09:30:00Z" },
        { "point": "nowhere", "at": "2026-03-01T09:30:00Z" }
    ]);
    let reply = owner.call("POST", "/api/events", events.to_string()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_documented(&doc, "POST", "/api/events", &reply);

    // The audit trail holds whole documents and a business function's bare name.
    let reply = app.get("/api/audit").await;
    assert_eq!(reply.status, StatusCode::OK);
    let records = reply.json();
    assert!(
        records
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["after"].is_string()),
        "the small inventory's functions are on the trail: {records}"
    );
    assert_documented(&doc, "GET", "/api/audit", &reply);

    for uri in [
        "/api/scorecards",
        "/api/scorecards?by=month&from=2026-01-01&to=2026-04-01",
    ] {
        let reply = app.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        assert_documented(&doc, "GET", "/api/scorecards", &reply);
    }
    for format in ["html", "md", "json"] {
        let reply = app.get(&format!("/api/report?format={format}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{format}: {}", reply.text);
        assert_documented(&doc, "GET", "/api/report", &reply);
    }

    // Errors, each as declared.
    let cases = [
        ("GET", "/api/points", "/api/points?status=accepted", None),
        ("GET", "/api/points/{key}", "/api/points/no.such", None),
        ("GET", "/api/proposals/{id}", "/api/proposals/x", None),
        ("GET", "/api/audit", "/api/audit", Some("viewer")),
        ("GET", "/api/me", "/api/me", Some("nobody")),
    ];
    for (method, path, uri, role) in cases {
        let app = match role {
            Some("nobody") => app.as_role(None),
            other => app.as_role(other.or(Some("admin"))),
        };
        let reply = app.call(method, uri, "").await;
        assert!(reply.status.is_client_error(), "{uri}: {}", reply.status);
        assert_documented(&doc, method, path, &reply);
    }
    let reply = app.call("PUT", "/api/points/web.order", "{}").await;
    // Without `If-Match` a replace is refused before its body is judged (428).
    assert_eq!(
        reply.status,
        StatusCode::PRECONDITION_REQUIRED,
        "{}",
        reply.text
    );
    assert_documented(&doc, "PUT", "/api/points/{key}", &reply);

    let reply = app.as_role(None).get("/healthz").await;
    assert_documented(&doc, "GET", "/healthz", &reply);
}

/// utoipa names a schema after its type (or its `schema(as = …)`) and keeps only the last of
/// two with one name, silently: every type of the workspace that derives `ToSchema` must have
/// a name of its own.
#[test]
fn no_two_schemas_share_a_name() {
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for member in std::fs::read_dir(&crates).unwrap() {
        let src = member.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    let mut names: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !(line.trim_start().starts_with("#[") && line.contains("ToSchema")) {
                continue;
            }
            let mut renamed = None;
            for next in &lines[i..(i + 12).min(lines.len())] {
                if let Some(at) = next.find("schema(as = ") {
                    let rest = &next[at + "schema(as = ".len()..];
                    renamed = Some(rest[..rest.find(')').unwrap()].trim().to_owned());
                }
                let words: Vec<&str> = next.split_whitespace().collect();
                if let Some(k) = words.iter().position(|w| *w == "struct" || *w == "enum") {
                    let name = words[k + 1]
                        .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '_')
                        .split('<')
                        .next()
                        .unwrap()
                        .to_owned();
                    names
                        .entry(renamed.take().unwrap_or(name))
                        .or_default()
                        .push(format!("{}:{}", file.display(), i + 1));
                    break;
                }
            }
        }
    }
    assert!(names.len() > 50, "found only {names:?}");
    let shared: Vec<_> = names.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(shared.is_empty(), "schema names used twice: {shared:#?}");
}

/// The standing orders' answers, with an order and runs on record, as declared.
#[tokio::test]
async fn standing_order_answers_fit_the_document() {
    let doc = document();
    // SMALL with a live point repeating each rider's first web order weekly (a first
    // import as a baseline applies at once).
    let automated = support::SMALL.replacen(
        "points:\n",
        "points:\n  - key: auto.order\n    name: Weekly parts\n    description: Repeats the first order\n    party: rider\n    function: sales\n    process: order-to-cash\n    step: order\n    channel: web\n    mode: machine\n    facets: [product]\n    contract: { type: object }\n    value: { company: Repeat baskets, party: No reordering }\n    strategic_value: high\n    rationale: Repeat orders\n    owner: ecommerce\n    departments: [sales]\n    status: live\n    standing: { from: web.order, items: data.basket, schedule: FREQ=WEEKLY, cutoff: 24h, consent: implied, endpoint: fulfilment, edit_point: workshop.booking }\n",
        1,
    );
    let app = support::app().await;
    let reply = app
        .call("POST", "/api/inventory/import?baseline=true", automated)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let order = json!([{ "point": "web.order", "at": "2026-03-02T10:00:00Z", "party": "r-1",
        "data": { "email": "r@example.org", "basket": [{ "sku": "lube", "qty": 1, "price": 6.5 }] } }]);
    let reply = app.call("POST", "/api/events", order.to_string()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    let reply = app.get("/api/standing").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_documented(&doc, "GET", "/api/standing", &reply);
    let id = reply.json()["orders"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.json()["counts"]["active"], 1);
    let reply = app.call("POST", "/api/standing/run", "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_documented(&doc, "POST", "/api/standing/run", &reply);
    assert!(
        reply.json()["sent"].as_u64().unwrap() > 30,
        "{}",
        reply.text
    );
    let reply = app.get("/api/standing/runs?limit=5").await;
    assert_eq!(reply.json().as_array().unwrap().len(), 5);
    assert_documented(&doc, "GET", "/api/standing/runs", &reply);
    let reply = app.get(&format!("/api/standing/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_documented(&doc, "GET", "/api/standing/{id}", &reply);
    let owner = app.as_role(Some("owner"));
    let reply = owner
        .call("POST", &format!("/api/standing/{id}/pause"), "")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_documented(&doc, "POST", "/api/standing/{id}/{action}", &reply);
    assert_eq!(reply.json()["order"]["status"], "paused");

    // Errors, each as declared: a viewer may not read orders, a paused order is not paused
    // again, no such order, no such action, no such status.
    let viewer = app.as_role(Some("viewer"));
    let reply = viewer.get("/api/standing").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_documented(&doc, "GET", "/api/standing", &reply);
    let reply = owner
        .call("POST", &format!("/api/standing/{id}/pause"), "")
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_documented(&doc, "POST", "/api/standing/{id}/{action}", &reply);
    let reply = owner.call("POST", "/api/standing/so_none/resume", "").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_documented(&doc, "POST", "/api/standing/{id}/{action}", &reply);
    let reply = owner
        .call("POST", &format!("/api/standing/{id}/explode"), "")
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = app.get("/api/standing?status=gone").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_documented(&doc, "GET", "/api/standing", &reply);
}
