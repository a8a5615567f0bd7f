//! MQTT ingest as devices use it, in a test binary of its own so that the broker restart
//! runs without the other tests competing for the machine.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::*;

/// The MQTT broker the tests use, from `TOUCHBASE_TEST_MQTT` (`.ci/run` sets it).
fn mqtt_url() -> String {
    std::env::var("TOUCHBASE_TEST_MQTT").unwrap_or_else(|_| {
        panic!(
            "TOUCHBASE_TEST_MQTT is unset: the MQTT tests need a broker. Set it, e.g. \
             TOUCHBASE_TEST_MQTT=mqtt://127.0.0.1:1883, or run `bash .ci/run`."
        )
    })
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Starts `touchbase serve --mqtt` on a store holding the small inventory; returns the server,
/// its address and an owner's token.
fn serve_with_mqtt(dir: &Path, url: &str, topic: &str) -> (std::process::Child, String, String) {
    write(dir, "small.yaml", SMALL);
    ok(
        dir,
        "t.db",
        &["inventory", "import", "small.yaml", "--baseline"],
    );
    let user: serde_json::Value = serde_json::from_str(&ok(
        dir,
        "t.db",
        &["user", "add", "feed", "--role", "owner", "--json"],
    ))
    .unwrap();
    let client_id = unique("touchbase-test");
    let mqtt = [
        "--mqtt",
        url,
        "--mqtt-topic",
        topic,
        "--mqtt-client-id",
        &client_id,
    ];
    let (child, address) = start_server(dir, "t.db", &mqtt);
    (child, address, user["token"].as_str().unwrap().to_owned())
}

/// Waits until the held volume of `point` reaches `n` (events at a point that is not live are
/// held, so the count is readable without adding events); panics after 60 s with the server's log.
fn wait_for_held(address: &str, token: &str, point: &str, n: u64, log: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = 0;
    while std::time::Instant::now() < deadline {
        if let Ok((200, body)) = http(address, "GET", "/api/undocumented", token, "") {
            let held: serde_json::Value = serde_json::from_str(&body).unwrap();
            seen = held
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["point"] == point)
                .map_or(0, |h| h["volume"].as_u64().unwrap());
            if seen >= n {
                assert_eq!(seen, n, "more events than were sent");
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    panic!(
        "only {seen} of {n} MQTT events arrived at {point}; the server's log ends:\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// Publishes one message with QoS 1 on a connection of its own and waits for the broker's
/// PUBACK; retries (a device would) until the broker has it.
async fn publish_one(host: &str, port: u16, topic: &str, payload: &str) {
    loop {
        let mut options = rumqttc::MqttOptions::new(unique("publisher"), host, port);
        options.set_keep_alive(std::time::Duration::from_secs(5));
        let (client, mut events) = rumqttc::AsyncClient::new(options, 10);
        client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.to_owned())
            .await
            .unwrap();
        let acked = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            loop {
                match events.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
        })
        .await
        .unwrap_or(false);
        let _ = client.disconnect().await;
        if acked {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Publishes `count` events for `point` (some messages carry an array); `pause` is called after
/// the `at`-th message (to restart the broker).
async fn publish(
    url: &str,
    topic: &str,
    point: &str,
    count: usize,
    at: usize,
    pause: impl FnOnce(),
) {
    let rest = url.trim_start_matches("mqtt://");
    let (host, port) = rest.rsplit_once(':').unwrap();
    let port: u16 = port.parse().unwrap();
    let mut pause = Some(pause);
    for i in 0..count {
        let event = serde_json::json!({ "id": format!("{point}-{i}"), "point": point, "at": "2026-03-01T09:30:00Z" });
        let payload = if i % 10 == 0 {
            serde_json::json!([event])
        } else {
            event
        };
        publish_one(
            host,
            port,
            &format!("{topic}/device-{}", i % 7),
            &payload.to_string(),
        )
        .await;
        if i + 1 == at
            && let Some(pause) = pause.take()
        {
            pause();
        }
    }
}

/// MQTT ingest against the machine's broker: single events and arrays, QoS 1.
#[test]
fn mqtt_events_are_taken() {
    let url = mqtt_url();
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("touchbase-test");
    let (mut server, address, token) = serve_with_mqtt(dir.path(), &url, &format!("{topic}/#"));
    std::thread::sleep(std::time::Duration::from_millis(500)); // subscribed
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(publish(&url, &topic, "iot.fridge", 120, 0, || {}));
    wait_for_held(
        &address,
        &token,
        "iot.fridge",
        120,
        &dir.path().join("server.log"),
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A broker restart while messages flow loses nothing: a private broker of the same kind,
/// with persistence, is stopped and started again in the middle of the stream.
#[test]
fn mqtt_survives_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            // `user root`: a broker started as root otherwise drops to the `mosquitto` user, which
            // cannot write its persistence file into this test's directory. `autosave_on_changes`
            // with an interval of 1 saves after every change: with periodic saves only, a broker
            // restarts from its last snapshot and forgets messages it acknowledged since (seen
            // here: 5 to 12 of 300), which no subscriber can recover.
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location {}/\nautosave_on_changes true\nautosave_interval 1\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let start_broker = || {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs (Debian's package `mosquitto`)");
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child
    };
    let broker = std::sync::Arc::new(std::sync::Mutex::new(start_broker()));
    let url = format!("mqtt://127.0.0.1:{port}");
    let topic = unique("touchbase-test");
    let (mut server, address, token) = serve_with_mqtt(dir.path(), &url, &format!("{topic}/#"));
    std::thread::sleep(std::time::Duration::from_millis(500));

    let restart = {
        let broker = broker.clone();
        move || {
            let mut old = broker.lock().unwrap();
            // SIGTERM: the broker saves its sessions and queued messages, as in a restart.
            Command::new("kill")
                .arg(old.id().to_string())
                .status()
                .unwrap();
            old.wait().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            *old = start_broker();
        }
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(publish(&url, &topic, "iot.restart", 300, 120, restart));
    wait_for_held(
        &address,
        &token,
        "iot.restart",
        300,
        &dir.path().join("server.log"),
    );
    server.kill().unwrap();
    server.wait().unwrap();
    broker.lock().unwrap().kill().unwrap();
}
