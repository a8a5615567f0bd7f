//! The binary as a user runs it: each test drives `touchbase` in a scratch directory, on the
//! embedded store and, where it says so, on PostgreSQL (`TOUCHBASE_TEST_PG`).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use support::*;
use touchbase_store_postgres::test_support::TestDatabases;

/// Import → export → import into a fresh store → export gives identical bytes.
fn round_trip(dir: &Path, first: &str, second: &str, text: &str) {
    let file = write(dir, "in.yaml", text);
    ok(
        dir,
        first,
        &["inventory", "import", file.to_str().unwrap(), "--baseline"],
    );
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

    ok(
        dir,
        second,
        &["inventory", "import", "out.yaml", "--baseline"],
    );
    assert_eq!(
        ok(dir, second, &["inventory", "export"]),
        exported,
        "export → import → export differs"
    );
    // Once the points are on record, the same file imports as usual, and changes nothing: the
    // proposals the baseline opened are not opened twice.
    let again = ok(dir, first, &["inventory", "import", "out.yaml"]);
    assert!(again.starts_with("no changes"), "{again}");
    let again = ok(dir, second, &["inventory", "import", "out.yaml"]);
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
        &["inventory", "import", "in.yaml", "--baseline"],
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
    let plan = ok(
        d,
        "t.db",
        &["inventory", "import", "small.yaml", "--baseline"],
    );
    assert!(
        plan.contains(
            "opened proposal 1: new point phone.support, needs 2 approvals\n\
             1 proposal awaits sign-off: touchbase proposal list\n"
        ),
        "{plan}"
    );
    assert!(!plan.contains("+ proposal"), "{plan}");
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
    // A new name is made at once; new expectations of a live point wait for sign-off (R6).
    assert!(
        plan.contains(
            "~ point workshop.booking\n    name: \"Repair booking\" → \"Workshop booking\"\n"
        ),
        "{plan}"
    );
    assert!(!plan.contains("~ point web.order"), "{plan}");
    assert!(
        plan.contains("0 would be added, 1 changed, 0 removed"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "would open proposal 2: change to live point web.order, needs 2 approvals\n    \
             changes expected.cost: 0.35 → 0.4\n\
             1 proposal would await sign-off: touchbase proposal list\n"
        ),
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
    assert_eq!(json["changed"], 1);
    assert_eq!(json["added"], 0);
    assert_eq!(json["proposals_opened"], 1);
    assert_eq!(json["changes"][0]["fields"][0]["field"], "name");
    assert_eq!(json["changes"][1]["kind"], "proposal");
    assert_eq!(json["changes"][1]["key"], "2");
    assert!(
        ok(d, "t.db", &["proposal", "list"]).contains("1 proposal, 1 pending"),
        "a dry run opens no proposal"
    );

    // Only the point's expectations wait: the import applies the rest.
    let done = ok(d, "t.db", &["inventory", "import", "edited.yaml"]);
    assert!(
        done.contains("0 were added, 1 changed, 0 removed"),
        "{done}"
    );
    assert!(
        done.contains("opened proposal 2: change to live point web.order"),
        "{done}"
    );
    assert!(done.contains("1 proposal awaits sign-off"), "{done}");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(d, "t.db", &["point", "show", "web.order", "--json"])).unwrap();
    assert_eq!(shown["expected"]["cost"], 0.35);
    // Importing the same file again asks for nothing new.
    let again = ok(d, "t.db", &["inventory", "import", "edited.yaml"]);
    assert!(again.starts_with("no changes"), "{again}");
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
    ok(
        d,
        "t.db",
        &["inventory", "import", "small.yaml", "--baseline"],
    );

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
    write(d, "live.yaml", &point);
    let err = fails(d, "t.db", &["point", "add", "--file", "live.yaml"]);
    assert!(
        err.contains("point `app.order`: status: a new point enters as `proposed`"),
        "{err}"
    );
    write(
        d,
        "point.yaml",
        &point.replace("status: live", "status: proposed"),
    );
    let added = ok(d, "t.db", &["point", "add", "--file", "point.yaml"]);
    assert!(
        added.contains("added point app.order as proposed"),
        "{added}"
    );
    assert!(
        added.contains("opened proposal 2: the new point app.order needs sign-off (2 approvals)"),
        "{added}"
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

    // A point that never went live retires at once; a live one waits for sign-off.
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

/// `report` writes the format its file's extension names (or `--format`), over the period
/// given, and refuses a file it cannot tell the format of.
#[test]
fn report_writes_html_markdown_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, "t.db", &["init", "--name", "Acme <Widgets>"]);
    let said = ok(d, "t.db", &["report", "--out", "r.html"]);
    assert!(
        said.is_empty(),
        "the summary goes to standard error: {said}"
    );
    let html = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Acme &lt;Widgets&gt;"));
    ok(d, "t.db", &["report", "--out", "r.md"]);
    assert!(
        std::fs::read_to_string(d.join("r.md"))
            .unwrap()
            .starts_with("# Acme &lt;Widgets&gt;")
    );
    let report = json(
        d,
        "t.db",
        &[
            "report",
            "--format",
            "json",
            "--from",
            "2026-01-01",
            "--to",
            "2026-02-01",
            "--out",
            "-",
        ],
    );
    assert_eq!(report["period"]["from"], "2026-01-01T00:00:00Z");
    assert_eq!(report["period"]["days"], 31.0);
    assert_eq!(report["headline"]["volume"], 0);
    let err = fails(d, "t.db", &["report", "--out", "r.txt"]);
    assert!(
        err.contains("--format") && err.contains(".html, .md or .json"),
        "{err}"
    );
    let err = fails(
        d,
        "t.db",
        &[
            "report",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
            "--out",
            "r.json",
        ],
    );
    assert!(
        err.contains("--from/--to") && err.contains("ends before it starts"),
        "{err}"
    );
}

/// The number after `prefix` in `text`: `opened proposal 3: …` → 3.
fn number_after(text: &str, prefix: &str) -> u64 {
    let rest = &text[text
        .find(prefix)
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"))
        + prefix.len()..];
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

fn json(dir: &Path, db: &str, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(dir, db, args)).unwrap()
}

/// A point `club.order` of the small inventory, as its owner would propose it.
fn proposed_point(rationale: &str) -> String {
    format!(
        "key: club.order\n\
         name: Club bulk order\n\
         party: club\n\
         function: sales\n\
         channel: web\n\
         mode: machine\n\
         expected: {{ volume_per_month: 30, value_company: 40, value_party: 15, cost: 1.5 }}\n\
         strategic_value: medium\n\
         rationale: {rationale}\n\
         owner: ecommerce\n\
         status: proposed\n"
    )
}

/// Sign-off from end to end through the CLI (R6, R7, R22): a baseline, users, a new point
/// proposed, approved by two executives and taken live by its owner, a material change and a
/// retirement that wait for sign-off, the refusals, and the audit trail of it all.
fn workflow(d: &Path, db: &str) {
    write(d, "small.yaml", SMALL);
    ok(d, db, &["inventory", "import", "small.yaml", "--baseline"]);
    // The baseline opened the proposal of the file's proposed point, as local-admin.
    let baseline: serde_json::Value = json(d, db, &["proposal", "list", "--json"]);
    assert_eq!(baseline[0]["point"], "phone.support");
    assert_eq!(baseline[0]["proposer"], "local-admin");

    let added = ok(
        d,
        db,
        &[
            "user",
            "add",
            "olga",
            "--role",
            "owner",
            "--team",
            "ecommerce",
        ],
    );
    assert!(added.contains("shown only this once"), "{added}");
    for exec in ["erin", "ed"] {
        let issued = json(
            d,
            db,
            &["user", "add", exec, "--role", "executive", "--json"],
        );
        assert_eq!(issued["name"], exec);
        assert_eq!(issued["role"], "executive");
        assert!(issued["token"].as_str().unwrap().starts_with("tb_"));
        assert!(issued["token_id"].as_str().unwrap().starts_with("tk_"));
    }
    ok(d, db, &["user", "add", "vera", "--role", "viewer"]);
    let err = fails(d, db, &["--as", "nobody", "point", "list"]);
    assert!(err.contains("no user `nobody`"), "{err}");

    // A new live point needs --baseline, and only an admin may import.
    write(
        d,
        "grown.yaml",
        &SMALL.replace(
            "points:\n",
            &format!(
                "points:\n{}",
                indent(&proposed_point("x").replace("status: proposed", "status: live"))
            ),
        ),
    );
    let err = fails(d, db, &["inventory", "import", "grown.yaml"]);
    assert!(
        err.contains("point `club.order`: status: a new point enters as `proposed`")
            && err.contains("inventory import --baseline"),
        "{err}"
    );
    let err = fails(
        d,
        db,
        &["--as", "olga", "inventory", "import", "small.yaml"],
    );
    assert!(
        err.contains("this needs the role admin; olga has the role owner"),
        "{err}"
    );

    // A proposal needs its rationale.
    write(d, "bare.yaml", &proposed_point("\"\""));
    let err = fails(
        d,
        db,
        &["--as", "olga", "point", "add", "--file", "bare.yaml"],
    );
    assert!(
        err.contains("point `club.order`: rationale: a proposal needs its strategic rationale"),
        "{err}"
    );

    // The owner proposes; two executives approve; the owner takes it live.
    write(
        d,
        "club.yaml",
        &proposed_point("Clubs order in bulk every season"),
    );
    let added = ok(
        d,
        db,
        &["--as", "olga", "point", "add", "--file", "club.yaml"],
    );
    let id = number_after(&added, "opened proposal ");
    assert!(added.contains("needs sign-off (2 approvals)"), "{added}");
    let shown = json(d, db, &["proposal", "show", &id.to_string(), "--json"]);
    assert_eq!(shown["kind"], "new");
    assert_eq!(shown["proposer"], "olga");
    assert_eq!(shown["business_case"]["volume_per_month"], 30.0);
    // Proposals are for analysts and up: a viewer reads the inventory, not the business cases.
    let err = fails(
        d,
        db,
        &["--as", "vera", "proposal", "show", &id.to_string()],
    );
    assert!(err.contains("vera has the role viewer"), "{err}");
    let shown = ok(
        d,
        db,
        &["--as", "olga", "proposal", "show", &id.to_string()],
    );
    assert!(
        shown.contains("new point club.order — pending, 0 of 2 approvals"),
        "{shown}"
    );
    assert!(
        shown.contains("Clubs order in bulk every season"),
        "{shown}"
    );

    let id = id.to_string();
    let err = fails(
        d,
        db,
        &[
            "--as",
            "vera",
            "proposal",
            "approve",
            &id,
            "--comment",
            "yes",
        ],
    );
    assert!(
        err.contains("this needs the role executive; vera has the role viewer"),
        "{err}"
    );
    let err = fails(
        d,
        db,
        &[
            "--as",
            "olga",
            "proposal",
            "approve",
            &id,
            "--comment",
            "mine",
        ],
    );
    assert!(err.contains("this needs the role executive"), "{err}");
    // Administrators administer; only executives sign off (R6).
    let err = fails(
        d,
        db,
        &["proposal", "approve", &id, "--comment", "admin says yes"],
    );
    assert!(
        err.contains("this needs the role executive; local-admin has the role admin: administrators administer, only executives sign off"),
        "{err}"
    );
    let err = fails(d, db, &["--as", "olga", "point", "go-live", "club.order"]);
    assert!(err.contains("only an approved point goes live"), "{err}");

    let first = ok(
        d,
        db,
        &[
            "--as",
            "erin",
            "proposal",
            "approve",
            &id,
            "--comment",
            "Clubs matter",
        ],
    );
    assert!(first.contains("1 of 2 approvals"), "{first}");
    let err = fails(
        d,
        db,
        &[
            "--as",
            "erin",
            "proposal",
            "approve",
            &id,
            "--comment",
            "again",
        ],
    );
    assert!(err.contains("erin has decided on it already"), "{err}");
    let second = ok(
        d,
        db,
        &[
            "--as",
            "ed",
            "proposal",
            "approve",
            &id,
            "--comment",
            "Fine by me",
        ],
    );
    assert!(second.contains("point club.order is approved"), "{second}");
    let shown = json(d, db, &["proposal", "show", &id, "--json"]);
    assert_eq!(shown["status"], "approved");
    assert_eq!(shown["decisions"].as_array().unwrap().len(), 2);
    assert_eq!(shown["decisions"][1]["executive"], "ed");
    let live = ok(d, db, &["--as", "olga", "point", "go-live", "club.order"]);
    assert!(live.contains("point club.order is live"), "{live}");
    let point = json(d, db, &["point", "show", "club.order", "--json"]);
    assert_eq!(point["status"], "live");

    // A new personal data element on a live point waits for sign-off.
    let edited = ok(
        d,
        db,
        &[
            "--as",
            "olga",
            "point",
            "edit",
            "club.order",
            "--set",
            "data=[{name: email, direction: in, class: personal}]",
        ],
    );
    let change = number_after(&edited, "opened proposal ").to_string();
    assert!(edited.contains("needs sign-off"), "{edited}");
    assert!(edited.contains("passes personal data `email`"), "{edited}");
    assert!(!edited.contains("changed point"), "{edited}");
    assert!(
        json(d, db, &["point", "show", "club.order", "--json"])
            .get("data")
            .is_none()
    );
    ok(
        d,
        db,
        &[
            "--as",
            "ed",
            "proposal",
            "approve",
            &change,
            "--comment",
            "Needed for invoices",
        ],
    );
    assert!(
        json(d, db, &["point", "show", "club.order", "--json"])
            .get("data")
            .is_none()
    );
    let done = ok(
        d,
        db,
        &[
            "--as",
            "erin",
            "proposal",
            "approve",
            &change,
            "--comment",
            "Agreed",
        ],
    );
    assert!(
        done.contains("the change to point club.order is applied"),
        "{done}"
    );
    let point = json(d, db, &["point", "show", "club.order", "--json"]);
    assert_eq!(point["data"][0]["name"], "email");
    assert_eq!(point["status"], "live");

    // So does its retirement.
    let retired = ok(d, db, &["--as", "olga", "point", "retire", "club.order"]);
    let retire = number_after(&retired, "opened proposal ").to_string();
    assert!(
        retired.contains("retiring live point club.order needs sign-off"),
        "{retired}"
    );
    assert_eq!(
        json(d, db, &["point", "show", "club.order", "--json"])["status"],
        "live"
    );
    let again = ok(d, db, &["--as", "olga", "point", "retire", "club.order"]);
    assert!(
        again.contains(&format!("proposal {retire} already asks for this")),
        "{again}"
    );
    ok(
        d,
        db,
        &[
            "--as",
            "erin",
            "proposal",
            "approve",
            &retire,
            "--comment",
            "Portal replaces it",
        ],
    );
    let done = ok(
        d,
        db,
        &[
            "--as",
            "ed",
            "proposal",
            "approve",
            &retire,
            "--comment",
            "Yes",
        ],
    );
    assert!(done.contains("point club.order is retired"), "{done}");
    assert_eq!(
        json(d, db, &["point", "show", "club.order", "--json"])["status"],
        "retired"
    );

    // A rejection.
    let rejected = ok(
        d,
        db,
        &[
            "--as",
            "ed",
            "proposal",
            "reject",
            "1",
            "--comment",
            "Not now",
        ],
    );
    assert!(
        rejected.contains("point phone.support is rejected"),
        "{rejected}"
    );
    let pending = json(
        d,
        db,
        &["proposal", "list", "--status", "pending", "--json"],
    );
    assert_eq!(pending, serde_json::json!([]));
    let list = ok(d, db, &["proposal", "list", "--status", "approved"]);
    assert!(list.contains("3 proposals, 0 pending"), "{list}");

    // The audit trail holds all of it (R7).
    let log = ok(d, db, &["audit", "log", "--point", "club.order"]);
    for action in [
        "point.add",
        "proposal.approve",
        "point.go-live",
        "point.edit",
        "point.retire",
    ] {
        assert!(log.contains(action), "{action} missing from:\n{log}");
    }
    assert!(!log.contains("phone.support"), "{log}");
    let records = json(d, db, &["audit", "log", "--point", "club.order", "--json"]);
    let actors: std::collections::BTreeSet<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["ed", "erin", "olga"].into());
    let by_ed = json(
        d,
        db,
        &[
            "audit",
            "log",
            "--actor",
            "ed",
            "--since",
            "2000-01-01",
            "--json",
        ],
    );
    assert!(by_ed.as_array().unwrap().iter().all(|r| r["actor"] == "ed"));
    assert!(!by_ed.as_array().unwrap().is_empty());
    let none = ok(d, db, &["audit", "log", "--since", "2999-01-01T00:00:00Z"]);
    assert!(none.contains("no records match"), "{none}");
    let err = fails(d, db, &["audit", "log", "--since", "last tuesday"]);
    assert!(err.contains("RFC 3339"), "{err}");
    let err = fails(d, db, &["--as", "vera", "audit", "log"]);
    assert!(err.contains("vera has the role viewer"), "{err}");
    let verified = ok(d, db, &["audit", "verify"]);
    assert!(verified.starts_with("audit trail intact: "), "{verified}");
    assert!(number_after(&verified, "intact: ") > 20, "{verified}");
}

/// A YAML list item indented as the inventory's points are.
fn indent(point: &str) -> String {
    let mut out = String::new();
    for (i, line) in point.lines().enumerate() {
        out.push_str(if i == 0 { "  - " } else { "    " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn sign_off_workflow_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    workflow(dir.path(), "t.db");
}

#[test]
fn sign_off_workflow_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let databases = TestDatabases::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(databases.fresh());
    workflow(dir.path(), &url);
}

#[test]
fn users_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, "t.db", &["init", "--name", "Acme"]);
    let added = json(
        d,
        "t.db",
        &[
            "user", "add", "ana", "--role", "analyst", "--team", "care", "--json",
        ],
    );
    let first = added["token_id"].as_str().unwrap().to_owned();
    let err = fails(d, "t.db", &["user", "add", "ana", "--role", "viewer"]);
    assert!(err.contains("a user `ana` exists already"), "{err}");
    let err = fails(d, "t.db", &["user", "add", "Ana Lyst", "--role", "viewer"]);
    assert!(err.contains("user `Ana Lyst`"), "{err}");
    let err = fails(
        d,
        "t.db",
        &["--as", "ana", "user", "add", "bo", "--role", "admin"],
    );
    assert!(
        err.contains("this needs the role admin; ana has the role analyst"),
        "{err}"
    );

    let issued = ok(d, "t.db", &["token", "issue", "ana"]);
    assert!(issued.contains("shown only this once"), "{issued}");
    let second = json(d, "t.db", &["token", "issue", "ana", "--json"]);
    assert_eq!(second["name"], "ana");
    assert_eq!(second["role"], "analyst");
    assert_ne!(second["token_id"], first.as_str());
    let err = fails(d, "t.db", &["token", "issue", "nobody"]);
    assert!(err.contains("no user `nobody`"), "{err}");

    let revoked = ok(d, "t.db", &["token", "revoke", &first]);
    assert!(
        revoked.contains(&format!("revoked token {first}")),
        "{revoked}"
    );
    let err = fails(d, "t.db", &["token", "revoke", "tk_nothing"]);
    assert!(err.contains("no token `tk_nothing`"), "{err}");

    let users = json(d, "t.db", &["user", "list", "--json"]);
    assert_eq!(users[0]["name"], "ana");
    assert_eq!(users[0]["role"], "analyst");
    assert_eq!(users[0]["teams"], serde_json::json!(["care"]));
    let tokens = users[0]["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 3);
    let revoked: Vec<bool> = tokens
        .iter()
        .filter(|t| t["id"] == first.as_str())
        .map(|t| t["revoked"].as_bool().unwrap())
        .collect();
    assert_eq!(revoked, [true]);
    let table = ok(d, "t.db", &["user", "list"]);
    assert!(table.contains(&format!("{first} (revoked)")), "{table}");
    assert!(table.contains("1 user"), "{table}");
    // Secrets are never listed.
    assert!(!table.contains(added["token"].as_str().unwrap()), "{table}");
}

/// Changing a record behind touchbase's back breaks the chain at that record (R7).
#[test]
fn audit_verify_names_the_altered_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "small.yaml", SMALL);
    ok(
        d,
        "t.db",
        &["inventory", "import", "small.yaml", "--baseline"],
    );
    assert!(ok(d, "t.db", &["audit", "verify"]).starts_with("audit trail intact: "));
    {
        let db = rusqlite::Connection::open(d.join("t.db")).unwrap();
        db.execute_batch(
            "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'mallory' WHERE seq = 3;",
        )
        .unwrap();
    }
    let err = fails(d, "t.db", &["audit", "verify"]);
    assert!(err.contains("record 3 was altered"), "{err}");
}

/// Reads the demo's banner up to its last line.
fn banner(child: &mut std::process::Child) -> String {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    loop {
        let line = lines.next().expect("demo printed its banner").unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("ctrl-c stops the server") {
            return printed;
        }
    }
}

fn start_demo(dir: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_touchbase"))
        .current_dir(dir)
        .env_remove("TOUCHBASE_DB")
        .env_remove("TOUCHBASE_AS")
        .args(["demo", "--listen", "127.0.0.1:0", "--events", "20000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let printed = banner(&mut child);
    (child, printed)
}

/// `touchbase demo` creates the demo store with its users and sign-off under way, prints where
/// to look and the users' tokens, and serves it.
#[test]
fn demo_creates_the_organization_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, printed) = start_demo(dir.path());
    assert!(printed.contains("Northwind Grocers"), "{printed}");
    // A year of interactions, loaded through the ingest path: none refused, some held.
    let loaded = printed
        .lines()
        .find(|l| l.starts_with("loaded 20,000 interactions from "))
        .unwrap_or_else(|| panic!("no load line in {printed}"));
    assert!(loaded.contains(", 0 rejected)"), "{loaded}");
    assert!(!loaded.contains(" 0 held"), "{loaded}");
    // The year up to today, UTC.
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    assert!(loaded.contains(&format!(" to {today} (")), "{loaded}");
    assert!(dir.path().join("touchbase-demo.db").exists());
    let url = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("dashboard"))
        .expect("the dashboard's URL")
        .trim()
        .trim_end_matches('/')
        .to_owned();
    let mut tokens = std::collections::BTreeMap::new();
    for line in printed.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [name, role, token] = words[..]
            && token.starts_with("tb_")
        {
            tokens.insert(name.to_owned(), (role.to_owned(), token.to_owned()));
        }
    }
    let roles: Vec<(&str, &str)> = tokens
        .iter()
        .map(|(name, (role, _))| (name.as_str(), role.as_str()))
        .collect();
    assert_eq!(
        roles,
        [
            ("ada", "admin"),
            ("anil", "analyst"),
            ("ed", "executive"),
            ("erin", "executive"),
            ("olga", "owner"),
            ("vera", "viewer")
        ],
        "{printed}"
    );

    let get = |token: &str| {
        let address = url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET /api/points?status=live HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let response = get(&tokens["vera"].1);
    let refused = get("tb_not-a-token");
    // One household's self-service page, from the link the banner printed: no token needed.
    let page = printed
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{url}/s/")))
        .map(|token| {
            let address = url.trim_start_matches("http://");
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            write!(
                stream,
                "GET /s/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        })
        .unwrap_or_else(|| panic!("no self-service link in {printed}"));
    // One key customer's survey, from the link the banner printed.
    let survey = printed
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{url}/r/")))
        .map(|path| {
            let address = url.trim_start_matches("http://");
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            write!(
                stream,
                "GET /r/{path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        })
        .unwrap_or_else(|| panic!("no survey link in {printed}"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(survey.starts_with("HTTP/1.1 200"), "{survey}");
    assert!(
        survey.contains("A few questions from Northwind Grocers"),
        "{survey}"
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""key":"store.checkout""#), "{response}");
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");

    let d = dir.path();
    let db = "touchbase-demo.db";
    let points = json(d, db, &["point", "list", "--json"]);
    assert!(points.as_array().unwrap().len() >= 25);
    // Sign-off went through for automatic replenishment and its page (both executives, then
    // the owner took them live); under way elsewhere: one proposal waits for its second
    // approval, one is rejected.
    let proposals = json(d, db, &["--as", "erin", "proposal", "list", "--json"]);
    let proposals = proposals.as_array().unwrap();
    let of = |point: &str| {
        proposals
            .iter()
            .find(|p| p["point"] == point)
            .unwrap_or_else(|| panic!("a proposal for {point}: {proposals:?}"))
    };
    let executives = |p: &serde_json::Value| -> Vec<(String, bool)> {
        p["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["executive"].as_str().unwrap().to_owned(),
                    d["approve"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    for point in ["replenishment.auto", "replenishment.edit"] {
        let p = of(point);
        assert_eq!(p["status"], "approved", "{p}");
        assert_eq!(p["proposer"], "local-admin");
        assert_eq!(
            executives(p),
            [("erin".to_owned(), true), ("ed".to_owned(), true)]
        );
    }
    let live = json(d, db, &["point", "list", "--status", "live", "--json"]);
    let live: Vec<&str> = live
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert!(
        live.contains(&"replenishment.auto") && live.contains(&"replenishment.edit"),
        "{live:?}"
    );
    let pending: Vec<&serde_json::Value> = proposals
        .iter()
        .filter(|p| p["status"] == "pending")
        .collect();
    assert_eq!(pending.len(), 1, "{proposals:?}");
    assert_eq!(pending[0]["point"], "app.scan-and-go");
    assert_eq!(executives(pending[0]), [("erin".to_owned(), true)]);
    let rejected: Vec<&serde_json::Value> = proposals
        .iter()
        .filter(|p| p["status"] == "rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "{proposals:?}");
    assert_eq!(rejected[0]["point"], "app.meal-kit");
    assert_eq!(executives(rejected[0]), [("ed".to_owned(), false)]);

    // The year of standing orders: every household's first web order captured, most
    // confirmed and run, some paused or cancelled, and the runs sent to fulfilment.
    let orders = json(d, db, &["standing", "list", "--limit", "10000", "--json"]);
    let counts = &orders["counts"];
    let count = |status: &str| counts[status].as_u64().unwrap();
    assert!(count("active") > 0 && count("cancelled") > 0, "{counts}");
    assert!(count("offered") > 0, "some never confirm: {counts}");
    assert!(
        count("active") + count("paused") + count("cancelled") > count("offered"),
        "most confirm: {counts}"
    );
    let banner = printed
        .split("\nStanding orders:")
        .nth(1)
        .unwrap_or_else(|| panic!("no standing orders in {printed}"));
    let total = count("offered") + count("active") + count("paused") + count("cancelled");
    let total = total
        .to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert!(banner.contains(&format!("  {total} orders: ")), "{banner}");
    let sent = banner
        .lines()
        .find(|l| l.contains(" sent to fulfilment"))
        .unwrap_or_else(|| panic!("no runs in {banner}"));
    assert!(!sent.trim_start().starts_with("0 runs"), "{sent}");
    assert!(banner.contains(&format!("{url}/s/")), "{banner}");
    assert!(banner.contains("standing show so_"), "{banner}");
    assert!(
        banner.contains("listen --listen 127.0.0.1:9001 --secret whsec_"),
        "{banner}"
    );
    // The year's surveys: key customers invited after the contact rules, some answered, and
    // the organization's scorecard hears them.
    let card = json(d, db, &["scorecard", "--json"]);
    assert!(
        card["invitations"].as_u64().unwrap() > 0 && card["responses"].as_u64().unwrap() > 0,
        "{card}"
    );
    assert!(card["nps"].is_number(), "{card}");
    assert!(
        printed.contains("surveyed the year's key customers: "),
        "{printed}"
    );
    // The senior team's why-buy answers name the product more than the customers do, and the
    // two coders' sample flags `digital`.
    let why = json(
        d,
        db,
        &["why-buy", "summary", "--from", "2020-01-01", "--json"],
    );
    assert_eq!(why["executives"]["answers"], 7, "{why}");
    assert!(
        why["executives"]["product_share"].as_f64() > why["customers"]["product_share"].as_f64(),
        "{why}"
    );
    let agreement = json(d, db, &["answers", "agreement", "--json"]);
    assert_eq!(agreement["coders"], serde_json::json!(["anil", "bea"]));
    let digital = agreement["codes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "digital")
        .unwrap();
    assert_eq!(digital["unreliable"], true, "{agreement}");
    assert!(banner.contains("why-buy summary --from"), "{banner}");
    assert!(ok(d, db, &["audit", "verify"]).starts_with("audit trail intact"));

    // Started again, it cannot show the tokens again: it says how to get a new one.
    let (mut child, printed) = start_demo(dir.path());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        printed.contains("already in touchbase-demo.db"),
        "{printed}"
    );
    assert!(printed.contains("cannot be shown again"), "{printed}");
    assert!(!printed.contains("loaded"), "loaded twice: {printed}");
    assert!(printed.contains("token issue NAME"), "{printed}");
    assert!(!printed.contains("tb_"), "{printed}");
}

/// `import` takes an NDJSON file: each event accepted, a duplicate, held or rejected; rejects
/// and undocumented points are listed, and a rejected event is replayed once its cause is fixed.
#[test]
fn events_import_rejects_and_undocumented() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "small.yaml", SMALL);
    ok(
        d,
        "t.db",
        &["inventory", "import", "small.yaml", "--baseline"],
    );
    write(
        d,
        "events.ndjson",
        concat!(
            "{\"id\":\"a\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\",\"cost\":0.3}\n",
            "{\"id\":\"a\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\",\"cost\":0.3}\n",
            "\n",
            "{\"point\":\"sms.promo\",\"at\":\"2026-03-01T09:30:00Z\"}\n",
            "{\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\",\"vars\":{\"urgency\":\"asap\"}}\n",
        ),
    );
    let report: serde_json::Value =
        serde_json::from_str(&ok(d, "t.db", &["import", "events.ndjson", "--json"])).unwrap();
    assert_eq!(
        (
            &report["accepted"],
            &report["duplicates"],
            &report["held"],
            &report["rejected"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(1)
        )
    );
    assert!(report["events_per_s"].as_f64().unwrap() > 0.0);
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["accepted", "duplicates", "events_per_s", "held", "rejected"],
        "exactly these keys"
    );

    let again = ok(d, "t.db", &["import", "events.ndjson"]);
    assert!(
        again.contains("0 accepted, 3 duplicates, 0 held, 1 rejected"),
        "{again}"
    );

    let rejects = ok(d, "t.db", &["rejects", "list"]);
    assert!(rejects.contains("file:events.ndjson:5"), "{rejects}");
    assert!(
        rejects.contains("\n1 rejects"),
        "imported twice, kept once: {rejects}"
    );
    assert!(
        rejects.contains("vars.urgency: must be one of routine, same-day, got \"asap\""),
        "{rejects}"
    );
    let shown = ok(d, "t.db", &["rejects", "show", "1"]);
    assert!(shown.contains("\"urgency\":\"asap\""), "{shown}");

    let undocumented = ok(d, "t.db", &["undocumented"]);
    assert!(undocumented.contains("sms.promo"), "{undocumented}");
    let draft = ok(d, "t.db", &["undocumented", "--draft", "sms.promo"]);
    assert!(
        draft.contains("key: sms.promo") && draft.contains("status: proposed"),
        "{draft}"
    );
    assert!(draft.contains("volume_per_month: 30"), "{draft}");

    // The organization adds the value `asap`: the rejects replay.
    write(
        d,
        "small2.yaml",
        &SMALL.replace(
            "values: [routine, same-day]",
            "values: [routine, same-day, asap]",
        ),
    );
    ok(d, "t.db", &["inventory", "import", "small2.yaml"]);
    let replayed = ok(d, "t.db", &["rejects", "replay"]);
    assert_eq!(replayed.trim(), "1 taken, 0 still rejected");
    assert!(ok(d, "t.db", &["rejects", "list"]).contains("0 rejects"));

    let viewer = ok(d, "t.db", &["user", "add", "vic", "--role", "viewer"]);
    assert!(viewer.contains("tb_"));
    let err = fails(d, "t.db", &["--as", "vic", "import", "events.ndjson"]);
    assert!(
        err.contains("this needs the role owner or executive or admin; vic has the role viewer"),
        "{err}"
    );
}

/// The counts of an `import --json`: accepted, duplicates, held, rejected.
fn counts(report: &str) -> [u64; 4] {
    let report: serde_json::Value = serde_json::from_str(report).unwrap();
    ["accepted", "duplicates", "held", "rejected"].map(|k| report[k].as_u64().unwrap())
}

/// The rejects on record, as `rejects list --json` gives them.
fn rejects_on_record(dir: &Path, db: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(&ok(dir, db, &["rejects", "list", "--json"])).unwrap()
}

/// A scratch directory with a store holding the small inventory.
fn small_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "small.yaml", SMALL);
    ok(
        dir.path(),
        "t.db",
        &["inventory", "import", "small.yaml", "--baseline"],
    );
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A CSV file: the header names the wire format's fields with dots; each row is an event,
/// accepted, held or rejected like a line of NDJSON. A bad cell is rejected naming the field
/// and the rule, an unknown column's value as an unknown field, a short row naming its line.
#[test]
fn events_import_csv() {
    let dir = small_store();
    let d = dir.path();
    write(
        d,
        "events.csv",
        concat!(
            "id,point,at,party,outcomes.satisfaction,outcomes.resolved,value.company,cost,data,colour\n",
            "c-1,web.order,2026-03-01T09:30:00Z,p-1,5,true,6.5,0.3,\"{\"\"basket\"\":[\"\"chain\"\"],\"\"email\"\":\"\"a@b.c\"\"}\",\n",
            "c-2,web.order,2026-03-01T10:00:00Z,,x,,,,,\n",
            "c-3,web.order,2026-03-01T11:00:00Z,,,,,,,red\n",
            "c-4,sms.promo,2026-03-01T12:00:00Z,,,,,,,\n",
            "\n",
            "c-5,web.order,2026-03-01T12:30:00Z,,4,maybe,,-1,not json,\n",
            "c-6,web.order\n",
        ),
    );
    let report = ok(d, "t.db", &["import", "events.csv", "--json"]);
    assert_eq!(counts(&report), [1, 0, 1, 4], "{report}");

    let rejects = rejects_on_record(d, "t.db");
    let by_source = |source: &str| {
        rejects
            .iter()
            .find(|r| r["source"] == source)
            .unwrap_or_else(|| panic!("no reject from {source}: {rejects:?}"))
    };
    let reasons = |source: &str| -> Vec<String> {
        by_source(source)["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        reasons("file:events.csv:3"),
        ["outcomes.satisfaction: must be an integer from 1 to 5, got \"x\""]
    );
    assert_eq!(
        by_source("file:events.csv:3")["raw"],
        r#"{"at":"2026-03-01T10:00:00Z","id":"c-2","outcomes":{"satisfaction":"x"},"point":"web.order"}"#,
        "the reject keeps the row as JSON"
    );
    let unknown = reasons("file:events.csv:4");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(
        unknown[0].starts_with("colour: unknown field"),
        "{unknown:?}"
    );
    assert_eq!(
        reasons("file:events.csv:7"),
        [
            "outcomes.resolved: must be true or false, got \"maybe\"",
            "cost: must be a finite number of at least 0, got -1",
            "data: must be an object, got \"not json\"",
        ]
    );
    assert_eq!(
        reasons("file:events.csv:8"),
        ["line 8 has 2 cells where the header has 10 columns"]
    );
    assert_eq!(by_source("file:events.csv:8")["raw"], "c-6,web.order");

    // The accepted row is the event the NDJSON line would give.
    let again = ok(d, "t.db", &["import", "events.csv", "--json"]);
    assert_eq!(counts(&again), [0, 2, 0, 4], "{again}");
}

/// The same events as CSV and as NDJSON are the same events: without an `id`, each gets the
/// same hash id either way, so the second import finds every one on record.
#[test]
fn csv_and_ndjson_give_the_same_ids() {
    let dir = small_store();
    let d = dir.path();
    write(
        d,
        "events.csv",
        concat!(
            "point,at,party,channel,outcomes.intent,outcomes.satisfaction,outcomes.knowledge,",
            "outcomes.resolved,outcomes.engaged,value.company,value.party,cost,duration_s,data,vars\n",
            "web.order,2026-03-01T09:30:00Z,p-1,web,buy,4,true,false,true,4.10,-2,0.35,12.5,",
            "\"{\"\"email\"\":\"\"a@b.c\"\",\"\"basket\"\":[\"\"chain\"\",2]}\",\"{\"\"urgency\"\":\"\"routine\"\"}\"\n",
            "web.order,2026-03-01T10:00:00+01:00,,,,,,,,,,,,,\n",
            "workshop.booking,2026-03-02T08:00:00Z,p-2,,,5,,true,,,,4,,\"{\"\"bike\"\":\"\"Brompton, green\"\"}\",\n",
        ),
    );
    write(
        d,
        "events.ndjson",
        concat!(
            r#"{"point":"web.order","at":"2026-03-01T09:30:00Z","party":"p-1","channel":"web","outcomes":{"intent":"buy","satisfaction":4,"knowledge":true,"resolved":false,"engaged":true},"value":{"company":4.10,"party":-2},"cost":0.35,"duration_s":12.5,"data":{"basket":["chain",2],"email":"a@b.c"},"vars":{"urgency":"routine"}}"#,
            "\n",
            r#"{"at":"2026-03-01T10:00:00+01:00","point":"web.order"}"#,
            "\n",
            r#"{"point":"workshop.booking","at":"2026-03-02T08:00:00Z","party":"p-2","outcomes":{"satisfaction":5,"resolved":true},"cost":4,"data":{"bike":"Brompton, green"}}"#,
            "\n",
        ),
    );
    let first = ok(d, "t.db", &["import", "events.csv", "--json"]);
    assert_eq!(counts(&first), [3, 0, 0, 0], "{first}");
    let second = ok(d, "t.db", &["import", "events.ndjson", "--json"]);
    assert_eq!(counts(&second), [0, 3, 0, 0], "{second}");
}

/// `.gz` files are read through gzip, CSV and NDJSON alike (several gzip members too, as
/// `cat a.gz b.gz` makes).
#[test]
fn events_import_gzip() {
    let dir = small_store();
    let d = dir.path();
    let csv =
        "id,point,at\nz-1,web.order,2026-03-01T09:30:00Z\nz-2,sms.promo,2026-03-01T09:30:00Z\n";
    std::fs::write(d.join("events.csv.gz"), gzip(csv.as_bytes())).unwrap();
    let report = ok(d, "t.db", &["import", "events.csv.gz", "--json"]);
    assert_eq!(counts(&report), [1, 0, 1, 0], "{report}");

    let mut members =
        gzip(b"{\"id\":\"n-1\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\"}\n");
    members.extend(gzip(
        b"{\"id\":\"n-2\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\"}\n{\"id\":\"z-1\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\"}\n",
    ));
    std::fs::write(d.join("events.ndjson.gz"), members).unwrap();
    let report = ok(d, "t.db", &["import", "events.ndjson.gz", "--json"]);
    assert_eq!(counts(&report), [2, 1, 0, 0], "{report}");

    // A file cut short stops the import where it breaks; what was read before is on record.
    let lines: String = (0..5000)
        .map(|i| {
            format!(
                "{{\"id\":\"cut-{i}\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\"}}\n"
            )
        })
        .collect();
    let whole = gzip(lines.as_bytes());
    std::fs::write(d.join("cut.ndjson.gz"), &whole[..whole.len() - 100]).unwrap();
    let err = fails(d, "t.db", &["import", "cut.ndjson.gz", "--batch", "100"]);
    assert!(err.contains("cannot read `cut.ndjson.gz`"), "{err}");
    assert!(
        err.contains("inputs read before it were taken (0 of them rejected)"),
        "{err}"
    );

    // A file that is not gzip stops the import, saying which.
    write(d, "plain.ndjson.gz", "{}\n");
    let err = fails(d, "t.db", &["import", "plain.ndjson.gz"]);
    assert!(err.contains("cannot read `plain.ndjson.gz`"), "{err}");
}

/// A line that is not UTF-8 is rejected with the offset of its first invalid byte, kept as
/// text with the byte replaced; the lines after it are read.
#[test]
fn a_line_that_is_not_utf8_is_a_reject() {
    let dir = small_store();
    let d = dir.path();
    std::fs::write(
        d.join("events.ndjson"),
        b"{\"id\":\"u-1\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\"}\n\
          {\"id\":\"u-2\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\",\"party\":\"caf\xe9\"}\n\
          {\"id\":\"u-3\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\"}\n",
    )
    .unwrap();
    let report = ok(d, "t.db", &["import", "events.ndjson", "--json"]);
    assert_eq!(counts(&report), [2, 0, 0, 1], "{report}");
    let rejects = rejects_on_record(d, "t.db");
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["source"], "file:events.ndjson:2");
    assert_eq!(
        rejects[0]["reasons"],
        serde_json::json!(["not UTF-8: invalid byte at offset 72"])
    );
    assert!(
        rejects[0]["raw"]
            .as_str()
            .unwrap()
            .ends_with("\"party\":\"caf\u{fffd}\"}"),
        "{rejects:?}"
    );

    // The same in a CSV cell.
    std::fs::write(
        d.join("events.csv"),
        b"id,point,at,party\nu-4,web.order,2026-03-01T09:30:00Z,caf\xe9\nu-5,web.order,2026-03-01T09:30:00Z,\n",
    )
    .unwrap();
    let report = ok(d, "t.db", &["import", "events.csv", "--json"]);
    assert_eq!(counts(&report), [1, 0, 0, 1], "{report}");
    let reject = rejects_on_record(d, "t.db").pop().unwrap();
    assert_eq!(reject["source"], "file:events.csv:2");
    assert_eq!(
        reject["reasons"],
        serde_json::json!(["not UTF-8: invalid byte at offset 3 in the column `party`"])
    );
}

/// Standard input is NDJSON unless `--format` says otherwise.
#[test]
fn csv_on_standard_input_with_format() {
    let dir = small_store();
    let d = dir.path();
    let csv =
        b"id,point,at\ns-1,web.order,2026-03-01T09:30:00Z\ns-2,web.order,2026-03-01T09:30:00Z\n";
    let run = touchbase_with_input(
        d,
        "t.db",
        &["import", "-", "--format", "csv", "--json"],
        csv,
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(counts(&run.stdout), [2, 0, 0, 0], "{}", run.stdout);
    assert!(rejects_on_record(d, "t.db").is_empty(), "no rejects");

    // `--format` wins over the name, too.
    write(
        d,
        "events.txt",
        "id,point,at\ns-3,web.order,2026-03-01T09:30:00Z\n",
    );
    let report = ok(
        d,
        "t.db",
        &["import", "events.txt", "--format", "csv", "--json"],
    );
    assert_eq!(counts(&report), [1, 0, 0, 0], "{report}");
    let report = ok(
        d,
        "t.db",
        &["import", "events.txt", "--format", "ndjson", "--json"],
    );
    assert_eq!(
        counts(&report),
        [0, 0, 0, 2],
        "every line is not JSON: {report}"
    );

    let run = touchbase_with_input(
        d,
        "t.db",
        &["import", "-"],
        b"{\"id\":\"s-4\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:30:00Z\"}\n",
    );
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.starts_with("-: 1 accepted"), "{}", run.stdout);
}

/// `gen` writes the same bytes for the same seed (to a file or standard output); `import` takes
/// them: most accepted, those at points that are not live held, none refused.
#[test]
fn gen_is_reproducible_and_imports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = ["gen", "--events", "5000", "--seed", "9"];
    let to_stdout = ok(d, "unused.db", &args);
    ok(
        d,
        "unused.db",
        &[&args[..], &["--out", "a.ndjson"]].concat(),
    );
    let in_file = std::fs::read_to_string(d.join("a.ndjson")).unwrap();
    assert_eq!(to_stdout, in_file, "standard output and --out differ");
    assert_eq!(in_file.lines().count(), 5000);
    assert_ne!(
        ok(d, "unused.db", &["gen", "--events", "5000", "--seed", "10"]),
        in_file
    );
    let first: serde_json::Value = serde_json::from_str(in_file.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "g-9-0");
    assert!(first["at"].as_str().unwrap().starts_with("2025-11-01T"));
    // Another period: --from and --days.
    let march = ok(
        d,
        "unused.db",
        &[
            "gen",
            "--events",
            "100",
            "--from",
            "2026-03-01",
            "--days",
            "7",
        ],
    );
    assert!(
        march.lines().all(|l| l.contains(r#""at":"2026-03-0"#)),
        "{march}"
    );
    let err = fails(
        d,
        "unused.db",
        &["gen", "--events", "10", "--from", "2999-01-01"],
    );
    assert!(err.contains("ends after now"), "{err}");

    write(d, "demo.yaml", DEMO);
    ok(
        d,
        "t.db",
        &["inventory", "import", "demo.yaml", "--baseline"],
    );
    let report: serde_json::Value =
        serde_json::from_str(&ok(d, "t.db", &["import", "a.ndjson", "--json"])).unwrap();
    let count = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(count("accepted") + count("held"), 5000, "{report}");
    assert!(count("accepted") > 4500, "{report}");
    assert!(count("held") > 0, "{report}");
    assert_eq!(count("rejected"), 0, "{report}");
    let undocumented = ok(d, "t.db", &["undocumented"]);
    assert!(
        undocumented.contains("iot.fridge-reorder") && undocumented.contains("whatsapp.order"),
        "{undocumented}"
    );
}

/// Whatever the server acknowledged survives `kill -9` right after: every acknowledged event
/// is on record when the server comes back (it answers `duplicate` when sent again).
#[test]
fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "small.yaml", SMALL);
    ok(
        d,
        "t.db",
        &["inventory", "import", "small.yaml", "--baseline"],
    );
    let user: serde_json::Value = serde_json::from_str(&ok(
        d,
        "t.db",
        &["user", "add", "feed", "--role", "owner", "--json"],
    ))
    .unwrap();
    let token = user["token"].as_str().unwrap().to_owned();

    let (mut server, address) = start_server(d, "t.db", &[]);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sender = {
        let (acknowledged, address, token) = (acknowledged.clone(), address.clone(), token.clone());
        std::thread::spawn(move || {
            for b in 0.. {
                let batch: Vec<serde_json::Value> = (0..200)
                    .map(|i| serde_json::json!({ "id": format!("b{b}-{i}"), "point": "web.order", "at": "2026-03-01T09:30:00Z", "cost": 0.3 }))
                    .collect();
                let body = serde_json::Value::Array(batch).to_string();
                match http(&address, "POST", "/api/events", &token, &body) {
                    Ok((200, reply)) => {
                        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
                        assert_eq!(reply["summary"]["accepted"], 200);
                        acknowledged.lock().unwrap().push(body);
                    }
                    _ => return b,
                }
            }
            unreachable!()
        })
    };
    while acknowledged.lock().unwrap().len() < 15 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.kill().unwrap(); // SIGKILL, in the middle of the stream
    server.wait().unwrap();
    let batches_tried = sender.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 15 && batches_tried >= acknowledged.len());

    let (mut server, address) = start_server(d, "t.db", &[]);
    for body in &acknowledged {
        let (status, reply) = http(&address, "POST", "/api/events", &token, body).unwrap();
        assert_eq!(status, 200, "{reply}");
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(
            reply["summary"]["duplicates"], 200,
            "an acknowledged event was lost: {reply}"
        );
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Four interactions with known figures: three at `web.order` (one without its required data),
/// one at `workshop.booking`; rider r1 goes web.order → workshop.booking → web.order.
const MEASURED: &str = concat!(
    "{\"id\":\"w1\",\"point\":\"web.order\",\"at\":\"2026-03-01T09:00:00Z\",\"party\":\"r1\",\"value\":{\"company\":10,\"party\":2},\"cost\":0.5,\"outcomes\":{\"satisfaction\":5,\"resolved\":true},\"data\":{\"basket\":[],\"email\":\"a@b\"}}\n",
    "{\"id\":\"w2\",\"point\":\"web.order\",\"at\":\"2026-03-02T10:00:00Z\",\"party\":\"r2\",\"value\":{\"company\":6},\"cost\":0.5,\"outcomes\":{\"satisfaction\":3,\"resolved\":false},\"data\":{\"basket\":[],\"email\":\"c@d\"}}\n",
    "{\"id\":\"w3\",\"point\":\"web.order\",\"at\":\"2026-03-02T11:00:00Z\",\"party\":\"r1\",\"outcomes\":{\"satisfaction\":4}}\n",
    "{\"id\":\"b1\",\"point\":\"workshop.booking\",\"at\":\"2026-03-01T10:00:00Z\",\"party\":\"r1\",\"data\":{\"bike\":\"x\"},\"outcomes\":{\"engaged\":true}}\n",
);

const WEEK: [&str; 4] = ["--from", "2026-03-01", "--to", "2026-03-08"];

fn close(got: &serde_json::Value, expected: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{got} is not a number"));
    assert!((got - expected).abs() < 1e-9, "{got} ≠ {expected}");
}

/// Scorecards, portfolio, journeys, quality and settings over the small inventory and
/// [`MEASURED`], on the store `db`.
fn measuring(d: &Path, db: &str) {
    write(d, "small.yaml", SMALL);
    ok(d, db, &["inventory", "import", "small.yaml", "--baseline"]);
    write(d, "measured.ndjson", MEASURED);
    assert_eq!(
        counts(&ok(d, db, &["import", "measured.ndjson", "--json"])),
        [4, 0, 0, 0]
    );
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(WEEK.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run = |args: &[&str]| {
        let args = with(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        json(d, db, &args)
    };

    // One point: one object with METRICS.md's names.
    let card = run(&["scorecard", "--point", "web.order", "--json"]);
    assert_eq!(card["scope"], "point");
    assert_eq!(card["key"], "web.order");
    assert_eq!(card["from"], "2026-03-01T00:00:00Z");
    assert_eq!(card["to"], "2026-03-08T00:00:00Z");
    assert_eq!(card["volume"], 3);
    close(&card["value_company"], 16.0);
    close(&card["cost"], 1.0);
    close(&card["net_value_per"], 5.0);
    close(&card["expected_volume"], 900.0 * 7.0 / 30.4375);
    close(&card["satisfaction_avg"], 4.0);
    close(&card["csat"], 2.0 / 3.0);
    close(&card["resolution_rate"], 0.5);
    close(&card["conformance_rate"], 2.0 / 3.0);
    close(&card["effectiveness"], (2.0 / 3.0 + 0.5 + 0.0) / 3.0);
    // scope, key, from, to; the 24 figures; the 12 of the customers' voice (no responses);
    // the 5 of attribution.
    assert_eq!(card.as_object().unwrap().len(), 4 + 24 + 12 + 5, "{card}");
    assert_eq!(card["responses"], 0);
    assert!(card["nps"].is_null() && card["voice"].is_null(), "{card}");

    // The organization by day: a series of objects with their own bounds.
    let series = json(
        d,
        db,
        &[
            "scorecard",
            "--by",
            "day",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-04",
            "--json",
        ],
    );
    let volumes: Vec<u64> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["volume"].as_u64().unwrap())
        .collect();
    assert_eq!(volumes, [2, 2, 0]);
    assert_eq!(series[1]["scope"], "organization");
    assert!(series[1].get("key").is_none());
    assert_eq!(series[1]["from"], "2026-03-02T00:00:00Z");

    // Machine vs people vs hybrid (R12).
    let modes = run(&["scorecard", "--all", "mode", "--json"]);
    let by_mode: Vec<(&str, u64)> = modes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap(), c["volume"].as_u64().unwrap()))
        .collect();
    assert_eq!(by_mode, [("machine", 3), ("people", 0), ("hybrid", 1)]);
    let table = ok(
        d,
        db,
        &with(&["scorecard", "--all", "mode"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(
        table.starts_with("scorecards by mode, 2026-03-01 → 2026-03-08 (7 days)"),
        "{table}"
    );
    let csat = table.lines().find(|l| l.contains("csat")).unwrap();
    assert_eq!(
        csat.split('┆').map(str::trim).collect::<Vec<_>>(),
        ["│ csat", "66.7 %", "—", "— │"],
        "machine 2 of 3, people nothing, hybrid no satisfaction: {table}"
    );

    // The portfolio: too few events, until the settings say 1 is enough.
    let verdicts = run(&["portfolio", "--json"]);
    assert_eq!(verdicts[0]["point"], "web.order");
    assert_eq!(verdicts[0]["verdict"], "insufficient-data");
    assert_eq!(verdicts[0]["reasons"][1]["code"], "data_nonconformant");
    close(&verdicts[0]["reasons"][1]["value"], 2.0 / 3.0);
    close(&verdicts[0]["reasons"][1]["threshold"], 0.95);
    assert_eq!(
        ok(d, db, &["settings", "set", "portfolio.min_volume", "1"]).trim(),
        "portfolio.min_volume: 30 → 1"
    );
    let verdicts = run(&["portfolio", "--json"]);
    assert_eq!(verdicts[0]["verdict"], "improve");
    assert_eq!(verdicts[0]["reasons"][0]["code"], "quality_below_threshold");
    close(&verdicts[0]["reasons"][0]["threshold"], 0.6);
    assert_eq!(verdicts[1]["verdict"], "invest");
    ok(
        d,
        db,
        &["settings", "set", "portfolio.quality_threshold", "0.35"],
    );
    let verdicts = run(&["portfolio", "--json"]);
    assert_eq!(verdicts[0]["verdict"], "invest", "{verdicts}");
    let text = ok(
        d,
        db,
        &with(&["portfolio"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(text.contains("quality_threshold 0.35"), "{text}");
    assert!(
        text.contains("data_nonconformant: conformance rate 0.67 < 0.95"),
        "{text}"
    );
    assert_eq!(
        ok(d, db, &["settings", "get", "portfolio.quality_threshold"]).trim(),
        "0.35"
    );
    let settings = json(d, db, &["settings", "--json"]);
    assert_eq!(settings["portfolio.min_volume"], 1);
    assert_eq!(settings["portfolio.adequacy"], 0.8);
    let audit = ok(d, db, &["audit", "log"]);
    assert_eq!(audit.matches("settings.set").count(), 2, "{audit}");

    // Journeys: r2's web.order alone, r1's round trip through the workshop.
    let summary = run(&["journeys", "--json"]);
    assert_eq!(summary["journeys"], 2);
    assert_eq!(summary["distinct_variants"], 2);
    assert_eq!(summary["variants"][0]["text"], "web.order");
    assert_eq!(
        summary["variants"][1]["text"],
        "web.order → workshop.booking → web.order"
    );
    assert_eq!(summary["variants"][1]["weakest_link"]["point"], "web.order");
    let handoffs: Vec<(&str, &str, &str)> = summary["handoffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["from"].as_str().unwrap(),
                h["to"].as_str().unwrap(),
                h["to_function"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        handoffs,
        [
            ("web.order", "workshop.booking", "workshop"),
            ("workshop.booking", "web.order", "sales")
        ]
    );
    close(&summary["handoffs"][0]["median_gap_s"], 3_600.0);
    let top = run(&["journeys", "--top", "1", "--party-type", "rider", "--json"]);
    assert_eq!(top["variants"].as_array().unwrap().len(), 1);
    assert_eq!(top["journeys"], 2);
    assert_eq!(
        run(&["journeys", "--party-type", "club", "--json"])["journeys"],
        0
    );

    // Data quality: which rules fail, how often.
    let quality = run(&["quality", "--json"]);
    assert_eq!(quality[0]["point"], "web.order");
    assert_eq!(
        (&quality[0]["volume"], &quality[0]["conforming"]),
        (&3.into(), &2.into())
    );
    assert_eq!(
        quality[0]["failing"][0]["failure"],
        "\"basket\" is a required property"
    );
    assert_eq!(quality[0]["failing"][0]["events"], 1);
    assert_eq!(quality[1]["conformance_rate"], 1.0);
}

#[test]
fn measuring_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    measuring(dir.path(), "t.db");
}

#[test]
fn measuring_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let databases = TestDatabases::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(databases.fresh());
    measuring(dir.path(), &url);
}

#[test]
fn measuring_refuses_bad_flags_naming_them() {
    let dir = small_store();
    let d = dir.path();
    let err = fails(d, "t.db", &["scorecard", "--from", "yesterday"]);
    assert!(
        err.contains("invalid value 'yesterday' for '--from <WHEN>': must be a date (2026-03-01) or an RFC 3339 instant"),
        "{err}"
    );
    let err = fails(
        d,
        "t.db",
        &["portfolio", "--from", "2026-03-10", "--to", "2026-03-01"],
    );
    assert!(
        err.contains("--from 2026-03-10T00:00:00Z is after --to 2026-03-01T00:00:00Z"),
        "{err}"
    );
    let err = fails(d, "t.db", &["scorecard", "--point", "web.ordr"]);
    assert!(
        err.contains("--point web.ordr: no point `web.ordr`"),
        "{err}"
    );
    let err = fails(d, "t.db", &["scorecard", "--function", "legal"]);
    assert!(
        err.contains("--function legal: no business function `legal` in the inventory; the functions are marketing, sales"),
        "{err}"
    );
    let err = fails(d, "t.db", &["journeys", "--party-type", "robot"]);
    assert!(
        err.contains("--party-type robot: no party type `robot` in the inventory; the party types are club, rider"),
        "{err}"
    );
    let err = fails(
        d,
        "t.db",
        &["scorecard", "--point", "web.order", "--all", "mode"],
    );
    assert!(err.contains("cannot be used with"), "{err}");
    let err = fails(
        d,
        "t.db",
        &["settings", "set", "portfolio.quality_threshold", "2"],
    );
    assert_eq!(
        err.trim(),
        "error: portfolio.quality_threshold: must be from 0 to 1 (effectiveness is a share), got 2; \
         `touchbase settings` lists the settings"
    );
    let err = fails(d, "t.db", &["settings", "get", "portfolio.speed"]);
    assert!(
        err.contains("no setting `portfolio.speed`; the settings are portfolio.min_volume"),
        "{err}"
    );
    // Reading is for everyone, settings are for admins, the failures quote data.
    ok(d, "t.db", &["user", "add", "vic", "--role", "viewer"]);
    ok(
        d,
        "t.db",
        &["--as", "vic", "scorecard", "--all", "function"],
    );
    ok(d, "t.db", &["--as", "vic", "settings"]);
    let err = fails(
        d,
        "t.db",
        &[
            "--as",
            "vic",
            "settings",
            "set",
            "portfolio.adequacy",
            "0.5",
        ],
    );
    assert!(
        err.contains("this needs the role admin; vic has the role viewer"),
        "{err}"
    );
    let err = fails(d, "t.db", &["--as", "vic", "quality"]);
    assert!(err.contains("vic has the role viewer"), "{err}");
    // Without bounds: the 30 days up to tomorrow.
    let card = json(d, "t.db", &["scorecard", "--json"]);
    let from: jiff::Timestamp = card["from"].as_str().unwrap().parse().unwrap();
    let to: jiff::Timestamp = card["to"].as_str().unwrap().parse().unwrap();
    assert_eq!(to.as_second() - from.as_second(), 30 * 86_400);
    let now = jiff::Timestamp::now();
    assert!(
        to > now && to.as_second() - now.as_second() <= 86_400,
        "{to}"
    );
}

/// A reader that stops early (`touchbase … | head`) ends the command quietly: the exit status
/// of SIGPIPE (141), no panic message.
#[test]
fn a_closed_standard_output_ends_quietly() {
    use std::io::Read;
    let dir = small_store();
    // A year of daily scorecards of every point: far more than a pipe holds.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_touchbase"))
        .current_dir(dir.path())
        .env_remove("TOUCHBASE_DB")
        .env_remove("TOUCHBASE_AS")
        .args(["--db", "t.db", "scorecard", "--all", "point", "--by", "day"])
        .args(["--from", "2025-01-01", "--to", "2026-01-01", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's reading end is dropped here.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A `--baseline` after the store's first import opens one proposal for its batch, in the plan
/// as in the import, and takes nothing live (R6).
#[test]
fn a_later_baseline_is_one_proposal_shown_in_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = "t.db";
    write(d, "small.yaml", SMALL);
    ok(d, db, &["inventory", "import", "small.yaml", "--baseline"]);
    write(
        d,
        "grown.yaml",
        &SMALL.replace(
            "points:\n",
            &format!(
                "points:\n{}",
                indent(&proposed_point("x").replace("status: proposed", "status: live"))
            ),
        ),
    );
    let plan = ok(
        d,
        db,
        &[
            "inventory",
            "import",
            "grown.yaml",
            "--baseline",
            "--dry-run",
        ],
    );
    assert!(
        plan.contains(
            "would open proposal 2: baseline of 1 existing points (club.order), needs 2 approvals"
        ) && plan.contains("records point `club.order` as `live`")
            && plan.contains("dry run: nothing was changed"),
        "{plan}"
    );
    let summary = json(
        d,
        db,
        &["inventory", "import", "grown.yaml", "--baseline", "--json"],
    );
    assert_eq!(summary["baseline_proposal"]["points"][0], "club.order");
    let point = json(d, db, &["point", "show", "club.order", "--json"]);
    assert_eq!(point["status"], "proposed");
    // Administrators do not sign it off.
    let err = fails(d, db, &["proposal", "approve", "2", "--comment", "ok"]);
    assert!(err.contains("only executives sign off"), "{err}");
}

/// `token list` shows each token with its 128-bit id and when it was last used.
#[test]
fn token_list_shows_ids_and_last_use() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = "t.db";
    let issued = json(
        d,
        db,
        &["user", "add", "vera", "--role", "viewer", "--json"],
    );
    let id = issued["token_id"].as_str().unwrap();
    assert_eq!(id.len(), 35, "{id}");
    let listed = json(d, db, &["token", "list", "--json"]);
    assert_eq!(listed[0]["id"], id);
    assert!(listed[0]["last_used_at"].is_null());
    let table = ok(d, db, &["token", "list"]);
    assert!(table.contains(id) && table.contains("never"), "{table}");
    let users = ok(d, db, &["user", "list"]);
    assert!(users.contains(&format!("{id} (never used)")), "{users}");
    let err = fails(d, db, &["--as", "vera", "token", "list"]);
    assert!(err.contains("vera has the role viewer"), "{err}");
}

/// A survey from a file, then responses from NDJSON and from CSV: the same response in either
/// is one, a bad one is kept naming its field and rule and replays once its cause is fixed,
/// and the scorecard carries the customers' voice.
#[test]
fn surveys_and_responses_from_files() {
    let dir = small_store();
    let d = dir.path();
    write(
        d,
        "survey.yaml",
        "key: after-visit\nname: After your visit\npoints: [web.order, workshop.booking]\n\
         questions:\n  - nps\n  - csat\n  - change\n  - { key: bike, type: choice, text: Which bike?, options: [road, city] }\n",
    );
    let added = ok(d, "t.db", &["survey", "add", "--file", "survey.yaml"]);
    assert!(
        added.contains("survey after-visit stored (version 1)"),
        "{added}"
    );
    let list = ok(d, "t.db", &["survey", "list"]);
    assert!(
        list.contains("after-visit") && list.contains("nps, csat, change, bike"),
        "{list}"
    );
    let shown = json(d, "t.db", &["survey", "show", "after-visit", "--json"]);
    assert_eq!(shown["identity"], "identified");
    // A survey of an unknown point is refused naming it.
    write(
        d,
        "bad.yaml",
        "key: b\nname: B\npoints: [nowhere]\nquestions: [nps]\n",
    );
    let refused = fails(d, "t.db", &["survey", "add", "--file", "bad.yaml"]);
    assert!(
        refused.contains("survey `b`") && refused.contains("points[0]"),
        "{refused}"
    );

    write(
        d,
        "responses.ndjson",
        concat!(
            r#"{"id":"r-1","survey":"after-visit","point":"web.order","at":"2026-03-01T09:30:00Z","party":"p-1","answers":{"nps":10,"csat":5,"bike":"road"}}"#,
            "\n",
            r#"{"id":"r-2","survey":"after-visit","point":"web.order","at":"2026-03-01T10:30:00Z","answers":{"nps":2,"change":"Faster, please"}}"#,
            "\n",
            r#"{"id":"r-3","survey":"after-visit","point":"web.order","at":"2026-03-01T11:30:00Z","answers":{"bike":"tandem"}}"#,
            "\n",
        ),
    );
    let summary = |report: &serde_json::Value| {
        ["accepted", "duplicates", "rejected"].map(|k| report[k].as_u64().unwrap())
    };
    let report = json(
        d,
        "t.db",
        &["responses", "import", "responses.ndjson", "--json"],
    );
    assert_eq!(summary(&report), [2, 0, 1], "{report}");
    let rejects = rejects_on_record(d, "t.db");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0]["source"], "response:file:responses.ndjson:3");
    assert_eq!(
        rejects[0]["reasons"][0],
        "answers.bike: must be one of road, city, got \"tandem\""
    );
    // The same responses as CSV: r-1 and r-2 are on record already; r-4 is new, with an
    // answer of its own.
    write(
        d,
        "responses.csv",
        concat!(
            "id,survey,point,at,party,answers.nps,answers.csat,answers.change,answers.bike\n",
            "r-1,after-visit,web.order,2026-03-01T09:30:00Z,p-1,10,5,,road\n",
            "r-2,after-visit,web.order,2026-03-01T10:30:00Z,,2,,\"Faster, please\",\n",
            "r-4,after-visit,workshop.booking,2026-03-01T12:30:00Z,,9,4,,city\n",
        ),
    );
    let report = json(
        d,
        "t.db",
        &["responses", "import", "responses.csv", "--json"],
    );
    assert_eq!(summary(&report), [1, 2, 0], "{report}");
    let card = json(
        d,
        "t.db",
        &[
            "scorecard",
            "--point",
            "web.order",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-02",
            "--json",
        ],
    );
    assert_eq!(card["responses"], 2, "{card}");
    assert_eq!(card["nps"], 0.0);
    // The survey learns the option; the reject then replays into the counts.
    write(
        d,
        "survey.yaml",
        "key: after-visit\nname: After your visit\npoints: [web.order, workshop.booking]\n\
         questions:\n  - nps\n  - csat\n  - change\n  - { key: bike, type: choice, text: Which bike?, options: [road, city, tandem] }\n",
    );
    let added = ok(d, "t.db", &["survey", "add", "--file", "survey.yaml"]);
    assert!(added.contains("(version 2)"), "{added}");
    let replayed = ok(d, "t.db", &["rejects", "replay"]);
    assert!(replayed.contains("1 taken"), "{replayed}");
    let card = json(
        d,
        "t.db",
        &[
            "scorecard",
            "--point",
            "web.order",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-02",
            "--json",
        ],
    );
    assert_eq!(card["responses"], 3, "{card}");
}

/// Key customers from a file and by value; invitations with their links as JSON and as CSV
/// for a mail merge, each interaction decided once.
#[test]
fn key_customers_are_invited_from_the_cli() {
    let dir = small_store();
    let d = dir.path();
    write(
        d,
        "survey.yaml",
        "key: after-visit\nname: After your visit\npoints: [web.order]\nquestions: [nps, change]\n",
    );
    ok(d, "t.db", &["survey", "add", "--file", "survey.yaml"]);
    write(
        d,
        "events.ndjson",
        concat!(
            r#"{"id":"e1","point":"web.order","at":"2026-03-01T09:00:00Z","party":"p1","value":{"company":9}}"#,
            "\n",
            r#"{"id":"e2","point":"web.order","at":"2026-03-02T09:00:00Z","party":"p1","value":{"company":9}}"#,
            "\n",
            r#"{"id":"e3","point":"web.order","at":"2026-03-02T10:00:00Z","party":"p2","value":{"company":1}}"#,
            "\n",
            r#"{"id":"e4","point":"web.order","at":"2026-03-03T10:00:00Z","party":"p3","value":{"company":50}}"#,
            "\n",
        ),
    );
    ok(d, "t.db", &["import", "events.ndjson"]);
    write(d, "key.csv", "party,segment\np1,gold\np2,silver\n");
    let imported = ok(d, "t.db", &["customers", "import", "key.csv"]);
    assert!(
        imported.contains("2 key customers from key.csv; 2 on record"),
        "{imported}"
    );
    write(d, "bad.csv", "who,segment\np1,gold\n");
    let refused = fails(d, "t.db", &["customers", "import", "bad.csv"]);
    assert!(refused.contains("no `party` column"), "{refused}");
    let top = ok(
        d,
        "t.db",
        &[
            "customers",
            "top",
            "1",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-04",
        ],
    );
    assert!(top.contains(": p3"), "{top}");
    let list = json(d, "t.db", &["customers", "list", "--json"]);
    let parties: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["party"].as_str().unwrap())
        .collect();
    assert_eq!(parties, ["p1", "p2", "p3"]);

    let report = json(
        d,
        "t.db",
        &[
            "survey",
            "invite",
            "after-visit",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-03",
            "--base",
            "https://cx.example.com/",
            "--json",
        ],
    );
    // p1's second visit is within 30 days of its first invitation; p3's is after the period.
    assert_eq!(report["eligible"], 3, "{report}");
    assert_eq!(report["suppressed"]["surveyed_recently"], 1);
    let invited = report["invited"].as_array().unwrap();
    let events: Vec<&str> = invited
        .iter()
        .map(|i| i["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["e1", "e3"]);
    assert!(
        invited[0]["link"]
            .as_str()
            .unwrap()
            .starts_with("https://cx.example.com/r/after-visit/"),
        "{report}"
    );
    // A later period as CSV: only p3's interaction is new.
    let csv = ok(
        d,
        "t.db",
        &[
            "survey",
            "invite",
            "after-visit",
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-04",
            "--csv",
        ],
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "invitation,party,point,at,link,expires");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1]
            .contains(",p3,web.order,2026-03-03T10:00:00Z,http://127.0.0.1:7878/r/after-visit/"),
        "{csv}"
    );
    let all = json(
        d,
        "t.db",
        &["survey", "invitations", "after-visit", "--json"],
    );
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|i| i["answered"] == false)
    );
}

#[test]
fn people_code_answers_and_say_why_customers_buy_from_the_cli() {
    let dir = small_store();
    let d = dir.path();
    write(
        d,
        "survey.yaml",
        "key: listen\nname: Tell us\npoints: [web.order]\nquestions: [nps, change, why_buy]\n",
    );
    ok(d, "t.db", &["survey", "add", "--file", "survey.yaml"]);
    write(
        d,
        "responses.ndjson",
        concat!(
            r#"{"id":"r-1","survey":"listen","point":"web.order","at":"2026-03-01T09:30:00Z","party":"p-1","answers":{"nps":3,"change":"The queue was long","why_buy":"It is easy"}}"#,
            "\n",
            r#"{"id":"r-2","survey":"listen","point":"web.order","at":"2026-03-01T10:30:00Z","party":"p-2","answers":{"nps":10,"change":"Faster answers","why_buy":"Cheap"}}"#,
            "\n",
            r#"{"id":"r-3","survey":"listen","point":"web.order","at":"2026-03-01T11:30:00Z","party":"p-3","answers":{"nps":9,"change":"Nothing"}}"#,
            "\n",
        ),
    );
    ok(d, "t.db", &["responses", "import", "responses.ndjson"]);
    write(
        d,
        "codebook.yaml",
        "version: 1\ncodes:\n  - { key: wait-time, family: change, any: [queue*, wait*] }\n  - { key: nothing, family: change, any: [nothing] }\n  - { key: ease, family: why_buy, kind: interaction, any: [easy], points: [web.order] }\n  - { key: price, family: why_buy, kind: product, any: [cheap*] }\n",
    );
    ok(d, "t.db", &["codebook", "import", "codebook.yaml"]);
    let period = ["--from", "2026-03-01", "--to", "2026-03-02"];
    let listed = ok(d, "t.db", &[&["answers", "list"][..], &period].concat());
    assert!(
        listed.contains("The queue was long") && listed.contains("3 answers"),
        "{listed}"
    );
    // The rules miss "Faster answers": a person tags it.
    let tagged = ok(d, "t.db", &["answers", "tag", "r-2", "wait-time"]);
    assert!(
        tagged.contains("r-2 is tagged wait-time (person)"),
        "{tagged}"
    );
    let refused = fails(d, "t.db", &["answers", "tag", "r-2", "nope"]);
    assert!(refused.contains("no code `nope`"), "{refused}");
    let themes = json(d, "t.db", &[&["themes", "--json"][..], &period].concat());
    assert_eq!(themes["themes"][0]["code"], "wait-time");
    assert_eq!(themes["themes"][0]["mentions"], 2, "{themes}");
    // The sample, coded from standard input: the same order for every coder (by the hash of
    // each answer's id); a code that does not exist is asked again, `-` is none.
    let mut order = vec!["r-1", "r-2", "r-3"];
    order.sort_by_key(|id| {
        touchbase_core::voice::analysis::sample_key(touchbase_core::voice::Family::Change, id)
    });
    let codes_of = |who: &str, id: &str| match (who, id) {
        (_, "r-1") => "wait-time",
        ("ann", "r-2") => "wait-time",
        (_, "r-2") => "-",
        _ => "nothing",
    };
    for who in ["ann", "bob"] {
        let mut input = String::from("bogus\n");
        for id in &order {
            input.push_str(codes_of(who, id));
            input.push('\n');
        }
        let run = touchbase_with_input(
            d,
            "t.db",
            &["answers", "code", "--sample", "3", "--coder", who],
            input.as_bytes(),
        );
        assert!(run.ok, "{}{}", run.stdout, run.stderr);
        let shown: Vec<&str> = run
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix('[').and_then(|l| l.split_once("] ")))
            .map(|(_, rest)| rest.split(':').next().unwrap())
            .collect();
        assert_eq!(shown, order, "{}", run.stdout);
        assert!(
            run.stdout.contains("no change code `bogus`"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains(&format!("3 answers coded by {who}")),
            "{}",
            run.stdout
        );
    }
    // Coded again: nothing left to code.
    let again = touchbase_with_input(
        d,
        "t.db",
        &["answers", "code", "--sample", "3", "--coder", "bob"],
        b"",
    );
    assert!(
        again.stdout.contains("3 coded by bob already, 0 to code"),
        "{}",
        again.stdout
    );
    // wait-time: ann tags r-1 and r-2, bob r-1: Po = 2/3, p1 = 2/3, p2 = 1/3, Pe = 4/9,
    // kappa = (2/3 − 4/9) / (5/9) = 0.4: unreliable. nothing: both tag r-3 alone: 1.
    let agreement = json(d, "t.db", &["answers", "agreement", "--json"]);
    assert_eq!(agreement["coders"], serde_json::json!(["ann", "bob"]));
    let wait = agreement["codes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "wait-time")
        .unwrap();
    assert!(
        (wait["kappa"].as_f64().unwrap() - 0.4).abs() < 1e-9,
        "{wait}"
    );
    assert_eq!(wait["unreliable"], true);
    let themes = ok(d, "t.db", &[&["themes"][..], &period].concat());
    assert!(themes.contains("no: kappa < 0.6"), "{themes}");

    // Why customers buy: the senior team as themselves.
    ok(d, "t.db", &["user", "add", "erin", "--role", "executive"]);
    ok(d, "t.db", &["user", "add", "vic", "--role", "viewer"]);
    let refused = fails(
        d,
        "t.db",
        &["--as", "vic", "why-buy", "add", "We are cheap"],
    );
    assert!(refused.contains("only executives and owners"), "{refused}");
    let kept = ok(
        d,
        "t.db",
        &["--as", "erin", "why-buy", "add", "We are cheap"],
    );
    assert!(kept.contains("from erin (executive)"), "{kept}");
    let summary = json(
        d,
        "t.db",
        &["why-buy", "summary", "--from", "2026-03-01", "--json"],
    );
    assert_eq!(summary["executives"]["product_share"], 1.0, "{summary}");
    assert_eq!(summary["customers"]["coded"], 2);
    assert_eq!(summary["customers"]["interaction_share"], 0.5);
    let ease = summary["customers"]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "ease")
        .unwrap();
    assert_eq!(ease["points"], serde_json::json!(["web.order"]));
    let table = ok(d, "t.db", &["why-buy", "summary", "--from", "2026-03-01"]);
    assert!(
        table.contains("senior team") && table.contains("web.order"),
        "{table}"
    );

    // Erasing a party: its texts and identity go, the counts stay.
    let card = |d: &Path| {
        json(
            d,
            "t.db",
            &[
                &["scorecard", "--point", "web.order", "--json"][..],
                &period,
            ]
            .concat(),
        )
    };
    let before = card(d);
    let refused = fails(d, "t.db", &["--as", "erin", "party", "forget", "p-1"]);
    assert!(refused.contains("admin"), "{refused}");
    let forgot = ok(d, "t.db", &["party", "forget", "p-1"]);
    assert!(forgot.contains("1 responses kept their scores"), "{forgot}");
    let after = card(d);
    assert_eq!(
        (&after["responses"], &after["nps"]),
        (&before["responses"], &before["nps"])
    );
    let listed = ok(d, "t.db", &[&["answers", "list"][..], &period].concat());
    assert!(
        !listed.contains("The queue was long") && listed.contains("2 answers"),
        "{listed}"
    );
}
