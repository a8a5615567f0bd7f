//! What every operation of the OpenAPI document shares, added to the document the handlers'
//! annotations make: the bearer token (all but the public operations need it) and the error
//! answers that come from the route's shape rather than from its handler — 401 without a valid
//! token, 403 where a role may be refused, 400 for a parameter or body that breaks its rule,
//! 404 for a path naming nothing, 413 for a body over the limit, 429 after too many failed
//! authentications, 503 while the database is unavailable and 507 (writes) when its disk is
//! full, the last three with `Retry-After` — each a problem document
//! (`application/problem+json`), as every error answer is.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};

use crate::problem::PROBLEM_JSON;

/// The operations anyone may call, without a token.
const PUBLIC: [&str; 2] = ["healthz", "openapi"];

/// The operations every role may call (they need only `read`): no token is refused them once
/// it is valid. Every other operation may answer 403.
const EVERY_ROLE: [&str; 12] = [
    "me",
    "get_inventory",
    "get_organization",
    "list_processes",
    "list_parties",
    "list_points",
    "get_point",
    "scorecards",
    "portfolio",
    "journeys",
    "get_settings",
    "metrics",
];

/// The shared error answers: status, name in `components.responses`, description.
const SHARED: [(&str, &str, &str); 8] = [
    (
        "400",
        "BadRequest",
        "A parameter or the body breaks its rule: the detail names it (and `violations` does, for a query or path parameter)",
    ),
    (
        "401",
        "Unauthorized",
        "No token, or one that is unknown or revoked: send `Authorization: Bearer TOKEN`",
    ),
    (
        "403",
        "Forbidden",
        "The token's role may not do this: the detail names the roles that may",
    ),
    ("404", "NotFound", "Nothing has that key or id"),
    (
        "413",
        "TooLarge",
        "The body is over the server's limit (`touchbase serve --body-limit`)",
    ),
    (
        "429",
        "TooManyRequests",
        "Too many calls with an unknown or revoked token came from this address: wait `Retry-After` seconds, then send a valid token",
    ),
    (
        "503",
        "Unavailable",
        "The database cannot be reached for now (restarting, the connection lost, locked): nothing of the request was kept; send it again after `Retry-After` seconds",
    ),
    (
        "507",
        "StorageFull",
        "The store's disk is full: nothing of the request was kept; send it again once space is freed (`Retry-After` says when to try)",
    ),
];

/// The shared answers that carry `Retry-After`.
const RETRY_AFTER: [&str; 3] = ["429", "503", "507"];

/// Adds what every operation shares to the document.
#[derive(Debug)]
pub struct Shared;

impl utoipa::Modify for Shared {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for (status, name, description) in SHARED {
            let mut response = problem(description);
            if RETRY_AFTER.contains(&status) {
                response
                    .headers
                    .insert("Retry-After".to_owned(), retry_after());
            }
            components
                .responses
                .insert(name.to_owned(), RefOr::T(response));
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            let [get, put, post, delete, patch, head, options, trace] = operations;
            for (operation, writes) in [
                (get, false),
                (put, true),
                (post, true),
                (delete, true),
                (patch, true),
                (head, false),
                (options, false),
                (trace, false),
            ] {
                if let Some(operation) = operation {
                    shared_answers(operation, writes);
                }
            }
        }
    }
}

/// `Retry-After`: whole seconds to wait before sending again.
fn retry_after() -> utoipa::openapi::header::Header {
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Integer)
                .minimum(Some(0)),
        )
        .description(Some("Seconds to wait before sending the request again"))
        .build()
}

/// An error answer: `description`, with a problem document as its body.
fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, problem_content())
        .build()
}

fn problem_content() -> utoipa::openapi::content::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
}

/// Declares the shared answer of `status` on `operation`, unless it declares its own.
fn add(operation: &mut Operation, status: &str) {
    let (_, name, _) = SHARED
        .iter()
        .find(|(s, _, _)| *s == status)
        .expect("a shared answer");
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
}

fn shared_answers(operation: &mut Operation, writes: bool) {
    let id = operation.operation_id.clone().unwrap_or_default();
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has_parameters = !parameters.is_empty();
    let in_path = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Path);
    let has_body = operation.request_body.is_some();
    if PUBLIC.contains(&id.as_str()) {
        // An empty list overrides the document's `bearer`: no token needed.
        operation.security = Some(Vec::new());
    } else {
        add(operation, "401");
        add(operation, "429");
        add(operation, "503");
        if !EVERY_ROLE.contains(&id.as_str()) {
            add(operation, "403");
        }
    }
    if has_parameters || has_body {
        add(operation, "400");
    }
    if in_path {
        add(operation, "404");
    }
    if has_body {
        add(operation, "413");
    }
    if writes {
        add(operation, "507");
    }
    // The handlers' own error answers are problem documents too, whatever body they declared.
    for (status, response) in &mut operation.responses.responses {
        if let (Some('4' | '5'), RefOr::T(response)) = (status.chars().next(), response) {
            response.content.clear();
            response
                .content
                .insert(PROBLEM_JSON.to_owned(), problem_content());
        }
    }
}
