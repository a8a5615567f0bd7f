//! NATS JetStream endpoints: the body published to the subject with `Nats-Msg-Id` = the
//! delivery's id, so that a delivery sent twice (a retry after a lost acknowledgement, a
//! crash) is stored once by the server within its duplicate window. Delivered when JetStream
//! acknowledges the publish. A stream capturing the subject is created when none does
//! (`TOUCHBASE_FEED_…`, file storage, a two-minute duplicate window). The signature headers
//! of the Standard Webhooks specification travel with the message too.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio::sync::Mutex;
use touchbase_core::endpoint::{self, Endpoint, Keys};
use touchbase_store::outbox::Delivery;

use crate::Sent;
use crate::webhook::chain;

/// A connection to one NATS server, made on first use.
#[derive(Debug)]
pub struct Nats {
    url: String,
    js: Mutex<Option<jetstream::Context>>,
    /// Subjects a stream is known to capture.
    streams: Mutex<HashSet<String>>,
}

impl Nats {
    pub fn new(url: impl Into<String>) -> Nats {
        Nats {
            url: url.into(),
            js: Mutex::new(None),
            streams: Mutex::new(HashSet::new()),
        }
    }

    async fn context(&self) -> Result<jetstream::Context, String> {
        let mut js = self.js.lock().await;
        if let Some(c) = js.as_ref() {
            return Ok(c.clone());
        }
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(&self.url)
            .await
            .map_err(|e| format!("connecting to NATS at {}: {}", self.url, chain(&e)))?;
        let c = jetstream::new(client);
        *js = Some(c.clone());
        Ok(c)
    }

    async fn ensure_stream(&self, js: &jetstream::Context, subject: &str) -> Result<(), String> {
        if self.streams.lock().await.contains(subject) {
            return Ok(());
        }
        if js.stream_by_subject(subject).await.is_err() {
            let name: String = subject
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            js.get_or_create_stream(stream::Config {
                name: format!("TOUCHBASE_FEED_{name}"),
                subjects: vec![subject.to_owned()],
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("creating a JetStream stream for `{subject}`: {}", chain(&e)))?;
        }
        self.streams.lock().await.insert(subject.to_owned());
        Ok(())
    }

    /// Publishes one delivery and waits for JetStream's acknowledgement.
    pub async fn send(&self, keys: &Keys, e: &Endpoint, d: &Delivery) -> Sent {
        match self.publish(keys, e, d).await {
            Ok(detail) => Sent::delivered(None, detail),
            Err(why) => {
                // Start over with a fresh connection next time.
                *self.js.lock().await = None;
                Sent::retry(None, why, None)
            }
        }
    }

    async fn publish(&self, keys: &Keys, e: &Endpoint, d: &Delivery) -> Result<String, String> {
        let js = self.context().await?;
        self.ensure_stream(&js, &e.target).await?;
        let now = jiff::Timestamp::now();
        let secrets: Vec<Vec<u8>> = e
            .signing(now)
            .into_iter()
            .map(|g| keys.endpoint_secret(&e.key, g))
            .collect();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", d.id.as_str());
        headers.insert("webhook-id", d.id.as_str());
        if let Some(key) = crate::webhook::idempotency_key(&d.body) {
            headers.insert("Idempotency-Key", key.as_str());
        }
        headers.insert("webhook-timestamp", now.as_second().to_string().as_str());
        headers.insert(
            "webhook-signature",
            endpoint::signature_header(&secrets, &d.id, now.as_second(), d.body.as_bytes())
                .as_str(),
        );
        let ack = js
            .publish_with_headers(e.target.clone(), headers, d.body.clone().into())
            .await
            .map_err(|err| format!("publishing to `{}`: {}", e.target, chain(&err)))?;
        let ack = tokio::time::timeout(crate::webhook::TIMEOUT, ack)
            .await
            .map_err(|_| "JetStream did not acknowledge within 15 s".to_owned())?
            .map_err(|err| format!("JetStream refused `{}`: {}", e.target, chain(&err)))?;
        Ok(format!(
            "stream {} seq {}{}",
            ack.stream,
            ack.sequence,
            if ack.duplicate {
                " (a duplicate the server had already stored)"
            } else {
                ""
            }
        ))
    }
}
