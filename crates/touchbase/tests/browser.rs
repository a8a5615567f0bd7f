//! The dashboard in a real browser: a store with the small inventory, an admin, an analyst and a
//! viewer, three endpoints (a receiver that takes everything, one that answers `410 Gone`, a
//! closed port), rules and a few events that fire them; then `touchbase serve`, and
//! `tests/browser/dashboard.mjs` under node drives Debian's Chromium through playwright-core:
//! the Reverse feed section, a delivery's attempts, Replay as the admin and not as the others,
//! what cutting a point would cost and the attribution chart (from journeys imported first),
//! screenshots at 1440 and 390 px, axe-core.
//!
//! It needs node, `/usr/bin/chromium` and the script's npm packages (`.ci/run` installs them);
//! without them it fails, saying what to install. `TOUCHBASE_SCREENSHOTS=DIR` keeps the
//! screenshots there too.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

/// A webhook receiver on its own thread that answers every request with `status` and `body`.
fn receiver(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = l.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut request = vec![0; length];
                    if reader.read_exact(&mut request).is_err() {
                        return;
                    }
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// A local address nothing listens on.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/hook")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn token(d: &Path, db: &str, name: &str, role: &str) -> String {
    let user = json(&ok(d, db, &["user", "add", name, "--role", role, "--json"]));
    user["token"].as_str().unwrap().to_owned()
}

#[test]
fn the_dashboard_shows_the_reverse_feed_in_a_browser() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = "t.db";
    // The organization's key in the file every command of a SQLite store reads by default
    // (`<db>.key`).
    small_sealed(d, db, "t.db.key");
    let key = ["--key-file", "t.db.key"];
    let endpoints = [
        (
            "crm",
            receiver(
                "200 OK",
                r#"{"ok":true,"note":"taken by the test receiver"}"#,
            ),
        ),
        (
            "archive",
            receiver("410 Gone", r#"{"error":"this hook is gone"}"#),
        ),
        ("pager", closed_port()),
    ];
    for (name, url) in &endpoints {
        ok(
            d,
            db,
            &[
                &["endpoint", "add", name, "--url", url, "--allow-private"][..],
                &key,
            ]
            .concat(),
        );
    }
    // Journeys for the portfolio's "Cutting it would cost" and the attribution chart,
    // imported before the rules so that they fire nothing: 40 riders order online two days
    // ago (2 each), 30 of them book a repair ten minutes later (1 each).
    let two_days_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(48);
    let mut journeys = String::new();
    for i in 0..40_i64 {
        let at = two_days_ago + jiff::SignedDuration::from_mins(i);
        journeys.push_str(&format!(
            "{}\n",
            serde_json::json!({ "id": format!("order-{i}"), "point": "web.order",
                "at": at.to_string(), "party": format!("rider-{i}"), "value": { "company": 2 },
                "data": { "basket": [1], "email": "r@b" } })
        ));
        if i < 30 {
            let later = at + jiff::SignedDuration::from_mins(10);
            journeys.push_str(&format!(
                "{}\n",
                serde_json::json!({ "id": format!("repair-{i}"), "point": "workshop.booking",
                    "at": later.to_string(), "party": format!("rider-{i}"),
                    "value": { "company": 1 }, "data": { "bike": "BMX" } })
            ));
        }
    }
    write(d, "journeys.ndjson", &journeys);
    ok(d, db, &["import", "journeys.ndjson"]);
    // The description holds markup: the page must show it as text.
    write(
        d,
        "rules.yaml",
        r#"key: low-csat
description: Tells the CRM about <b class="injected">unhappy</b> riders & "others"
when:
  event: { point: web.order, "outcomes.satisfaction": { lte: 2 } }
do: [ { endpoint: crm }, { endpoint: pager } ]
---
key: bookings
when:
  event: { point: workshop.booking }
do: [ { endpoint: archive } ]
---
key: went-live
when:
  lifecycle: point_live
do: [ { endpoint: crm } ]
disabled: true
"#,
    );
    ok(d, db, &["rule", "add", "--file", "rules.yaml"]);
    let admin = token(d, db, "ada", "admin");
    let analyst = token(d, db, "ann", "analyst");
    let viewer = token(d, db, "vic", "viewer");

    let (mut server, address) = start_server(d, db, &key);
    let now = jiff::Timestamp::now().to_string();
    let mut events: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            serde_json::json!({ "id": format!("low-{i}"), "point": "web.order", "at": now,
                "outcomes": { "satisfaction": 1 }, "data": { "basket": [], "email": "a@b" } })
        })
        .collect();
    events.push(
        serde_json::json!({ "id": "booking-1", "point": "workshop.booking", "at": now,
        "data": { "bike": "BMX" } }),
    );
    let (status, reply) = http(
        &address,
        "POST",
        "/api/events",
        &admin,
        &serde_json::Value::Array(events).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{reply}");

    // Each delivery tried once: the receiver's taken, the closed port's pending with its error,
    // the gone endpoint disabled.
    let started = Instant::now();
    loop {
        let (_, list) = http(&address, "GET", "/api/deliveries?limit=100", &admin, "").unwrap();
        let (_, ends) = http(&address, "GET", "/api/endpoints", &admin, "").unwrap();
        let list = json(&list);
        let list = list.as_array().unwrap();
        let of = |e: &'static str| list.iter().filter(move |l| l["endpoint"] == e);
        let ready = list.len() == 7
            && of("crm").count() == 3
            && of("crm").all(|l| l["state"] == "delivered")
            && of("pager").count() == 3
            && of("pager")
                .all(|l| l["attempts"].as_u64() >= Some(1) && l["last_error"].is_string())
            && json(&ends)
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["key"] == "archive" && e["disabled"].is_object());
        if ready {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the deliveries did not settle in 30 s: {list:#?}\nendpoints: {ends}\nserver log:\n{}",
            std::fs::read_to_string(d.join("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let shots = d.join("screenshots");
    let output = Command::new("node")
        .arg(script_dir().join("dashboard.mjs"))
        .current_dir(script_dir())
        .env("TB_URL", format!("http://{address}"))
        .env("TB_ADMIN", &admin)
        .env("TB_ANALYST", &analyst)
        .env("TB_VIEWER", &viewer)
        .env("TB_SHOTS", &shots)
        .env("TB_RULE", "low-csat")
        .env("TB_OK", "crm")
        .env("TB_GONE", "archive")
        .env("TB_CLOSED", "pager")
        .output()
        .expect("node runs");
    server.kill().unwrap();
    server.wait().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "the browser script failed ({}):\n{stdout}{stderr}\nscreenshots in {}\nserver log:\n{}",
        output.status,
        shots.display(),
        std::fs::read_to_string(d.join("server.log")).unwrap_or_default()
    );
    for name in [
        "admin-1440",
        "admin-390",
        "viewer-390",
        "admin-1440-attribution",
        "admin-390-attribution",
    ] {
        assert!(shots.join(format!("{name}.png")).exists(), "no {name}.png");
    }
}
