//! Security headers on every response: a Content-Security-Policy that allows nothing from
//! elsewhere, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` and
//! `X-Content-Type-Options: nosniff`.
//!
//! An API answer may load nothing at all ([`API_POLICY`]). The dashboard and the report are
//! pages with inline CSS, script and SVG: their policy ([`page_policy`]) allows exactly their own
//! `<style>` and `<script>` elements by SHA-256 hash, `fetch` to this server, and style
//! attributes (the charts' bar widths and colours; they run no code). The dashboard opens the
//! report as a `blob:` page, which keeps the dashboard's policy, so that policy allows the
//! report's stylesheet by its hash too.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The policy of everything that is not a page: nothing may be loaded or framed.
pub const API_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The dashboard page.
pub const DASHBOARD: &str = include_str!("dashboard.html");

/// The dashboard's policy: its own inline script and style, and the report's style.
pub static DASHBOARD_POLICY: LazyLock<String> = LazyLock::new(|| {
    let mut inline = Inline::of(DASHBOARD);
    inline.styles.push(source_hash(touchbase_report::HTML_CSS));
    inline.policy()
});

/// The policy of an HTML page made of `html` (the report): its inline elements by hash.
pub fn page_policy(html: &str) -> String {
    Inline::of(html).policy()
}

/// The `'sha256-…'` source of an inline element's text.
fn source_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The hashes of a page's inline `<script>` and `<style>` elements.
#[derive(Debug, Default)]
struct Inline {
    scripts: Vec<String>,
    styles: Vec<String>,
}

impl Inline {
    fn of(html: &str) -> Inline {
        Inline {
            scripts: elements(html, "script").map(source_hash).collect(),
            styles: elements(html, "style").map(source_hash).collect(),
        }
    }

    fn policy(&self) -> String {
        let list = |hashes: &[String]| {
            if hashes.is_empty() {
                "'none'".to_owned()
            } else {
                hashes.join(" ")
            }
        };
        format!(
            "default-src 'none'; script-src {scripts}; style-src {styles}; style-src-elem {styles}; \
             style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            scripts = list(&self.scripts),
            styles = list(&self.styles),
        )
    }
}

/// The text of each `<tag>…</tag>` element (opened without attributes) of `html`.
fn elements<'a>(html: &'a str, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut rest = html;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let len = rest[start..].find(&close)?;
        let text = &rest[start..start + len];
        rest = &rest[start + len + close.len()..];
        Some(text)
    })
}

/// Adds the security headers to every response; a response that set its own
/// Content-Security-Policy (a page) keeps it.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_POLICY),
        );
    }
    let fixed: [(HeaderName, &str); 3] = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_policy_allows_exactly_its_inline_script_and_styles() {
        let scripts: Vec<&str> = elements(DASHBOARD, "script").collect();
        let styles: Vec<&str> = elements(DASHBOARD, "style").collect();
        assert_eq!((scripts.len(), styles.len()), (1, 1));
        assert!(
            !DASHBOARD.contains("<script ") && !DASHBOARD.contains("<style "),
            "every inline element is found"
        );
        let policy = &*DASHBOARD_POLICY;
        assert!(policy.contains(&source_hash(scripts[0])), "{policy}");
        assert!(policy.contains(&source_hash(styles[0])), "{policy}");
        assert!(
            policy.contains(&source_hash(touchbase_report::HTML_CSS)),
            "{policy}"
        );
        assert!(
            !policy.contains("unsafe-eval") && !policy.contains("http"),
            "{policy}"
        );
        assert!(
            !policy.contains("script-src 'unsafe-inline'"),
            "scripts only by hash: {policy}"
        );
    }

    #[test]
    fn a_hash_is_the_sha256_of_the_elements_text_in_base64() {
        // The example of CSP Level 3 §8.2 ("alert('Hello, world.');").
        assert_eq!(
            source_hash("alert('Hello, world.');"),
            "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
        );
        assert_eq!(
            elements("<p><style>a{}</style><style>b{}</style>", "style").collect::<Vec<_>>(),
            ["a{}", "b{}"]
        );
    }
}
