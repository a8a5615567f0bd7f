//! The dispatcher against real parts, on both stores: a webhook receiver started here that
//! checks signatures with its own implementation of the Standard Webhooks specification (not
//! touchbase's) and fails attempts on purpose; the machine's NATS JetStream
//! (`TOUCHBASE_TEST_NATS`) and Mosquitto (`TOUCHBASE_TEST_MQTT`). PostgreSQL tests need
//! `TOUCHBASE_TEST_PG`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use touchbase_core::endpoint::{EndpointKind, Keys};
use touchbase_core::{Actor, file};
use touchbase_feed::{Config, Dispatcher};
use touchbase_store::Store;
use touchbase_store::feed::{self, NewEndpoint};
use touchbase_store::ingest::{self, Input};
use touchbase_store::inventory::{self, ImportMode};
use touchbase_store::outbox::{DeliveryFilter, DeliveryState};

const SMALL: &str = include_str!("../../touchbase-store/src/conformance/small.yaml");

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the real service (see the README's test command)"
        )
    })
}

/// A store of each kind, with the small inventory.
async fn stores() -> Vec<(Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> =
        Arc::new(touchbase_store_sqlite::SqliteStore::open(dir.path().join("s.db")).unwrap());
    let databases = Box::leak(Box::new(
        touchbase_store_postgres::test_support::TestDatabases::new(),
    ));
    let url = databases.fresh().await;
    let pg: Arc<dyn Store> = Arc::new(
        touchbase_store_postgres::PostgresStore::connect(&url)
            .await
            .unwrap(),
    );
    for store in [&sqlite, &pg] {
        let inv = file::parse_inventory(SMALL).unwrap();
        inventory::import(
            store.as_ref(),
            &Actor::local_admin(),
            &inv,
            ImportMode::Baseline,
        )
        .await
        .unwrap();
    }
    vec![(sqlite, Some(dir)), (pg, None)]
}

fn keys() -> Keys {
    Keys::from_bytes([42; 32])
}

fn config() -> Config {
    Config {
        nats_url: env("TOUCHBASE_TEST_NATS"),
        mqtt_url: env("TOUCHBASE_TEST_MQTT"),
        // Every retry at once, so a test need not wait; three attempts, then dead.
        schedule_s: vec![0, 0, 0],
        ..Config::default()
    }
}

async fn endpoint(
    store: &dyn Store,
    key: &str,
    kind: EndpointKind,
    target: &str,
) -> Option<String> {
    feed::add_endpoint(
        store,
        &Actor::local_admin(),
        &keys(),
        NewEndpoint {
            key: key.into(),
            kind,
            target: target.into(),
            allow_private: true,
        },
    )
    .await
    .unwrap()
    .secret
}

async fn rule(store: &dyn Store, yaml: &str) {
    let rules = touchbase_core::rules::parse_rules(yaml).unwrap();
    feed::put_rules(store, &Actor::local_admin(), &rules)
        .await
        .unwrap();
}

/// Sends events at web.order with these satisfactions; returns their ids.
async fn events(store: &dyn Store, satisfactions: &[u8]) -> Vec<String> {
    let now = jiff::Timestamp::now();
    let inputs: Vec<Input> = satisfactions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let id = format!("ev-{}-{i}", now.as_microsecond());
            Input::new(
                serde_json::json!({ "id": id, "point": "web.order", "at": now.to_string(),
                    "party": format!("p-{i}"), "outcomes": { "satisfaction": s },
                    "data": { "basket": ["chain"], "email": "a@b.c" } })
                .to_string(),
                "test",
            )
        })
        .collect();
    let checker = ingest::checker(store).await.unwrap();
    let out = ingest::ingest(store, &Actor::local_admin(), &checker, &inputs)
        .await
        .unwrap();
    out.into_iter().map(|o| o.id.unwrap()).collect()
}

/// An answer the receiver gives: the status and extra headers.
type Answer = (StatusCode, Vec<(&'static str, String)>);

/// What the receiver answers, in turn (then 200), and what it saw.
#[derive(Default)]
struct Receiver {
    answers: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<Seen>>,
    secrets: Mutex<Vec<String>>,
}

#[derive(Debug, Clone)]
struct Seen {
    id: String,
    body: String,
    /// Whether one of the signatures verified with one of the secrets, by this file's own
    /// reading of the specification.
    verified: bool,
    signatures: usize,
}

/// The Standard Webhooks v1 check, written from the specification: base64 HMAC-SHA256 over
/// `id.timestamp.body` with the secret's bytes (base64 after `whsec_`), one or more
/// space-separated `v1,` signatures, a timestamp within five minutes.
fn verify(secret: &str, headers: &HeaderMap, body: &str) -> (bool, usize) {
    let get = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (id, ts, sigs) = (
        get("webhook-id"),
        get("webhook-timestamp"),
        get("webhook-signature"),
    );
    let Ok(ts_n) = ts.parse::<i64>() else {
        return (false, 0);
    };
    if (jiff::Timestamp::now().as_second() - ts_n).abs() > 300 {
        return (false, 0);
    }
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let list: Vec<&str> = sigs.split(' ').filter(|s| !s.is_empty()).collect();
    let ok = list
        .iter()
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()));
    (ok, list.len())
}

async fn receiver() -> (Arc<Receiver>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    receiver_on(listener).await
}

async fn receiver_on(listener: tokio::net::TcpListener) -> (Arc<Receiver>, String) {
    let state = Arc::new(Receiver::default());
    let shared = Arc::clone(&state);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let r = Arc::clone(&shared);
            async move {
                let secrets = r.secrets.lock().unwrap().clone();
                let checks: Vec<(bool, usize)> =
                    secrets.iter().map(|s| verify(s, &headers, &body)).collect();
                r.seen.lock().unwrap().push(Seen {
                    id: headers
                        .get("webhook-id")
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned(),
                    body,
                    verified: checks.iter().any(|c| c.0),
                    signatures: checks.first().map_or(0, |c| c.1),
                });
                let (status, extra) = r
                    .answers
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or((StatusCode::OK, vec![]));
                let mut h = HeaderMap::new();
                for (k, v) in extra {
                    h.insert(k, v.parse().unwrap());
                }
                (status, h, "ok").into_response()
            }
        }),
    );
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (state, url)
}

const LOW: &str = "key: low\nwhen:\n  event: { point: web.order, \"outcomes.satisfaction\": { lte: 2 } }\ndo: [ { endpoint: crm } ]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_and_dead_after_the_schedule() {
    for (store, _dir) in stores().await {
        let store = &store;
        let (rx, url) = receiver().await;
        let secret = endpoint(store.as_ref(), "crm", EndpointKind::Webhook, &url)
            .await
            .unwrap();
        rx.secrets.lock().unwrap().push(secret);
        rule(store.as_ref(), LOW).await;
        // Two firings: the first is refused twice (a 500, then a 429 asking for no wait),
        // then taken; the second refused three times and so dead.
        {
            let mut a = rx.answers.lock().unwrap();
            a.push_back((StatusCode::INTERNAL_SERVER_ERROR, vec![]));
            a.push_back((StatusCode::SERVICE_UNAVAILABLE, vec![]));
        }
        let ids = events(store.as_ref(), &[1, 5]).await;
        let d = Dispatcher::new(Arc::clone(store), keys(), config()).unwrap();
        let total = d.run_until_idle().await.unwrap();
        assert_eq!(
            (total.delivered, total.dead),
            (1, 0),
            "{}: {total:?}",
            store.backend()
        );
        let seen = rx.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "two refusals, then the delivery");
        assert!(
            seen.iter().all(|s| s.verified && s.signatures == 1),
            "{seen:?}"
        );
        assert!(
            seen.iter().all(|s| s.id == seen[0].id),
            "one id on every retry"
        );
        let body: serde_json::Value = serde_json::from_str(&seen[2].body).unwrap();
        assert_eq!(body["type"], "event");
        assert_eq!(body["rule"], "low");
        assert_eq!(body["event"]["id"], ids[0].as_str());
        let (delivery, attempts) = store.delivery(&seen[0].id).await.unwrap().unwrap();
        assert_eq!(delivery.state, DeliveryState::Delivered);
        let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [Some(500), Some(503), Some(200)]);
        // A delivery acknowledged is not sent again unless replayed.
        assert_eq!(d.run_until_idle().await.unwrap().claimed, 0);

        // Now every answer fails: three attempts, then dead; kept and replayable.
        {
            let mut a = rx.answers.lock().unwrap();
            for _ in 0..3 {
                a.push_back((StatusCode::BAD_REQUEST, vec![]));
            }
        }
        events(store.as_ref(), &[2]).await;
        let total = d.run_until_idle().await.unwrap();
        assert_eq!((total.delivered, total.dead), (0, 1));
        let dead = store
            .deliveries(&DeliveryFilter {
                state: Some(DeliveryState::Dead),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(dead.len(), 1);
        feed::replay(
            store.as_ref(),
            &Actor::local_admin(),
            &[dead[0].id.clone()],
            &DeliveryFilter::default(),
        )
        .await
        .unwrap();
        let total = d.run_until_idle().await.unwrap();
        assert_eq!(total.delivered, 1, "the replay is delivered");
        assert_eq!(rx.seen.lock().unwrap().len(), 3 + 3 + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_endpoint_and_rotation_signs_twice() {
    for (store, _dir) in stores().await {
        let store = &store;
        let (rx, url) = receiver().await;
        let secret = endpoint(store.as_ref(), "crm", EndpointKind::Webhook, &url)
            .await
            .unwrap();
        rx.secrets.lock().unwrap().push(secret);
        endpoint(store.as_ref(), "ops", EndpointKind::Webhook, &url).await;
        rule(store.as_ref(), LOW).await;
        rule(
            store.as_ref(),
            "key: gone\nwhen: { lifecycle: endpoint_disabled }\ndo: [ { endpoint: ops } ]\n",
        )
        .await;
        rx.answers
            .lock()
            .unwrap()
            .push_back((StatusCode::GONE, vec![]));
        events(store.as_ref(), &[1]).await;
        let d = Dispatcher::new(Arc::clone(store), keys(), config()).unwrap();
        d.run_until_idle().await.unwrap();
        let state = touchbase_store::load(store.as_ref()).await.unwrap().value;
        let crm = state.endpoint("crm").unwrap();
        assert!(
            crm.disabled.as_ref().unwrap().reason.contains("410"),
            "{crm:?}"
        );
        // The lifecycle rule told `ops`; the delivery to `crm` waits, pending.
        let seen = rx.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        let told: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
        assert_eq!(told["type"], "lifecycle.endpoint_disabled");
        let pending = store
            .deliveries(&DeliveryFilter {
                endpoint: Some("crm".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(pending[0].state, DeliveryState::Pending);

        // Enabled again with a rotated secret: both generations sign, each verifies.
        feed::set_endpoint_disabled(store.as_ref(), &Actor::local_admin(), "crm", None)
            .await
            .unwrap();
        let new = feed::rotate_endpoint(
            store.as_ref(),
            &Actor::local_admin(),
            &keys(),
            "crm",
            3_600_000_000,
        )
        .await
        .unwrap()
        .secret
        .unwrap();
        let old = rx.secrets.lock().unwrap()[0].clone();
        *rx.secrets.lock().unwrap() = vec![new.clone()];
        d.run_until_idle().await.unwrap();
        let last = rx.seen.lock().unwrap().last().cloned().unwrap();
        assert!(last.verified && last.signatures == 2, "{last:?}");
        *rx.secrets.lock().unwrap() = vec![old];
        feed::replay(
            store.as_ref(),
            &Actor::local_admin(),
            std::slice::from_ref(&last.id),
            &DeliveryFilter::default(),
        )
        .await
        .unwrap();
        d.run_until_idle().await.unwrap();
        assert!(
            rx.seen.lock().unwrap().last().unwrap().verified,
            "the old secret still verifies"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_redirects_and_private_addresses() {
    for (store, _dir) in stores().await {
        let store = &store;
        let (rx, url) = receiver().await;
        endpoint(store.as_ref(), "crm", EndpointKind::Webhook, &url).await;
        rule(store.as_ref(), LOW).await;
        rx.answers.lock().unwrap().push_back((
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "120".into())],
        ));
        events(store.as_ref(), &[1]).await;
        let mut c = config();
        c.schedule_s = vec![0, 5, 300];
        let d = Dispatcher::new(Arc::clone(store), keys(), c).unwrap();
        let before = ingest::now_us();
        d.run_until_idle().await.unwrap();
        let list = store.deliveries(&DeliveryFilter::default()).await.unwrap();
        assert!(
            list[0].due_at >= before + 120_000_000,
            "Retry-After: 120 is honoured"
        );

        // A redirect is a failure, not followed.
        rx.answers.lock().unwrap().push_back((
            StatusCode::FOUND,
            vec![("location", "http://elsewhere.invalid/".into())],
        ));
        feed::replay(
            store.as_ref(),
            &Actor::local_admin(),
            &[list[0].id.clone()],
            &DeliveryFilter::default(),
        )
        .await
        .unwrap();
        d.step().await.unwrap();
        let (_, attempts) = store.delivery(&list[0].id).await.unwrap().unwrap();
        assert_eq!(attempts.last().unwrap().status, Some(302));
        assert!(attempts.last().unwrap().detail.contains("not followed"));

        // Without allow_private: refused when declared, and a name that resolves to
        // loopback is refused when sent.
        let refused = feed::add_endpoint(
            store.as_ref(),
            &Actor::local_admin(),
            &keys(),
            NewEndpoint {
                key: "lan".into(),
                kind: EndpointKind::Webhook,
                target: url.clone(),
                allow_private: false,
            },
        )
        .await
        .unwrap_err();
        assert!(refused.to_string().contains("target"), "{refused}");
        let port = url.split(':').nth(2).unwrap().split('/').next().unwrap();
        // `localhost` is refused when declared too; written past that check (as a name that
        // resolved elsewhere when it was declared), the send still refuses it.
        assert!(
            feed::add_endpoint(
                store.as_ref(),
                &Actor::local_admin(),
                &keys(),
                NewEndpoint {
                    key: "named".into(),
                    kind: EndpointKind::Webhook,
                    target: format!("http://localhost:{port}/hook"),
                    allow_private: false
                },
            )
            .await
            .is_err()
        );
        touchbase_store::update(
            store.as_ref(),
            &Actor::local_admin(),
            "test",
            |state, now| {
                let mut e = state.endpoint("crm").unwrap().clone();
                e.key = "named".into();
                e.target = format!("http://localhost:{port}/hook");
                e.allow_private = false;
                e.created_at = now.to_owned();
                state.endpoints.push(e);
                Ok(())
            },
        )
        .await
        .unwrap();
        rule(
            store.as_ref(),
            "key: named\nwhen:\n  event: { point: web.order }\ndo: [ { endpoint: named } ]\n",
        )
        .await;
        let seen_before = rx.seen.lock().unwrap().len();
        events(store.as_ref(), &[4]).await;
        d.step().await.unwrap();
        assert_eq!(
            rx.seen.lock().unwrap().len(),
            seen_before,
            "nothing reached the loopback receiver"
        );
        let named = store
            .deliveries(&DeliveryFilter {
                endpoint: Some("named".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            named[0]
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("private"),
            "{named:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_and_mqtt_endpoints_deliver_on_acknowledgement() {
    let nats = async_nats::connect(env("TOUCHBASE_TEST_NATS"))
        .await
        .unwrap();
    for (store, _dir) in stores().await {
        let store = &store;
        let n = ingest::now_us();
        let subject = format!("touchbase.test.feed.{n}");
        let topic = format!("touchbase/test/restock/{n}");
        endpoint(store.as_ref(), "bus", EndpointKind::Nats, &subject).await;
        endpoint(store.as_ref(), "shelf", EndpointKind::Mqtt, &topic).await;
        rule(store.as_ref(), "key: low\nwhen:\n  event: { point: web.order, \"outcomes.satisfaction\": { lte: 2 } }\ndo: [ { endpoint: bus }, { endpoint: shelf } ]\n").await;

        // A device listening for its commands.
        let (host, port) = touchbase_feed::mqtt::parse_url(&env("TOUCHBASE_TEST_MQTT")).unwrap();
        let mut opts = rumqttc::MqttOptions::new(format!("device-{n}"), host, port);
        opts.set_keep_alive(Duration::from_secs(5));
        let (device, mut device_events) = rumqttc::AsyncClient::new(opts, 16);
        device
            .subscribe(&topic, rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&got);
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        tokio::spawn(async move {
            while let Ok(ev) = device_events.poll().await {
                match ev {
                    rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => sink
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&p.payload).into_owned()),
                    _ => {}
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), subscribed)
            .await
            .unwrap()
            .unwrap();

        events(store.as_ref(), &[1]).await;
        let d = Dispatcher::new(Arc::clone(store), keys(), config()).unwrap();
        let total = d.run_until_idle().await.unwrap();
        assert_eq!(total.delivered, 2, "{}: {total:?}", store.backend());

        // JetStream holds it once, under the delivery's id.
        let js = async_nats::jetstream::new(nats.clone());
        let stream_name = js.stream_by_subject(&subject).await.unwrap();
        let mut stream = js.get_stream(&stream_name).await.unwrap();
        assert_eq!(stream.info().await.unwrap().state.messages, 1);
        let message = stream
            .get_last_raw_message_by_subject(&subject)
            .await
            .unwrap();
        let bus = store
            .deliveries(&DeliveryFilter {
                endpoint: Some("bus".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let headers = message.headers;
        assert_eq!(
            headers.get("Nats-Msg-Id").map(|v| v.as_str()),
            Some(bus[0].id.as_str())
        );
        // Sent again (a replay, as after a lost acknowledgement): the server keeps it once.
        feed::replay(
            store.as_ref(),
            &Actor::local_admin(),
            &[bus[0].id.clone()],
            &DeliveryFilter::default(),
        )
        .await
        .unwrap();
        d.run_until_idle().await.unwrap();
        assert_eq!(
            stream.info().await.unwrap().state.messages,
            1,
            "deduplicated by Nats-Msg-Id"
        );
        let (_, attempts) = store.delivery(&bus[0].id).await.unwrap().unwrap();
        assert!(
            attempts.last().unwrap().detail.contains("duplicate"),
            "{attempts:?}"
        );

        // The device got its command.
        for _ in 0..50 {
            if !got.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got = got.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "{got:?}");
        let body: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
        assert_eq!(body["rule"], "low");
        js.delete_stream(&stream_name).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_rules_fire_on_the_breach_and_again_on_resolution() {
    for (store, _dir) in stores().await {
        let store = &store;
        let (rx, url) = receiver().await;
        endpoint(store.as_ref(), "ops", EndpointKind::Webhook, &url).await;
        rule(
            store.as_ref(),
            "key: orders-unhappy\nwhen:\n  metric: { point: web.order, figure: satisfaction_avg, window: 24h, below: 3, resolve_above: 3.5, min_volume: 5 }\nevery: 1m\ndo: [ { endpoint: ops } ]\n",
        )
        .await;
        let d = Dispatcher::new(Arc::clone(store), keys(), config()).unwrap();
        // Too few interactions yet: not judged.
        events(store.as_ref(), &[1, 1]).await;
        let now = ingest::now_us();
        assert_eq!(
            touchbase_feed::metric::evaluate_due(store.as_ref(), now)
                .await
                .unwrap(),
            0
        );
        events(store.as_ref(), &[1, 2, 1, 2]).await;
        // Not due again within `every`.
        assert_eq!(
            touchbase_feed::metric::evaluate_due(store.as_ref(), now + 1_000_000)
                .await
                .unwrap(),
            0
        );
        let fired = touchbase_feed::metric::evaluate_due(store.as_ref(), now + 61_000_000)
            .await
            .unwrap();
        assert_eq!(fired, 1, "{}", store.backend());
        d.run_until_idle().await.unwrap();
        // Evaluated again, still breached: quiet.
        assert_eq!(
            touchbase_feed::metric::evaluate_due(store.as_ref(), now + 122_000_000)
                .await
                .unwrap(),
            0
        );
        // Satisfied customers bring the average to 2.8 (still below), then 3.625: at or above
        // resolve_above (3.5), resolved.
        events(store.as_ref(), &[5, 5, 5, 5]).await;
        assert_eq!(
            touchbase_feed::metric::evaluate_due(store.as_ref(), now + 183_000_000)
                .await
                .unwrap(),
            0
        );
        events(store.as_ref(), &[5, 5, 5, 5, 5, 5]).await;
        assert_eq!(
            touchbase_feed::metric::evaluate_due(store.as_ref(), now + 244_000_000)
                .await
                .unwrap(),
            1
        );
        d.run_until_idle().await.unwrap();
        let seen = rx.seen.lock().unwrap().clone();
        let kinds: Vec<String> = seen
            .iter()
            .map(|s| {
                serde_json::from_str::<serde_json::Value>(&s.body).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(kinds, ["metric.breached", "metric.resolved"]);
        let breached: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
        assert_eq!(breached["metric"]["volume"], 6);
        assert_eq!(breached["metric"]["value"].as_f64(), Some(8.0 / 6.0));
        let resolved: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
        assert_eq!(resolved["metric"]["value"].as_f64(), Some(58.0 / 16.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_rules_dry_run_walks_the_history() {
    for (store, _dir) in stores().await {
        let store = &store;
        endpoint(
            store.as_ref(),
            "ops",
            EndpointKind::Webhook,
            "http://127.0.0.1:9/x",
        )
        .await;
        let hour = 3_600_000_000i64;
        let now = ingest::now_us();
        // Six unhappy orders ten to five hours ago, then twenty happy ones two hours ago.
        let mut inputs = Vec::new();
        for (i, (ago, s)) in (0..6)
            .map(|i| (10 - i, 1))
            .chain((0..20).map(|_| (2, 5)))
            .enumerate()
        {
            let at = touchbase_core::rules::instant(now - ago * hour + i as i64);
            inputs.push(Input::new(
                serde_json::json!({ "id": format!("h{i}"), "point": "web.order", "at": at,
                    "outcomes": { "satisfaction": s }, "data": { "basket": [], "email": "a@b" } })
                .to_string(),
                "test",
            ));
        }
        let checker = ingest::checker(store.as_ref()).await.unwrap();
        ingest::ingest(store.as_ref(), &Actor::local_admin(), &checker, &inputs)
            .await
            .unwrap();
        let rule = touchbase_core::rules::parse_rules(
            "key: sat\nwhen:\n  metric: { point: web.order, figure: satisfaction_avg, window: 3h, below: 3, min_volume: 3 }\nevery: 30m\ndo: [ { endpoint: ops } ]\n",
        )
        .unwrap()
        .remove(0);
        let run = feed::test_rule(
            store.as_ref(),
            &Actor::local_admin(),
            &rule,
            now - 12 * hour,
            now,
            10,
        )
        .await
        .unwrap();
        let kinds: Vec<&str> = run
            .samples
            .iter()
            .map(|s| s.body["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["metric.breached", "metric.resolved"], "{run:?}");
        assert!(
            run.note.as_deref().unwrap().contains("every 1800 s"),
            "{run:?}"
        );
        assert!(
            store
                .deliveries(&DeliveryFilter::default())
                .await
                .unwrap()
                .is_empty(),
            "nothing sent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_action_is_recorded_at_the_point_its_rule_names() {
    for (store, _dir) in stores().await {
        let store = &store;
        let (rx, url) = receiver().await;
        endpoint(store.as_ref(), "crm", EndpointKind::Webhook, &url).await;
        rule(
            store.as_ref(),
            "key: callback\nwhen:\n  event: { point: web.order, \"outcomes.satisfaction\": 1 }\ndo: [ { endpoint: crm } ]\nrecord_at: workshop.booking\n",
        )
        .await;
        // The first attempt fails: nothing is recorded until the target takes it.
        rx.answers
            .lock()
            .unwrap()
            .push_back((StatusCode::BAD_GATEWAY, vec![]));
        events(store.as_ref(), &[1]).await;
        let d = Dispatcher::new(Arc::clone(store), keys(), config()).unwrap();
        d.step().await.unwrap();
        let day = touchbase_store::rollup::day_of(ingest::now_us());
        let recorded = |store: Arc<dyn Store>| async move {
            store
                .events_of_day(day)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.point == "workshop.booking")
                .collect::<Vec<_>>()
        };
        assert!(recorded(Arc::clone(store)).await.is_empty());
        d.run_until_idle().await.unwrap();
        let at_point = recorded(Arc::clone(store)).await;
        let delivered = store.deliveries(&DeliveryFilter::default()).await.unwrap();
        assert_eq!(at_point.len(), 1, "{}", store.backend());
        assert_eq!(
            at_point[0].id, delivered[0].id,
            "recorded under the delivery's id"
        );
        assert_eq!(
            at_point[0].party.as_deref(),
            Some("p-0"),
            "the party of the event that fired"
        );
        // Sent again by a replay: recorded once (its id), and no rule fires on the record.
        feed::replay(
            store.as_ref(),
            &Actor::local_admin(),
            &[delivered[0].id.clone()],
            &DeliveryFilter::default(),
        )
        .await
        .unwrap();
        d.run_until_idle().await.unwrap();
        assert_eq!(recorded(Arc::clone(store)).await.len(), 1);
        assert_eq!(
            store
                .deliveries(&DeliveryFilter::default())
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_everything_when_it_is_back() {
    for (store, _dir) in stores().await {
        let store = &store;
        // A port with nobody listening: connections are refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/hook");
        endpoint(store.as_ref(), "crm", EndpointKind::Webhook, &url).await;
        rule(store.as_ref(), LOW).await;
        events(store.as_ref(), &[1, 2, 1]).await;
        let mut c = config();
        c.schedule_s = vec![0, 0, 0, 0, 0, 0];
        let d = Dispatcher::new(Arc::clone(store), keys(), c).unwrap();
        let first = d.step().await.unwrap();
        assert_eq!((first.claimed, first.failed, first.delivered), (3, 3, 0));
        let second = d.step().await.unwrap();
        assert_eq!(second.failed, 3, "still down");
        let pending = store.deliveries(&DeliveryFilter::default()).await.unwrap();
        assert!(
            pending.iter().all(|p| p.state == DeliveryState::Pending
                && p.last_error.as_deref().unwrap_or("").contains("onnect")),
            "{pending:?}"
        );
        // Back on the same address.
        let (rx, _) = receiver_on(
            tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap(),
        )
        .await;
        let total = d.run_until_idle().await.unwrap();
        assert_eq!(total.delivered, 3, "{}", store.backend());
        assert_eq!(rx.seen.lock().unwrap().len(), 3);
        let (_, attempts) = store.delivery(&pending[0].id).await.unwrap().unwrap();
        let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["retry", "retry", "delivered"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_action_hands_out_one_invitation_with_the_same_link_at_every_attempt() {
    use touchbase_core::link::Purpose;
    use touchbase_store::invitations::{self, KeyCustomer};
    for (store, _dir) in stores().await {
        let store = &store;
        let admin = Actor::local_admin();
        let survey = file::parse_survey(
            "key: after-order\nname: After your order\npoints: [web.order]\nquestions: [nps, change]\n",
        )
        .unwrap();
        touchbase_store::surveys::put(store.as_ref(), &admin, &survey)
            .await
            .unwrap();
        let now = ingest::now_us();
        let key = |party: &str| KeyCustomer {
            party: party.to_owned(),
            segment: "gold".to_owned(),
            source: "file".to_owned(),
            added_at: now,
        };
        invitations::put_key_customers(store.as_ref(), &admin, &[key("p-0"), key("p-1")])
            .await
            .unwrap();
        let (rx, url) = receiver().await;
        let secret = endpoint(store.as_ref(), "crm", EndpointKind::Webhook, &url)
            .await
            .unwrap();
        rx.secrets.lock().unwrap().push(secret);
        // An invite to a survey that does not exist is refused, naming the field.
        let unknown = touchbase_core::rules::parse_rules(
            &LOW.replace("{ endpoint: crm }", "{ endpoint: crm, invite: nope }"),
        )
        .unwrap();
        let e = feed::put_rules(store.as_ref(), &admin, &unknown)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("do[0].invite") && e.to_string().contains("unknown survey"),
            "{e}"
        );
        rule(
            store.as_ref(),
            &LOW.replace(
                "{ endpoint: crm }",
                "{ endpoint: crm, invite: after-order }",
            ),
        )
        .await;
        // Every first attempt fails: each delivery is sent twice.
        {
            let mut a = rx.answers.lock().unwrap();
            for _ in 0..3 {
                a.push_back((StatusCode::INTERNAL_SERVER_ERROR, vec![]));
            }
        }
        let ids = events(store.as_ref(), &[1, 2, 1]).await;
        let config = Config {
            public_url: "https://survey.example".to_owned(),
            ..config()
        };
        let d = Dispatcher::new(Arc::clone(store), keys(), config).unwrap();
        let total = d.run_until_idle().await.unwrap();
        assert_eq!(total.delivered, 3, "{}: {total:?}", store.backend());
        let seen = rx.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 6);
        assert!(seen.iter().all(|s| s.verified), "signed over the body sent");
        let mut by_party = std::collections::BTreeMap::new();
        for s in &seen {
            let body: serde_json::Value = serde_json::from_str(&s.body).unwrap();
            let party = body["event"]["party"].as_str().unwrap().to_owned();
            by_party
                .entry(party)
                .or_insert_with(Vec::new)
                .push((s.id.clone(), body));
        }
        for (party, sent) in &by_party {
            assert_eq!(sent.len(), 2, "{party}");
            assert_eq!(sent[0], sent[1], "{party}: the same body at every attempt");
        }
        let p2 = &by_party["p-2"][0].1["invitation"];
        assert_eq!(
            (p2["survey"].as_str(), p2["suppressed"].as_str()),
            (Some("after-order"), Some("not_key_customer"))
        );
        for (i, party) in ["p-0", "p-1"].iter().enumerate() {
            let inv = &by_party[*party][0].1["invitation"];
            assert_eq!(inv["party"], *party);
            let link = inv["link"].as_str().unwrap();
            let token = link
                .strip_prefix("https://survey.example/r/after-order/")
                .unwrap_or_else(|| panic!("{link}"));
            // The link opens its survey's page, for the invitation of the event that fired.
            let opened = touchbase_store::links::open(
                store.as_ref(),
                &keys(),
                Purpose::Survey,
                token,
                true,
                ingest::now_us(),
            )
            .await
            .unwrap();
            assert!(
                opened
                    .subject
                    .ends_with(inv["invitation"].as_str().unwrap())
            );
            assert_eq!(
                inv["invitation"].as_str().unwrap(),
                touchbase_core::voice::invite::invitation_id("after-order", &ids[i])
            );
        }
        let issued = store.invitations(Some("after-order")).await.unwrap();
        assert_eq!(issued.len(), 2, "one invitation per key customer's event");
    }
}
