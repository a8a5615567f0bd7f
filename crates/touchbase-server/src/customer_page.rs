//! What every customer-facing page shares (R22): a standing order's self-service page and a
//! survey's respondent page. Plain HTML with one inline stylesheet (allowed by its hash) and no
//! script, never cached nor indexed, and forms bound to their link by a CSRF token: the HMAC
//! of the link's hash under a key derived for that kind of page.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use touchbase_core::endpoint::Keys;

type HmacSha256 = Hmac<Sha256>;

fn csrf_mac(keys: &Keys, purpose: &str, link_hash: &str) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(&keys.derive(purpose)).expect("HMAC takes keys of any length");
    mac.update(link_hash.as_bytes());
    mac
}

/// The CSRF token of the forms of the page a link opens: the HMAC of the link's hash under a
/// key derived for `purpose` (one per kind of page).
pub(crate) fn csrf_token(keys: &Keys, purpose: &str, link_hash: &str) -> String {
    B64URL.encode(csrf_mac(keys, purpose, link_hash).finalize().into_bytes())
}

/// Whether `given` is the CSRF token of the link (compared in constant time).
pub(crate) fn csrf_holds(keys: &Keys, purpose: &str, link_hash: &str, given: Option<&str>) -> bool {
    let Some(bytes) = given.and_then(|g| B64URL.decode(g.trim()).ok()) else {
        return false;
    };
    csrf_mac(keys, purpose, link_hash)
        .verify_slice(&bytes)
        .is_ok()
}

/// A page with its status, its policy (its stylesheet by hash, no script) and no caching.
pub(crate) fn page(status: StatusCode, html: String) -> Response {
    let policy = crate::headers::page_policy(&html);
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CONTENT_SECURITY_POLICY, policy),
        ],
        html,
    )
        .into_response();
    no_store(&mut response);
    response
}

pub(crate) fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
}

/// A short page that says why nothing is shown (`lines` are HTML).
pub(crate) fn notice(status: StatusCode, title: &str, lines: &[&str]) -> Response {
    notice_in("en", status, title, lines)
}

/// [`notice`] in the language `lang`.
pub(crate) fn notice_in(lang: &str, status: StatusCode, title: &str, lines: &[&str]) -> Response {
    let mut body = format!("<h1>{}</h1>\n", escape(title));
    for line in lines {
        let _ = writeln!(body, "<p>{line}</p>");
    }
    page(status, document_in(lang, title, &body))
}

/// Text made inert in HTML (element content and quoted attribute values).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page around `body`, in English.
pub(crate) fn document(title: &str, body: &str) -> String {
    document_in("en", title, body)
}

/// The whole page around `body`, its language `lang` (a BCP 47 tag touchbase has words for).
pub(crate) fn document_in(lang: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n<title>{}</title>\n\
         <link rel=\"icon\" href=\"data:,\">\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(lang),
        escape(title)
    )
}

/// The pages' one stylesheet (allowed by its hash; no script at all).
const CSS: &str = "
:root { --ink:#1d2433; --muted:#4f586b; --line:#d5dae4; --bg:#f6f7fb; --accent:#2456c7;
        --ok:#1b6b3a; --bad:#a12626; }
* { box-sizing:border-box; }
body { margin:0; font:16px/1.5 system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif;
       color:var(--ink); background:var(--bg); }
main { max-width:44rem; margin:0 auto; padding:16px; }
h1 { font-size:1.5rem; margin:8px 0 12px; }
h2 { font-size:1.15rem; margin:0 0 8px; }
h3 { font-size:1rem; margin:0 0 8px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 16px;
          margin:14px 0; }
p { margin:8px 0; }
a { color:var(--accent); }
.muted { color:var(--muted); }
.small { font-size:.9rem; }
.saved { border-left:4px solid var(--ok); background:#eaf5ee; padding:10px 12px; border-radius:4px; }
.error { border-left:4px solid var(--bad); background:#fbeded; color:#7a1c1c; padding:10px 12px;
         border-radius:4px; }
.locked, .note { border-left:4px solid #8a5a00; background:#fbf4e6; padding:8px 12px; border-radius:4px; }
.when { font-size:1.1rem; }
.tag { display:inline-block; font-size:.8rem; font-weight:600; color:#6b4500; background:#fbf0d9;
       border-radius:4px; padding:0 6px; margin-left:4px; }
.scroll { overflow-x:auto; }
table { width:100%; border-collapse:collapse; }
caption { text-align:left; font-weight:600; padding-bottom:6px; }
th, td { text-align:left; padding:6px; border-bottom:1px solid var(--line); vertical-align:top; }
thead th { color:var(--muted); font-size:.85rem; font-weight:600; }
tbody th { font-weight:600; overflow-wrap:break-word; }
tbody th .tag { display:table; margin:2px 0 0; }
@media (min-width:30em) { .nowrap { white-space:nowrap; } }
.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tfoot th, tfoot td { font-weight:700; border-bottom:0; }
ul.lines { list-style:none; margin:0 0 12px; padding:0; }
ul.lines li { border-bottom:1px solid var(--line); padding:6px 0 10px; }
.sku { font-weight:600; margin:4px 0; overflow-wrap:break-word; }
.sku .muted { font-weight:400; }
.row { display:flex; flex-wrap:wrap; gap:8px; align-items:flex-end; }
form { margin:10px 0; }
.row form, form.row { margin:0; }
label { display:block; font-weight:600; font-size:.95rem; margin-bottom:2px; }
.check { display:flex; gap:8px; align-items:center; }
.check label { font-weight:400; margin:0; }
input[type=number], select { font:inherit; padding:8px; min-height:44px; border:1px solid #767f93;
       border-radius:6px; background:#fff; color:var(--ink); }
input[type=number] { width:7rem; }
select { width:100%; max-width:26rem; }
input[type=checkbox] { width:22px; height:22px; margin:0; flex:none; }
button { font:inherit; padding:9px 16px; min-height:44px; border-radius:6px; cursor:pointer;
         border:1px solid var(--accent); background:var(--accent); color:#fff; }
button.quiet { background:#fff; color:var(--accent); }
button.danger { background:var(--bad); border-color:var(--bad); }
form.add { border-top:1px solid var(--line); padding-top:10px; }
:focus-visible { outline:3px solid #7b9de8; outline-offset:2px; }
.vh { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0);
      white-space:nowrap; }
fieldset { border:0; margin:0; padding:0; min-width:0; }
legend { font-weight:600; padding:0; margin-bottom:6px; }
.scale { display:flex; flex-wrap:wrap; gap:6px; }
.scale label, .options label { display:flex; align-items:center; gap:6px; font-weight:400;
       border:1px solid #767f93; border-radius:6px; padding:6px 10px; min-height:44px; min-width:44px;
       background:#fff; margin:0; }
.options { display:grid; gap:6px; }
.ends { display:flex; justify-content:space-between; font-size:.85rem; color:var(--muted); }
input[type=radio] { width:20px; height:20px; margin:0; flex:none; }
textarea { font:inherit; width:100%; min-height:6rem; padding:8px; border:1px solid #767f93;
           border-radius:6px; }
.actions { display:flex; flex-wrap:wrap; gap:10px; margin-top:12px; }
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_holds_for_its_own_link_and_purpose_only() {
        let keys = Keys::from_bytes([3; 32]);
        let token = csrf_token(&keys, "link/standing/csrf", "hash-a");
        assert!(csrf_holds(
            &keys,
            "link/standing/csrf",
            "hash-a",
            Some(&token)
        ));
        assert!(!csrf_holds(
            &keys,
            "link/survey/csrf",
            "hash-a",
            Some(&token)
        ));
        assert!(!csrf_holds(
            &keys,
            "link/standing/csrf",
            "hash-b",
            Some(&token)
        ));
        assert!(!csrf_holds(
            &Keys::from_bytes([4; 32]),
            "link/standing/csrf",
            "hash-a",
            Some(&token)
        ));
        assert!(!csrf_holds(&keys, "link/standing/csrf", "hash-a", None));
        assert!(!csrf_holds(
            &keys,
            "link/standing/csrf",
            "hash-a",
            Some("not base64!")
        ));
    }

    #[test]
    fn the_page_allows_its_stylesheet_and_no_script() {
        let html = document_in("fr", "t", "<p>x</p>");
        assert!(html.contains("<html lang=\"fr\">"));
        let policy = crate::headers::page_policy(&html);
        assert!(policy.contains("script-src 'none'"), "{policy}");
        assert!(!policy.contains("style-src 'none'"), "{policy}");
        assert!(!html.contains("<script"));
    }
}
