//! `touchbase audit verify` as an operator runs it, on both stores: the key file and the head
//! file the binary keeps, `--json`, the exit code, rotation, and writers without the key. The
//! tampering kinds themselves are the conformance suite's (`touchbase-store`), run on each
//! store.

mod support;

use std::path::Path;

use serde_json::Value;
use support::*;
use touchbase_store_postgres::test_support::TestDatabases;

/// `audit verify --json`: its JSON and whether it passed.
fn verify(dir: &Path, db: &str, extra: &[&str]) -> (bool, Value) {
    let mut args = extra.to_vec();
    args.extend(["audit", "verify", "--json"]);
    let run = touchbase(dir, db, &args);
    let json = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr));
    (run.ok, json)
}

fn populate(dir: &Path, db: &str, extra: &[&str]) {
    write(dir, "small.yaml", SMALL);
    let run = |args: &[&str]| {
        let mut all = extra.to_vec();
        all.extend(args);
        ok(dir, db, &all);
    };
    run(&["inventory", "import", "small.yaml", "--baseline"]);
    run(&["user", "add", "ana", "--role", "analyst"]);
}

#[test]
fn a_sqlite_store_is_sealed_and_its_head_kept_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    populate(d, "t.db", &[]);
    assert!(d.join("t.db.key").exists() && d.join("t.db.head").exists());
    let (passed, v) = verify(d, "t.db", &[]);
    assert!(passed, "{v}");
    let records = v["records"].as_u64().unwrap();
    assert!(records > 5);
    assert_eq!(v["intact"], true);
    assert_eq!(v["sealed_records"], records);
    assert_eq!(v["seals_checked"], records);
    assert_eq!(v["head"]["seq"], records);
    assert_eq!(v["head"]["sealed"], true);
    assert!(v["entities_replayed"].as_u64().unwrap() > 5);
    assert_eq!(v["problem"], Value::Null);
    let text = ok(d, "t.db", &["audit", "verify"]);
    assert!(text.starts_with("audit trail intact: "), "{text}");

    // The last two records removed behind touchbase's back.
    {
        let db = rusqlite::Connection::open(d.join("t.db")).unwrap();
        db.execute_batch(&format!(
            "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq >= {}",
            records - 1
        ))
        .unwrap();
    }
    let (passed, v) = verify(d, "t.db", &[]);
    assert!(!passed, "a problem exits nonzero");
    assert_eq!(v["intact"], false);
    assert_eq!(v["problem"]["kind"], "truncated", "{v}");
    let err = fails(d, "t.db", &["audit", "verify"]);
    assert!(err.contains("the last records were removed"), "{err}");
}

#[test]
fn rotation_keeps_what_the_old_key_sealed_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    populate(d, "t.db", &[]);
    let printed = ok(d, "t.db", &["key", "rotate"]);
    assert!(printed.contains("retired"), "{printed}");
    let file = std::fs::read_to_string(d.join("t.db.key")).unwrap();
    assert_eq!(
        file.lines()
            .filter(|l| l.starts_with("retired tbkey_"))
            .count(),
        1
    );
    ok(d, "t.db", &["user", "add", "bo", "--role", "viewer"]);
    let (passed, v) = verify(d, "t.db", &[]);
    assert!(passed, "{v}");
    assert_eq!(v["seals_checked"], v["records"]);
    let log: Value = serde_json::from_str(&ok(d, "t.db", &["audit", "log", "--json"])).unwrap();
    let keys: std::collections::BTreeSet<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "two keys sealed the trail: {keys:?}");
    assert!(keys.contains(v["key"].as_str().unwrap()));

    // The retired key dropped from the file: the records it sealed cannot be vouched for, and
    // the trail cannot be continued with a key it does not know.
    let current = file.lines().next().unwrap();
    std::fs::write(d.join("t.db.key"), format!("{current}\n")).unwrap();
    let (passed, v) = verify(d, "t.db", &[]);
    assert!(!passed);
    assert_eq!(v["problem"]["kind"], "unknown_key", "{v}");
}

#[test]
fn a_postgres_store_is_sealed_with_the_key_file_and_its_head_where_the_operator_says() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let databases = TestDatabases::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(databases.fresh());
    ok(d, &url, &["key", "new", "--out", "org.key"]);
    let sealed = ["--key-file", "org.key", "--audit-head", "trail.head"];
    populate(d, &url, &sealed);
    let (passed, v) = verify(d, &url, &sealed);
    assert!(passed, "{v}");
    let records = v["records"].as_u64().unwrap();
    assert_eq!(
        (v["seals_checked"].as_u64(), v["head"]["seq"].as_u64()),
        (Some(records), Some(records))
    );
    assert!(d.join("trail.head").exists());

    // Without the key the trail is not vouched for, and cannot be continued.
    let (_, v) = verify(d, &url, &[]);
    assert_eq!(v["seals_checked"], 0);
    assert!(
        v["warnings"].to_string().contains("no organization key"),
        "{v}"
    );
    let err = fails(d, &url, &["user", "add", "zed", "--role", "viewer"]);
    assert!(err.contains("sealed with the organization key"), "{err}");

    // Another writer that keeps no head: the head lags, which is fine.
    ok(
        d,
        &url,
        &[
            "--key-file",
            "org.key",
            "user",
            "add",
            "bo",
            "--role",
            "viewer",
        ],
    );
    let (passed, v) = verify(d, &url, &sealed);
    assert!(passed, "{v}");
    assert_eq!(v["head"]["seq"], records);
    assert!(v["records"].as_u64().unwrap() > records);

    // A point renamed in the table: named, with its field.
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let changed = client
            .execute(
                "UPDATE inventory SET doc = jsonb_set(doc, '{name}', '\"Renamed\"') WHERE kind = 'point' AND key = 'web.order'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(changed, 1);
    });
    let (passed, v) = verify(d, &url, &sealed);
    assert!(!passed);
    assert_eq!(v["problem"]["kind"], "state_differs", "{v}");
    assert_eq!(v["problem"]["subject"], "point web.order");
    assert_eq!(v["problem"]["field"], "name");
}
