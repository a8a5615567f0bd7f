//! MQTT ingest for devices (R9, R21): subscribes with QoS 1 and acknowledges a message only
//! once its events (or its rejection) are durable, so a message is never lost between the
//! broker and the store. The session is persistent (clean session off): while touchbase or the
//! broker restarts, the broker keeps the messages not yet acknowledged and delivers them again.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::mpsc;
use touchbase_core::event::NewReject;
use touchbase_core::{Actor, Role};
use touchbase_store::Store;
use touchbase_store::ingest::{self, Input};

use crate::Committer;

/// Where and what to subscribe.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// `mqtt://HOST:PORT`.
    pub url: String,
    /// The topic filter, e.g. `touchbase/events/#`.
    pub topic: String,
    /// The client id; the broker keeps this client's session (and its unacknowledged messages).
    pub client_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("`{0}` is not an MQTT address: write mqtt://HOST:PORT, e.g. mqtt://127.0.0.1:1883")]
    Url(String),
}

impl MqttConfig {
    /// Whether the address can be used; the error says how to write it.
    pub fn check(&self) -> Result<(), MqttError> {
        options(self).map(|_| ())
    }
}

/// The actor events from MQTT are taken as.
fn actor() -> Actor {
    Actor {
        name: "mqtt".to_owned(),
        role: Role::Owner,
        teams: Vec::new(),
    }
}

fn options(config: &MqttConfig) -> Result<MqttOptions, MqttError> {
    let rest = config
        .url
        .strip_prefix("mqtt://")
        .ok_or_else(|| MqttError::Url(config.url.clone()))?;
    let (host, port) = rest
        .trim_end_matches('/')
        .rsplit_once(':')
        .unwrap_or((rest, "1883"));
    let port: u16 = port
        .parse()
        .map_err(|_| MqttError::Url(config.url.clone()))?;
    let mut options = MqttOptions::new(&config.client_id, host, port);
    options
        .set_keep_alive(Duration::from_secs(10))
        .set_clean_session(false)
        .set_manual_acks(true);
    Ok(options)
}

/// Connects and takes events until `shutdown` resolves. Broker outages are waited out: the
/// client reconnects and the broker redelivers what was not acknowledged.
///
/// The connection is polled without pause; the messages go to a writer task that stores and
/// acknowledges them in order. The acknowledgements travel through the client's bounded
/// request queue, which only the polling drains: writing and acknowledging inside the polling
/// loop would stop it for good once a burst (a broker redelivering hundreds of messages after a
/// restart) filled that queue.
pub async fn run(
    store: Arc<dyn Store>,
    committer: Committer,
    config: MqttConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), MqttError> {
    let (client, mut events) = AsyncClient::new(options(&config)?, 256);
    // Unbounded, but never long: the broker sends no more than its in-flight window of
    // messages not yet acknowledged.
    let (taken, to_write) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_and_ack(store, committer, client.clone(), to_write));
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            polled = events.poll() => match polled {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    tracing::info!(url = %config.url, topic = %config.topic, session = ack.session_present, "MQTT connected");
                    // A session the broker kept has its subscription already.
                    // Sent from a task of its own: the request queue may be full of
                    // acknowledgements that only this loop's polling sends.
                    if !ack.session_present {
                        let (client, topic) = (client.clone(), config.topic.clone());
                        tokio::spawn(async move {
                            if let Err(e) = client.subscribe(topic, QoS::AtLeastOnce).await {
                                tracing::warn!(error = %e, "MQTT subscribe failed");
                            }
                        });
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    tracing::debug!(topic = %publish.topic, pkid = publish.pkid, dup = publish.dup, "MQTT message");
                    if taken.send(publish).is_err() {
                        break Ok(());
                    }
                }
                Ok(other) => tracing::trace!(?other, "MQTT"),
                Err(e) => {
                    tracing::warn!(error = %e, url = %config.url, "MQTT connection lost; retrying");
                    // The next poll reconnects; the broker then redelivers what was not acknowledged.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            },
        }
    };
    // What the writer has not acknowledged yet, the broker delivers again.
    writer.abort();
    result
}

/// At most this many messages are written together.
const BATCH: usize = 500;

/// Stores the messages as they come, in batches of what is waiting, and acknowledges each
/// once its events (or its rejection) are durable. A batch the store cannot take now is tried
/// again, with a growing pause, until it can: the messages after it wait (acknowledgements
/// keep the order of the messages) and the broker sends no more than its in-flight window.
async fn write_and_ack(
    store: Arc<dyn Store>,
    committer: Committer,
    client: AsyncClient,
    mut to_write: mpsc::UnboundedReceiver<Publish>,
) {
    let mut batch = Vec::new();
    while to_write.recv_many(&mut batch, BATCH).await > 0 {
        let mut pause = Duration::from_millis(200);
        while let Err(e) = write(&*store, &committer, &batch).await {
            tracing::error!(error = %e, messages = batch.len(), "MQTT messages not written; trying again in {pause:?} (they stay unacknowledged)");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        for publish in batch.drain(..) {
            if let Err(e) = client.ack(&publish).await {
                // The client is gone (the server stops): the broker delivers it again.
                tracing::warn!(error = %e, "MQTT acknowledgement not sent; the broker will deliver again");
                return;
            }
        }
    }
}

/// Writes the events of `batch` durably, and each message that is not events as a reject.
async fn write(store: &dyn Store, committer: &Committer, batch: &[Publish]) -> Result<(), String> {
    let mut inputs = Vec::new();
    let mut rejects = Vec::new();
    for publish in batch {
        let source = format!("mqtt:{}", publish.topic);
        let split = std::str::from_utf8(&publish.payload)
            .map_err(|e| {
                format!(
                    "the message is not UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                )
            })
            .and_then(|text| split(text, &source));
        match split {
            Ok(taken) => inputs.extend(taken),
            Err(why) => rejects.push(NewReject::new(&source, &publish.payload, vec![why])),
        }
    }
    if !inputs.is_empty() {
        committer
            .ingest(&actor(), inputs)
            .await
            .map_err(|e| e.to_string())?;
    }
    if !rejects.is_empty() {
        store
            .write_events(Vec::new(), rejects, ingest::now_us())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One event (an object) or several (an array) per message.
fn split(text: &str, source: &str) -> Result<Vec<Input>, String> {
    let input = |raw: &str| Input::new(raw, source);
    if text.trim_start().starts_with('[') {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text)
            .map_err(|e| format!("the message is not a JSON array of events: {e}"))?;
        Ok(items.into_iter().map(|raw| input(raw.get())).collect())
    } else {
        Ok(vec![input(text)])
    }
}
