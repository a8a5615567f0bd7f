//! Webhooks: a POST of the delivery's body, signed by the Standard Webhooks specification v1
//! with every secret generation in force. Redirects are not followed. A webhook that did not
//! say `allow_private` never reaches a private, loopback or link-local address, whether the
//! URL names one or its host resolves to one (checked at each connection, so a name that
//! later resolves elsewhere is caught too).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use touchbase_core::endpoint::{self, Endpoint, Keys};
use touchbase_store::outbox::Delivery;

use crate::{Sent, schedule};

/// How long a target has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The answer's first bytes kept with an attempt.
const DETAIL_BYTES: usize = 512;

/// A resolver that keeps only public addresses.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| !endpoint::is_private(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!(
                    "`{host}` resolves only to private, loopback or link-local addresses; an admin can allow that with `touchbase endpoint add … --allow-private`"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The HTTP clients: one that reaches public addresses only, one for endpoints allowed
/// private ones.
#[derive(Debug, Clone)]
pub struct Clients {
    public: reqwest::Client,
    private: reqwest::Client,
}

impl Clients {
    pub fn new() -> Result<Clients, reqwest::Error> {
        // One process-wide TLS provider; a second install is refused and harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let build = |public: bool| {
            let b = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(TIMEOUT)
                .connect_timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(64)
                .user_agent(concat!("touchbase/", env!("CARGO_PKG_VERSION")));
            if public {
                b.dns_resolver(Arc::new(PublicOnly)).build()
            } else {
                b.build()
            }
        };
        Ok(Clients {
            public: build(true)?,
            private: build(false)?,
        })
    }

    /// Sends one delivery; says what became of it.
    pub async fn send(&self, keys: &Keys, e: &Endpoint, d: &Delivery) -> Sent {
        // An address written in the URL is not resolved: check it here; names are checked by
        // the resolver, against every address they resolve to.
        let literal = endpoint::host_of(&e.target)
            .and_then(|h| h.parse::<std::net::IpAddr>().ok())
            .is_some_and(endpoint::is_private);
        if !e.allow_private && literal {
            return Sent::retry(
                None,
                "the URL names a private, loopback or link-local address and the endpoint does not allow private targets".to_owned(),
                None,
            );
        }
        let now = jiff::Timestamp::now();
        let timestamp = now.as_second();
        let secrets: Vec<Vec<u8>> = e
            .signing(now)
            .into_iter()
            .map(|g| keys.endpoint_secret(&e.key, g))
            .collect();
        let signature = endpoint::signature_header(&secrets, &d.id, timestamp, d.body.as_bytes());
        let client = if e.allow_private {
            &self.private
        } else {
            &self.public
        };
        let mut request = client
            .post(&e.target)
            .header("content-type", "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
        // A standing order's run names itself, the same on every retry (R19): a receiver that
        // honours the header makes one order of it however often it is sent.
        if let Some(key) = idempotency_key(&d.body) {
            request = request.header("idempotency-key", key);
        }
        let answer = request.body(d.body.clone()).send().await;
        let response = match answer {
            Ok(r) => r,
            Err(err) => {
                let what = if err.is_timeout() {
                    format!("no answer within {} s", TIMEOUT.as_secs())
                } else {
                    chain(&err)
                };
                return Sent::retry(None, what, None);
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| schedule::retry_after(v, now));
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut detail = match response.bytes().await {
            Ok(b) => String::from_utf8_lossy(&b[..b.len().min(DETAIL_BYTES)]).into_owned(),
            Err(err) => format!("(the answer's body could not be read: {err})"),
        };
        if status.is_redirection() {
            detail = format!(
                "redirected to {} (redirects are not followed: declare the final URL) {detail}",
                location.as_deref().unwrap_or("?")
            );
        }
        let code = Some(status.as_u16());
        if !status.is_success() && !status.is_redirection() {
            detail = format!("answered {status}: {detail}");
        }
        if status.is_success() {
            Sent::delivered(code, detail)
        } else if status.as_u16() == 410 {
            Sent::gone(code, detail)
        } else {
            Sent::retry(code, detail, retry_after)
        }
    }
}

/// An error and its causes, on one line.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The body's top-level `idempotency_key`, when it has one (a standing order's run).
pub fn idempotency_key(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Keyed {
        idempotency_key: String,
    }
    serde_json::from_str::<Keyed>(body)
        .ok()
        .map(|k| k.idempotency_key)
        .filter(|k| k.bytes().all(|b| b.is_ascii_graphic()) && k.len() <= 255)
}
