//! The inventory's rules, driven through the file format as a user meets them (R1–R5).
//!
//! Most tests are one line: an edit to a small valid inventory ([`BASE`]) and the text the error
//! must contain, which names the entity, the field and the rule. See [`check`] for the edit
//! language.

use serde_json::{Value, json};
use touchbase_core::change::{self, Action, Change, Kind};
use touchbase_core::contract::{self, Contract};
use touchbase_core::file::{self, FileError};
use touchbase_core::validate::KEY_RULE;
use touchbase_core::{Inventory, Mode};

const DEMO: &str = include_str!("../../touchbase/src/demo/northwind.yaml");

/// A small inventory that passes every rule: variables of each type, an own business function,
/// two processes with steps, two parties, a machine point and a hybrid point.
const BASE: &str = r#"
organization:
  name: Acme Mobile
  industry: telecom
  currency: EUR
  variables:
    plan: { type: enum, values: [prepaid, postpaid] }
    region_count: { type: number }
    region: { type: text }
    roaming: { type: bool }
functions: [marketing, sales, fulfillment, finance, service, loyalty]
processes:
  - { key: order-to-cash, function: sales, steps: [browse, order, pay] }
  - { key: win-back, function: loyalty, steps: [offer, accept] }
parties:
  - { key: consumer, kind: individual, description: Subscribers }
  - { key: dealer, kind: organization }
points:
  - key: web.signup
    name: Online signup
    description: The subscriber picks a plan and signs up on the web site
    party: consumer
    function: sales
    process: order-to-cash
    step: order
    channel: web
    mode: machine
    facets: [product, process]
    data:
      - { name: email, direction: in, class: personal, type: string, required: true }
      - { name: plan, direction: in, class: transactional, type: string }
      - { name: welcome, direction: out, class: content }
    value: { company: A new subscription, party: A working phone line }
    expected: { volume_per_month: 120000, value_company: 4.1, value_party: 2, cost: 0.05 }
    strategic_value: high
    rationale: Cheapest way to sign up
    owner: digital
    departments: [sales, it]
    status: live
    vars: { plan: prepaid, region_count: 3, region: north, roaming: true }
  - key: shop.counter
    name: Dealer counter
    party: dealer
    function: loyalty
    process: win-back
    step: offer
    channel: store
    mode: hybrid
    automation: 0.3
    owner: retail
"#;

// ---------------------------------------------------------------------------------------------
// The fixture language
// ---------------------------------------------------------------------------------------------

/// Applies one edit to an inventory file's text:
///
/// * `old => new` replaces `old`. If `old` is a whole line (ignoring indentation), that unique
///   line is replaced and each further line of `new` gets the same indentation; an empty `new`
///   deletes the line. Otherwise `old` must occur exactly once anywhere in the text.
/// * anything else is appended to the end of the file (the base ends with its points, so a
///   `  - key: ...` block adds a point, and an unindented line adds a top-level field).
fn apply(text: &str, edit: &str) -> String {
    let Some((old, new)) = edit.split_once(" => ") else {
        return format!("{text}{edit}\n");
    };
    let lines: Vec<&str> = text.lines().collect();
    let hits: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim() == old)
        .collect();
    match hits.as_slice() {
        [i] => {
            let line = lines[*i];
            let indent = &line[..line.len() - line.trim_start().len()];
            let mut out: Vec<String> = lines[..*i].iter().map(|l| l.to_string()).collect();
            if !new.is_empty() {
                out.extend(new.lines().map(|l| format!("{indent}{l}")));
            }
            out.extend(lines[i + 1..].iter().map(|l| l.to_string()));
            out.join("\n") + "\n"
        }
        [] => {
            let count = text.matches(old).count();
            assert_eq!(
                count, 1,
                "the edit's `{old}` must occur exactly once in the fixture, found {count} times"
            );
            text.replacen(old, new, 1)
        }
        _ => panic!("the edit's `{old}` is more than one line of the fixture"),
    }
}

/// Parses the base inventory with `edits` applied, and returns the error message.
fn error_of(edits: &[&str]) -> String {
    let text = edits.iter().fold(BASE.to_owned(), |t, e| apply(&t, e));
    match file::parse_inventory(&text) {
        Ok(_) => panic!("expected an error, but this parsed:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Applies `edit` to the base inventory (see [`apply`]), parses it, and asserts that the message
/// is about exactly one problem and contains `expected`.
#[track_caller]
fn check(edit: &str, expected: &str) {
    check_all(&[edit], expected);
}

/// Like [`check`] with several edits. In `expected`, ` ... ` stands for any text; when it says
/// `N problems:` the message may list several.
#[track_caller]
fn check_all(edits: &[&str], expected: &str) {
    let message = error_of(edits);
    let mut rest = message.as_str();
    for part in expected.split(" ... ") {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => panic!("the message\n  {message}\ndoes not contain\n  {expected}"),
        }
    }
    if !expected.contains(" problems:") {
        assert!(
            !message.contains(" problems:"),
            "expected one problem, got\n{message}"
        );
    }
}

fn base() -> Inventory {
    file::parse_inventory(BASE).unwrap_or_else(|e| panic!("the base fixture is invalid: {e}"))
}

fn edited(edits: &[&str]) -> Inventory {
    let text = edits.iter().fold(BASE.to_owned(), |t, e| apply(&t, e));
    file::parse_inventory(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

const DECLARED_FUNCTIONS: &str =
    "declared: marketing, sales, fulfillment, finance, service, loyalty";

// ---------------------------------------------------------------------------------------------
// Valid files
// ---------------------------------------------------------------------------------------------

#[test]
fn demo_inventory_is_valid() {
    let inventory = file::parse_inventory(DEMO).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        inventory.points.len() >= 25,
        "the demo has {} points",
        inventory.points.len()
    );
}

#[test]
fn base_inventory_is_valid() {
    let inventory = base();
    assert_eq!(inventory.organization.name, "Acme Mobile");
    assert_eq!(inventory.organization.variables.len(), 4);
    let keys: Vec<&str> = inventory.points.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["shop.counter", "web.signup"],
        "points are ordered by key"
    );
}

#[test]
fn edits_apply_where_they_say() {
    let text = apply(BASE, "automation: 0.3 => ");
    assert!(!text.contains("automation"));
    let text = apply(BASE, "owner: retail => owner: retail\ncolour: blue");
    assert!(text.contains("    owner: retail\n    colour: blue\n"));
    let text = apply(BASE, "roaming: true => roaming: false");
    assert!(text.contains("region: north, roaming: false }"));
    let text = apply(BASE, "colour: blue");
    assert!(text.ends_with("\ncolour: blue\n"));
}

#[test]
fn key_of_64_characters_is_accepted() {
    let key = "a".repeat(64);
    let inventory = edited(&[&format!("- key: web.signup => - key: {key}")]);
    assert!(inventory.point(&key).is_some());
}

// ---------------------------------------------------------------------------------------------
// References: function, process, step, party (R1)
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_function_on_a_point() {
    check(
        "function: sales => function: legal",
        &format!(
            "point `web.signup`: function: unknown business function `legal`; {DECLARED_FUNCTIONS}"
        ),
    );
}

#[test]
fn unknown_function_on_a_process() {
    check(
        "function: loyalty, => function: retention,",
        &format!(
            "process `win-back`: function: unknown business function `retention`; {DECLARED_FUNCTIONS}"
        ),
    );
}

#[test]
fn unknown_process() {
    check(
        "process: win-back => process: churn",
        "point `shop.counter`: process: unknown business process `churn`; declared: order-to-cash, win-back",
    );
}

#[test]
fn step_not_in_the_process() {
    check(
        "step: order => step: ship",
        "point `web.signup`: step: process `order-to-cash` has no step `ship`; its steps: browse, order, pay",
    );
}

#[test]
fn step_without_process() {
    check(
        "process: win-back => ",
        "point `shop.counter`: step: a step needs its `process`",
    );
}

#[test]
fn unknown_party() {
    check(
        "party: dealer => party: reseller",
        "point `shop.counter`: party: unknown party type `reseller`; declared: consumer, dealer",
    );
}

// ---------------------------------------------------------------------------------------------
// Industry variables (R4)
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_variable_on_a_point() {
    check(
        "roaming: true => roam: true",
        "point `web.signup`: vars.roam: unknown industry variable `roam`; declared: plan, region, region_count, roaming",
    );
}

#[test]
fn enum_variable_with_an_undeclared_value() {
    check(
        "plan: prepaid => plan: hybrid",
        r#"point `web.signup`: vars.plan: must be one of prepaid, postpaid, got "hybrid""#,
    );
}

#[test]
fn number_variable_given_text() {
    check(
        "region_count: 3 => region_count: three",
        r#"point `web.signup`: vars.region_count: must be a number, got "three""#,
    );
}

#[test]
fn bool_variable_given_a_string() {
    check(
        r#"roaming: true => roaming: "yes""#,
        r#"point `web.signup`: vars.roaming: must be true or false, got "yes""#,
    );
}

#[test]
fn text_variable_given_a_number() {
    check(
        "region: north => region: 7",
        "point `web.signup`: vars.region: must be text, got 7",
    );
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

#[test]
fn point_key_in_uppercase() {
    check(
        "- key: web.signup => - key: Web.Signup",
        &format!("point `Web.Signup`: key: {KEY_RULE}"),
    );
}

#[test]
fn point_key_with_a_space() {
    check(
        "- key: web.signup => - key: web signup",
        &format!("point `web signup`: key: {KEY_RULE}"),
    );
}

#[test]
fn point_key_of_65_characters() {
    let key = "a".repeat(65);
    check(
        &format!("- key: web.signup => - key: {key}"),
        &format!("point `{key}`: key: {KEY_RULE}"),
    );
}

#[test]
fn point_key_with_a_leading_dot() {
    check(
        "- key: web.signup => - key: .web.signup",
        &format!("point `.web.signup`: key: {KEY_RULE}"),
    );
}

#[test]
fn malformed_party_key() {
    check(
        "- { key: dealer, kind: organization } => - { key: dealer, kind: organization }\n- { key: Big Dealer, kind: organization }",
        &format!("party `Big Dealer`: key: {KEY_RULE}"),
    );
}

#[test]
fn malformed_process_key() {
    check(
        "- { key: win-back, function: loyalty, steps: [offer, accept] } => - { key: win-back, function: loyalty, steps: [offer, accept] }\n- { key: Win_Back, function: loyalty, steps: [offer] }",
        &format!("process `Win_Back`: key: {KEY_RULE}"),
    );
}

#[test]
fn malformed_function_key() {
    check(
        "functions: [marketing, sales, fulfillment, finance, service, loyalty] => functions: [marketing, sales, fulfillment, finance, service, loyalty, Key Accounts]",
        &format!("function `Key Accounts`: key: {KEY_RULE}"),
    );
}

#[test]
fn malformed_variable_name() {
    check(
        "roaming: { type: bool } => roaming: { type: bool }\nIs Roaming: { type: bool }",
        &format!("organization: variables.Is Roaming: a variable's name {KEY_RULE}"),
    );
}

#[test]
fn duplicate_point_keys() {
    check(
        "- key: shop.counter => - key: web.signup",
        "point `web.signup`: key: another point has the same key",
    );
}

#[test]
fn duplicate_party_keys() {
    check(
        "- { key: dealer, kind: organization } => - { key: dealer, kind: organization }\n- { key: dealer, kind: individual }",
        "party `dealer`: key: another party has the same key",
    );
}

#[test]
fn duplicate_process_keys() {
    check(
        "- { key: win-back, function: loyalty, steps: [offer, accept] } => - { key: win-back, function: loyalty, steps: [offer, accept] }\n- { key: win-back, function: sales, steps: [offer] }",
        "process `win-back`: key: another process has the same key",
    );
}

// ---------------------------------------------------------------------------------------------
// Mode and automation (R1)
// ---------------------------------------------------------------------------------------------

#[test]
fn automation_above_one() {
    check(
        "automation: 0.3 => automation: 1.5",
        "point `shop.counter`: automation: must be between 0 and 1, got 1.5",
    );
}

#[test]
fn automation_below_zero() {
    check(
        "automation: 0.3 => automation: -0.1",
        "point `shop.counter`: automation: must be between 0 and 1, got -0.1",
    );
}

#[test]
fn automation_not_a_number() {
    check(
        "automation: 0.3 => automation: .nan",
        "point `shop.counter`: automation: must be between 0 and 1, got NaN",
    );
}

#[test]
fn hybrid_point_without_automation() {
    check(
        "automation: 0.3 => ",
        "point `shop.counter`: automation: a hybrid point must say which share is automated (0 to 1)",
    );
}

#[test]
fn unknown_mode() {
    check(
        "mode: machine => mode: robot",
        "point `web.signup`: mode: unknown variant `robot`, expected one of `machine`, `people`, `hybrid`",
    );
}

// ---------------------------------------------------------------------------------------------
// Data passed and the contract (R2)
// ---------------------------------------------------------------------------------------------

#[test]
fn data_element_with_unknown_direction() {
    check(
        "direction: in, class: transactional => direction: sideways, class: transactional",
        "point `web.signup`: data[1].direction: unknown variant `sideways`, expected `in` or `out`",
    );
}

#[test]
fn data_element_with_unknown_class() {
    check(
        "class: content => class: secret",
        "point `web.signup`: data[2].class: unknown variant `secret`, expected one of `personal`",
    );
}

#[test]
fn data_element_with_unknown_type() {
    check(
        "class: personal, type: string => class: personal, type: text",
        "point `web.signup`: data[0].type: unknown variant `text`",
    );
}

#[test]
fn duplicate_data_element_name() {
    check(
        "name: welcome, => name: email,",
        "point `web.signup`: data[2].name: data element `email` is declared twice",
    );
}

#[test]
fn data_element_without_a_name() {
    check(
        r#"name: welcome, => name: " ","#,
        "point `web.signup`: data[2].name: must not be empty",
    );
}

#[test]
fn explicit_contract_that_is_not_a_json_schema() {
    check(
        "owner: retail => owner: retail\ncontract: { type: 12 }",
        "point `shop.counter`: contract: the data contract is not a valid JSON Schema: ",
    );
}

#[test]
fn explicit_contract_that_is_a_json_schema_is_accepted() {
    let inventory =
        edited(&["owner: retail => owner: retail\ncontract: { type: object, required: [order] }"]);
    let point = inventory.point("shop.counter").unwrap();
    assert_eq!(
        contract::schema(point),
        json!({ "type": "object", "required": ["order"] })
    );
}

// ---------------------------------------------------------------------------------------------
// Facets, status and other fields of a point
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_status() {
    check(
        "status: live => status: active",
        "point `web.signup`: status: unknown variant `active`, expected one of `proposed`",
    );
}

#[test]
fn unknown_strategic_value() {
    check(
        "strategic_value: high => strategic_value: huge",
        "point `web.signup`: strategic_value: unknown variant `huge`",
    );
}

#[test]
fn unknown_facet() {
    check(
        "facets: [product, process] => facets: [product, taste]",
        "point `web.signup`: facets[1]: unknown variant `taste`, expected one of `product`",
    );
}

#[test]
fn duplicate_facet() {
    check(
        "facets: [product, process] => facets: [product, process, product]",
        "point `web.signup`: facets[2]: each facet must be listed once",
    );
}

#[test]
fn point_without_a_name() {
    check(
        r#"name: Dealer counter => name: """#,
        "point `shop.counter`: name: must not be empty",
    );
}

#[test]
fn point_without_a_channel() {
    check(
        r#"channel: store => channel: "  ""#,
        "point `shop.counter`: channel: must not be empty",
    );
}

#[test]
fn point_without_an_owner() {
    check(
        r#"owner: retail => owner: """#,
        "point `shop.counter`: owner: must not be empty",
    );
}

#[test]
fn point_missing_a_required_field() {
    check(
        "channel: store => ",
        "point `shop.counter`: missing field `channel`",
    );
}

#[test]
fn unknown_top_level_field() {
    check(
        "colour: blue",
        "inventory: colour: unknown field `colour`, expected one of `organization`, `functions`, `processes`, `parties`, `points`",
    );
}

#[test]
fn unknown_field_in_a_point() {
    check(
        "owner: retail => owner: retail\ncolour: blue",
        "point `shop.counter`: colour: ... unknown field `colour`, expected one of `key`, `name`",
    );
}

#[test]
fn unknown_field_in_a_data_element() {
    check(
        "class: content => class: content, size: 3",
        "point `web.signup`: data[2].size: ... unknown field `size`, expected one of `name`",
    );
}

// ---------------------------------------------------------------------------------------------
// The organization and its variables
// ---------------------------------------------------------------------------------------------

#[test]
fn organization_with_an_empty_name() {
    check(
        r#"name: Acme Mobile => name: """#,
        "organization: name: must not be empty",
    );
}

#[test]
fn organization_with_a_blank_name() {
    check(
        r#"name: Acme Mobile => name: "   ""#,
        "organization: name: must not be empty",
    );
}

#[test]
fn currency_in_lowercase() {
    check(
        "currency: EUR => currency: usd",
        "organization: currency: must be a three-letter ISO 4217 code such as USD or EUR, got `usd`",
    );
}

#[test]
fn currency_of_four_letters() {
    check(
        "currency: EUR => currency: EURO",
        "organization: currency: must be a three-letter ISO 4217 code such as USD or EUR, got `EURO`",
    );
}

#[test]
fn currency_defaults_to_usd() {
    let inventory = edited(&["currency: EUR => "]);
    assert_eq!(inventory.organization.currency, "USD");
}

#[test]
fn enum_variable_without_values() {
    check(
        "roaming: { type: bool } => roaming: { type: bool }\ntier: { type: enum }",
        "organization: variables.tier.values: an enum variable needs at least one value",
    );
}

#[test]
fn enum_variable_with_an_empty_list_of_values() {
    check(
        "roaming: { type: bool } => roaming: { type: bool }\ntier: { type: enum, values: [] }",
        "organization: variables.tier.values: an enum variable needs at least one value",
    );
}

#[test]
fn enum_variable_with_a_value_listed_twice() {
    check(
        "values: [prepaid, postpaid] => values: [prepaid, postpaid, prepaid]",
        "organization: variables.plan.values: each value must be listed once",
    );
}

#[test]
fn non_enum_variable_with_values() {
    check(
        "region_count: { type: number } => region_count: { type: number, values: [one, two] }",
        "organization: variables.region_count.values: only an enum variable lists values",
    );
}

#[test]
fn variable_of_unknown_type() {
    check(
        "region: { type: text } => region: { type: string }",
        "organization: variables.region.type: unknown variant `string`",
    );
}

// ---------------------------------------------------------------------------------------------
// Expected value (R3)
// ---------------------------------------------------------------------------------------------

#[test]
fn negative_expected_volume() {
    check(
        "volume_per_month: 120000 => volume_per_month: -5",
        "point `web.signup`: expected.volume_per_month: must be a finite number of at least 0, got -5",
    );
}

#[test]
fn negative_expected_cost() {
    check(
        "cost: 0.05 => cost: -0.05",
        "point `web.signup`: expected.cost: must be a finite number of at least 0, got -0.05",
    );
}

#[test]
fn infinite_expected_value() {
    check(
        "value_company: 4.1 => value_company: .inf",
        "point `web.signup`: expected.value_company: must be a finite number, got inf",
    );
}

#[test]
fn negative_expected_value_is_allowed() {
    let inventory = edited(&["value_company: 4.1 => value_company: -1.5"]);
    let point = inventory.point("web.signup").unwrap();
    assert_eq!(point.expected.value_company, Some(-1.5));
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

#[test]
fn process_without_steps() {
    check(
        "- { key: win-back, function: loyalty, steps: [offer, accept] } => - { key: win-back, function: loyalty, steps: [offer, accept] }\n- { key: onboarding, function: service, steps: [] }",
        "process `onboarding`: steps: a process needs at least one step",
    );
}

#[test]
fn process_with_a_step_listed_twice() {
    check(
        "steps: [browse, order, pay] => steps: [browse, order, pay, order]",
        "process `order-to-cash`: steps[3]: step `order` is listed twice",
    );
}

#[test]
fn process_with_an_empty_step() {
    check(
        r#"steps: [browse, order, pay] => steps: [browse, "", pay, order]"#,
        "process `order-to-cash`: steps[1]: a step needs a name",
    );
}

// ---------------------------------------------------------------------------------------------
// All problems at once, and errors that are not about a rule
// ---------------------------------------------------------------------------------------------

#[test]
fn several_problems_are_all_reported() {
    let message = error_of(&[
        "currency: EUR => currency: usd",
        "party: dealer => party: reseller",
        "automation: 0.3 => automation: 1.5",
        "step: order => step: ship",
    ]);
    let expected = "4 problems:
  - organization: currency: must be a three-letter ISO 4217 code such as USD or EUR, got `usd`
  - point `shop.counter`: party: unknown party type `reseller`; declared: consumer, dealer
  - point `shop.counter`: automation: must be between 0 and 1, got 1.5
  - point `web.signup`: step: process `order-to-cash` has no step `ship`; its steps: browse, order, pay";
    assert_eq!(message, expected);
}

#[test]
fn several_problems_in_one_point_are_all_reported() {
    let message = error_of(&["  - key: shop.kiosk
    name: Kiosk
    party: robots
    function: legal
    channel: store
    mode: hybrid
    owner: retail
    vars: { colour: blue }"]);
    assert!(message.starts_with("4 problems:\n"), "{message}");
    for part in [
        "\n  - point `shop.kiosk`: party: unknown party type `robots`; declared: consumer, dealer",
        "\n  - point `shop.kiosk`: function: unknown business function `legal`",
        "\n  - point `shop.kiosk`: automation: a hybrid point must say",
        "\n  - point `shop.kiosk`: vars.colour: unknown industry variable `colour`",
    ] {
        assert!(message.contains(part), "{part} not in\n{message}");
    }
}

#[test]
fn not_yaml() {
    let error = file::parse_inventory("organization: [unclosed").unwrap_err();
    assert!(matches!(error, FileError::Syntax(_)), "{error:?}");
    assert!(error.to_string().starts_with("not valid YAML: "), "{error}");
}

#[test]
fn missing_organization() {
    let error = file::parse_inventory("points: []\n").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("inventory: missing field `organization`"),
        "{error}"
    );
}

#[test]
fn serde_error_in_a_point_without_a_key_names_its_position() {
    check(
        "- key: shop.counter => - name2: x",
        "points[1]: name2: ... unknown field `name2`",
    );
}

// ---------------------------------------------------------------------------------------------
// A point on its own (the JSON API's body)
// ---------------------------------------------------------------------------------------------

const POINT: &str = r#"{
  "key": "app.chat",
  "name": "In-app chat",
  "party": "consumer",
  "function": "service",
  "channel": "app",
  "mode": "people",
  "data": [
    { "name": "message", "direction": "in", "class": "content", "type": "string", "required": true },
    { "name": "agent", "direction": "sideways", "class": "technical" }
  ],
  "owner": "care"
}"#;

#[test]
fn point_body_error_names_the_point_and_the_field() {
    let error = file::parse_point(POINT).unwrap_err().to_string();
    assert!(
        error.contains("point `app.chat`: data[1].direction: unknown variant `sideways`"),
        "{error}"
    );
}

#[test]
fn point_body_without_a_key_is_called_body() {
    let error = file::parse_point(r#"{ "name": "x", "mode": "robot" }"#)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("body: mode: unknown variant `robot`"),
        "{error}"
    );
}

#[test]
fn point_body_parses_from_json_and_yaml() {
    let fixed = POINT.replace("sideways", "out");
    let point = file::parse_point(&fixed).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(point.key, "app.chat");
    assert_eq!(point.mode, Mode::People);
    assert_eq!(point.automation, None, "parse_point does not normalize");
    let yaml = "key: app.chat\nname: In-app chat\nparty: consumer\nfunction: service\nchannel: app\nmode: people\nowner: care\n";
    let from_yaml = file::parse_point(yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_yaml.key, point.key);
}

// ---------------------------------------------------------------------------------------------
// Normalization
// ---------------------------------------------------------------------------------------------

#[test]
fn machine_point_without_automation_is_fully_automated() {
    let inventory = base();
    assert_eq!(inventory.point("web.signup").unwrap().automation, Some(1.0));
}

#[test]
fn people_point_without_automation_is_not_automated() {
    let inventory = edited(&["mode: hybrid => mode: people", "automation: 0.3 => "]);
    let point = inventory.point("shop.counter").unwrap();
    assert_eq!(point.mode, Mode::People);
    assert_eq!(point.automation, Some(0.0));
}

#[test]
fn hybrid_point_keeps_its_automation() {
    let inventory = base();
    assert_eq!(
        inventory.point("shop.counter").unwrap().automation,
        Some(0.3)
    );
}

#[test]
fn default_functions_are_added_when_the_file_omits_them() {
    let inventory = edited(&[
        "functions: [marketing, sales, fulfillment, finance, service, loyalty] => ",
        "function: loyalty, => function: service,",
        "function: loyalty => function: service",
    ]);
    assert_eq!(
        inventory.functions,
        ["marketing", "sales", "fulfillment", "finance", "service"]
    );
}

#[test]
fn own_functions_come_after_the_defaults() {
    let inventory = edited(&[
        "functions: [marketing, sales, fulfillment, finance, service, loyalty] => functions: [loyalty, sales, brand]",
    ]);
    assert_eq!(
        inventory.functions,
        [
            "marketing",
            "sales",
            "fulfillment",
            "finance",
            "service",
            "brand",
            "loyalty"
        ]
    );
}

#[test]
fn entities_are_ordered_by_key() {
    let inventory = edited(&[
        "- { key: consumer, kind: individual, description: Subscribers } => - { key: zz-last, kind: individual }\n- { key: consumer, kind: individual, description: Subscribers }",
    ]);
    let parties: Vec<&str> = inventory.parties.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(parties, ["consumer", "dealer", "zz-last"]);
    let processes: Vec<&str> = inventory.processes.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(processes, ["order-to-cash", "win-back"]);
}

// ---------------------------------------------------------------------------------------------
// The data contract (R2, R13)
// ---------------------------------------------------------------------------------------------

fn signup_contract() -> Contract {
    let inventory = base();
    Contract::compile(inventory.point("web.signup").unwrap()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn derived_contract_is_an_object_of_the_declared_elements() {
    let inventory = base();
    let schema = contract::schema(inventory.point("web.signup").unwrap());
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "properties": {
                "email": { "type": "string" },
                "plan": { "type": "string" },
                "welcome": {}
            },
            "required": ["email"],
            "additionalProperties": false
        })
    );
}

#[test]
fn derived_contract_of_a_point_without_data_takes_only_the_empty_object() {
    let inventory = base();
    let point = inventory.point("shop.counter").unwrap();
    let schema = contract::schema(point);
    assert_eq!(schema["properties"], json!({}));
    assert_eq!(schema["required"], json!([]));
    let contract = Contract::compile(point).unwrap();
    assert!(contract.failures(&json!({})).is_empty());
    assert_eq!(contract.failures(&json!({ "x": 1 })).len(), 1);
}

#[test]
fn conforming_data_has_no_failures() {
    let contract = signup_contract();
    assert_eq!(
        contract.failures(&json!({ "email": "a@example.com", "plan": "prepaid", "welcome": [1] })),
        Vec::<String>::new()
    );
    assert_eq!(
        contract.failures(&json!({ "email": "a@example.com" })),
        Vec::<String>::new()
    );
}

#[test]
fn missing_required_element_is_named() {
    let failures = signup_contract().failures(&json!({ "plan": "prepaid" }));
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("email"), "{failures:?}");
    assert!(failures[0].contains("required"), "{failures:?}");
}

#[test]
fn element_of_the_wrong_type_is_named() {
    let failures = signup_contract().failures(&json!({ "email": 42 }));
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].starts_with("/email: "), "{failures:?}");
    assert!(failures[0].contains("string"), "{failures:?}");
}

#[test]
fn undeclared_element_is_named() {
    let failures = signup_contract().failures(&json!({ "email": "a@example.com", "iban": "x" }));
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("iban"), "{failures:?}");
}

#[test]
fn data_that_is_not_an_object_fails() {
    let failures = signup_contract().failures(&json!("email"));
    assert!(!failures.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Export and import (R5)
// ---------------------------------------------------------------------------------------------

#[test]
fn rendered_inventory_parses_back_to_the_same_inventory() {
    for text in [BASE, DEMO] {
        let inventory = file::parse_inventory(text).unwrap();
        let rendered = file::render_inventory(&inventory);
        let again = file::parse_inventory(&rendered).unwrap_or_else(|e| panic!("{e}\n{rendered}"));
        assert_eq!(again, inventory);
        assert_eq!(
            file::render_inventory(&again),
            rendered,
            "rendering is stable"
        );
        assert_eq!(
            file::render_inventory(&inventory),
            rendered,
            "rendering is deterministic"
        );
    }
}

#[test]
fn rendered_inventory_starts_with_a_comment_saying_how_to_apply_it() {
    let rendered = file::render_inventory(&base());
    assert!(
        rendered.starts_with("# touchbase inventory. Apply changes with: touchbase inventory import FILE --dry-run\norganization:\n"),
        "{rendered}"
    );
}

#[test]
fn whole_numbers_render_without_a_fraction() {
    let rendered = file::render_inventory(&base());
    assert!(
        rendered.contains("volume_per_month: 120000\n"),
        "{rendered}"
    );
    assert!(rendered.contains("value_party: 2\n"), "{rendered}");
    assert!(rendered.contains("value_company: 4.1\n"), "{rendered}");
    assert!(rendered.contains("automation: 1\n"), "{rendered}");
    assert!(!rendered.contains(".0\n"), "{rendered}");
}

#[test]
fn rendered_inventory_leaves_out_empty_fields() {
    let rendered = file::render_inventory(&base());
    let counter = &rendered[rendered.find("- key: shop.counter").unwrap()..];
    let counter = &counter[..counter.find("- key: web.signup").unwrap()];
    let fields: Vec<&str> = counter
        .lines()
        .filter_map(|l| l.trim_start_matches("- ").trim().split_once(':'))
        .map(|(field, _)| field)
        .collect();
    assert_eq!(
        fields,
        [
            "key",
            "name",
            "party",
            "function",
            "process",
            "step",
            "channel",
            "mode",
            "automation",
            "strategic_value",
            "owner",
            "status"
        ],
        "{counter}"
    );
}

#[test]
fn equivalent_files_render_to_the_same_bytes() {
    // The same inventory written in another order, with the default automation spelled out.
    let reordered = edited(&[
        "functions: [marketing, sales, fulfillment, finance, service, loyalty] => functions: [loyalty]",
        "mode: machine => mode: machine\nautomation: 1",
    ]);
    assert_eq!(
        file::render_inventory(&reordered),
        file::render_inventory(&base())
    );
}

// ---------------------------------------------------------------------------------------------
// What an import would change (R5 dry run)
// ---------------------------------------------------------------------------------------------

fn summary(changes: &[Change]) -> Vec<(Action, Kind, &str)> {
    changes
        .iter()
        .map(|c| (c.action, c.kind, c.key.as_str()))
        .collect()
}

#[test]
fn same_inventory_has_no_changes() {
    assert!(change::diff(Some(&base()), &base()).is_empty());
}

#[test]
fn diff_lists_adds_changes_and_removals_sorted_by_kind_then_key() {
    let before = base();
    let after = edited(&[
        // change: the organization, a process, a point
        "industry: telecom => industry: telecommunications",
        "steps: [browse, order, pay] => steps: [browse, order, pay, activate]",
        "cost: 0.05 => cost: 0.07",
        "class: content => class: personal",
        "plan: prepaid => plan: postpaid",
        // add: a function, a party, a point; remove: the point shop.counter
        "functions: [marketing, sales, fulfillment, finance, service, loyalty] => functions: [marketing, sales, fulfillment, finance, service, loyalty, brand]",
        "- { key: dealer, kind: organization } => - { key: dealer, kind: organization }\n- { key: agency, kind: organization }",
        "- key: shop.counter => - key: shop.kiosk",
    ]);
    let changes = change::diff(Some(&before), &after);
    assert_eq!(
        summary(&changes),
        [
            (Action::Change, Kind::Organization, ""),
            (Action::Add, Kind::Function, "brand"),
            (Action::Change, Kind::Process, "order-to-cash"),
            (Action::Add, Kind::Party, "agency"),
            (Action::Remove, Kind::Point, "shop.counter"),
            (Action::Add, Kind::Point, "shop.kiosk"),
            (Action::Change, Kind::Point, "web.signup"),
        ]
    );
    let fields = |kind: Kind, key: &str| -> Vec<(String, Option<Value>, Option<Value>)> {
        changes
            .iter()
            .find(|c| c.kind == kind && c.key == key)
            .unwrap()
            .fields
            .iter()
            .map(|f| (f.field.clone(), f.before.clone(), f.after.clone()))
            .collect()
    };
    assert_eq!(
        fields(Kind::Organization, ""),
        [(
            "industry".to_owned(),
            Some(json!("telecom")),
            Some(json!("telecommunications"))
        )]
    );
    assert_eq!(
        fields(Kind::Process, "order-to-cash"),
        [("steps[3]".to_owned(), None, Some(json!("activate")))]
    );
    assert_eq!(
        fields(Kind::Point, "web.signup"),
        [
            (
                "data[2].class".to_owned(),
                Some(json!("content")),
                Some(json!("personal"))
            ),
            (
                "expected.cost".to_owned(),
                Some(json!(0.05)),
                Some(json!(0.07))
            ),
            (
                "vars.plan".to_owned(),
                Some(json!("prepaid")),
                Some(json!("postpaid"))
            ),
        ]
    );
    for change in &changes {
        match change.action {
            Action::Add | Action::Remove => assert!(change.fields.is_empty(), "{change:?}"),
            Action::Change => assert!(!change.fields.is_empty(), "{change:?}"),
        }
        assert_eq!(change.after.is_none(), change.action == Action::Remove);
    }
}

#[test]
fn diff_from_nothing_adds_everything() {
    let inventory = base();
    let changes = change::diff(None, &inventory);
    assert!(changes.iter().all(|c| c.action == Action::Add));
    // the organization, 6 functions, 2 processes, 2 parties, 2 points
    assert_eq!(changes.len(), 1 + 6 + 2 + 2 + 2);
    let order: Vec<(Kind, &str)> = changes.iter().map(|c| (c.kind, c.key.as_str())).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
}

#[test]
fn diff_to_a_smaller_inventory_removes() {
    let after = edited(&[
        "functions: [marketing, sales, fulfillment, finance, service, loyalty] => functions: [marketing, sales, fulfillment, finance, service, loyalty, brand]",
    ]);
    let changes = change::diff(Some(&after), &base());
    assert_eq!(
        summary(&changes),
        [(Action::Remove, Kind::Function, "brand")]
    );
}

#[test]
fn a_decoding_error_is_reported_alone() {
    // A serde error stops decoding, so only that one is reported even with other problems.
    check_all(
        &[
            "currency: EUR => currency: usd",
            "mode: machine => mode: robot",
        ],
        "point `web.signup`: mode: unknown variant `robot`",
    );
}

// ---------------------------------------------------------------------------------------------
// Once bugs in src: each test pins the fix
// ---------------------------------------------------------------------------------------------

#[test]
fn organization_name_with_a_line_break_survives_a_round_trip() {
    let inventory = edited(&[r#"name: Acme Mobile => name: "Acme\nMobile""#]);
    let rendered = file::render_inventory(&inventory);
    let again = file::parse_inventory(&rendered).unwrap_or_else(|e| panic!("{e}\n{rendered}"));
    assert_eq!(again, inventory);
}

#[test]
fn unknown_field_in_a_point_names_the_path_once() {
    let message = error_of(&["owner: retail => owner: retail\ncolour: blue"]);
    assert!(
        message.starts_with("point `shop.counter`: colour: unknown field `colour`"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Sign-off (R6)
// ---------------------------------------------------------------------------------------------

mod sign_off {
    use std::collections::BTreeSet;

    use touchbase_core::governance::{self, Mode, ProposalKind, Write};
    use touchbase_core::{Actor, Inventory, Status, StrategicValue};

    use super::{base, edited};

    fn owner() -> Actor {
        Actor {
            name: "dora".into(),
            role: touchbase_core::Role::Owner,
            teams: vec!["digital".into()],
        }
    }

    /// What `govern` makes of `after` over the base as `actor`, in `mode`.
    fn govern(
        after: Inventory,
        actor: &Actor,
        mode: Mode,
        first_import: bool,
    ) -> governance::Governed {
        let seen = BTreeSet::new();
        let write = Write {
            actor,
            mode,
            seen: &seen,
            proposals: &[],
            first_import,
            now: "2026-03-01T00:00:00Z",
        };
        governance::govern(&base(), after, &write).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_live_points_strategic_value_and_contract_are_material() {
        let before = base();
        let live = before.point("web.signup").unwrap();
        for (edit, reason) in [
            (
                "strategic_value: high => strategic_value: low",
                "changes strategic_value: high → low",
            ),
            (
                "status: live => status: live\ncontract: {}",
                "changes its data contract: the one derived from `data` → {}",
            ),
        ] {
            let after = edited(&[edit]);
            assert_eq!(
                governance::material_changes(live, after.point("web.signup").unwrap()),
                [reason],
                "{edit}"
            );
            let governed = govern(after, &owner(), Mode::Normal, false);
            assert_eq!(governed.inventory.point("web.signup"), Some(live), "{edit}");
            assert_eq!(governed.proposals.len(), 1, "{edit}");
            assert_eq!(governed.proposals[0].kind, ProposalKind::Change);
        }
        // A description is not material.
        let after = edited(&["description: The subscriber picks => description: One picks"]);
        assert!(
            govern(after, &owner(), Mode::Normal, false)
                .proposals
                .is_empty()
        );
        assert_eq!(StrategicValue::default(), StrategicValue::None);
    }

    #[test]
    fn a_baseline_applies_at_once_only_on_the_first_import() {
        let new_live = "  - { key: kiosk.signup, name: Kiosk, party: consumer, function: sales, channel: kiosk, mode: machine, owner: digital, status: live }";
        let admin = Actor::local_admin();
        let first = govern(edited(&[new_live]), &admin, Mode::Baseline, true);
        assert_eq!(
            first.inventory.point("kiosk.signup").unwrap().status,
            Status::Live
        );
        assert!(first.proposals.is_empty());

        let later = govern(edited(&[new_live]), &admin, Mode::Baseline, false);
        assert_eq!(
            later.inventory.point("kiosk.signup").unwrap().status,
            Status::Proposed
        );
        assert_eq!(later.proposals.len(), 1);
        let proposal = &later.proposals[0];
        assert_eq!(proposal.kind, ProposalKind::Baseline);
        assert_eq!(proposal.batch.len(), 1);
        assert_eq!(proposal.batch[0].status, Status::Live);

        // Decided by executives only; once approved, the batch's points are recorded live.
        let mut inventory = later.inventory.clone();
        let mut proposal = proposal.clone();
        let err = governance::decide(&mut inventory, &mut proposal, &admin, true, "ok", "now")
            .unwrap_err()
            .to_string();
        assert!(err.contains("only executives sign off"), "{err}");
        for exec in ["erin", "ed"] {
            let exec = Actor {
                name: exec.into(),
                role: touchbase_core::Role::Executive,
                teams: vec![],
            };
            governance::decide(&mut inventory, &mut proposal, &exec, true, "ok", "now").unwrap();
        }
        assert_eq!(
            inventory.point("kiosk.signup").unwrap().status,
            Status::Live
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Standing interactions (R19)
// ---------------------------------------------------------------------------------------------

/// An automated point beside the base's two: it repeats `web.signup` and records its
/// self-service page at `shop.counter` (any other point of the inventory will do here).
const AUTOMATED: &str = "  - key: auto.renewal
    name: Automatic renewal
    party: consumer
    function: sales
    channel: web
    mode: machine
    owner: digital
    standing:
      from: web.signup
      items: data.items
      schedule: FREQ=MONTHLY
      timezone: Europe/London
      cutoff: 24h
      consent: explicit
      endpoint: fulfilment
      edit_point: shop.counter";

#[test]
fn a_standing_section_parses_and_exports_as_written() {
    let inventory = edited(&[
        AUTOMATED,
        "currency: EUR => currency: EUR\ntimezone: Europe/Paris",
    ]);
    let point = inventory.point("auto.renewal").unwrap();
    let standing = point.standing.as_ref().unwrap();
    assert_eq!(
        (standing.from.as_str(), standing.cutoff.as_str()),
        ("web.signup", "24h")
    );
    assert_eq!(
        inventory.organization.timezone.as_deref(),
        Some("Europe/Paris")
    );
    let text = file::render_inventory(&inventory);
    assert!(text.contains("schedule: FREQ=MONTHLY"), "{text}");
    assert_eq!(file::parse_inventory(&text).unwrap(), inventory);
}

#[test]
fn a_standing_section_names_what_is_wrong() {
    check_all(
        &[AUTOMATED, "from: web.signup => from: web.nowhere"],
        "point `auto.renewal`: standing.from: unknown point `web.nowhere`",
    );
    check_all(
        &[AUTOMATED, "schedule: FREQ=MONTHLY => schedule: FREQ=HOURLY"],
        "standing.schedule: runs at most daily",
    );
    check_all(&[AUTOMATED, "cutoff: 24h => cutoff: soon"], "cutoff");
    check_all(
        &[AUTOMATED, "consent: explicit => consent: maybe"],
        "consent",
    );
    check_all(
        &[
            AUTOMATED,
            "timezone: Europe/London => timezone: Mars/Olympus",
        ],
        "standing.timezone: unknown time zone `Mars/Olympus`",
    );
    check(
        "currency: EUR => currency: EUR\ntimezone: Nowhere/Land",
        "organization: timezone: unknown time zone `Nowhere/Land`",
    );
    // A section without a zone of its own runs in the organization's: a broken one is named
    // once, on the organization.
    check_all(
        &[
            AUTOMATED,
            "timezone: Europe/London => ",
            "currency: EUR => currency: EUR\ntimezone: Nowhere/Land",
        ],
        "organization: timezone: unknown time zone `Nowhere/Land`",
    );
}
