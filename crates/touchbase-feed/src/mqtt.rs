//! MQTT endpoints: the way back to the devices that send events. The body is published with
//! QoS 1 and counts as delivered on the broker's PUBACK; no acknowledgement within the timeout
//! is a failed attempt, retried (a device may then see a message twice: the body's `id` tells
//! them apart).

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::Mutex;
use touchbase_core::endpoint::Endpoint;
use touchbase_store::outbox::Delivery;

use crate::Sent;

/// A connection to one broker, made on first use; one publish in flight at a time.
pub struct Mqtt {
    url: String,
    conn: Mutex<Option<(AsyncClient, EventLoop)>>,
}

impl std::fmt::Debug for Mqtt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mqtt").field("url", &self.url).finish()
    }
}

/// `mqtt://HOST[:PORT]` as host and port.
pub fn parse_url(url: &str) -> Result<(String, u16), String> {
    let bad = || {
        format!(
            "`{url}` is not an MQTT address: write mqtt://HOST:PORT, e.g. mqtt://127.0.0.1:1883"
        )
    };
    let rest = url
        .strip_prefix("mqtt://")
        .ok_or_else(bad)?
        .trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "1883"));
    let port = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

impl Mqtt {
    pub fn new(url: impl Into<String>) -> Mqtt {
        Mqtt {
            url: url.into(),
            conn: Mutex::new(None),
        }
    }

    pub async fn send(&self, e: &Endpoint, d: &Delivery) -> Sent {
        let mut conn = self.conn.lock().await;
        let result =
            tokio::time::timeout(crate::webhook::TIMEOUT, self.publish(&mut conn, e, d)).await;
        match result {
            Ok(Ok(pkid)) => Sent::delivered(None, format!("PUBACK for packet {pkid}")),
            Ok(Err(why)) => {
                *conn = None;
                Sent::retry(None, why, None)
            }
            Err(_) => {
                *conn = None;
                Sent::retry(
                    None,
                    "the broker did not acknowledge (PUBACK) within 15 s".to_owned(),
                    None,
                )
            }
        }
    }

    async fn publish(
        &self,
        conn: &mut Option<(AsyncClient, EventLoop)>,
        e: &Endpoint,
        d: &Delivery,
    ) -> Result<u16, String> {
        if conn.is_none() {
            let (host, port) = parse_url(&self.url)?;
            let id = format!("touchbase-feed-{}", getrandom::u32().unwrap_or(0));
            let mut options = MqttOptions::new(id, host, port);
            options
                .set_keep_alive(Duration::from_secs(10))
                .set_clean_session(true)
                .set_max_packet_size(1 << 20, 1 << 20);
            *conn = Some(AsyncClient::new(options, 16));
        }
        let (client, events) = conn.as_mut().expect("connected above");
        client
            .publish(
                e.target.clone(),
                QoS::AtLeastOnce,
                false,
                d.body.clone().into_bytes(),
            )
            .await
            .map_err(|err| format!("publishing to `{}`: {err}", e.target))?;
        let mut ours = None;
        loop {
            match events.poll().await {
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) if ours.is_none() => ours = Some(pkid),
                Ok(Event::Incoming(Packet::PubAck(ack))) if Some(ack.pkid) == ours => {
                    return Ok(ack.pkid);
                }
                Ok(_) => {}
                Err(err) => return Err(format!("MQTT broker at {}: {err}", self.url)),
            }
        }
    }
}
