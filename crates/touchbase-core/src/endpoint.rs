//! The reverse feed's endpoints (R18): the destinations admins declare, and how what is sent
//! to them is signed.
//!
//! An endpoint's signing secret is never stored. It is derived from the organization's key
//! (a key file or an environment variable outside the database, see [`Keys`]) and the
//! endpoint's secret *generation*, which the endpoint's document records: a rotation starts a
//! new generation and keeps the previous one signing until its `retire_at`, so receivers can
//! switch over. Someone who can read the database cannot sign as touchbase.
//!
//! Webhooks are signed by the Standard Webhooks specification v1: headers `webhook-id`,
//! `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
//! the secret written `whsec_<base64>`, one signature per secret in force (space-separated).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::validate::{KEY_RULE, Violation, is_key};

/// Where an endpoint sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    /// An HTTP(S) URL, POSTed to and signed.
    Webhook,
    /// A NATS JetStream subject.
    Nats,
    /// An MQTT topic (QoS 1).
    Mqtt,
}

impl EndpointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Webhook => "webhook",
            EndpointKind::Nats => "nats",
            EndpointKind::Mqtt => "mqtt",
        }
    }
}

/// One generation of an endpoint's signing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Generation {
    pub n: u32,
    pub created_at: String,
    /// When it stops signing (set when a newer generation replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<String>,
}

/// A declared destination of the reverse feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub key: String,
    pub kind: EndpointKind,
    /// The URL, the NATS subject or the MQTT topic.
    pub target: String,
    /// A webhook whose host is a private, loopback or link-local address must say so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private: bool,
    /// Set while the endpoint is disabled: nothing is sent to it (deliveries wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Disabled>,
    /// The secret generations in force, newest last.
    pub secrets: Vec<Generation>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Disabled {
    pub at: String,
    pub reason: String,
}

impl Endpoint {
    /// The generations that sign at `now` (RFC 3339 compared as instants), newest first.
    pub fn signing(&self, now: jiff::Timestamp) -> Vec<u32> {
        self.secrets
            .iter()
            .rev()
            .filter(|g| match &g.retire_at {
                None => true,
                Some(at) => at.parse::<jiff::Timestamp>().is_ok_and(|t| now < t),
            })
            .map(|g| g.n)
            .collect()
    }

    /// The newest generation.
    pub fn current(&self) -> u32 {
        self.secrets.last().map_or(1, |g| g.n)
    }
}

/// Every broken rule of an endpoint.
pub fn check(e: &Endpoint) -> Vec<Violation> {
    let subject = format!("endpoint `{}`", e.key);
    let mut out = Vec::new();
    if !is_key(&e.key) {
        out.push(Violation::new(&subject, "key", KEY_RULE));
    }
    let target_rule = match e.kind {
        EndpointKind::Webhook => check_url(&e.target).err(),
        EndpointKind::Nats => {
            let ok = !e.target.is_empty()
                && e.target.len() <= 255
                && e.target.split('.').all(|t| {
                    !t.is_empty()
                        && t.bytes()
                            .all(|b| b.is_ascii_graphic() && b != b'*' && b != b'>')
                });
            (!ok).then(|| {
                "a NATS subject: tokens of visible characters separated by dots, no wildcards"
                    .to_owned()
            })
        }
        EndpointKind::Mqtt => {
            let ok = !e.target.is_empty()
                && e.target.len() <= 65_535
                && !e.target.contains(['+', '#', '\0']);
            (!ok).then(|| "an MQTT topic to publish to: not empty, no wildcards (+ #)".to_owned())
        }
    };
    if let Some(rule) = target_rule {
        out.push(Violation::new(&subject, "target", rule));
    }
    out
}

/// A webhook URL's rules: `http` or `https`, a host, no credentials in it.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("must be an http:// or https:// URL, got `{url}`"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("must name a host, got `{url}`"));
    }
    if authority.contains('@') {
        return Err(
            "must not carry credentials (user:password@); the signature authenticates touchbase"
                .to_owned(),
        );
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not hold spaces or control characters".to_owned());
    }
    Ok(())
}

/// The host of an http(s) URL (brackets of an IPv6 literal removed), without its port.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty()).then_some(host)
}

/// Whether a URL's host is written as an address [`is_private`] refuses, or is `localhost`.
pub fn literal_private_host(url: &str) -> bool {
    match host_of(url) {
        None => false,
        Some(h) if h.eq_ignore_ascii_case("localhost") || h.ends_with(".localhost") => true,
        Some(h) => h.parse::<std::net::IpAddr>().is_ok_and(is_private),
    }
}

/// Whether an address is one a webhook may reach only with `allow_private`: loopback,
/// private ranges, link-local, unique-local, unspecified, CGNAT, and IPv4 mapped into IPv6.
pub fn is_private(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The organization's key, from which every secret touchbase signs with is derived: the
/// endpoints' webhook secrets here, and every signed link. It lives outside the database.
#[derive(Clone)]
pub struct Keys {
    root: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(redacted)")
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

impl Keys {
    pub fn from_bytes(root: [u8; 32]) -> Keys {
        Keys { root }
    }

    /// Reads a key as written by [`Keys::encode`] (`tbkey_` and 64 hex digits).
    pub fn decode(text: &str) -> Result<Keys, String> {
        let rule = "a touchbase key is `tbkey_` followed by 64 hex digits (`touchbase key new` writes one)";
        let hex = text.trim().strip_prefix("tbkey_").ok_or(rule)?;
        if hex.len() != 64 {
            return Err(rule.to_owned());
        }
        let mut root = [0u8; 32];
        for (i, b) in root.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| rule.to_owned())?;
        }
        Ok(Keys { root })
    }

    pub fn encode(&self) -> String {
        format!("tbkey_{}", crate::access::hex(&self.root))
    }

    /// A secret for one purpose, derived from the key: `purpose` names what it is for.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        hmac(&self.root, &[b"touchbase/v1/", purpose.as_bytes()])
    }

    /// An endpoint's webhook secret of one generation, as raw bytes.
    pub fn endpoint_secret(&self, endpoint: &str, generation: u32) -> Vec<u8> {
        self.derive(&format!("endpoint/{endpoint}/{generation}"))[..24].to_vec()
    }

    /// The same secret as shown to the endpoint's owner: `whsec_<base64>`.
    pub fn endpoint_whsec(&self, endpoint: &str, generation: u32) -> String {
        whsec(&self.endpoint_secret(endpoint, generation))
    }
}

/// A secret as the Standard Webhooks specification writes it.
pub fn whsec(secret: &[u8]) -> String {
    format!("whsec_{}", B64.encode(secret))
}

/// The raw bytes of a `whsec_` secret.
pub fn whsec_bytes(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    B64.decode(b64)
        .map_err(|e| format!("a webhook secret is `whsec_` and base64: {e}"))
}

/// The Standard Webhooks v1 signature of one message with one secret: `v1,<base64>`.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = hmac(
        secret,
        &[
            id.as_bytes(),
            b".",
            timestamp.to_string().as_bytes(),
            b".",
            body,
        ],
    );
    format!("v1,{}", B64.encode(mac))
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(secrets: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification (its reference
    /// libraries' tests).
    #[test]
    fn the_specification_test_vector() {
        let secret = whsec_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn derived_secrets_differ_by_endpoint_and_generation_and_round_trip() {
        let keys = Keys::from_bytes([7; 32]);
        let a = keys.endpoint_whsec("crm", 1);
        assert_eq!(a, keys.endpoint_whsec("crm", 1));
        assert_ne!(a, keys.endpoint_whsec("crm", 2));
        assert_ne!(a, keys.endpoint_whsec("bus", 1));
        assert_eq!(whsec_bytes(&a).unwrap(), keys.endpoint_secret("crm", 1));
        assert_eq!(Keys::decode(&keys.encode()).unwrap().root, keys.root);
        assert!(Keys::decode("tbkey_12").is_err());
        assert_eq!(format!("{keys:?}"), "Keys(redacted)");
    }

    #[test]
    fn private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "172.32.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https://user:pw@x/").is_err());
        assert!(check_url("https:///x").is_err());
        assert!(check_url("https://hooks.example/crm?x=1").is_ok());
        assert_eq!(host_of("http://[::1]:8080/x"), Some("::1"));
        assert_eq!(
            host_of("https://hooks.example:8443/x"),
            Some("hooks.example")
        );
        assert!(literal_private_host("http://127.0.0.1:9/x"));
        assert!(literal_private_host("http://localhost/x"));
        assert!(!literal_private_host("https://hooks.example/x"));
    }

    #[test]
    fn generations_sign_until_retired() {
        let mut e = Endpoint {
            key: "crm".into(),
            kind: EndpointKind::Webhook,
            target: "https://x/".into(),
            allow_private: false,
            disabled: None,
            secrets: vec![Generation {
                n: 1,
                created_at: "2026-01-01T00:00:00Z".into(),
                retire_at: None,
            }],
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        let now: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
        assert_eq!(e.signing(now), vec![1]);
        e.secrets[0].retire_at = Some("2026-06-02T00:00:00Z".into());
        e.secrets.push(Generation {
            n: 2,
            created_at: "2026-06-01T00:00:00Z".into(),
            retire_at: None,
        });
        assert_eq!(e.signing(now), vec![2, 1]);
        assert_eq!(e.signing("2026-06-03T00:00:00Z".parse().unwrap()), vec![2]);
        assert_eq!(e.current(), 2);
    }
}
