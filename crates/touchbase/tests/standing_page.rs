//! A party's self-service page of a standing order in a real browser with JavaScript turned
//! off: a store with the small inventory, an automated point repeating each rider's first web
//! order weekly in London, one rider's first order; then `touchbase serve`, a link from
//! `touchbase standing link`, and `tests/browser/standing.mjs` under node drives Debian's
//! Chromium through playwright-core: confirm, change a quantity, add an item for the next
//! delivery only, skip the next run, a refused change; screenshots at 390 and 1280 px, axe-core.
//!
//! It needs node, `/usr/bin/chromium` and the script's npm packages (`.ci/run` installs them);
//! without them it fails, saying what to install. `TOUCHBASE_SCREENSHOTS=DIR` keeps the
//! screenshots there too.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn the_self_service_page_works_without_javascript_in_a_browser() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = "t.db";
    write(
        d,
        "shop.yaml",
        &small_automated("Europe/London", "explicit"),
    );
    // The organization's key in the file every command of a SQLite store reads by default.
    ok(d, db, &["key", "new", "--out", "t.db.key"]);
    let key = ["--key-file", "t.db.key"];
    ok(
        d,
        db,
        &[
            &["inventory", "import", "shop.yaml", "--baseline"][..],
            &key,
        ]
        .concat(),
    );
    // Rider r-1's first order three days ago (its next run four days ahead, open to changes);
    // r-2's, whose bar tape makes it a product of the point.
    let now = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap();
    let order = |id: &str, party: &str, hours: i64, basket: serde_json::Value| {
        serde_json::json!({
            "id": id, "point": "web.order", "party": party,
            "at": (now - jiff::SignedDuration::from_hours(hours)).to_string(),
            "data": { "basket": basket, "email": "r@example.org" }
        })
        .to_string()
    };
    let events = [
        order(
            "o-1",
            "r-1",
            72,
            serde_json::json!([
                { "sku": "chain-lube", "qty": 1, "price": 6.5 },
                { "sku": "tube-700c", "qty": 2, "price": 4.0 } ]),
        ),
        order(
            "o-2",
            "r-2",
            48,
            serde_json::json!([{ "sku": "bar-tape", "qty": 1, "price": 12.0 }]),
        ),
    ];
    write(d, "orders.ndjson", &format!("{}\n", events.join("\n")));
    let summary = json(&ok(
        d,
        db,
        &[&["import", "orders.ndjson", "--json"][..], &key].concat(),
    ));
    assert_eq!(summary["accepted"], 2, "{summary}");

    let (mut server, address) = start_server(d, db, &key);
    let id = touchbase_core::standing::order_id("auto.order", "r-1");
    let base = format!("http://{address}");
    let link = json(&ok(
        d,
        db,
        &[
            &["standing", "link", &id, "--base", &base, "--json"][..],
            &key,
        ]
        .concat(),
    ));
    let page = link["link"].as_str().unwrap().to_owned();
    assert!(page.starts_with(&format!("{base}/s/")), "{link}");

    let shots = std::env::var_os("TOUCHBASE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| d.join("screenshots"));
    let output = Command::new("node")
        .arg(script_dir().join("standing.mjs"))
        .current_dir(script_dir())
        .env("TB_PAGE", &page)
        .env("TB_SHOTS", &shots)
        .env_remove("TOUCHBASE_SCREENSHOTS")
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
    for name in ["standing-390-offered", "standing-390", "standing-1280"] {
        assert!(shots.join(format!("{name}.png")).exists(), "no {name}.png");
    }
}
