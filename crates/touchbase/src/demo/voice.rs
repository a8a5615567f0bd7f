//! The demo's voice of the customer (R14): the households that bought most over the year are
//! its key customers; its two surveys invite them after the contact rules; about four in ten
//! answer, their scores following how the interaction went (its satisfaction, or whether it was
//! resolved), some with a word on what they would change or why they buy here. One recent
//! invitation is left unanswered for a newcomer to answer from the banner's link.

use std::collections::HashMap;

use anyhow::Context;
use serde_json::{Map, Value, json};
use touchbase_core::Actor;
use touchbase_core::endpoint::Keys;
use touchbase_core::event::Event;
use touchbase_core::period::Period;
use touchbase_core::voice::survey::{Builtin, Question, QuestionType};
use touchbase_store::Store;
use touchbase_store::ingest::{Input, Status};
use touchbase_store::invitations;
use touchbase_store::responses;

use super::rng::Rng;

const DAY: i64 = 86_400_000_000;
/// How many households are key customers.
const KEY_CUSTOMERS: usize = 1_000;
/// The share of invitations answered.
const ANSWER: f64 = 0.42;
/// The most recent invitations are left for the respondents still to come.
const RECENT: i64 = 3 * DAY;

const COMPLAINTS: [&str; 10] = [
    "The wait on hold was far too long",
    "I had to explain my problem twice to two people",
    "The refund took more than a week to arrive",
    "Nobody called me back as promised",
    "The chat kept dropping and I had to start again",
    "The delivery was late and nobody told me",
    "The substitutions were not what I asked for",
    "The driver left the bags at the wrong door",
    "The queue at the returns desk was very long",
    "Le site était lent et le paiement a échoué",
];
const SUGGESTIONS: [&str; 6] = [
    "Faster answers would help",
    "A text message when the van is close",
    "Fewer substitutions, please",
    "Make the returns desk easier to find",
    "Let me pick a narrower delivery slot",
    "Keep my favourites at the top of the list",
];
const PRAISE: [&str; 4] = [
    "Nothing, it was great",
    "Not much: the staff were lovely",
    "Keep it as it is",
    "Nothing really, it was quick and easy",
];
const WHY_BUY: [&str; 9] = [
    "Fresh produce and fair prices",
    "The delivery slots are easy to book",
    "The staff know me and always help",
    "Cheaper than the other shops around here",
    "A good range of organic food",
    "When something goes wrong they fix it quickly",
    "Close to home and easy to get to",
    "The app makes reordering simple",
    "Quality meat and fish you cannot get elsewhere",
];

/// The senior team's answers to "why do customers buy from us?": mostly the product, where the
/// customers mostly name how they are dealt with (the gap the dashboard shows).
const SENIOR_TEAM: [(&str, &str); 7] = [
    ("erin", "Our prices are lower than the other grocers'"),
    ("erin", "The range: organic produce, quality meat and fish"),
    ("ed", "Cheaper baskets, week after week"),
    ("ed", "Fresh produce nobody else has"),
    ("ed", "Delivery slots that are easy to book"),
    ("olga", "The app: reordering is simple"),
    ("olga", "Quality and price together"),
];

/// A person's tags where the codebook's rules miss: "faster answers" is about waiting.
const PERSON_TAGS: [(&str, &str); 1] = [("Faster answers would help", "wait-time")];

/// The double-coded sample: its size and its coders. The second reads `digital` as the chat
/// alone (not the site, the payment or the favourites) and, coding on paper, marks it on every
/// other chat answer only, so its kappa falls well below 0.6 whatever the sample (about 0.4)
/// and its theme is flagged.
const SAMPLE: usize = 120;
/// (The analyst anil enters both codings: bea coded on paper.)
const CODERS: [&str; 2] = ["anil", "bea"];

/// What the demo's surveys came to.
#[derive(Debug, Default)]
pub struct Voiced {
    pub key_customers: usize,
    pub invited: usize,
    pub suppressed: u64,
    pub responses: u64,
    pub statements: usize,
    pub tagged: usize,
    pub coded: usize,
    pub seconds: f64,
}

/// How the interaction went, 1 (badly) to 5 (very well): its satisfaction, else whether it was
/// resolved or engaged, else middling.
fn went(event: Option<&Event>) -> i64 {
    let Some(o) = event.map(|e| &e.outcomes) else {
        return 3;
    };
    match (o.satisfaction, o.resolved, o.engaged) {
        (Some(s), _, _) => i64::from(s),
        (None, Some(true), _) | (None, None, Some(true)) => 4,
        (None, Some(false), _) => 2,
        _ => 3,
    }
}

fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.below(from.len())]
}

/// One response to `invitation`, its scores around how the interaction went.
fn answers_for(questions: &[Question], event: Option<&Event>, rng: &mut Rng) -> Map<String, Value> {
    let base = went(event);
    let noise = |rng: &mut Rng, spread: i64| rng.below((2 * spread + 1) as usize) as i64 - spread;
    let mut answers = Map::new();
    for q in questions {
        match q {
            Question::Builtin(Builtin::Nps) => {
                let nps = (base * 2 + noise(rng, 2)).clamp(0, 10);
                answers.insert("nps".into(), json!(nps));
            }
            Question::Builtin(Builtin::Csat) => {
                let csat = (base + noise(rng, 1)).clamp(1, 5);
                answers.insert("csat".into(), json!(csat));
            }
            Question::Builtin(Builtin::Ces) => {
                let ces = (base + 2 + noise(rng, 1)).clamp(1, 7);
                answers.insert("ces".into(), json!(ces));
            }
            Question::Builtin(Builtin::Change) if rng.chance(0.5) => {
                let text = match base {
                    ..=2 => pick(rng, &COMPLAINTS),
                    3 => pick(rng, &SUGGESTIONS),
                    _ if rng.chance(0.3) => pick(rng, &SUGGESTIONS),
                    _ => pick(rng, &PRAISE),
                };
                answers.insert("change".into(), json!(text));
            }
            Question::Builtin(Builtin::WhyBuy) if rng.chance(0.35) => {
                answers.insert("why_buy".into(), json!(pick(rng, &WHY_BUY)));
            }
            Question::Own(own) if own.kind == QuestionType::Choice && rng.chance(0.7) => {
                let option = &own.options[rng.below(own.options.len())];
                answers.insert(own.key.clone(), json!(option));
            }
            _ => {}
        }
    }
    answers
}

/// Chooses the key customers, invites them to every survey of the inventory over the year
/// before `now`, and answers about four in ten invitations (the last few days' left open).
pub async fn replay(
    store: &dyn Store,
    admin: &Actor,
    keys: &Keys,
    now: i64,
) -> anyhow::Result<Voiced> {
    let started = std::time::Instant::now();
    let inventory = touchbase_store::inventory::get(store).await?.value;
    let mut voiced = Voiced::default();
    if inventory.surveys.is_empty() {
        return Ok(voiced);
    }
    touchbase_store::codebook::import(store, admin, super::CODEBOOK, now)
        .await
        .context("the demo's codebook was not imported")?;
    let year = Period {
        from: now - 365 * DAY,
        to: now,
    };
    let chosen = invitations::top_customers(store, admin, KEY_CUSTOMERS, year, "top-value", now)
        .await
        .context("the demo's key customers were not chosen")?;
    voiced.key_customers = chosen.len();
    let mut events_of: HashMap<i64, HashMap<String, Event>> = HashMap::new();
    let mut inputs = Vec::new();
    for survey in &inventory.surveys {
        let report = invitations::invite(store, admin, keys, &survey.key, year, now)
            .await
            .with_context(|| format!("the demo's survey {} invited no one", survey.key))?;
        voiced.invited += report.invited.len();
        voiced.suppressed += report.suppressed.values().sum::<u64>();
        for issued in &report.invited {
            let i = &issued.invitation;
            let mut rng = Rng::seeded(&i.id);
            if i.at >= now - RECENT || !rng.chance(ANSWER) {
                continue;
            }
            let day = i.at.div_euclid(DAY);
            if let std::collections::hash_map::Entry::Vacant(slot) = events_of.entry(day) {
                let events = store.events_of_day(day).await?;
                slot.insert(events.into_iter().map(|e| (e.id.clone(), e)).collect());
            }
            let event = events_of.get(&day).and_then(|d| d.get(&i.event_id));
            let answers = answers_for(&survey.questions, event, &mut rng);
            if answers.is_empty() {
                continue;
            }
            let mut response = json!({
                "id": format!("demo:{}", i.id),
                "survey": i.survey,
                "point": i.point,
                "at": touchbase_core::rules::instant(i.at),
                "invitation": i.id,
                "answers": answers,
            });
            if let Some(party) = &i.party {
                response["party"] = json!(party);
            }
            inputs.push(Input::new(response.to_string(), "demo"));
        }
    }
    for batch in inputs.chunks(5_000) {
        let outcomes = responses::take(store, admin, batch, now).await?;
        voiced.responses += outcomes
            .iter()
            .filter(|o| o.status == Status::Accepted)
            .count() as u64;
        if let Some(refused) = outcomes.iter().find(|o| o.status == Status::Rejected) {
            tracing::warn!("a demo response was refused: {:?}", refused.reasons);
        }
    }
    voiced.statements = senior_team(store, now).await?;
    voiced.tagged = person_tags(store, now).await?;
    voiced.coded = double_coded(store, now).await?;
    voiced.seconds = started.elapsed().as_secs_f64();
    Ok(voiced)
}

/// The senior team's why-buy answers, each as the user who gives it.
async fn senior_team(store: &dyn Store, now: i64) -> anyhow::Result<usize> {
    for (i, (name, text)) in SENIOR_TEAM.iter().enumerate() {
        let actor = touchbase_store::access::actor_named(store, name).await?;
        touchbase_store::answers::add_statement(store, &actor, text, now + i as i64)
            .await
            .with_context(|| format!("{name}'s why-buy answer was not kept"))?;
    }
    Ok(SENIOR_TEAM.len())
}

/// The analyst's tags on the latest answers the rules miss.
async fn person_tags(store: &dyn Store, now: i64) -> anyhow::Result<usize> {
    use touchbase_core::voice::Family;
    let anil = touchbase_store::access::actor_named(store, CODERS[0]).await?;
    let all = touchbase_store::answers::list(
        store,
        &anil,
        Family::Change,
        Period {
            from: now - 366 * DAY,
            to: now,
        },
        None,
    )
    .await?;
    let mut tagged = 0;
    for (text, code) in PERSON_TAGS {
        for a in all.iter().rev().filter(|a| a.text == text).take(5) {
            touchbase_store::answers::tag(store, &anil, &a.id, code, true, now).await?;
            tagged += 1;
        }
    }
    Ok(tagged)
}

/// Two coders code the same sample of `change` answers: the first as the codebook and the
/// person's tags do, the second alike but for `digital`, which she gives to every other chat
/// answer alone.
async fn double_coded(store: &dyn Store, now: i64) -> anyhow::Result<usize> {
    use touchbase_core::voice::Family;
    let anil = touchbase_store::access::actor_named(store, CODERS[0]).await?;
    let sample =
        touchbase_store::answers::sample(store, &anil, Family::Change, SAMPLE, CODERS[0]).await?;
    for (n, coder) in CODERS.iter().enumerate() {
        let mut chats = 0_usize;
        let given: Vec<(String, Vec<String>)> = sample
            .iter()
            .map(|(a, _)| {
                let mut codes: Vec<String> = a.tags.iter().map(|t| t.code.clone()).collect();
                if n == 1 && codes.iter().any(|c| c == "digital") {
                    let chat = a.text.contains("chat");
                    chats += usize::from(chat);
                    if !chat || chats.is_multiple_of(2) {
                        codes.retain(|c| c != "digital");
                    }
                }
                (a.id.clone(), codes)
            })
            .collect();
        touchbase_store::answers::code(store, &anil, Family::Change, coder, &given, now).await?;
    }
    Ok(sample.len())
}

/// A new link to the most recent invitation not answered yet (earlier links to it stop
/// working), with the party it is for: the one the banner shows.
pub async fn showcase(
    store: &dyn Store,
    admin: &Actor,
    keys: &Keys,
    now: i64,
) -> anyhow::Result<Option<invitations::Issued>> {
    let open = store
        .invitations(None)
        .await?
        .into_iter()
        .filter(|i| !i.answered)
        .max_by_key(|i| i.at);
    let Some(invitation) = open else {
        return Ok(None);
    };
    Ok(Some(
        invitations::relink(store, admin, keys, &invitation.id, now).await?,
    ))
}
