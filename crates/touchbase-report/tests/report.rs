//! The report over a small hand-made SQLite store: its JSON holds what `measure` gives, the
//! HTML page is self-contained and escapes what the inventory and events say, and the
//! Markdown carries the same sections.

use serde_json::{Value, json};
use touchbase_core::period::Period;
use touchbase_core::{Actor, Inventory, file};
use touchbase_report::{Format, Options, Report, build, render};
use touchbase_store::Store;
use touchbase_store::ingest::{Input, ingest};
use touchbase_store::inventory::{self, ImportMode};
use touchbase_store::measure::{self, Days, Scope};
use touchbase_store_sqlite::SqliteStore;

const INVENTORY: &str = r#"
organization: { name: "Test & Sons <Ltd>", currency: USD }
parties:
  - { key: household, kind: individual }
points:
  - key: web.order
    name: "Online <script>alert('x')</script> order"
    party: household
    function: sales
    channel: web
    mode: machine
    data:
      - { name: basket, direction: in, class: transactional, type: array, required: true }
    expected: { volume_per_month: 100, value_company: 2.0, cost: 0.5 }
    strategic_value: low
    owner: sales
    status: live
  - key: store.checkout
    name: In-store checkout
    party: household
    function: fulfillment
    channel: store
    mode: people
    expected: { volume_per_month: 50, value_company: 1.0, cost: 3.0 }
    strategic_value: none
    owner: ops
    status: live
  - key: app.kiosk
    name: Kiosk
    party: household
    function: service
    channel: app
    mode: machine
    rationale: "Self-service <iframe src=x></iframe> in store"
    expected: { volume_per_month: 500, value_company: 1.0, value_party: 0.5, cost: 0.2 }
    owner: ops
    status: proposed
"#;

const DAY: &str = "2026-03";

async fn store(dir: &tempfile::TempDir) -> (SqliteStore, Inventory) {
    let store = SqliteStore::open(dir.path().join("report.db")).unwrap();
    let admin = Actor::local_admin();
    let parsed = file::parse_inventory(INVENTORY).unwrap();
    inventory::import(&store, &admin, &parsed, ImportMode::Baseline)
        .await
        .unwrap();
    let inventory = inventory::get(&store).await.unwrap().value;
    let mut events = Vec::new();
    for i in 0..40 {
        // Every party orders online, then 30 of them pick up at the store an hour later.
        let day = 1 + i % 28;
        let data = if i < 4 {
            json!({"basket": "x"})
        } else {
            json!({"basket": [1]})
        };
        events.push(json!({
            "point": "web.order", "at": format!("{DAY}-{day:02}T10:00:00Z"), "party": format!("p{i}"),
            "outcomes": {"satisfaction": 5, "engaged": true, "intent": "buy"},
            "value": {"company": 2.5}, "cost": 0.5, "data": data,
        }));
        if i < 30 {
            events.push(json!({
                "point": "store.checkout", "at": format!("{DAY}-{day:02}T11:00:00Z"), "party": format!("p{i}"),
                "outcomes": {"satisfaction": 2, "resolved": false},
                "value": {"company": 0.5}, "cost": 3.5,
            }));
        }
    }
    for i in 0..3 {
        events.push(json!({"point": "ghost.point", "at": format!("{DAY}-05T09:0{i}:00Z")}));
    }
    let inputs: Vec<Input> = events
        .iter()
        .map(|e| Input::new(e.to_string(), "test"))
        .collect();
    let checker = touchbase_store::ingest::checker(&store).await.unwrap();
    ingest(&store, &admin, &checker, &inputs).await.unwrap();
    (store, inventory)
}

fn march() -> Period {
    Period::parse("2026-03-01", "2026-04-01").unwrap()
}

async fn report(store: &dyn Store, inventory: &Inventory) -> Report {
    let options = Options {
        period: march(),
        generated_at: "2026-04-02T08:00:00Z".to_owned(),
        top_journeys: 10,
    };
    build(store, &Actor::local_admin(), inventory, &options)
        .await
        .unwrap()
}

#[tokio::test]
async fn json_holds_the_figures_measure_gives() {
    let dir = tempfile::tempdir().unwrap();
    let (store, inventory) = store(&dir).await;
    let r = report(&store, &inventory).await;
    let json: Value = serde_json::from_str(&render(&r, Format::Json).unwrap()).unwrap();

    let days = Days::read(&store, &inventory, march()).await.unwrap();
    let org = measure::cards(&inventory, &days, &[Scope::Organization], None).unwrap();
    assert_eq!(json["scorecard"], serde_json::to_value(&org[0]).unwrap());
    assert_eq!(json["scorecard"]["volume"], 70);
    assert_eq!(json["headline"]["volume"], 70);
    assert_eq!(json["headline"]["net_value"], org[0].scorecard.net_value);

    let portfolio = measure::portfolio(&store, &inventory, march())
        .await
        .unwrap();
    assert_eq!(json["portfolio"], serde_json::to_value(&portfolio).unwrap());
    // web.order clears both bars; store.checkout loses money, serves badly and is not strategic.
    let verdicts: Vec<(&str, &str)> = json["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap(), p["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        [("store.checkout", "eliminate"), ("web.order", "invest")]
    );
    assert_eq!(
        (
            json["headline"]["invest"].clone(),
            json["headline"]["eliminate"].clone()
        ),
        (json!(1), json!(1))
    );

    let modes = measure::cards(
        &inventory,
        &days,
        &Scope::all(&inventory, measure::GroupBy::Mode, &days),
        None,
    )
    .unwrap();
    assert_eq!(json["modes"], serde_json::to_value(&modes).unwrap());
    let quality = measure::quality(&store, &days, 5).await.unwrap();
    let web = quality.iter().find(|q| q.point == "web.order").unwrap();
    assert_eq!(
        json["quality"][0],
        serde_json::to_value(web).unwrap(),
        "least conformant first"
    );
    assert_eq!(json["quality"][0]["conforming"], 36);

    // 40 journeys: 30 web.order → store.checkout (a hand-off from sales to fulfillment), 10 alone.
    assert_eq!(json["journeys"]["journeys"], 40);
    assert_eq!(json["journeys"]["handoffs"][0]["count"], 30);
    assert_eq!(
        json["journeys"]["variants"][0]["text"],
        "web.order → store.checkout"
    );
    assert_eq!(json["headline"]["handoffs"], 30);

    assert_eq!(json["inventory"]["points"], 3);
    assert_eq!(json["inventory"]["live"], 2);
    let undocumented: Vec<&str> = json["undocumented"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["point"].as_str().unwrap())
        .collect();
    assert_eq!(undocumented, ["ghost.point"]);
    assert_eq!(json["undocumented"][0]["volume"], 3);
    assert_eq!(json["proposals"][0]["point"], "app.kiosk");
    assert_eq!(json["proposals"][0]["kind"], "new");
}

#[tokio::test]
async fn html_is_self_contained_and_escapes_what_it_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let (store, inventory) = store(&dir).await;
    let html = render(&report(&store, &inventory).await, Format::Html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for external in [
        "http://", "https://", "src=\"", "href=\"", "<script", "<link", "@import", "url(",
    ] {
        assert!(!html.contains(external), "the page holds `{external}`");
    }
    assert!(html.contains("Online &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; order"));
    assert!(html.contains("Self-service &lt;iframe src=x&gt;&lt;/iframe&gt; in store"));
    assert!(!html.contains("<iframe"));
    assert!(html.contains("ghost.point"));
    assert!(html.contains("Test &amp; Sons &lt;Ltd&gt;"));
    // The charts are inline SVG: the matrix, attribution, attainment, funnel, modes and
    // journeys.
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 6);
    // Attribution: every party orders online (removal effect 1), 30 of 40 go on to the
    // checkout (0.75); the converting journeys are worth 40 × 2.5 + 30 × 0.5 = 115, shared
    // 1 : 0.75. Own net values: 40 × (2.5 − 0.5) = 80 and 30 × (0.5 − 3.5) = −90.
    let at = html
        .find("aria-label=\"Attributed through journeys against own net value, per point\"")
        .expect("the attribution chart");
    let chart = &html[at..at + html[at..].find("</svg>").unwrap()];
    for figure in ["$80.00", "−$90.00", "$65.71", "$49.29"] {
        assert!(
            chart.contains(figure),
            "the attribution chart shows {figure}"
        );
    }
    assert!(
        chart.find("$65.71").unwrap() < chart.find("$49.29").unwrap(),
        "the most attributed point comes first"
    );
    assert!(html.contains("@media print"));
}

#[tokio::test]
async fn markdown_carries_the_same_sections() {
    let dir = tempfile::tempdir().unwrap();
    let (store, inventory) = store(&dir).await;
    let r = report(&store, &inventory).await;
    let md = render(&r, Format::Markdown).unwrap();
    let html = render(&r, Format::Html).unwrap();
    let sections = [
        "Summary",
        "The inventory at a glance",
        "Portfolio: invest, improve, eliminate",
        "Achieved vs expected",
        "Outcomes",
        "Machine, people and hybrid",
        "Business functions",
        "Journeys",
        "Voice of the customer",
        "Data quality",
        "Undocumented points",
        "Proposals awaiting sign-off",
    ];
    let mut at = 0;
    for section in sections {
        let found = md[at..]
            .find(&format!(". {section}\n"))
            .or_else(|| md[at..].find(&format!("## {section}\n")))
            .unwrap_or_else(|| panic!("the Markdown lacks `{section}` after byte {at}"));
        at += found;
        assert!(
            html.contains(&format!("{section}</h2>")),
            "the HTML lacks `{section}`"
        );
    }
    assert!(md.contains("Online &lt;script&gt;alert('x')&lt;/script&gt; order"));
    assert!(md.contains("web.order ⇄ store.checkout"));
    assert!(md.contains("| ghost.point | 3 |"));
    assert!(md.contains("Kiosk"));
}

#[tokio::test]
async fn the_voice_of_the_customer_is_reported_and_its_words_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store(&dir).await;
    let admin = Actor::local_admin();
    let survey = touchbase_core::file::parse_survey(
        "key: listen\nname: Tell us\npoints: [web.order]\nquestions: [nps, change, why_buy]\n",
    )
    .unwrap();
    touchbase_store::surveys::put(&store, &admin, &survey)
        .await
        .unwrap();
    touchbase_store::settings::set(&store, &admin, "survey.min_responses", "2")
        .await
        .unwrap();
    let inputs: Vec<Input> = (0..3)
        .map(|i| {
            Input::new(
                json!({
                    "id": format!("r{i}"), "survey": "listen", "point": "web.order",
                    "at": format!("{DAY}-0{}T12:00:00Z", i + 1), "party": format!("p{i}"),
                    "answers": { "nps": 3 + 3 * i, "change": format!("the <b>wait</b> number {i}"),
                                 "why_buy": "easy" },
                })
                .to_string(),
                "test",
            )
        })
        .collect();
    let now = touchbase_store::ingest::now_us();
    let taken = touchbase_store::responses::take(&store, &admin, &inputs, now)
        .await
        .unwrap();
    assert!(
        taken
            .iter()
            .all(|o| o.status == touchbase_store::ingest::Status::Accepted),
        "{taken:?}"
    );
    touchbase_store::codebook::import(
        &store,
        &admin,
        "version: 1\ncodes:\n  - { key: wait-time, family: change, any: [wait*] }\n  - { key: ease, family: why_buy, kind: interaction, any: [easy], points: [web.order] }\n",
        now,
    )
    .await
    .unwrap();
    let inventory = inventory::get(&store).await.unwrap().value;
    let r = report(&store, &inventory).await;
    assert_eq!(r.voice.themes.themes[0].code, "wait-time");
    assert_eq!(r.voice.themes.themes[0].mentions, 3);
    assert_eq!(r.voice.why_buy.summary.customers.coded, 3);
    let json: Value = serde_json::from_str(&render(&r, Format::Json).unwrap()).unwrap();
    assert_eq!(json["voice"]["themes"]["themes"][0]["code"], "wait-time");
    assert_eq!(
        json["voice"]["why_buy"]["customers"]["interaction_share"],
        1.0
    );
    let web = json["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "web.order")
        .unwrap();
    // NPS over 3, 6, 9: one promoter, two detractors.
    assert_eq!(web["responses"], 3);
    assert!((web["nps"].as_f64().unwrap() + 100.0 / 3.0).abs() < 1e-9);
    let html = render(&r, Format::Html).unwrap();
    assert!(
        html.contains("<q>the &lt;b&gt;wait&lt;/b&gt; number 2</q>"),
        "the latest first, escaped"
    );
    assert!(!html.contains("<b>wait"));
    assert!(html.contains("−33"));
    let md = render(&r, Format::Markdown).unwrap();
    assert!(md.contains("“the &lt;b&gt;wait&lt;/b&gt; number 2”"));
    let ease = md
        .lines()
        .find(|l| l.starts_with("| ease |"))
        .unwrap_or_default();
    assert!(ease.ends_with("| web.order |"), "{md}");
    assert!(md.contains("| answers coded | 0 of 0 | 3 of 3 |"), "{md}");
}
