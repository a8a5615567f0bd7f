//! The binary as a user runs it: each test drives `touchbase` in a scratch directory, on the
//! embedded store and, where it says so, on PostgreSQL (`TOUCHBASE_TEST_PG`).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use touchbase_store_postgres::test_support::TestDatabases;

const DEMO: &str = include_str!("../src/demo/northwind.yaml");
const SMALL: &str = include_str!("../../touchbase-store/src/conformance/small.yaml");

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn touchbase(dir: &Path, db: &str, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_touchbase"))
        .current_dir(dir)
        .env_remove("TOUCHBASE_DB")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("touchbase runs");
    Run {
        ok: status.success(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn ok(dir: &Path, db: &str, args: &[&str]) -> String {
    let run = touchbase(dir, db, args);
    assert!(
        run.ok,
        "touchbase {args:?} failed:\n{}{}",
        run.stdout, run.stderr
    );
    run.stdout
}

fn fails(dir: &Path, db: &str, args: &[&str]) -> String {
    let run = touchbase(dir, db, args);
    assert!(
        !run.ok,
        "touchbase {args:?} should have failed:\n{}",
        run.stdout
    );
    run.stderr
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Import → export → import into a fresh store → export gives identical bytes.
fn round_trip(dir: &Path, first: &str, second: &str, text: &str) {
    let file = write(dir, "in.yaml", text);
    ok(dir, first, &["inventory", "import", file.to_str().unwrap()]);
    let exported = ok(dir, first, &["inventory", "export"]);
    assert_eq!(
        exported,
        ok(dir, first, &["inventory", "export"]),
        "two exports differ"
    );
    ok(dir, first, &["inventory", "export", "--out", "out.yaml"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("out.yaml")).unwrap(),
        exported
    );

    ok(dir, second, &["inventory", "import", "out.yaml"]);
    assert_eq!(
        ok(dir, second, &["inventory", "export"]),
        exported,
        "export → import → export differs"
    );
    let again = ok(dir, first, &["inventory", "import", "out.yaml"]);
    assert!(again.starts_with("no changes"), "{again}");
}

#[test]
fn round_trip_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(dir.path(), "demo-a.db", "demo-b.db", DEMO);
    round_trip(dir.path(), "small-a.db", "small-b.db", SMALL);
}

#[test]
fn round_trip_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let databases = TestDatabases::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let urls: Vec<String> = (0..4).map(|_| rt.block_on(databases.fresh())).collect();
    round_trip(dir.path(), &urls[0], &urls[1], DEMO);
    round_trip(dir.path(), &urls[2], &urls[3], SMALL);
    // The same file gives the same bytes on both stores.
    let sqlite = dir.path().join("same.db");
    ok(
        dir.path(),
        sqlite.to_str().unwrap(),
        &["inventory", "import", "in.yaml"],
    );
    assert_eq!(
        ok(
            dir.path(),
            sqlite.to_str().unwrap(),
            &["inventory", "export"]
        ),
        ok(dir.path(), &urls[2], &["inventory", "export"])
    );
}

#[test]
fn dry_run_shows_field_changes_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "small.yaml", SMALL);
    ok(d, "t.db", &["inventory", "import", "small.yaml"]);
    let before = ok(d, "t.db", &["inventory", "export"]);
    write(
        d,
        "edited.yaml",
        &SMALL
            .replace("cost: 0.35", "cost: 0.4")
            .replace("name: Repair booking", "name: Workshop booking"),
    );
    let plan = ok(
        d,
        "t.db",
        &["inventory", "import", "edited.yaml", "--dry-run"],
    );
    assert!(
        plan.contains("~ point web.order\n    expected.cost: 0.35 → 0.4\n"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "~ point workshop.booking\n    name: \"Repair booking\" → \"Workshop booking\"\n"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("0 would be added, 2 changed, 0 removed"),
        "{plan}"
    );
    assert!(plan.contains("dry run: nothing was changed"), "{plan}");
    assert_eq!(ok(d, "t.db", &["inventory", "export"]), before);

    let json: serde_json::Value = serde_json::from_str(&ok(
        d,
        "t.db",
        &["inventory", "import", "edited.yaml", "--dry-run", "--json"],
    ))
    .unwrap();
    assert_eq!(json["changed"], 2);
    assert_eq!(json["changes"][0]["fields"][0]["field"], "expected.cost");
}

#[test]
fn broken_files_are_refused_with_point_field_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "bad.yaml",
        &SMALL.replace(
            "class: transactional, type: array",
            "class: secret, type: array",
        ),
    );
    let err = fails(d, "t.db", &["inventory", "import", "bad.yaml"]);
    assert!(err.contains("`bad.yaml` was not imported"), "{err}");
    assert!(
        err.contains("point `web.order`: data[0].class: unknown variant `secret`"),
        "{err}"
    );

    write(
        d,
        "bad2.yaml",
        &SMALL.replace("automation: 0.4", "automation: 4"),
    );
    let err = fails(d, "t.db", &["inventory", "import", "bad2.yaml"]);
    assert!(
        err.contains("point `workshop.booking`: automation: must be between 0 and 1, got 4"),
        "{err}"
    );
    let err = fails(d, "t.db", &["point", "list"]);
    assert!(err.contains("holds no inventory yet"), "{err}");
}

#[test]
fn point_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        "t.db",
        &["init", "--name", "Spoke & Chain", "--currency", "EUR"],
    );
    write(d, "small.yaml", SMALL);
    ok(d, "t.db", &["inventory", "import", "small.yaml"]);

    let list: serde_json::Value =
        serde_json::from_str(&ok(d, "t.db", &["point", "list", "--json"])).unwrap();
    let keys: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["phone.support", "web.order", "workshop.booking"]);
    let live = ok(d, "t.db", &["point", "list", "--status", "live"]);
    assert!(
        live.contains("web.order") && !live.contains("phone.support"),
        "{live}"
    );

    let mut point = ok(d, "t.db", &["point", "show", "web.order"]);
    point = point
        .replace("key: web.order", "key: app.order")
        .replace("channel: web", "channel: app");
    write(d, "point.yaml", &point);
    assert!(
        ok(d, "t.db", &["point", "add", "--file", "point.yaml"]).contains("added point app.order")
    );
    let err = fails(d, "t.db", &["point", "add", "--file", "point.yaml"]);
    assert!(err.contains("a point `app.order` exists already"), "{err}");

    let edited = ok(
        d,
        "t.db",
        &[
            "point",
            "edit",
            "app.order",
            "--set",
            "expected.cost=0.2",
            "--set",
            "facets=[product]",
        ],
    );
    assert!(edited.contains("expected.cost: 0.35 → 0.2"), "{edited}");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(d, "t.db", &["point", "show", "app.order", "--json"])).unwrap();
    assert_eq!(shown["expected"]["cost"], 0.2);
    assert_eq!(shown["facets"], serde_json::json!(["product"]));

    let err = fails(
        d,
        "t.db",
        &["point", "edit", "app.order", "--set", "function=astrology"],
    );
    assert!(err.contains("point `app.order`: function: unknown business function `astrology`; declared: marketing, sales, fulfillment, finance, service, workshop"), "{err}");
    let err = fails(
        d,
        "t.db",
        &["point", "edit", "app.order", "--set", "mode=robot"],
    );
    assert!(
        err.contains("point `app.order`: mode: unknown variant `robot`"),
        "{err}"
    );

    assert!(ok(d, "t.db", &["point", "retire", "app.order"]).contains("retired point app.order"));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(d, "t.db", &["point", "show", "app.order", "--json"])).unwrap();
    assert_eq!(shown["status"], "retired");
    let err = fails(d, "t.db", &["point", "show", "nope"]);
    assert!(err.contains("no point `nope`"), "{err}");
}

#[test]
fn init_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), "t.db", &["init", "--name", "Acme"]);
    let err = fails(dir.path(), "t.db", &["init", "--name", "Acme"]);
    assert!(err.contains("already holds the inventory of Acme"), "{err}");
}

/// `touchbase demo` creates the demo store, prints where to look, and serves it.
#[test]
fn demo_creates_the_organization_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_touchbase"))
        .current_dir(dir.path())
        .env_remove("TOUCHBASE_DB")
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let url = loop {
        let line = lines.next().expect("demo printed its URL").unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.trim().strip_prefix("dashboard") {
            break rest.trim().trim_end_matches('/').to_owned();
        }
    };
    assert!(printed.contains("Northwind Grocers"), "{printed}");
    assert!(dir.path().join("touchbase-demo.db").exists());

    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /api/points?status=live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""key":"store.checkout""#), "{response}");

    let list = ok(
        dir.path(),
        "touchbase-demo.db",
        &["point", "list", "--json"],
    );
    let points: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert!(points.as_array().unwrap().len() >= 25);
}
