//! A survey invitation's respondent page in a real browser: a store with the small inventory
//! and a survey of its web orders, two key customers' orders of 3 March and their invitations
//! (`touchbase customers import`, `touchbase survey invite --json`); then `touchbase serve`, and
//! `tests/browser/survey.mjs` under node drives Debian's Chromium through playwright-core:
//! save half the answers, open the link again, finish, thanks, the link used; the other link
//! with JavaScript off and in French; axe-core on each page; screenshots at 390 and 1280 px;
//! then the dashboard as a viewer, its Voice of the customer moved by the two answers.
//!
//! It needs node, `/usr/bin/chromium` and the script's npm packages (`.ci/run` installs them);
//! without them it fails, saying what to install. `TOUCHBASE_SCREENSHOTS=DIR` keeps the
//! screenshots there too.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

const SURVEY: &str = r#"key: after-order
name: After your order
points: [web.order]
questions:
  - nps
  - csat
  - change
  - { key: parts, type: multi, text: "Which parts did you order?", options: [chain, tube, tape] }
  - { key: again, type: choice, text: "Would you order online again?", options: ["yes", "no"] }
"#;

#[test]
fn a_survey_is_answered_in_a_browser_with_and_without_javascript() {
    prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = "t.db";
    write(d, "small.yaml", SMALL);
    ok(d, db, &["key", "new", "--out", "t.db.key"]);
    let key = ["--key-file", "t.db.key"];
    ok(
        d,
        db,
        &[
            &["inventory", "import", "small.yaml", "--baseline"][..],
            &key,
        ]
        .concat(),
    );
    write(d, "survey.yaml", SURVEY);
    ok(
        d,
        db,
        &[&["survey", "add", "--file", "survey.yaml"][..], &key].concat(),
    );
    let order = |id: &str, party: &str| {
        format!(
            r#"{{"id":"{id}","point":"web.order","at":"2026-03-03T09:30:00Z","party":"{party}"}}"#
        )
    };
    write(
        d,
        "orders.ndjson",
        &format!("{}\n{}\n", order("o-1", "r-1"), order("o-2", "r-2")),
    );
    ok(d, db, &[&["import", "orders.ndjson"][..], &key].concat());
    write(d, "key.csv", "party,segment\nr-1,gold\nr-2,gold\n");
    ok(
        d,
        db,
        &[&["customers", "import", "key.csv"][..], &key].concat(),
    );

    write(
        d,
        "codebook.yaml",
        "version: 1\ncodes:\n  - { key: delivery, family: change, any: [deliver*] }\n",
    );
    ok(
        d,
        db,
        &[&["codebook", "import", "codebook.yaml"][..], &key].concat(),
    );
    let viewer: serde_json::Value = serde_json::from_str(&ok(
        d,
        db,
        &[
            &["user", "add", "vic", "--role", "viewer", "--json"][..],
            &key,
        ]
        .concat(),
    ))
    .unwrap();
    let (mut server, address) = start_server(d, db, &key);
    let base = format!("http://{address}");
    let report: serde_json::Value = serde_json::from_str(&ok(
        d,
        db,
        &[
            &[
                "survey",
                "invite",
                "after-order",
                "--from",
                "2026-03-01",
                "--to",
                "2026-03-08",
            ][..],
            &["--base", &base, "--json"],
            &key,
        ]
        .concat(),
    ))
    .unwrap();
    let mut invited: Vec<(String, String)> = report["invited"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["party"].as_str().unwrap().to_owned(),
                i["link"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    invited.sort();
    assert_eq!(invited.len(), 2, "{report}");

    let shots = std::env::var_os("TOUCHBASE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| d.join("screenshots"));
    let output = Command::new("node")
        .arg(script_dir().join("survey.mjs"))
        .current_dir(script_dir())
        .env("TB_LINKS", format!("{} {}", invited[0].1, invited[1].1))
        .env("TB_SHOTS", &shots)
        .env("TB_TOKEN", viewer["token"].as_str().unwrap())
        .env_remove("TOUCHBASE_SCREENSHOTS")
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    let answered: serde_json::Value = serde_json::from_str(&ok(
        d,
        db,
        &[
            &["survey", "invitations", "after-order", "--json"][..],
            &key,
        ]
        .concat(),
    ))
    .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        output.status.success(),
        "the browser script failed ({}):\n{stdout}{stderr}\nscreenshots in {}\nserver log:\n{}",
        output.status,
        shots.display(),
        std::fs::read_to_string(d.join("server.log")).unwrap_or_default()
    );
    // Both invitations are answered, as the API and the CLI see them.
    assert!(
        answered
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["answered"] == true),
        "{answered}"
    );
    for name in ["survey-390", "survey-1280-fr"] {
        assert!(shots.join(format!("{name}.png")).exists(), "no {name}.png");
    }
}
